#!/usr/bin/env node
// Benchmark of the table source (issue 3): paging through a large table with the core's contract, and
// recordProperties, this plugin vs the original @grouparoo/postgres@0.9.0 vs a raw `pg` keyset read.
//
//   npm run build && node bench/table.js [--rows 1000000] [--cap-seconds 60]
//
// Options: --rows N (table size), --cap-seconds S (time cap per contender and case), --bulk N (rows
// sharing one watermark in case 2, default 200000), --per-value N (rows per watermark value, 100),
// --records N (records for recordProperties, 100000), --purchases N (rows of the purchases table,
// 500000), --repeat N (runs of each fast contender, interleaved, median reported; default 3),
// --skip-original, --skip-properties, --skip-memory, --database NAME (default gpp_bench), --cases 1,2
// (only those cases).
// Uses DATABASE_URL (or PGHOST...) when set, else starts a throw-away embedded server.
// Results: a table on stdout and bench/results/table-latest.json.
"use strict";

const path = require("path");
const { spawn } = require("child_process");
const { Client } = require("pg");
const { parseArgs } = require("../scripts/lib/args");
const { driveSchedule } = require("../scripts/lib/schedule-driver");
const { appOptionsFrom, loadOurs, loadOriginal, ImportCounter, buildPurchases, ROOT } = require("./lib");
const { seconds, fmt, int, renderTable, writeJson, machine, serverVersion, commandLine, loadNote } = require("./report");

const DEFAULTS = {
  rows: 1000000,
  capSeconds: 60,
  bulk: 200000,
  perValue: 100,
  records: 100000,
  purchases: 500000,
  repeat: 3,
  database: "gpp_bench",
  skipOriginal: false,
  skipProperties: false,
  skipMemory: false,
  child: "",
  url: "",
  table: "",
  cases: "",
};
const opts = parseArgs(process.argv.slice(2), DEFAULTS);
const LIMIT = 1000;
const KEY = "id";
const WATERMARK = "updated_at";

// ---------------------------------------------------------------------------------------------
// data

async function buildUsers(client, table, rows, { perValue, bulk = 0 }) {
  const plain = rows - bulk;
  const values = Math.max(1, Math.ceil(plain / perValue));
  await client.query(`DROP TABLE IF EXISTS ${table}`);
  await client.query(`CREATE UNLOGGED TABLE ${table} (id int PRIMARY KEY, email text, country text, ${WATERMARK} timestamptz)`);
  // about `perValue` rows per watermark value, scattered over the table (7919 is prime: a permutation
  // of the values when `values` is not a multiple of it); the last `bulk` ids share one, newer, value
  await client.query(
    `INSERT INTO ${table}
     SELECT g, 'user' || g || '@example.com', (ARRAY['US','FR','DE','BR','JP','IN','NG','GB'])[1 + g % 8],
            CASE WHEN g > $2::int THEN timestamptz '2025-01-01 00:00:00+00'
                 ELSE timestamptz '2024-01-01 00:00:00+00' + ((g::bigint * 7919) % $3::int) * interval '1 second' END
       FROM generate_series(1, $1::int) g`,
    [rows, plain, values]
  );
  await client.query(`CREATE INDEX ${table}_${WATERMARK}_id ON ${table} (${WATERMARK}, id)`);
  await client.query(`VACUUM ANALYZE ${table}`);
  const { rows: stats } = await client.query(
    `SELECT (SELECT count(*) FROM ${table})::int AS rows,
            (SELECT count(DISTINCT ${WATERMARK}) FROM ${table})::int AS values,
            (SELECT max(c) FROM (SELECT count(*) AS c FROM ${table} GROUP BY ${WATERMARK}) t)::int AS largest_tie`
  );
  return stats[0];
}

