#!/usr/bin/env node
// Benchmark of batched query properties (issue 16) through the real @grouparoo/core 0.9.0: one query
// property computed for every record by a query source without a mapping (one
// `recordProperty:importRecordProperty` task per record, as before batching) and the same property by
// a query source mapped to the primary key (one `recordProperty:importRecordProperties` task per 500
// records), in one run of the core over the same records.
//
//   npm run build && node bench/query-core.js [--records 10000] [--purchases N]
//
// The core is booted in this process (scripts/lib/core-driver.js, as the demo does) from a config
// folder written here: the demo's App, a users table source (primary key user_id) with its schedule,
// and the two query sources, each with one property of the same query. Measured: the wall time of
// each property's tasks as the core runs them one at a time (one task worker), plus a check that
// both give every record the same value. Results: stdout and bench/results/query-core-latest.json.
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const { parseArgs } = require("../scripts/lib/args");
const { ROOT } = require("./lib");
const { seconds, fmt, int, renderTable, writeJson, machine, commandLine, loadNote } = require("./report");

const opts = parseArgs(process.argv.slice(2), { records: 10000, purchases: 0 });
if (!opts.purchases) opts.purchases = opts.records * 10;
const QUERY = "SELECT SUM(amount) FROM purchases WHERE user_id = {{{ user_id }}}";

function log(message) {
  process.stderr.write(`[bench] ${message}\n`);
}

function writeConfig(dir) {
  const write = (file, object) => {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), JSON.stringify(object, null, 2));
  };
  fs.mkdirSync(path.join(dir, "apps"), { recursive: true });
  fs.copyFileSync(path.join(ROOT, "examples", "config", "apps", "warehouse.js"), path.join(dir, "apps", "warehouse.js"));
  write("models/users.json", { class: "Model", id: "users", name: "Users", type: "profile" });
  write("sources/users.json", [
    { class: "Source", id: "users_table", name: "Users table", type: "postgres-import-table", appId: "warehouse", modelId: "users", options: { table: "users" }, mapping: { id: "user_id" } },
    { class: "Schedule", id: "users_all", name: "Users", sourceId: "users_table", incremental: false, recurring: false, options: { column: "updated_at" }, filters: [] },
  ]);
  write("properties/user_id.json", { class: "Property", id: "user_id", key: "user_id", type: "integer", sourceId: "users_table", unique: true, isArray: false, options: { column: "id", aggregationMethod: "exact" }, filters: [] });
  // as configured before batching: no mapping
  write("sources/per_record.json", [{ class: "Source", id: "per_record_queries", name: "Per-record queries", type: "postgres-import-query", appId: "warehouse", modelId: "users" }]);
  // opted in: mapped to the primary key
  write("sources/batched.json", [{ class: "Source", id: "batched_queries", name: "Batched queries", type: "postgres-import-query", appId: "warehouse", modelId: "users", mapping: { user_id: "user_id" } }]);
  for (const [id, sourceId] of [["total_per_record", "per_record_queries"], ["total_batched", "batched_queries"]]) {
    write(`properties/${id}.json`, { class: "Property", id, key: id, type: "float", sourceId, unique: false, isArray: false, options: { query: QUERY }, filters: [] });
  }
}

