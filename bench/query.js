#!/usr/bin/env node
// Benchmark of the query source (issue 4): the time to compute one query property for many records,
// this plugin vs the original @grouparoo/postgres@0.9.0.
//
//   npm run build && node bench/query.js [--records 10000] [--cap-seconds 60]
//
// The property is the original's style: SELECT SUM(amount) FROM purchases WHERE user_id = {{{ userId }}}
// (the original pastes the value into the SQL through core's plugin.replaceTemplateRecordVariables,
// loaded standalone; this plugin binds it as a parameter).
//
// How the core calls each: for a connection with only recordProperty (the original; and this plugin's
// query source without a mapping) core 0.9 enqueues one `recordProperty:importRecordProperty` task
// per record, run one at a time per task worker; for this plugin's query source mapped to the primary
// key it calls recordProperties with up to 500 records (issue 16). Measured: recordProperty one record
// at a time (one worker) and 4 at a time (4 workers) for both; recordProperties in batches of 500 for
// ours. This is the plugin's own cost; bench/query-core.js measures the same through the core.
// Options: --records N, --purchases N (rows, default 500000 over 110,000 users), --cap-seconds S,
// --repeat N (runs of each, interleaved, median shown; default 3), --database NAME (default
// gpp_bench_query). Results: stdout and bench/results/query-latest.json.
"use strict";

const path = require("path");
const { Client } = require("pg");
const { parseArgs } = require("../scripts/lib/args");
const { appOptionsFrom, loadOurs, loadOriginal, buildPurchases, ROOT } = require("./lib");
const { seconds, fmt, int, renderTable, writeJson, machine, serverVersion, commandLine, loadNote } = require("./report");

const opts = parseArgs(process.argv.slice(2), {
  records: 10000,
  purchases: 500000,
  users: 100000,
  capSeconds: 60,
  repeat: 3,
  database: "gpp_bench_query",
});
const QUERY = "SELECT SUM(amount) FROM purchases WHERE user_id = {{{ userId }}}";
const PROPERTY = { id: "prp_total", key: "totalSpent", type: "float", isArray: false };

/**
 * Round trips, counted where the client sends what it then waits for: a simple Query, a Flush (node-pg
 * sends one after a bound statement's Execute and waits for its rows before it sends Sync) or a Sync.
 * Both plugins use the same pg module (the core's), so the one counter sees both.
 */
const roundTrips = { count: 0 };
{
  const Connection = require("pg/lib/connection");
  for (const method of ["query", "flush", "sync"]) {
    const original = Connection.prototype[method];
    Connection.prototype[method] = function (...args) {
      roundTrips.count++;
      return original.apply(this, args);
    };
  }
}

function log(message) {
  process.stderr.write(`[bench] ${message}\n`);
}

function makeRecords(n) {
  const createdAt = new Date("2024-01-01T00:00:00Z");
  return Array.from({ length: n }, (_, i) => {
    const properties = { userId: { values: [i + 1], unique: true } };
    return { id: `rec_${i + 1}`, createdAt, updatedAt: createdAt, getProperties: async () => properties };
  });
}

const normalize = (v) => (v === undefined || v === null || v.length === 0 || v[0] === null ? null : v.map(Number));