/** Brings a table and its indexes into the caches, so that the first contender pays no cold read. */
async function warm(client, table) {
  await client.query(`SELECT count(*) FROM ${table}`);
  await client.query("SET enable_seqscan = off");
  try {
    await client.query(`SELECT count(*) FROM ${table} WHERE id > 0`);
    await client.query(`SELECT count(*) FROM ${table} WHERE ${WATERMARK} >= '-infinity'`);
  } finally {
    await client.query("RESET enable_seqscan");
  }
}

// ---------------------------------------------------------------------------------------------
// contenders for import runs

/**
 * The floor: a pg Client keyset loop over (watermark, id), default type parsing; `byKey` walks the
 * primary key alone (`SELECT id ... WHERE id > $1 ORDER BY id`), the floor of a full walk by key.
 * `previous` is the position to start after (what a previous run ended on); returns the last position.
 */
async function runRaw({ url, table, deadline, maxId, byKey = false, previous, seen }) {
  const client = new Client({ connectionString: url });
  await client.connect();
  await client.query("SELECT 1");
  const counter = new ImportCounter(KEY, maxId);
  if (seen) counter.markImported(...seen);
  const columns = byKey ? "id" : `id, ${WATERMARK}`;
  const order = byKey ? "id" : `${WATERMARK}, id`;
  const after = byKey ? "id > $1" : `(${WATERMARK}, id) > ($1, $2)`;
  const start = process.hrtime.bigint();
  let capped = false;
  let batches = 0;
  let last = previous;
  try {
    for (;;) {
      if (Date.now() >= deadline) {
        capped = true;
        break;
      }
      const { rows } = last
        ? await client.query(`SELECT ${columns} FROM ${table} WHERE ${after} ORDER BY ${order} LIMIT ${LIMIT}`, last)
        : await client.query(`SELECT ${columns} FROM ${table} ORDER BY ${order} LIMIT ${LIMIT}`);
      batches++;
      if (rows.length === 0) break;
      counter.add(rows);
      const row = rows[rows.length - 1];
      last = byKey ? [row.id] : [row[WATERMARK], row.id];
    }
    return { counter, seconds: seconds(start), capped, batches, next: last };
  } finally {
    await client.end();
  }
}

async function runOurs({ url, table, incremental, deadline, maxId, previous, seen, horizonOff = false }) {
  const ours = loadOurs();
  const counter = new ImportCounter(KEY, maxId);
  if (seen) counter.markImported(...seen);
  const host = { createImports: async (_mapping, _run, rows) => counter.add(rows), log: () => {} };
  const connection = ours.tableConnection(host);
  // the commit horizon (one pg_stat_activity query per page of an incremental run) is on by default
  const appOptions = { ...appOptionsFrom(url), sslmode: "disable", ...(horizonOff ? { commit_horizon: "off" } : {}) };
  const pg = ours.openConnection(appOptions);
  // times the horizon's own statements within the run (they are the only ones reading pg_stat_activity)
  const horizon = { queries: 0, seconds: 0 };
  const query = pg.query.bind(pg);
  pg.query = async (sql, params, options) => {
    const started = process.hrtime.bigint();
    try {
      return await query(sql, params, options);
    } finally {
      if (sql.includes("pg_stat_activity")) {
        horizon.queries++;
        horizon.seconds += seconds(started);
      }
    }
  };
  try {
    await pg.query("SELECT 1");
    const start = process.hrtime.bigint();
    const run = await driveSchedule({
      importRecords: connection.methods.importRecords,
      args: { connection: pg, appOptions, appId: "app_bench", sourceOptions: { table }, sourceMapping: { [KEY]: "userId" }, properties: [] },
      incremental,
      column: WATERMARK,
      limit: LIMIT,
      deadline,
      previousHighWaterMark: previous,
    });
    return { counter, seconds: seconds(start), capped: run.capped, batches: run.batches, maxOffsetLength: run.maxOffsetLength, next: run.highWaterMark, horizon };
  } finally {
    await pg.close();
  }
}

