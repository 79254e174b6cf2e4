// Shared helpers of the benchmarks (bench/table.js, bench/query.js). Plain CommonJS, no build step.
//
// Contenders:
// - "ours": this plugin, from its build (dist/), with a counting host;
// - "original": @grouparoo/postgres@0.9.0 (a devDependency, measured as published, never modified),
//   with @grouparoo/core loaded standalone (its Actionhero config path set, nothing booted) and
//   core's `plugin.createImports` replaced by the same counting function;
// - "raw": a plain `pg` Client keyset loop over the same columns (the floor).
"use strict";

const fs = require("fs");
const path = require("path");

const ROOT = path.join(__dirname, "..");

function parseArgs(argv, defaults) {
  const out = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith("--")) continue;
    const key = arg.slice(2).replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    const next = argv[i + 1];
    if (next === undefined || next.startsWith("--")) out[key] = true;
    else {
      out[key] = typeof defaults[key] === "number" ? Number(next) : next;
      i++;
    }
  }
  return out;
}

/** appOptions of both plugins from a connection URL. */
function appOptionsFrom(url) {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port || 5432),
    database: decodeURIComponent(u.pathname.slice(1)),
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
  };
}

/** This plugin, from dist/ (run `npm run build` first). */
function loadOurs() {
  const dist = path.join(ROOT, "dist");
  if (!fs.existsSync(path.join(dist, "connections", "tableImport.js"))) {
    throw new Error("dist/ is missing: run `npm run build` first (npm run bench does)");
  }
  return {
    openConnection: require(path.join(dist, "postgres")).openConnection,
    tableConnection: require(path.join(dist, "connections", "tableImport")).postgresTableConnection,
    queryConnection: (() => {
      const file = path.join(dist, "connections", "queryImport.js");
      return fs.existsSync(file) ? require(file).postgresQueryConnection : undefined;
    })(),
  };
}

let original;
/**
 * The original plugin, as published. It requires @grouparoo/core, which loads Actionhero's config at
 * require time: point Actionhero at core's own config folder (what @grouparoo/spec-helper does), so
 * the module loads without booting a server. `plugin.createImports` and `plugin.replaceTemplateRecordVariables`
 * are core's real exported functions; the benchmark replaces only createImports, by the counting one.
 */
function loadOriginal() {
  if (original) return original;
  const corePackage = require.resolve("@grouparoo/core/package.json", { paths: [ROOT] });
  if (!process.env.ACTIONHERO_CONFIG) process.env.ACTIONHERO_CONFIG = path.join(path.dirname(corePackage), "dist", "config");
  const resolve = (id) => require.resolve(id, { paths: [ROOT] });
  const core = require(resolve("@grouparoo/core"));
  const { connect } = require(resolve("@grouparoo/postgres/dist/lib/connect"));
  const { disconnect } = require(resolve("@grouparoo/postgres/dist/lib/disconnect"));
  const table = require(resolve("@grouparoo/postgres/dist/lib/table-import/connection")).getConnection();
  const query = require(resolve("@grouparoo/postgres/dist/lib/query-import/connection")).getConnection();
  let createImports = async () => {
    throw new Error("the benchmark did not set createImports");
  };
  core.plugin.createImports = (mapping, run, rows) => createImports(mapping, run, rows);
  original = {
    core,
    connect,
    disconnect,
    table,
    query,
    setCreateImports(fn) {
      createImports = fn;
    },
  };
  return original;
}

/** Counts what reaches createImports: rows, and distinct keys (ids are positive integers up to maxId). */
class ImportCounter {
  constructor(keyColumn, maxId) {
    this.keyColumn = keyColumn;
    this.seen = new Uint8Array(maxId + 2);
    this.imports = 0;
    this.distinct = 0;
    this.outOfRange = 0;
  }
  /** Ids imported before (by an earlier run): importing them again counts as a duplicate. */
  markImported(from, to) {
    this.seen.fill(1, from, to + 1);
  }
  add(rows) {
    for (const row of rows) {
      this.imports++;
      const id = Number(row[this.keyColumn]);
      if (!(id >= 0 && id < this.seen.length)) {
        this.outOfRange++;
        continue;
      }
      if (this.seen[id] === 0) {
        this.seen[id] = 1;
        this.distinct++;
      }
    }
  }
  get duplicates() {
    return this.imports - this.distinct - this.outOfRange;
  }
}

/**
 * Drives an importRecords method the way core 0.9's schedule:run does (modules/ops/schedule.js):
 * one call per batch, limit 1000; the first call gets sourceOffset 0 and the previous run's high
 * watermark (a first run: {}); then the returned highWaterMark is stored as JSON text and fed back
 * for incremental schedules ({} otherwise), and `response.sourceOffset || 0` is stored in a string
 * column and fed back, until a batch imports nothing. Stops at the deadline (between batches).
 */
