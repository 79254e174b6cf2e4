// The contenders and data of the benchmarks (bench/table.js, bench/query.js); their report helpers are
// bench/report.js, the schedule driver and argument parser scripts/lib/. Plain CommonJS, no build step.
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
const { Client } = require("pg");

const ROOT = path.join(__dirname, "..");

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

/** A fresh database `database` on the server at `serverUrl` holding buildPurchases' table; returns its URL. */
async function purchasesDatabase(serverUrl, database, rows, users) {
  const { createDatabase } = require(path.join(ROOT, "scripts", "postgres-server.js"));
  const url = await createDatabase(serverUrl, database);
  const admin = new Client({ connectionString: url });
  await admin.connect();
  try {
    await buildPurchases(admin, rows, users);
  } finally {
    await admin.end();
  }
  return url;
}

/** The CloudQuery benches' table of 6 mixed columns (int8, numeric, float8, text, timestamptz, bool), `rows` rows; kept when it is there already. */
async function ensureSyncTable(url, name, rows) {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const exists = await client.query(`SELECT count(*)::int AS n FROM pg_class WHERE relname = $1`, [name]);
    if (exists.rows[0].n === 1 && (await client.query(`SELECT count(*)::int AS n FROM ${name}`)).rows[0].n === rows) return;
    process.stderr.write(`creating ${name} (${rows} rows)...\n`);
    await client.query(`DROP TABLE IF EXISTS ${name}`);
    await client.query(`CREATE TABLE ${name} (id int8 PRIMARY KEY, amount numeric(12, 2), score float8, name text, created_at timestamptz, active bool)`);
    await client.query(
      `INSERT INTO ${name}
       SELECT i, (i % 100000) / 100.0 + 0.01, i / 7.0, 'customer ' || i || ' of the benchmark', '2024-01-01T00:00:00Z'::timestamptz + i * interval '1 second', i % 3 = 0
         FROM generate_series(1, $1) i`,
      [rows]
    );
    await client.query(`VACUUM ANALYZE ${name}`);
  } finally {
    await client.end();
  }
}

module.exports = { ensureSyncTable, ROOT, appOptionsFrom, loadOurs, loadOriginal, ImportCounter, buildPurchases, purchasesDatabase };