async function runOriginal({ url, table, incremental, deadline, maxId, previous, seen }) {
  const original = loadOriginal();
  const counter = new ImportCounter(KEY, maxId);
  if (seen) counter.markImported(...seen);
  original.setCreateImports(async (_mapping, _run, rows) => counter.add(rows));
  const appOptions = { ...appOptionsFrom(url), schema: "public" };
  const pool = await original.connect({ appOptions });
  try {
    await pool.query("SELECT 1");
    const sourceOptions = { table };
    const start = process.hrtime.bigint();
    const run = await driveSchedule({
      importRecords: original.table.methods.importRecords,
      args: {
        connection: pool,
        appOptions,
        appId: "app_bench",
        sourceOptions,
        sourceMapping: { [KEY]: "userId" },
        properties: [],
        // what the core's Source model gives: its options with the run's variables filled in
        source: { id: "src_bench", parameterizedOptions: async () => ({ ...sourceOptions }) },
      },
      incremental,
      column: WATERMARK,
      limit: LIMIT,
      deadline,
      previousHighWaterMark: previous,
    });
    return { counter, seconds: seconds(start), capped: run.capped, batches: run.batches, next: run.highWaterMark };
  } finally {
    await original.disconnect({ connection: pool });
  }
}

// ---------------------------------------------------------------------------------------------
// recordProperties

const PROPERTY_CASES = [
  { id: "prp_sum", key: "totalSpent", options: { column: "amount", aggregationMethod: "sum" } },
  { id: "prp_count", key: "purchaseCount", options: { column: "id", aggregationMethod: "count" } },
  { id: "prp_recent", key: "lastAmount", options: { column: "amount", aggregationMethod: "most recent value", sortColumn: "created_at" } },
];

function makeRecords(n) {
  const records = [];
  const createdAt = new Date("2024-01-01T00:00:00Z");
  for (let i = 1; i <= n; i++) {
    const values = { userId: { values: [i] } };
    records.push({ id: `rec_${i}`, createdAt, updatedAt: createdAt, getProperties: async () => values });
  }
  return records;
}

/** Calls recordProperties the way the core does: one property, batches of 500 records. */
async function timeRecordProperties(method, connection, appOptions, records, property, deadline) {
  const values = new Map();
  const start = process.hrtime.bigint();
  let done = 0;
  let capped = false;
  for (let i = 0; i < records.length; i += 500) {
    if (Date.now() >= deadline) {
      capped = true;
      break;
    }
    const batch = records.slice(i, i + 500);
    const out = await method({
      connection,
      appOptions,
      appId: "app_bench",
      sourceId: "src_bench",
      sourceOptions: { table: "purchases" },
      sourceMapping: { user_id: "userId" },
      properties: [{ id: property.id, key: property.key, isArray: false, type: "float" }],
      propertyOptions: { [property.id]: { ...property.options } },
      propertyFilters: { [property.id]: [] },
      records: batch,
    });
    for (const record of batch) {
      const v = out[record.id] && out[record.id][property.id];
      values.set(record.id, v === undefined || v === null ? null : v.map(Number));
    }
    done += batch.length;
  }
  return { seconds: seconds(start), records: done, capped, values };
}