async function driveSchedule({ importRecords, args, incremental, column, limit = 1000, deadline, previousHighWaterMark = {} }) {
  // the core reads stored marks from JSON text: every call gets a fresh object (the original mutates it)
  const copy = (mark) => JSON.parse(JSON.stringify(mark || {}));
  let highWaterMark = copy(previousHighWaterMark);
  let sourceOffset = 0;
  let batches = 0;
  let maxOffsetLength = 0;
  for (;;) {
    if (Date.now() >= deadline) return { capped: true, batches, highWaterMark, maxOffsetLength };
    const response = await importRecords({
      ...args,
      schedule: { id: "sch_bench", incremental },
      scheduleId: "sch_bench",
      scheduleOptions: { column },
      scheduleFilters: [],
      run: { id: "run_bench" },
      runId: "run_bench",
      limit,
      highWaterMark,
      sourceOffset,
    });
    batches++;
    const next = incremental ? copy(response.highWaterMark) : {};
    // the core keeps the run's own mark while it is not empty, else (incremental) the previous run's
    highWaterMark = Object.keys(next).length > 0 ? next : incremental ? copy(previousHighWaterMark) : {};
    sourceOffset = String(response.sourceOffset || 0);
    maxOffsetLength = Math.max(maxOffsetLength, sourceOffset.length);
    if (!response.importsCount) return { capped: false, batches, highWaterMark, maxOffsetLength };
  }
}

function seconds(startNs) {
  return Number(process.hrtime.bigint() - startNs) / 1e9;
}

function fmt(n, digits = 2) {
  if (n === undefined || n === null || Number.isNaN(n)) return "-";
  if (typeof n === "string") return n;
  if (!Number.isFinite(n)) return String(n);
  return n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
const int = (n) => (n === undefined || n === null ? "-" : Math.round(n).toLocaleString("en-US"));

/** A text table: `columns` = [{title, align?}], rows of strings. */
function renderTable(columns, rows) {
  const widths = columns.map((c, i) => Math.max(c.title.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) =>
    cells.map((cell, i) => (columns[i].align === "left" ? String(cell).padEnd(widths[i]) : String(cell).padStart(widths[i]))).join("  ");
  return [line(columns.map((c) => c.title)), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

function writeJson(name, data) {
  const dir = path.join(__dirname, "results");
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, name);
  fs.writeFileSync(file, JSON.stringify(data, null, 2) + "\n");
  return path.relative(ROOT, file);
}

function machine() {
  const os = require("os");
  return {
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0] && os.cpus()[0].model,
    memoryGB: Math.round(os.totalmem() / 2 ** 30),
    loadAverageAtStart: os.loadavg().map((n) => Math.round(n * 100) / 100),
  };
}

async function serverVersion(client) {
  const { rows } = await client.query("SHOW server_version");
  return rows[0].server_version;
}

/** Load averages at the start and the end (other work on the machine makes timings noisy). */
function loadNote(out) {
  const os = require("os");
  out.machine.loadAverageAtEnd = os.loadavg().map((n) => Math.round(n * 100) / 100);
  return `Load average (1 min) at start ${out.machine.loadAverageAtStart[0]}, at end ${out.machine.loadAverageAtEnd[0]} (the benchmark itself keeps up to 2 processes busy)`;
}

/** The exact command line of this run, for the report. */
function commandLine() {
  const script = path.relative(ROOT, process.argv[1]);
  return ["node", script, ...process.argv.slice(2)].join(" ");
}

/** purchases(id, user_id, amount numeric(10,2), created_at): `rows` rows over ~110% of `users` user ids (some have none). */
async function buildPurchases(client, rows, users) {
  await client.query(`DROP TABLE IF EXISTS purchases`);
  await client.query(`CREATE UNLOGGED TABLE purchases (id int PRIMARY KEY, user_id int, amount numeric(10,2), created_at timestamptz)`);
  // user ids hashed over 110% of the records (about 5 purchases each, some none); created_at unique
  await client.query(
    `INSERT INTO purchases
     SELECT g, 1 + ((hashint4(g)::bigint & 2147483647) % $2::int), ((g * 37) % 100000) / 100.0,
            timestamptz '2023-01-01 00:00:00+00' + g * interval '1 second'
       FROM generate_series(1, $1::int) g`,
    [rows, Math.ceil(users * 1.1)]
  );
  await client.query(`CREATE INDEX purchases_user_id ON purchases (user_id)`);
  await client.query(`VACUUM ANALYZE purchases`);
}

module.exports = {
  buildPurchases,
  ROOT,
  parseArgs,
  appOptionsFrom,
  loadOurs,
  loadOriginal,
  ImportCounter,
  driveSchedule,
  seconds,
  fmt,
  int,
  renderTable,
  writeJson,
  machine,
  serverVersion,
  commandLine,
  loadNote,
};
