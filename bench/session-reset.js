#!/usr/bin/env node
// What cleaning a pooled session after each user query costs (issue 14, item 6): a query property
// runs once per record, so the cleanup runs once per record too. The same prepared per-record query
// (SELECT SUM(amount) FROM purchases WHERE user_id = $1) on one connection, with each way of ending:
//   rollback        BEGIN READ ONLY; query; ROLLBACK                         (before issue 14: leaks advisory locks)
//   ours            BEGIN READ ONLY; SET LOCAL search_path; query;
//                   ROLLBACK; SELECT pg_advisory_unlock_all(), ARRAY(leaked prepared statements)
//                   (two round trips per statement batch, as before; what queryUserSql does)
//   discard-all     ... ROLLBACK; DISCARD ALL   (drops the prepared statement: parsed again every time)
//   new-connection  ... ROLLBACK; the client is destroyed and a new one connects (release(err))
// Interleaved runs, median shown, as ratios to `rollback`.
//
//   node bench/session-reset.js [--queries 3000] [--repeat 3]
"use strict";

const path = require("path");
const { Client } = require("pg");
const { parseArgs } = require("../scripts/lib/args");
const { ROOT, purchasesDatabase } = require("./lib");

const opts = parseArgs(process.argv.slice(2), { queries: 1000, repeat: 3, database: "gpp_bench_session_reset" });
// a new connection per query (SCRAM authentication each time) is far slower: a tenth of the queries
const SHARE = { "new-connection": 0.1 };
const QUERY = "SELECT SUM(amount) FROM purchases WHERE user_id = $1";

async function connect(url) {
  const client = new Client({ connectionString: url, options: "-c default_transaction_read_only=on -c search_path=pg_catalog,pg_temp" });
  await client.connect();
  return client;
}

const designs = {
  async rollback(state, i) {
    await state.client.query("BEGIN TRANSACTION READ ONLY");
    await state.client.query({ name: "q", text: QUERY.replace("purchases", "public.purchases"), values: [i % 1000] });
    await state.client.query("ROLLBACK");
  },
  async ours(state, i) {
    await state.client.query('BEGIN TRANSACTION READ ONLY; SET LOCAL search_path = "public"');
    await state.client.query({ name: "q", text: QUERY, values: [i % 1000] });
    const results = await state.client.query(
      "ROLLBACK; SELECT pg_catalog.pg_advisory_unlock_all(), ARRAY(SELECT name FROM pg_catalog.pg_prepared_statements WHERE from_sql) AS leaked"
    );
    if (results[1].rows[0].leaked.length) throw new Error("unexpected leaked statement");
  },
  async "discard-all"(state, i) {
    await state.client.query('BEGIN TRANSACTION READ ONLY; SET LOCAL search_path = "public"');
    await state.client.query({ text: QUERY, values: [i % 1000] });
    await state.client.query("ROLLBACK");
    await state.client.query("DISCARD ALL");
  },
  async "new-connection"(state, i) {
    await state.client.query('BEGIN TRANSACTION READ ONLY; SET LOCAL search_path = "public"');
    await state.client.query({ name: "q", text: QUERY, values: [i % 1000] });
    await state.client.query("ROLLBACK");
    await state.client.end();
    state.client = await connect(state.url);
  },
};

async function main() {
  const { serverFromEnvironmentOrEmbedded } = require(path.join(ROOT, "scripts", "postgres-server.js"));
  const server = await serverFromEnvironmentOrEmbedded();
  try {
    const url = await purchasesDatabase(server.url, opts.database, 100000, 1000);
    const times = Object.fromEntries(Object.keys(designs).map((name) => [name, []]));
    for (let run = 0; run < opts.repeat; run++) {
      for (const [name, step] of Object.entries(designs)) {
        const state = { url, client: await connect(url) };
        const count = Math.max(1, Math.round(opts.queries * (SHARE[name] ?? 1)));
        const start = process.hrtime.bigint();
        for (let i = 0; i < count; i++) await step(state, i);
        // seconds per query
        times[name].push(Number(process.hrtime.bigint() - start) / 1e9 / count);
        await state.client.end();
      }
    }
    const median = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];
    const base = median(times.rollback);
    console.log(`${opts.queries} per-record queries per run (new-connection: ${Math.round(opts.queries * SHARE["new-connection"])}), median of ${opts.repeat} interleaved runs`);
    console.log("design           ms/query  queries/s  ratio to rollback");
    for (const name of Object.keys(designs)) {
      const s = median(times[name]);
      console.log(`${name.padEnd(16)} ${(s * 1000).toFixed(3).padStart(8)}  ${String(Math.round(1 / s)).padStart(9)}  ${(s / base).toFixed(2)}`);
    }
  } finally {
    await server.stop?.();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