async function benchRecordProperties(url, deadlineFor) {
  const records = makeRecords(opts.records);
  const appOptions = appOptionsFrom(url);
  const ours = loadOurs();
  const ourConnection = ours.tableConnection({ createImports: async () => {}, log: () => {} });
  const ourPg = ours.openConnection({ ...appOptions, sslmode: "disable" });
  const original = opts.skipOriginal ? undefined : loadOriginal();
  const pool = original ? await original.connect({ appOptions: { ...appOptions, schema: "public" } }) : undefined;
  const results = [];
  try {
    await ourPg.query("SELECT 1");
    if (pool) await pool.query("SELECT 1");
    const median = (runs) => [...runs].sort((a, b) => a.seconds - b.seconds)[Math.floor((runs.length - 1) / 2)];
    for (const property of PROPERTY_CASES) {
      // interleaved runs (ours, original, ours, original...), the median of each reported
      const mineRuns = [];
      const theirRuns = [];
      for (let round = 0; round < opts.repeat; round++) {
        log(`recordProperties ${property.options.aggregationMethod}: run ${round + 1} of ${opts.repeat}`);
        mineRuns.push(await timeRecordProperties(ourConnection.methods.recordProperties, ourPg, appOptions, records, property, deadlineFor()));
        if (original) theirRuns.push(await timeRecordProperties(original.table.methods.recordProperties, pool, appOptions, records, property, deadlineFor()));
      }
      const mine = median(mineRuns);
      const theirs = original ? median(theirRuns) : undefined;
      let mismatches = 0;
      if (theirs) {
        for (const [id, v] of theirs.values) {
          const w = mine.values.get(id);
          if (JSON.stringify(v) !== JSON.stringify(w === undefined ? null : w)) mismatches++;
        }
      }
      const seconds3 = (runs) => runs.map((r) => Math.round(r.seconds * 1000) / 1000);
      results.push({
        aggregation: property.options.aggregationMethod,
        records: mine.records,
        withValue: [...mine.values.values()].filter((v) => v !== null).length,
        ours: { seconds: mine.seconds, capped: mine.capped, records: mine.records, allSeconds: seconds3(mineRuns) },
        original: theirs ? { seconds: theirs.seconds, capped: theirs.capped, records: theirs.records, allSeconds: seconds3(theirRuns) } : undefined,
        originalOverOurs: theirs ? theirs.seconds / theirs.records / (mine.seconds / mine.records) : undefined,
        mismatches: theirs ? mismatches : undefined,
      });
    }
  } finally {
    await ourPg.close();
    if (pool) await original.disconnect({ connection: pool });
  }
  return results;
}

// ---------------------------------------------------------------------------------------------
// memory: our full walk in a child process

function peakRss() {
  let vmHwmKB;
  try {
    const m = /VmHWM:\s+(\d+)\s+kB/.exec(require("fs").readFileSync("/proc/self/status", "utf8"));
    if (m) vmHwmKB = Number(m[1]);
  } catch (error) {
    // not Linux
  }
  return { maxRssMB: process.resourceUsage().maxRSS / 1024, vmHwmMB: vmHwmKB === undefined ? undefined : vmHwmKB / 1024 };
}

async function child() {
  const url = opts.url;
  const table = opts.table;
  if (opts.child === "idle") {
    // the baseline: modules loaded and one query run, no walk
    const ours = loadOurs();
    ours.tableConnection({ createImports: async () => {}, log: () => {} });
    const pg = ours.openConnection({ ...appOptionsFrom(url), sslmode: "disable" });
    await pg.query("SELECT 1");
    await pg.close();
    return { mode: "idle", ...peakRss() };
  }
  if (opts.child === "ours-walk") {
    // counts without a per-id table (that would grow with the table): a full walk goes by key, so
    // every id must be larger than the one before
    let imports = 0;
    let lastId = -Infinity;
    let outOfOrder = 0;
    const ours = loadOurs();
    const host = {
      createImports: async (_m, _r, rows) => {
        for (const row of rows) {
          const id = Number(row[KEY]);
          if (!(id > lastId)) outOfOrder++;
          lastId = id;
          imports++;
        }
      },
      log: () => {},
    };
    const connection = ours.tableConnection(host);
    const appOptions = { ...appOptionsFrom(url), sslmode: "disable" };
    const pg = ours.openConnection(appOptions);
    const start = process.hrtime.bigint();
    try {
      await driveSchedule({
        importRecords: connection.methods.importRecords,
        args: { connection: pg, appOptions, sourceOptions: { table }, sourceMapping: { [KEY]: "userId" }, properties: [] },
        incremental: false,
        column: WATERMARK,
        limit: LIMIT,
        deadline: Infinity,
      });
    } finally {
      await pg.close();
    }
    return { mode: "ours-walk", table, imports, outOfOrder, seconds: seconds(start), ...peakRss() };
  }
  throw new Error(`unknown --child ${opts.child}`);
}

