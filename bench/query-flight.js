#!/usr/bin/env node
// Where the time of one user query goes (issue 18, item 1): the pieces of queryUserSql's flight timed
// on one connection each, interleaved, for the per-record property query
// (SELECT SUM(amount) FROM purchases WHERE user_id = $1). Each design is one round trip:
//   original         the value pasted into one simple Query (what @grouparoo/postgres 0.9 sends)
//   alone            the bound statement alone, unnamed (Parse/Bind/Describe/Execute/Sync)
//   alone-named      the bound statement alone, a named statement parsed once (Bind/Describe/Execute/Sync)
//   unnamed-5        BEGIN READ ONLY, SET LOCAL, the statement, ROLLBACK, the leftovers look: all unnamed
//   unnamed-4        the same without the leftovers look
//   named-5          the five as named statements parsed once per connection (no Describe for the three
//                    that return no rows)
//   named-4          the same without the leftovers look
//   named-fixed      the four fixed statements named, the user's statement unnamed
//   named-5-unlock / -stmts / -select1, named-3-then-unnamed, named-4-look-unnamed: the look's parts
//   queryUserSql     what the plugin runs now (a pool of one connection): named-5, no Describe once
//                    described, the registry checked by the look
//
//   npm run build && node bench/query-flight.js [--queries 3000] [--repeat 5]
"use strict";

const path = require("path");
const { Client, types } = require("pg");
const { parseArgs } = require("../scripts/lib/args");
const { ROOT, purchasesDatabase } = require("./lib");
const { Flight } = require(path.join(ROOT, "dist", "postgres", "flight.js"));

const opts = parseArgs(process.argv.slice(2), { queries: 3000, repeat: 5, database: "gpp_bench_query_flight" });
const QUERY = "SELECT SUM(amount) FROM purchases WHERE user_id = $1";
const BEGIN = "BEGIN TRANSACTION READ ONLY";
const SET = 'SET LOCAL search_path = "public"';
const ROLLBACK = "ROLLBACK";
const LEFTOVERS = "SELECT pg_catalog.pg_advisory_unlock_all(), ARRAY(SELECT name FROM pg_catalog.pg_prepared_statements WHERE from_sql) AS leaked";

function flight(client, statements) {
  return new Promise((resolve, reject) => client.query(new Flight(statements, types, (error, results) => (error ? reject(error) : resolve(results)))));
}

/** named statements parsed once per client */
function named(client, name, text, values, rows) {
  const parsed = (client.gppParsed ??= new Set());
  const statement = { name, text, values, parsed: parsed.has(name), rows };
  parsed.add(name);
  return statement;
}

