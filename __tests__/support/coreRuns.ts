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
  /** the property tasks the core ran, by property id: batch tasks and one-record tasks */
  propertyTasks: Record<string, { batches: number; single: number; seconds: number }>;
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

/**
 * Takes the queued jobs of one task the way a node-resque worker does: the job leaves its queue, the
 * QueueLock plugin's lock on its arguments is released (`beforePerform`), then the task runs. So a task
 * that is enqueued again later with the same arguments (record:destroy, re-enqueued periodic tasks)
 * is not dropped by a lock left behind. Returns how many jobs ran.
 */
export async function workQueued(taskName: string): Promise<number> {
  const { api, specHelper } = require("actionhero");
  const connection = api.resque.queue.connection;
  let ran = 0;
  for (const queue of (await api.resque.queue.queues()) as string[]) {
    const key = connection.key("queue", queue);
    for (const entry of (await connection.redis.lrange(key, 0, -1)) as string[]) {
      const job = JSON.parse(entry) as { class: string; args: Record<string, unknown>[] };
      if (job.class !== taskName) continue;
      if ((await connection.redis.lrem(key, 1, entry)) === 0) continue; // another taker had it
      await connection.redis.del(connection.key("lock", job.class, queue, JSON.stringify(job.args)));
      await specHelper.runTask(taskName, job.args[0] ?? {});
      ran++;
    }
  }
  return ran;
}

/**
 * One tick of a periodic task: the core's scheduler enqueues it (dropped by the lock when a job of
 * it is still queued, e.g. one it re-enqueued itself), then a worker takes what is queued.
 */
export async function tickTimer(taskName: string): Promise<void> {
  const { task } = require("actionhero");
  await task.enqueue(taskName, {});
  await workQueued(taskName);
}

/**
 * The core's periodic work after runs, in the order its timers fire (updateCounts, confirm, property
 * imports, makeReady, the destroy sweeper), jobs taken as a worker takes them, round after round
 * until a round has nothing to do.
 */
export async function runCoreTimers(maxRounds = 12): Promise<number> {
  const { GrouparooRecord } = require("@grouparoo/core");
  for (let round = 1; round <= maxRounds; round++) {
    let work = 0;
    await tickTimer("runs:updateCounts");
    await tickTimer("records:confirm");
    await tickTimer("recordProperties:enqueue");
    work += await workQueued("recordProperty:importRecordProperties");
    work += await workQueued("recordProperty:importRecordProperty");
    await tickTimer("records:makeReady");
    await tickTimer("destroy");
    work += await workQueued("record:destroy");
    if (work === 0 && (await GrouparooRecord.count({ where: { state: "pending" } })) === 0) return round;
  }
  throw new Error(`the core still had work after ${maxRounds} rounds of its timers`);
}