function runChild(args) {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [__filename, ...args], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    proc.stdout.on("data", (d) => (out += d));
    proc.on("error", reject);
    proc.on("exit", (code) => {
      if (code !== 0) return reject(new Error(`child ${args.join(" ")} exited with ${code}`));
      try {
        resolve(JSON.parse(out.trim().split("\n").pop()));
      } catch (error) {
        reject(new Error(`child printed no result: ${out}`));
      }
    });
  });
}

// ---------------------------------------------------------------------------------------------
// main

function log(message) {
  process.stderr.write(`[bench] ${message}\n`);
}

function summarize(result, contender) {
  const { counter } = result;
  return {
    contender,
    imports: counter.imports,
    distinct: counter.distinct,
    duplicates: counter.duplicates,
    seconds: result.seconds,
    rowsPerSecond: counter.distinct / result.seconds,
    capped: result.capped,
    batches: result.batches,
    maxSourceOffsetLength: result.maxOffsetLength,
    horizon: result.horizon,
  };
}

async function main() {
  const startedAt = new Date();
  const { serverFromEnvironmentOrEmbedded, createDatabase } = require(path.join(ROOT, "scripts", "postgres-server.js"));
  const capMs = opts.capSeconds * 1000;
  const deadlineFor = () => Date.now() + capMs;
  const N = opts.rows;
  const bulk = Math.min(opts.bulk, Math.floor(N / 2));

  log(`starting Postgres (${process.env.DATABASE_URL || process.env.PGHOST ? "from the environment" : "embedded"})`);
  const server = await serverFromEnvironmentOrEmbedded();
  const out = { command: commandLine(), startedAt: startedAt.toISOString(), machine: machine(), options: { rows: N, capSeconds: opts.capSeconds, repeat: opts.repeat, bulk, perValue: opts.perValue, limit: LIMIT, records: opts.records, purchases: opts.purchases } };
  let admin;
  try {
    const url = await createDatabase(server.url, opts.database);
    admin = new Client({ connectionString: url });
    await admin.connect();
    out.postgres = await serverVersion(admin);

    log(`building users (${int(N)} rows, ~${opts.perValue} per watermark value) and users_bulk (${int(bulk)} rows share one value)`);
    let t = process.hrtime.bigint();
    const usersStats = await buildUsers(admin, "users", N, { perValue: opts.perValue });
    const bulkStats = await buildUsers(admin, "users_bulk", N, { perValue: opts.perValue, bulk });
    out.build = { seconds: seconds(t), users: usersStats, users_bulk: bulkStats };
    log(`built in ${fmt(out.build.seconds, 1)} s`);

    const original = !opts.skipOriginal;
    const runners = (c, extra = () => ({})) => {
      const list = [["raw pg keyset", () => runRaw({ url, table: c.table, deadline: deadlineFor(), maxId: N, ...extra("raw") })]];
      if (c.rawByKey) list.push(["raw pg keyset by id", () => runRaw({ url, table: c.table, deadline: deadlineFor(), maxId: N, byKey: true })]);
      list.push(["ours", () => runOurs({ url, table: c.table, incremental: c.incremental, deadline: deadlineFor(), maxId: N, ...extra("ours") })]);
      // the horizon's cost: the same run with commit_horizon off, side by side (cases 1 and 2)
      if (c.horizonSideBySide) list.push(["ours, horizon off", () => runOurs({ url, table: c.table, incremental: c.incremental, deadline: deadlineFor(), maxId: N, horizonOff: true })]);
      if (original) list.push(["original 0.9.0", () => runOriginal({ url, table: c.table, incremental: c.incremental, deadline: deadlineFor(), maxId: N, ...extra("original") })]);
      return list;
    };
    // the fast contenders run `repeat` times, interleaved (raw, ours, raw, ours...), and report their
    // median run (this machine is shared and noisy); the original runs once (it is the slow one)
    const measure = async (c, list, results) => {
      const samples = new Map(list.map(([name]) => [name, []]));
      for (let round = 0; round < opts.repeat; round++) {
        for (const [name, run] of list) {
          if (round > 0 && name.startsWith("original")) continue;
          await warm(admin, c.table);
          log(`case ${c.id}: ${name}${opts.repeat > 1 && !name.startsWith("original") ? ` (run ${round + 1} of ${opts.repeat})` : ""}...`);
          const r = summarize(await run(), name);
          log(`  ${int(r.imports)} imports, ${int(r.duplicates)} duplicates, ${fmt(r.seconds)} s${r.capped ? " (capped)" : ""}`);
          samples.get(name).push(r);
        }
      }
      for (const [name, runs] of samples) {
        const sorted = [...runs].sort((a, b) => a.seconds - b.seconds);
        const median = sorted[Math.floor((sorted.length - 1) / 2)];
        results.push({ ...median, runs: runs.length, allSeconds: runs.map((r) => Math.round(r.seconds * 1000) / 1000) });
        if (runs.some((r) => r.imports !== median.imports || r.duplicates !== median.duplicates)) {
          throw new Error(`${name}: runs of case ${c.id} disagree on imports or duplicates`);
        }
      }
    };
    // time ratio; when a run is capped, the ratio of rows per second
    const ratio = (slow, fast) => (slow.capped || fast.capped ? fast.rowsPerSecond / slow.rowsPerSecond : slow.seconds / fast.seconds);

    const cases = [
      { id: "1", label: "incremental", name: `1. incremental, ~${opts.perValue} rows per watermark value`, table: "users", incremental: true, horizonSideBySide: true },
      { id: "2", label: "bulk tie", name: `2. incremental, ${int(bulk)} rows share one watermark value (the newest)`, table: "users_bulk", incremental: true, horizonSideBySide: true },
      {
        id: "2b",
        label: "after bulk",
        name: `2b. incremental, the run after a bulk load of ${int(bulk)} rows with one watermark value (the previous run imported the other ${int(N - bulk)})`,
        table: "users_grow",
        incremental: true,
        afterBulk: true,
      },
      { id: "3", label: "full walk", name: "3. not incremental (full walk)", table: "users", incremental: false, rawByKey: true },
    ];
    out.cases = [];
    // --cases 1,2: only those cases
    const only = opts.cases ? String(opts.cases).split(",") : undefined;
    for (const c of cases.filter((x) => !only || only.includes(x.id))) {
      const entry = { id: c.id, label: c.label, case: c.name, table: c.table, incremental: c.incremental, results: [] };
      if (c.afterBulk) {
        // a table before the bulk load; each contender's first run; the bulk load; each one's next run
        log(`case 2b: building ${c.table} (${int(N - bulk)} rows), first runs`);
        await buildUsers(admin, c.table, N - bulk, { perValue: opts.perValue });
        const previous = {};
        entry.firstRuns = [];
        for (const [name, run] of runners(c)) {
          await warm(admin, c.table);
          const r = await run();
          previous[name] = r.next;
          entry.firstRuns.push({ contender: name, imports: r.counter.imports, seconds: r.seconds, capped: r.capped, endedWith: r.next });
        }
        await admin.query(
          `INSERT INTO ${c.table}
           SELECT g, 'user' || g || '@example.com', 'US', timestamptz '2025-01-01 00:00:00+00' FROM generate_series($1::int, $2::int) g`,
          [N - bulk + 1, N]
        );
        await admin.query(`VACUUM ANALYZE ${c.table}`);
        const contenders = runners(c, (who) => ({
          previous: previous[who === "raw" ? "raw pg keyset" : who === "ours" ? "ours" : "original 0.9.0"],
          seen: [1, N - bulk],
        }));
        await measure(c, contenders, entry.results);
      } else {
        await measure(c, runners(c), entry.results);
      }
      const find = (name) => entry.results.find((r) => r.contender === name);
      const raw = find("raw pg keyset");
      const ours = find("ours");
      entry.oursOverRaw = ratio(ours, raw);
      const horizonOff = find("ours, horizon off");
      // the share of the run that the per-page horizon query costs: (on - off) / on
      if (horizonOff) {
        entry.horizonShareOfRun = (ours.seconds - horizonOff.seconds) / ours.seconds;
        // within our own run: the horizon statements' time, and what one per page would cost
        const h = ours.horizon;
        const perQuery = h.queries ? h.seconds / h.queries : 0;
        entry.horizonMeasured = {
          queries: h.queries,
          seconds: h.seconds,
          shareOfRun: h.seconds / ours.seconds,
          msPerQuery: perQuery * 1000,
          pages: ours.batches,
          shareIfEveryPage: (perQuery * ours.batches) / (ours.seconds - h.seconds + perQuery * ours.batches),
        };
      }
      if (find("raw pg keyset by id")) entry.oursOverRawByKey = ratio(ours, find("raw pg keyset by id"));
      const theirs = find("original 0.9.0");
      if (theirs) {
        entry.originalOverOurs = ratio(theirs, ours);
        entry.originalOverRaw = ratio(theirs, raw);
        entry.originalCapped = theirs.capped;
      }
      out.cases.push(entry);
    }

    if (!opts.skipProperties) {
      log(`building purchases (${int(opts.purchases)} rows over ~${int(opts.records * 1.1)} users)`);
      t = process.hrtime.bigint();
      await buildPurchases(admin, opts.purchases, opts.records);
      await warm(admin, "purchases").catch(() => {});
      log(`built in ${fmt(seconds(t), 1)} s; recordProperties for ${int(opts.records)} records, batches of 500`);
      out.recordProperties = await benchRecordProperties(url, deadlineFor);
    }

    if (!opts.skipMemory) {
      log(`building users_2x (${int(2 * N)} rows) for the memory check`);
      await buildUsers(admin, "users_2x", 2 * N, { perValue: opts.perValue });
      out.memory = [];
      const idle = await runChild(["--child", "idle", "--url", url]);
      out.memory.push({ what: "ours, idle (modules loaded, one query)", rows: 0, ...idle });
      for (const [table, rows] of [["users", N], ["users_2x", 2 * N]]) {
        await warm(admin, table);
        log(`memory: our full walk of ${table} (${int(rows)} rows) in a child process`);
        const r = await runChild(["--child", "ours-walk", "--url", url, "--table", table]);
        out.memory.push({ what: `ours, full walk of ${table}`, rows, ...r });
      }
    }
  } finally {
    if (admin) await admin.end().catch(() => {});
    await server.stop();
  }
  out.finishedAt = new Date().toISOString();
  out.totalSeconds = (Date.parse(out.finishedAt) - startedAt.getTime()) / 1000;
  report(out);
}