/** recordProperty for every record, `parallel` at a time (as that many task workers would). */
async function perRecord(method, baseArgs, records, parallel, deadline) {
  const values = new Map();
  let next = 0;
  let capped = false;
  const start = process.hrtime.bigint();
  const worker = async () => {
    while (next < records.length) {
      if (Date.now() >= deadline) {
        capped = true;
        return;
      }
      const record = records[next++];
      values.set(record.id, normalize(await method({ ...baseArgs, record })));
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return { seconds: seconds(start), records: values.size, capped, values };
}

/** recordProperties in batches of 500 records, as the core calls it. */
async function batched(method, baseArgs, records, deadline) {
  const values = new Map();
  let capped = false;
  const start = process.hrtime.bigint();
  for (let i = 0; i < records.length; i += 500) {
    if (Date.now() >= deadline) {
      capped = true;
      break;
    }
    const batch = records.slice(i, i + 500);
    const out = await method({ ...baseArgs, properties: [PROPERTY], propertyOptions: { [PROPERTY.id]: { query: QUERY } }, propertyFilters: { [PROPERTY.id]: [] }, records: batch });
    for (const record of batch) values.set(record.id, normalize(out[record.id] && out[record.id][PROPERTY.id]));
  }
  return { seconds: seconds(start), records: values.size, capped, values };
}

async function main() {
  const startedAt = new Date();
  const { serverFromEnvironmentOrEmbedded, createDatabase } = require(path.join(ROOT, "scripts", "postgres-server.js"));
  const deadlineFor = () => Date.now() + opts.capSeconds * 1000;
  const out = { command: commandLine(), startedAt: startedAt.toISOString(), machine: machine(), options: { records: opts.records, purchases: opts.purchases, users: opts.users, capSeconds: opts.capSeconds, repeat: opts.repeat }, query: QUERY };
  log(`starting Postgres (${process.env.DATABASE_URL || process.env.PGHOST ? "from the environment" : "embedded"})`);
  const server = await serverFromEnvironmentOrEmbedded();
  let admin;
  let ourPg;
  let pool;
  let original;
  try {
    const url = await createDatabase(server.url, opts.database);
    admin = new Client({ connectionString: url });
    await admin.connect();
    out.postgres = await serverVersion(admin);
    log(`building purchases (${int(opts.purchases)} rows over ~${int(opts.users * 1.1)} users, user_id indexed)`);
    await buildPurchases(admin, opts.purchases, opts.users);
    await admin.query("SELECT count(*) FROM purchases");

    const records = makeRecords(opts.records);
    const appOptions = appOptionsFrom(url);
    const ours = loadOurs();
    if (!ours.queryConnection) throw new Error("dist/connections/queryImport.js is missing: build the query source first");
    const ourConnection = ours.queryConnection({ createImports: async () => {}, log: () => {} });
    ourPg = ours.openConnection({ ...appOptions, sslmode: "disable" });
    original = loadOriginal();
    pool = await original.connect({ appOptions: { ...appOptions, schema: "public" } });
    await ourPg.query("SELECT 1");
    await pool.query("SELECT 1");

    const ourArgs = { connection: ourPg, appOptions, appId: "app_bench", sourceId: "src_bench", sourceOptions: {}, sourceMapping: {}, property: PROPERTY, propertyOptions: { query: QUERY }, propertyFilters: [] };
    const theirArgs = { connection: pool, appOptions, appId: "app_bench", sourceId: "src_bench", sourceOptions: {}, sourceMapping: {}, property: PROPERTY, propertyOptions: { query: QUERY }, propertyFilters: [] };

    // a short warm-up of both (connections opened, statements cached), not timed
    const warmup = records.slice(0, 50);
    await perRecord(ourConnection.methods.recordProperty, ourArgs, warmup, 4, Infinity);
    await perRecord(original.query.methods.recordProperty, theirArgs, warmup, 4, Infinity);

    const runs = [
      ["original: recordProperty, 1 at a time", "original", () => perRecord(original.query.methods.recordProperty, theirArgs, records, 1, deadlineFor())],
      ["original: recordProperty, 4 at a time", "original", () => perRecord(original.query.methods.recordProperty, theirArgs, records, 4, deadlineFor())],
      ["ours: recordProperty, 1 at a time", "ours", () => perRecord(ourConnection.methods.recordProperty, ourArgs, records, 1, deadlineFor())],
      ["ours: recordProperty, 4 at a time", "ours", () => perRecord(ourConnection.methods.recordProperty, ourArgs, records, 4, deadlineFor())],
    ];
    if (ourConnection.methods.recordProperties) {
      // batched only for a source mapped to the primary key (the opt-in)
      const batchArgs = { ...ourArgs, sourceMapping: { id: "userId" } };
      runs.push(["ours: recordProperties, batches of 500", "ours", () => batched(ourConnection.methods.recordProperties, batchArgs, records, deadlineFor())]);
    }
    // every run `repeat` times, interleaved, the median reported (this machine is shared and noisy)
    out.results = [];
    let reference;
    const samples = new Map(runs.map(([name]) => [name, []]));
    for (let round = 0; round < opts.repeat; round++) {
      for (const [name, who, run] of runs) {
        log(`${name} (run ${round + 1} of ${opts.repeat})...`);
        const tripsBefore = roundTrips.count;
        const r = await run();
        const tripsPerRecord = (roundTrips.count - tripsBefore) / r.records;
        if (who === "original" && !reference) reference = r.values;
        let mismatches = 0;
        for (const [id, v] of r.values) if (reference.has(id) && JSON.stringify(reference.get(id)) !== JSON.stringify(v)) mismatches++;
        const withValue = [...r.values.values()].filter((v) => v !== null).length;
        samples.get(name).push({ name, contender: who, tripsPerRecord, seconds: r.seconds, records: r.records, capped: r.capped, recordsPerSecond: r.records / r.seconds, withValue, mismatchesWithOriginal: mismatches });
        log(`  ${int(r.records)} records in ${fmt(r.seconds)} s${r.capped ? " (capped)" : ""}`);
      }
    }
    for (const [, list] of samples) {
      const median = [...list].sort((a, b) => a.seconds / a.records - b.seconds / b.records)[Math.floor((list.length - 1) / 2)];
      out.results.push({
        ...median,
        mismatchesWithOriginal: Math.max(...list.map((r) => r.mismatchesWithOriginal)),
        allSeconds: list.map((r) => Math.round(r.seconds * 1000) / 1000),
      });
    }
    const by = (name) => out.results.find((r) => r.name.startsWith(name));
    const perRecordTime = (r) => r.seconds / r.records;
    out.ratios = {
      // original time / ours time for the same records (per record, so that a capped run compares too)
      oneAtATime: perRecordTime(by("original: recordProperty, 1")) / perRecordTime(by("ours: recordProperty, 1")),
      fourAtATime: perRecordTime(by("original: recordProperty, 4")) / perRecordTime(by("ours: recordProperty, 4")),
    };
    if (by("ours: recordProperties")) {
      out.ratios.batchedVsOriginalOneAtATime = perRecordTime(by("original: recordProperty, 1")) / perRecordTime(by("ours: recordProperties"));
      out.ratios.batchedVsOriginalFourAtATime = perRecordTime(by("original: recordProperty, 4")) / perRecordTime(by("ours: recordProperties"));
    }
  } finally {
    if (ourPg) await ourPg.close().catch(() => {});
    if (pool) await original.disconnect({ connection: pool }).catch(() => {});
    if (admin) await admin.end().catch(() => {});
    await server.stop();
  }
  out.finishedAt = new Date().toISOString();
  out.totalSeconds = (Date.parse(out.finishedAt) - startedAt.getTime()) / 1000;

  const lines = [];
  lines.push(`Query property benchmark: ${int(opts.records)} records, purchases ${int(opts.purchases)} rows, time cap ${opts.capSeconds} s per run`);
  lines.push(`Postgres ${out.postgres}, Node ${out.machine.node}, ${out.machine.cpus} CPUs (${out.machine.cpuModel})`);
  lines.push(`Property query: ${QUERY}`);
  lines.push(`Each run ${opts.repeat} times, interleaved; the median shown (every run's time is in the JSON)`);
  lines.push("");
  lines.push(
    renderTable(
      [{ title: "run", align: "left" }, { title: "records" }, { title: "seconds" }, { title: "records/s" }, { title: "round trips/record" }, { title: "status", align: "left" }, { title: "differ from original" }],
      out.results.map((r) => [r.name, int(r.records), fmt(r.seconds), int(r.recordsPerSecond), fmt(r.tripsPerRecord, 3), r.capped ? "CAPPED" : "done", int(r.mismatchesWithOriginal)])
    )
  );
  lines.push("");
  lines.push(`original/ours time, recordProperty one at a time (1 task worker): ${fmt(out.ratios.oneAtATime)}x`);
  lines.push(`original/ours time, recordProperty 4 at a time (4 task workers):  ${fmt(out.ratios.fourAtATime)}x`);
  if (out.ratios.batchedVsOriginalOneAtATime !== undefined) {
    lines.push(`original (1 at a time) / ours recordProperties:                  ${fmt(out.ratios.batchedVsOriginalOneAtATime)}x`);
    lines.push(`original (4 at a time) / ours recordProperties:                  ${fmt(out.ratios.batchedVsOriginalFourAtATime)}x`);
  }
  lines.push("(> 1 means ours is faster; ratios are per record, so a capped run compares too)");
  lines.push("");
  lines.push(loadNote(out));
  lines.push(`Total ${fmt(out.totalSeconds, 0)} s. Command: npm run build && ${out.command}`);
  lines.push(`JSON: ${writeJson("query-latest.json", out)}`);
  console.log(lines.join("\n"));
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
