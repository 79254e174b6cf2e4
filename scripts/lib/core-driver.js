// Boots the real @grouparoo/core in this process and drives its tasks one by one, as its workers
// would: used by the demo (and by the tests, through the spec helper's server).
"use strict";

const path = require("path");

const PLUGIN_ROOT = path.join(__dirname, "..", "..");

/**
 * Starts the core with this plugin injected, its own database at `coreDatabaseUrl`, an in-process
 * Redis and the config files of `configDir`. No task workers: the caller drives the tasks.
 */
async function bootCore({ coreDatabaseUrl, configDir, port, logLevel = "warning" }) {
  Object.assign(process.env, {
    NODE_ENV: process.env.NODE_ENV || "development",
    DATABASE_URL: coreDatabaseUrl,
    REDIS_URL: "redis://mock",
    GROUPAROO_CONFIG_DIR: configDir,
    GROUPAROO_INJECTED_PLUGINS: JSON.stringify({ "grouparoo-plugin-postgres": { path: PLUGIN_ROOT } }),
    GROUPAROO_DISABLE_EXPORTS: "true",
    GROUPAROO_TELEMETRY_ENABLED: "false",
    GROUPAROO_LOG_LEVEL: logLevel,
    WORKERS: "0",
    NEXT_DISABLED: "true",
    SERVER_TOKEN: process.env.SERVER_TOKEN || "demo-server-token",
    PORT: String(port),
    WEB_URL: `http://127.0.0.1:${port}`,
  });
  // Actionhero loads the core's config and initializers from the core's folder
  const { getCoreRootPath } = require("@grouparoo/core/dist/modules/pluginDetails");
  const corePath = getCoreRootPath();
  process.chdir(corePath);
  process.env.ACTIONHERO_CONFIG = path.join(corePath, "dist", "config");
  const { Process } = require("actionhero");
  const app = new Process();
  await app.initialize();
  await app.start();
  return {
    core: require("@grouparoo/core"),
    async stop() {
      await app.stop();
    },
  };
}

async function runTask(name, params = {}) {
  const { specHelper } = require("actionhero");
  return specHelper.runTask(name, params);
}

async function enqueuedTasks(name) {
  const { specHelper } = require("actionhero");
  return specHelper.findEnqueuedTasks(name);
}

async function clearQueues() {
  const { api } = require("actionhero");
  await api.resque.queue.connection.redis.flushdb();
}

/**
 * One run of a schedule: a `schedule:run` task per batch until a batch imports nothing, the run's
 * percent complete (the plugin's estimate) reported every few batches.
 */
async function runSchedule(schedule, { onProgress = () => {} } = {}) {
  const { Run } = require("@grouparoo/core");
  const run = await Run.create({ creatorId: schedule.id, creatorType: "schedule", state: "running" });
  let batches = 0;
  for (;;) {
    const count = await runTask("schedule:run", { scheduleId: schedule.id, runId: run.id });
    batches++;
    await run.reload();
    if (!count || run.state !== "running") break;
    if (batches % 5 === 1) onProgress(await run.determinePercentComplete(false, true), run);
  }
  onProgress(100, run);
  return { run, batches };
}

/**
 * Property tasks by property id: `batches` (recordProperty:importRecordProperties), `single` (one
 * record each) and `seconds`, the wall time of those tasks (a task of several properties counts for each).
 */
function countPropertyTask(counts, name, args, seconds) {
  const ids = name === "recordProperty:importRecordProperties" ? [].concat(args.propertyIds) : [args.propertyId];
  for (const id of ids) {
    const count = (counts[id] = counts[id] || { batches: 0, single: 0, seconds: 0 });
    if (name === "recordProperty:importRecordProperties") count.batches++;
    else count.single++;
    count.seconds += seconds;
  }
}

/**
 * What the core's workers do after a run: associate the imports with records, compute every
 * property through the plugin, and mark the records ready. Returns the run's totals, with the
 * property tasks run for each property (`propertyTasks`).
 */
async function processImports(run, { onStep = () => {} } = {}) {
  const { Import, GrouparooRecord } = require("@grouparoo/core");
  const propertyTasks = {};
  while ((await Import.count({ where: { creatorId: run.id, recordAssociatedAt: null } })) > 0) {
    await runTask("import:associateRecords", {});
    onStep("associate");
  }
  for (let round = 0; round < 20; round++) {
    await runTask("recordProperties:enqueue", {});
    for (const name of ["recordProperty:importRecordProperties", "recordProperty:importRecordProperty"]) {
      for (const task of await enqueuedTasks(name)) {
        const started = process.hrtime.bigint();
        await runTask(name, task.args[0]);
        countPropertyTask(propertyTasks, name, task.args[0], Number(process.hrtime.bigint() - started) / 1e9);
        onStep("properties");
      }
    }
    await clearQueues();
    await runTask("records:makeReady", {});
    if ((await GrouparooRecord.count({ where: { state: "pending" } })) === 0) break;
  }
  // the core's run tick counts the run's imports; the next run starts from the last run that imported any
  await run.updateTotals();
  await run.reload();
  const imports = await Import.count({ where: { creatorId: run.id } });
  return { imports, error: run.error, highWaterMark: run.highWaterMark, state: run.state, propertyTasks };
}

module.exports = { bootCore, runTask, runSchedule, processImports, PLUGIN_ROOT };