let plugin;
const designs = {
  queryUserSql: (c, v) => plugin.queryUserSql(QUERY, [v]),
  original: (c, v) => c.query(`SELECT SUM(amount) FROM purchases WHERE user_id = ${v}`),
  alone: (c, v) => flight(c, [{ text: QUERY.replace("purchases", "public.purchases"), values: [v] }]),
  "alone-named": (c, v) => flight(c, [named(c, "q", QUERY.replace("purchases", "public.purchases"), [v])]),
  "unnamed-5": (c, v) => flight(c, [{ text: BEGIN }, { text: SET }, { text: QUERY, values: [v] }, { text: ROLLBACK }, { text: LEFTOVERS }]),
  "unnamed-4": (c, v) => flight(c, [{ text: BEGIN }, { text: SET }, { text: QUERY, values: [v] }, { text: ROLLBACK }]),
  "named-5": (c, v) =>
    flight(c, [named(c, "b", BEGIN, [], false), named(c, "s", SET, [], false), named(c, "q", QUERY, [v]), named(c, "r", ROLLBACK, [], false), named(c, "l", LEFTOVERS)]),
  "named-4": (c, v) => flight(c, [named(c, "b", BEGIN, [], false), named(c, "s", SET, [], false), named(c, "q", QUERY, [v]), named(c, "r", ROLLBACK, [], false)]),
  "named-5-unlock": (c, v) =>
    flight(c, [named(c, "b", BEGIN, [], false), named(c, "s", SET, [], false), named(c, "q", QUERY, [v]), named(c, "r", ROLLBACK, [], false), named(c, "l1", "SELECT pg_catalog.pg_advisory_unlock_all()")]),
  "named-5-stmts": (c, v) =>
    flight(c, [named(c, "b", BEGIN, [], false), named(c, "s", SET, [], false), named(c, "q", QUERY, [v]), named(c, "r", ROLLBACK, [], false), named(c, "l2", "SELECT ARRAY(SELECT name FROM pg_catalog.pg_prepared_statements WHERE from_sql) AS leaked")]),
  "named-5-select1": (c, v) =>
    flight(c, [named(c, "b", BEGIN, [], false), named(c, "s", SET, [], false), named(c, "q", QUERY, [v]), named(c, "r", ROLLBACK, [], false), named(c, "l3", "SELECT 1")]),
  "named-3-then-unnamed": (c, v) =>
    flight(c, [named(c, "b", BEGIN, [], false), named(c, "s", SET, [], false), named(c, "q", QUERY, [v]), { text: ROLLBACK, rows: false }, { text: LEFTOVERS }]),
  "named-4-look-unnamed": (c, v) =>
    flight(c, [named(c, "b", BEGIN, [], false), named(c, "s", SET, [], false), named(c, "q", QUERY, [v]), named(c, "r", ROLLBACK, [], false), { text: LEFTOVERS }]),
  "named-fixed": (c, v) =>
    flight(c, [named(c, "b", BEGIN, [], false), named(c, "s", SET, [], false), { text: QUERY, values: [v] }, named(c, "r", ROLLBACK, [], false), named(c, "l", LEFTOVERS)]),
};

async function main() {
  const { serverFromEnvironmentOrEmbedded } = require(path.join(ROOT, "scripts", "postgres-server.js"));
  const server = await serverFromEnvironmentOrEmbedded();
  try {
    const url = await purchasesDatabase(server.url, opts.database, 500000, 100000);
    const u = new URL(url);
    const { openConnection } = require(path.join(ROOT, "dist", "postgres"));
    plugin = openConnection({ host: u.hostname, port: u.port, database: opts.database, user: decodeURIComponent(u.username), password: decodeURIComponent(u.password), sslmode: "disable", pool_size: "1" });
    const clients = {};
    for (const name of Object.keys(designs)) {
      // the plugin's session options; the original's own session has the server's defaults
      clients[name] = new Client(name === "original" ? { connectionString: url } : { connectionString: url, options: "-c default_transaction_read_only=on -c search_path=pg_catalog,pg_temp" });
      await clients[name].connect();
      for (let i = 0; i < 50; i++) await designs[name](clients[name], i + 1); // warm-up
    }
    const times = Object.fromEntries(Object.keys(designs).map((name) => [name, []]));
    for (let run = 0; run < opts.repeat; run++) {
      for (const [name, step] of Object.entries(designs)) {
        const start = process.hrtime.bigint();
        for (let i = 0; i < opts.queries; i++) await step(clients[name], (i * 37) % 110000);
        times[name].push(Number(process.hrtime.bigint() - start) / 1e6 / opts.queries);
      }
    }
    for (const client of Object.values(clients)) await client.end();
    await plugin.close();
    const median = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];
    const base = median(times.original);
    console.log(`${opts.queries} queries per run on one connection each, median of ${opts.repeat} interleaved runs`);
    console.log("design         ms/query  original/design");
    for (const name of Object.keys(designs)) {
      const ms = median(times[name]);
      console.log(`${name.padEnd(14)} ${ms.toFixed(3).padStart(8)}  ${(base / ms).toFixed(2).padStart(8)}x   (runs: ${times[name].map((t) => t.toFixed(3)).join(", ")})`);
    }
  } finally {
    await server.stop?.();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