async function main() {
  const startedAt = new Date();
  const { startPostgres, createDatabase, freePort } = require(path.join(ROOT, "scripts", "postgres-server.js"));
  const { createDataset } = require(path.join(ROOT, "scripts", "demo.js"));
  const { bootCore, runSchedule, processImports } = require(path.join(ROOT, "scripts", "lib", "core-driver.js"));
  const out = { command: commandLine(), startedAt: startedAt.toISOString(), machine: machine(), options: { records: opts.records, purchases: opts.purchases }, query: QUERY };
  const configDir = fs.mkdtempSync(path.join(os.tmpdir(), "gpp-bench-core-"));
  writeConfig(configDir);
  log("starting Postgres (embedded)");
  const server = await startPostgres();
  let grouparoo;
  try {
    const coreUrl = await createDatabase(server.url, "grouparoo_core");
    const sourceUrl = await createDatabase(server.url, "shop");
    log(`creating ${int(opts.records)} users and ${int(opts.purchases)} purchases (the demo's dataset)`);
    await createDataset(sourceUrl, opts.records, opts.purchases);
    const u = new URL(sourceUrl);
    Object.assign(process.env, {
      DEMO_PG_HOST: u.hostname,
      DEMO_PG_PORT: u.port,
      DEMO_PG_DATABASE: decodeURIComponent(u.pathname.slice(1)),
      DEMO_PG_USER: decodeURIComponent(u.username),
      DEMO_PG_PASSWORD: decodeURIComponent(u.password),
      DEMO_PG_SSLMODE: "disable",
    });
    log("booting @grouparoo/core");
    grouparoo = await bootCore({ coreDatabaseUrl: coreUrl, configDir, port: await freePort(), logLevel: "emerg" });
    const { Schedule, Property, GrouparooRecord } = grouparoo.core;
    const schedule = await Schedule.findOne();
    log("importing the users, then computing the properties (one task at a time, as one worker would)");
    const started = process.hrtime.bigint();
    const { run } = await runSchedule(schedule);
    const totals = await processImports(run);
    out.runSeconds = seconds(started);
    if (totals.error) throw new Error(`the run failed: ${totals.error}`);
    const records = await GrouparooRecord.count();

    out.results = [];
    for (const key of ["total_per_record", "total_batched"]) {
      const property = await Property.findOne({ where: { key } });
      const tasks = totals.propertyTasks[property.id] || { batches: 0, single: 0, seconds: 0 };
      out.results.push({ property: key, records, batchTasks: tasks.batches, oneRecordTasks: tasks.single, seconds: tasks.seconds, msPerRecord: (tasks.seconds / records) * 1000 });
    }
    let mismatches = 0;
    let withValue = 0;
    for (const record of await GrouparooRecord.findAll()) {
      const p = await record.getProperties();
      const a = JSON.stringify(p.total_per_record.values);
      if (a !== JSON.stringify(p.total_batched.values)) mismatches++;
      if (p.total_batched.values[0] !== null) withValue++;
    }
    out.mismatches = mismatches;
    out.recordsWithValue = withValue;
    out.ratio = out.results[0].seconds / out.results[1].seconds;
  } finally {
    if (grouparoo) await grouparoo.stop().catch(() => {});
    await server.stop();
    fs.rmSync(configDir, { recursive: true, force: true });
  }
  out.finishedAt = new Date().toISOString();
  out.totalSeconds = (Date.parse(out.finishedAt) - startedAt.getTime()) / 1000;

  const lines = [];
  lines.push(`Query property through the real core 0.9.0: ${int(opts.records)} records, ${int(opts.purchases)} purchases, one worker`);
  lines.push(`Node ${out.machine.node}, ${out.machine.cpus} CPUs (${out.machine.cpuModel}); property query: ${QUERY}`);
  lines.push("");
  lines.push(
    renderTable(
      [{ title: "property", align: "left" }, { title: "records" }, { title: "batch tasks" }, { title: "1-record tasks" }, { title: "task seconds" }, { title: "ms/record" }],
      out.results.map((r) => [r.property, int(r.records), int(r.batchTasks), int(r.oneRecordTasks), fmt(r.seconds), fmt(r.msPerRecord, 3)])
    )
  );
  lines.push("");
  lines.push(`per-record / batched wall time through the core: ${fmt(out.ratio, 1)}x (target >= 10x)`);
  lines.push(`records whose two values differ: ${int(out.mismatches)} (records with a value: ${int(out.recordsWithValue)})`);
  lines.push(`whole run (import + every property): ${fmt(out.runSeconds, 1)} s`);
  lines.push(loadNote(out));
  lines.push(`Total ${fmt(out.totalSeconds, 0)} s. Command: npm run build && ${out.command}`);
  lines.push(`JSON: ${writeJson("query-core-latest.json", out)}`);
  console.log(lines.join("\n"));
}

main().then(
  () => process.exit(process.exitCode || 0),
  (error) => {
    console.error(error);
    process.exit(1);
  }
);
