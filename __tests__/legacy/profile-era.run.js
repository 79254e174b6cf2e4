// Runs inside the profile-era app folder (core 0.5.1, spec-helper 0.3.3, this plugin installed from
// its build): boots that core with the plugin, sets up an App, table and query sources, properties
// and a watermark schedule through the core's own models, drives the core's tasks, and prints what it
// observed as one JSON line for the jest test (legacy-core.test.ts) to check.
"use strict";

const path = require("path");
const { createRequire } = require("module");
const { readyProperty } = require("../support/coreModels");

const LEGACY_DIR = process.env.LEGACY_DIR;
const appOptions = JSON.parse(process.env.LEGACY_APP_OPTIONS);
// resolve everything from the legacy app, not from this repository
const requireLegacy = createRequire(path.join(LEGACY_DIR, "package.json"));

async function main() {
  Object.assign(process.env, {
    NODE_ENV: "test",
    REDIS_URL: "redis://mock",
    GROUPAROO_CONFIG_DIR: path.join(LEGACY_DIR, "empty-config"),
    GROUPAROO_DISABLE_EXPORTS: "true",
    GROUPAROO_TELEMETRY_ENABLED: "false",
    GROUPAROO_INJECTED_PLUGINS: JSON.stringify({ "grouparoo-plugin-postgres": { path: path.join(LEGACY_DIR, "node_modules", "grouparoo-plugin-postgres") } }),
    GROUPAROO_LOG_LEVEL: "warning",
  });
  require("fs").mkdirSync(process.env.GROUPAROO_CONFIG_DIR, { recursive: true });
  // the spec helper sets the test environment and points Actionhero at the 0.5.1 core
  requireLegacy("@grouparoo/spec-helper/dist/lib/environment");
  requireLegacy("@grouparoo/spec-helper");
  const { Process, specHelper, api } = requireLegacy("actionhero");
  const server = new Process();
  await server.initialize();
  await server.start();
  const core = requireLegacy("@grouparoo/core");
  const { App, Source, Property, Schedule, Run, Profile, Import, plugin } = core;
  const out = {};
  // small batches, so that the 100 rows sharing one watermark span several
  await plugin.updateSetting("core", "runs-profile-batch-size", 40);

  const runTask = (name, params = {}) => specHelper.runTask(name, params);
  async function drainQueue(name) {
    let n = 0;
    for (const task of await specHelper.findEnqueuedTasks(name)) {
      await runTask(name, task.args[0]);
      n++;
    }
    return n;
  }
  async function runSchedule(schedule) {
    const run = await Run.create({ creatorId: schedule.id, creatorType: "schedule", state: "running" });
    let batches = 0;
    // this core's task wrapper does not pass the batch's count back: the run's state tells when it ends
    while (batches < 1000) {
      await runTask("schedule:run", { runId: run.id });
      batches++;
      await run.reload();
      if (run.state !== "running") break;
    }
    await runTask("import:associateProfiles", {});
    await drainQueue("import:associateProfile");
    for (let round = 0; round < 10; round++) {
      await runTask("profileProperties:enqueue", {});
      const done = (await drainQueue("profileProperty:importProfileProperties")) + (await drainQueue("profileProperty:importProfileProperty"));
      await api.resque.queue.connection.redis.flushdb();
      await runTask("profiles:checkReady", {});
      if (done === 0 && (await Profile.count({ where: { state: "pending" } })) === 0) break;
    }
    // associating imports reopens this core's run; its tick then runs one more batch, which finds
    // nothing after the high watermark and completes it
    await run.reload();
    for (let extra = 0; run.state === "running" && extra < 5; extra++) {
      await runTask("schedule:run", { runId: run.id });
      batches++;
      await run.reload();
    }
    await run.updateTotals();
    await run.reload();
    return { imports: await Import.count({ where: { creatorId: run.id } }), batches, error: run.error, state: run.state, highWaterMark: run.highWaterMark };
  }
  async function profilesByUserId() {
    const byId = {};
    for (const profile of await Profile.findAll()) {
      const simple = {};
      for (const [k, v] of Object.entries(await profile.properties())) simple[k] = v.values.length > 1 ? v.values : v.values[0];
      byId[simple.userId] = simple;
    }
    return byId;
  }

  const { plugins } = api.plugins;
  const ours = plugins.find((p) => p.name === "grouparoo-plugin-postgres");
  out.connections = ours.connections.map((c) => ({ name: c.name, app: c.app, methods: Object.keys(c.methods).sort() }));

  const app = await App.create({ name: "warehouse", type: "postgres" });
  await app.setOptions(appOptions);
  out.appTest = await app.test();
  await app.update({ state: "ready" });

  const users = await Source.create({ name: "users", type: "postgres-table-import", appId: app.id });
  out.tables = (await users.sourceConnectionOptions({})).table;
  await users.setOptions({ table: "users" });
  out.preview = await users.sourcePreview();
  await users.bootstrapUniqueProperty("userId", "integer", "id");
  await users.setMapping({ id: "userId" });
  await users.update({ state: "ready" });

  const property = (sourceId, key, type, options, filters = []) => readyProperty(Property, { sourceId, key, type, options, filters });
  await property(users.id, "email", "email", { column: "email", aggregationMethod: "exact" });

  const purchases = await Source.create({ name: "purchases", type: "postgres-table-import", appId: app.id });
  await purchases.setOptions({ table: "purchases" });
  await purchases.setMapping({ user_id: "userId" });
  await purchases.update({ state: "ready" });
  await property(purchases.id, "ltv", "float", { column: "amount", aggregationMethod: "sum" });
  await property(purchases.id, "lastState", "string", { column: "state", aggregationMethod: "most recent value", sortColumn: "created_at" });
  // a filter saved with the profile era's long operation name
  await property(purchases.id, "refunded", "float", { column: "amount", aggregationMethod: "sum" }, [{ key: "state", op: "equals", match: "refunded" }]);

  const queries = await Source.create({ name: "queries", type: "postgres-query-import", appId: app.id });
  await queries.update({ state: "ready" });
  await property(queries.id, "paidTotal", "float", { query: "SELECT SUM(amount) FROM purchases WHERE user_id = {{ userId }} AND state = 'paid'" });

  const schedule = await Schedule.create({ name: "users by updated_at", sourceId: users.id, recurring: false });
  await schedule.setOptions({ column: "updated_at" });
  // long operation names in a schedule filter, as 0.5 stores them
  await schedule.setFilters([{ key: "id", op: "greater than", match: "0" }]);
  await schedule.update({ state: "ready" });

  out.run1 = await runSchedule(schedule);
  out.profiles = await profilesByUserId();
  out.run2 = await runSchedule(schedule);
  const { Client } = requireLegacy("pg");
  const client = new Client({ connectionString: process.env.LEGACY_SOURCE_URL });
  await client.connect();
  await client.query("UPDATE users SET email = 'changed@example.com', updated_at = now() - interval '10 seconds' WHERE id = 2");
  await client.end();
  out.run3 = await runSchedule(schedule);
  out.profileCountAfter = await Profile.count();
  out.changed = (await profilesByUserId())["2"];

  await server.stop();
  process.stdout.write(`LEGACY_RESULT ${JSON.stringify(out)}\n`);
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error("legacy run failed:", error && error.stack ? error.stack : error);
    process.exit(1);
  }
);
