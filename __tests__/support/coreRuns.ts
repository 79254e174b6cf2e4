// Drives the real core's schedule runs in a test, with the same driver as the demo.
/* eslint-disable @typescript-eslint/no-var-requires */
const { runSchedule, processImports } = require("../../scripts/lib/core-driver");

export interface CoreRunResult {
  runId: string;
  state: string;
  imports: number;
  batches: number;
  error: string | null;
  highWaterMark: Record<string, unknown>;
}

/** One run of a schedule: `schedule:run` until a batch imports nothing, then the core's import work. */
export async function runScheduleInCore(schedule: { id: string }): Promise<CoreRunResult> {
  const { run, batches } = await runSchedule(schedule);
  const totals = await processImports(run);
  return { runId: run.id, batches, ...totals };
}

/** Every record's properties as plain values: `{ <unique key value>: { key: value } }`. */
export async function recordsByKey(uniqueKey: string): Promise<Record<string, Record<string, unknown>>> {
  const { GrouparooRecord } = require("@grouparoo/core");
  const out: Record<string, Record<string, unknown>> = {};
  for (const record of await GrouparooRecord.findAll()) {
    const properties = await record.getProperties();
    const simple: Record<string, unknown> = {};
    for (const [key, p] of Object.entries(properties as Record<string, { values: unknown[] }>)) {
      simple[key] = p.values.length > 1 ? p.values : p.values[0];
    }
    out[String(simple[uniqueKey])] = simple;
  }
  return out;
}