function report(out) {
  const lines = [];
  lines.push(`Table source benchmark: ${int(out.options.rows)} rows, limit ${out.options.limit}, time cap ${out.options.capSeconds} s per contender and case`);
  lines.push(`Postgres ${out.postgres}, Node ${out.machine.node}, ${out.machine.cpus} CPUs (${out.machine.cpuModel}), ${out.machine.memoryGB} GB`);
  lines.push(`raw and ours: the median of ${out.options.repeat} interleaved runs; the original: one run (every run's time is in the JSON)`);
  lines.push("");
  const rows = [];
  for (const c of out.cases) {
    for (const r of c.results) {
      let note = "";
      if (r.contender === "ours") {
        note = `ours/raw ${fmt(c.oursOverRaw)}x`;
        if (c.oursOverRawByKey !== undefined) note += `; ours/raw-by-id ${fmt(c.oursOverRawByKey)}x`;
        if (c.horizonMeasured) {
          const h = c.horizonMeasured;
          note += `; horizon: ${h.queries} queries, ${fmt(100 * h.shareOfRun, 2)}% of the run (${fmt(h.msPerQuery, 2)} ms each; one per page: ${fmt(100 * h.shareIfEveryPage, 1)}%); on/off ${fmt(1 + c.horizonShareOfRun / (1 - c.horizonShareOfRun))}x`;
        }
      } else if (r.contender.startsWith("original")) {
        note = `original/ours ${fmt(c.originalOverOurs, 1)}x${c.originalCapped ? " (by rows/s)" : ""}; original/raw ${fmt(c.originalOverRaw, 1)}x`;
      }
      rows.push([`${c.id} ${c.label}`, r.contender, int(r.imports), int(r.duplicates), fmt(r.seconds), int(r.rowsPerSecond), r.capped ? `CAPPED at ${int(r.distinct)} rows` : "done", note]);
    }
  }
  lines.push(
    renderTable(
      [
        { title: "case", align: "left" },
        { title: "contender", align: "left" },
        { title: "imports" },
        { title: "duplicates" },
        { title: "seconds" },
        { title: "rows/s" },
        { title: "status", align: "left" },
        { title: "ratio", align: "left" },
      ],
      rows
    )
  );
  for (const c of out.cases) lines.push(`  ${c.case}`);
  lines.push("horizon: the time of the horizon's pg_stat_activity statements within our median run (a run reuses one for up to 1 s), what one per page would cost, and ours / ours with commit_horizon off (medians of interleaved runs, noisy).");
  lines.push("rows/s = distinct (new) rows per second. duplicates = imports - distinct ids; in 2b, rows the first run had already imported count too.");
  lines.push("A capped run is compared by rows/s, which flatters it (the original's OFFSET cost per batch keeps growing).");
  if (out.recordProperties) {
    lines.push("");
    lines.push(`recordProperties: ${int(out.options.records)} records, one property per call, batches of 500, purchases ${int(out.options.purchases)} rows; median of ${out.options.repeat} interleaved runs each`);
    lines.push(
      renderTable(
        [{ title: "aggregation", align: "left" }, { title: "ours s" }, { title: "original s" }, { title: "original/ours" }, { title: "values differing" }],
        out.recordProperties.map((p) => [
          p.aggregation,
          fmt(p.ours.seconds) + (p.ours.capped ? " CAPPED" : ""),
          p.original ? fmt(p.original.seconds) + (p.original.capped ? ` CAPPED at ${int(p.original.records)}` : "") : "-",
          p.original ? fmt(p.originalOverOurs) + "x" : "-",
          p.mismatches === undefined ? "-" : int(p.mismatches),
        ])
      )
    );
  }
  if (out.memory) {
    lines.push("");
    lines.push("Peak RSS of a child process (process.resourceUsage().maxRSS; VmHWM)");
    lines.push(
      renderTable(
        [{ title: "run", align: "left" }, { title: "rows" }, { title: "imports" }, { title: "seconds" }, { title: "peak RSS MB" }, { title: "VmHWM MB" }],
        out.memory.map((m) => [m.what, int(m.rows), m.imports === undefined ? "-" : int(m.imports) + (m.outOfOrder ? ` (${m.outOfOrder} out of order)` : ""), m.seconds === undefined ? "-" : fmt(m.seconds), fmt(m.maxRssMB, 1), fmt(m.vmHwmMB, 1)])
      )
    );
  }
  lines.push("");
  lines.push(loadNote(out));
  lines.push(`Total ${fmt(out.totalSeconds, 0)} s. Command: npm run build && ${out.command}`);
  const file = writeJson("table-latest.json", out);
  lines.push(`JSON: ${file}`);
  console.log(lines.join("\n"));
}

if (opts.child) {
  child()
    .then((r) => {
      process.stdout.write(JSON.stringify(r) + "\n");
      process.exit(0);
    })
    .catch((error) => {
      console.error(error);
      process.exit(1);
    });
} else {
  main().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}
