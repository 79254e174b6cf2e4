// The one driver of a source's importRecords outside the core: what core 0.9's schedule:run does
// between batches (modules/ops/schedule.js), for the tests (__tests__/support/runs.ts) and the
// benchmarks. scripts/lib/core-driver.js drives the real core's tasks instead. Plain CommonJS.
"use strict";

/** The core keeps `runs.sourceOffset` in a varchar(191): a longer offset fails the run. */
const SOURCE_OFFSET_MAX = 191;

/**
 * One run, batch by batch: the first call gets sourceOffset 0 and the previous run's high watermark
 * (a first run: {}); after each batch the returned highWaterMark is stored as JSON text and fed back
 * for incremental schedules while it is not empty (else the previous run's; {} for full schedules),
 * and `response.sourceOffset || 0` is stored as text and fed back, until a batch imports nothing.
 * Stops early at `deadline` (ms since the epoch, checked between batches) or after `maxBatches`.
 * `onBatch(response, index)` sees every response before the driver goes on.
 * Returns `{ capped, batches, importsPerBatch, highWaterMark, maxOffsetLength }`.
 */
async function driveSchedule({
  importRecords,
  args,
  incremental,
  column,
  scheduleOptions = column === undefined ? {} : { column },
  filters = [],
  limit = 1000,
  previousHighWaterMark = {},
  scheduleId = "sch_test",
  runId = "run_test",
  deadline = Infinity,
  maxBatches = 100000,
  onBatch = async () => {},
}) {
  // the core reads stored marks from JSON text: every call gets a fresh object (the original mutates it)
  const copy = (mark) => JSON.parse(JSON.stringify(mark || {}));
  const previous = incremental ? copy(previousHighWaterMark) : {};
  let highWaterMark = previous;
  let sourceOffset = 0;
  let maxOffsetLength = 0;
  const importsPerBatch = [];
  const result = (capped) => ({ capped, batches: importsPerBatch.length, importsPerBatch, highWaterMark, maxOffsetLength });
  while (importsPerBatch.length < maxBatches) {
    if (Date.now() >= deadline) return result(true);
    const response = await importRecords({
      ...args,
      schedule: { id: scheduleId, incremental },
      scheduleId,
      scheduleOptions,
      scheduleFilters: filters,
      run: { id: runId },
      runId,
      limit,
      highWaterMark,
      sourceOffset,
    });
    await onBatch(response, importsPerBatch.length);
    importsPerBatch.push(response.importsCount);
    const next = incremental ? copy(response.highWaterMark) : {};
    highWaterMark = Object.keys(next).length > 0 ? next : copy(previous);
    sourceOffset = String(response.sourceOffset || 0);
    if (sourceOffset.length > SOURCE_OFFSET_MAX) throw new Error(`sourceOffset longer than ${SOURCE_OFFSET_MAX}: ${sourceOffset}`);
    maxOffsetLength = Math.max(maxOffsetLength, sourceOffset.length);
    if (!response.importsCount) return result(false);
  }
  return result(true);
}

module.exports = { driveSchedule, SOURCE_OFFSET_MAX };
