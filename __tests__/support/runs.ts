import type { HighWaterMark, HostFilter, ImportRecordsArgs, ImportRecordsResult } from "../../src/templates/host";
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { driveSchedule } = require("../../scripts/lib/schedule-driver");

export interface RunOptions {
  incremental: boolean;
  column?: string;
  /** the schedule's options when they are not a watermark column (a query source's `query`) */
  scheduleOptions?: Record<string, unknown>;
  filters?: HostFilter[];
  limit?: number;
  /** the previous run's high watermark (incremental schedules start from it) */
  previous?: HighWaterMark;
  maxBatches?: number;
  /** the run's id (the core's Run#id), "run_test" by default */
  runId?: string;
  /** sees each batch's response before the next batch is asked for */
  onBatch?: (response: ImportRecordsResult, batch: number) => Promise<void> | void;
}

export interface RunResult {
  highWaterMark: HighWaterMark;
  /** each batch's importsCount, the last 0 unless the run was capped */
  batches: number[];
  /** whether maxBatches stopped the run before a batch imported nothing */
  capped: boolean;
}

/**
 * Drives importRecords the way core 0.9's schedule:run does (scripts/lib/schedule-driver.js, the
 * benchmarks' driver too): one call per batch, the first with sourceOffset 0, highWaterMark fed back
 * only for incremental schedules ({} otherwise), until a batch imports nothing.
 */
export async function runSchedule(
  importRecords: (args: ImportRecordsArgs) => Promise<ImportRecordsResult>,
  base: Omit<ImportRecordsArgs, "run" | "limit" | "highWaterMark" | "sourceOffset" | "schedule" | "scheduleOptions" | "scheduleFilters">,
  options: RunOptions
): Promise<RunResult> {
  const run = await driveSchedule({
    importRecords,
    args: base,
    incremental: options.incremental,
    column: options.column,
    ...(options.scheduleOptions ? { scheduleOptions: options.scheduleOptions } : {}),
    filters: options.filters ?? [],
    limit: options.limit ?? 1000,
    previousHighWaterMark: options.previous ?? {},
    runId: options.runId ?? "run_test",
    maxBatches: options.maxBatches ?? 100000,
    onBatch: options.onBatch,
  });
  return { highWaterMark: run.highWaterMark, batches: run.importsPerBatch, capped: run.capped };
}
