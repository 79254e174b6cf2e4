// Drives the real core's schedule runs in a test, batch by batch, as its task queue would.
/* eslint-disable @typescript-eslint/no-var-requires */

export interface CoreRunResult {
  runId: string;
  state: string;
  imports: number;
  batches: number;
  error: string | null;
  highWaterMark: Record<string, unknown>;
}

/** One run of a schedule: `schedule:run` until a batch imports nothing, then the import workflow. */
export async function runScheduleInCore(schedule: { id: string }): Promise<CoreRunResult> {
  const { specHelper } = require("actionhero");
  const { Run, Import } = require("@grouparoo/core");
  const { ImportWorkflow } = require("@grouparoo/spec-helper/dist/lib/workflows/import");
  const run = await Run.create({ creatorId: schedule.id, creatorType: "schedule", state: "running" });
  let batches = 0;
  for (;;) {
    const count = await specHelper.runTask("schedule:run", { scheduleId: schedule.id, runId: run.id });
    batches++;
    await run.reload();
    if (!count || run.state !== "running" || batches > 10000) break;
  }
  // each task associates one batch of imports with records
  while ((await Import.count({ where: { creatorId: run.id, recordAssociatedAt: null } })) > 0) {
    await specHelper.runTask("import:associateRecords", {});
  }
  await ImportWorkflow();
  // the core's run tick counts the run's imports; a later run starts from the last run that imported any
  await run.updateTotals();
  await run.reload();
  const imports = await Import.count({ where: { creatorId: run.id } });
  return { runId: run.id, state: run.state, imports, batches, error: run.error, highWaterMark: run.highWaterMark };
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
