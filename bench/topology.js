#!/usr/bin/env node
// One run of a table through the real @grouparoo/core 0.9.0 in the production layout (README "Running
// in production"): a web process without workers and 1, then 2, worker processes on a real Redis, the
// plugin packed into an app folder, the same machine and the same data. Prints rows per second of each
// layout and the ratio, and where the time goes: the plugin's SQL time on the source database
// (pg_stat_statements, the App's read-only role) against the core's task time (the durations the
// processes log for each task) and the wall time.
//
//   npm run build && node bench/topology.js [--rows 100000] [--batch 1000] [--workers 3] [--layouts 1,2]
//
// Results: bench/results/topology-latest.json. On a loaded 2-core machine the core stores ~30-100
// records a second, so 100,000 rows take 20-60 minutes per layout: pass a smaller --rows (the README
// says which size the figures come from).
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const { parseArgs } = require("../scripts/lib/args");
const { startPostgres, createDatabase, freePort, sql } = require("../scripts/postgres-server");
const { startRedis, redisCommand } = require("../scripts/topology/redis-server");
const { clusterEnv, createCustomers, startCoreProcess, taskSuccesses } = require("../scripts/topology/cluster");
const { prepareApp } = require("../scripts/ui/prepare-app");

const ROOT = path.join(__dirname, "..");
const READER = { user: "grouparoo_reader", password: "reader-bench-pw" };

async function dataset(url, rows) {
  await createCustomers(url, rows);
  await sql(
    url,
    `CREATE ROLE ${READER.user} LOGIN PASSWORD '${READER.password}';
     ALTER ROLE ${READER.user} SET default_transaction_read_only = on;
     GRANT USAGE ON SCHEMA public TO ${READER.user};
     GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${READER.user};`
  );
}

async function settled(coreUrl) {
  const { rows } = await sql(
    coreUrl,
    `SELECT (SELECT count(*)::int FROM imports) AS imports,
            (SELECT count(*)::int FROM imports WHERE "recordAssociatedAt" IS NULL) AS unassociated,
            (SELECT count(*)::int FROM "recordProperties" WHERE state <> 'ready') AS "pendingProperties",
            (SELECT count(*)::int FROM records WHERE state = 'ready') AS ready,
            (SELECT count(*)::int FROM runs WHERE "creatorType" = 'schedule' AND state = 'running') AS running,
            (SELECT string_agg(error, '; ') FROM runs WHERE "creatorType" = 'schedule') AS errors`
  );
  return rows[0];
}

/** Server-side statement time (ms) by role, from pg_stat_statements. */
async function statementTime(adminUrl) {
  const { rows } = await sql(
    adminUrl,
    `SELECT r.rolname, d.datname, sum(s.total_exec_time)::float8 AS ms, sum(s.calls)::int AS calls
       FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid JOIN pg_database d ON d.oid = s.dbid
      GROUP BY 1, 2`
  );
  return rows;
}

async function runLayout({ workerProcesses, rows, batch, workers, pg, redis, prepared, shopUrl, logDir }) {
  const coreUrl = await createDatabase(pg.url, `gpp_bench_topology_core_${workerProcesses}`);
  await redisCommand(redis.port, "FLUSHALL");
  const env = clusterEnv({
    coreDatabaseUrl: coreUrl,
    redisUrl: redis.url,
    serverToken: "gpp-bench-token",
    importsBatchSize: batch,
    extra: {
      SHOP_DB_HOST: "127.0.0.1",
      SHOP_DB_PORT: String(pg.port),
      SHOP_DB_DATABASE: "shop",
      SHOP_DB_USER: READER.user,
      SHOP_DB_SSLMODE: "disable",
      GROUPAROO_OPTION__APP__SHOP_DB_PASSWORD: READER.password,
      GROUPAROO_OPERATIONS_API_KEY: "gpp-bench-key",
    },
  });
  const processes = [];
  try {
    // the first worker process migrates the core database (in production only processes with
    // WORKERS > 0 migrate) and applies the config, which starts the schedule's first run: the clock
    // starts when it is up; the web process (no workers) and the other worker processes boot meanwhile
    // (their boot time counts against the layout)
    const first = await startCoreProcess({
      appDir: prepared.appDir,
      title: "bench-worker-1",
      workers,
      env: { ...env, GROUPAROO_OPTION__APP__SHOP_DB_APPLICATION_NAME: "bench-worker-1" },
      logFile: path.join(logDir, `layout-${workerProcesses}-worker-1.log`),
    });
    processes.push(first);
    await sql(pg.url, `SELECT pg_stat_statements_reset()`);
    const started = Date.now();
    const others = await Promise.all([
      startCoreProcess({
        appDir: prepared.appDir,
        title: "bench-web",
        workers: 0,
        webPort: await freePort(),
        env: { ...env, GROUPAROO_OPTION__APP__SHOP_DB_APPLICATION_NAME: "bench-web" },
        logFile: path.join(logDir, `layout-${workerProcesses}-web.log`),
      }),
      ...Array.from({ length: workerProcesses - 1 }, (_, i) =>
        startCoreProcess({
          appDir: prepared.appDir,
          title: `bench-worker-${i + 2}`,
          workers,
          env: { ...env, GROUPAROO_OPTION__APP__SHOP_DB_APPLICATION_NAME: `bench-worker-${i + 2}` },
          logFile: path.join(logDir, `layout-${workerProcesses}-worker-${i + 2}.log`),
        })
      ),
    ]);
    processes.push(...others);
    let state;
    let importsDoneAt;
    for (;;) {
      state = await settled(coreUrl);
      if (state.errors) throw new Error(`the run failed: ${state.errors}`);
      if (!importsDoneAt && state.running === 0 && state.imports >= rows) importsDoneAt = Date.now();
      if (importsDoneAt && state.unassociated === 0 && state.pendingProperties === 0 && state.ready === rows) break;
      if (Date.now() - started > 3 * 3600 * 1000) throw new Error(`not done after 3 hours: ${JSON.stringify(state)}`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    const seconds = (Date.now() - started) / 1000;
    const statements = await statementTime(pg.url);
    const pluginSqlMs = statements.filter((s) => s.rolname === READER.user).reduce((sum, s) => sum + s.ms, 0);
    const coreSqlMs = statements.filter((s) => s.datname === `gpp_bench_topology_core_${workerProcesses}`).reduce((sum, s) => sum + s.ms, 0);
    const taskMs = {};
    for (const p of processes) {
      for (const task of taskSuccesses(p.log())) taskMs[task.class] = (taskMs[task.class] || 0) + task.duration;
    }
    const allTaskMs = Object.values(taskMs).reduce((a, b) => a + b, 0);
    return {
      workerProcesses,
      workersPerProcess: workers,
      rows,
      seconds,
      rowsPerSecond: rows / seconds,
      importPhaseSeconds: (importsDoneAt - started) / 1000,
      pluginSqlSeconds: pluginSqlMs / 1000,
      pluginSqlCalls: statements.filter((s) => s.rolname === READER.user).reduce((sum, s) => sum + s.calls, 0),
      coreSqlSeconds: coreSqlMs / 1000,
      taskSeconds: allTaskMs / 1000,
      taskSecondsByClass: Object.fromEntries(Object.entries(taskMs).sort((a, b) => b[1] - a[1]).slice(0, 8).map(([k, v]) => [k, v / 1000])),
    };
  } finally {
    for (const p of processes.reverse()) await p.stop(60000);
  }
}

async function main() {
  const args = parseArgs(process.argv.slice(2), { rows: 100000, batch: 1000, workers: 3, layouts: "1,2" });
  const layouts = String(args.layouts).split(",").map(Number);
  const logDir = path.join(ROOT, "screenshots", "topology", "bench");
  fs.rmSync(logDir, { recursive: true, force: true });
  fs.mkdirSync(logDir, { recursive: true });
  const pg = await startPostgres({ settings: { shared_preload_libraries: "pg_stat_statements", max_connections: "300" } });
  const redis = await startRedis();
  let prepared;
  try {
    await sql(pg.url, `CREATE EXTENSION IF NOT EXISTS pg_stat_statements`);
    const shopUrl = await createDatabase(pg.url, "shop");
    await dataset(shopUrl, args.rows);
    prepared = await prepareApp({ hold: true, log: (m) => console.error(m) });
    const configDir = path.join(prepared.appDir, "config");
    fs.rmSync(configDir, { recursive: true, force: true });
    fs.cpSync(path.join(ROOT, "examples", "production", "config"), configDir, { recursive: true });
    const results = [];
    for (const workerProcesses of layouts) {
      console.error(`layout: 1 web process (0 workers) + ${workerProcesses} worker process(es) x ${args.workers} workers, ${args.rows} rows...`);
      const result = await runLayout({ workerProcesses, rows: args.rows, batch: args.batch, workers: args.workers, pg, redis, prepared, shopUrl, logDir });
      results.push(result);
      console.error(JSON.stringify(result));
    }
    const summary = {
      at: new Date().toISOString(),
      machine: { cpus: os.cpus().length, load: os.loadavg(), node: process.version },
      rows: args.rows,
      batch: args.batch,
      results,
      ratio: results.length === 2 ? results[1].rowsPerSecond / results[0].rowsPerSecond : undefined,
    };
    fs.mkdirSync(path.join(__dirname, "results"), { recursive: true });
    fs.writeFileSync(path.join(__dirname, "results", "topology-latest.json"), JSON.stringify(summary, null, 2) + "\n");
    console.log("| worker processes | rows | s (all records ready) | rows/s | import phase s | plugin SQL s (calls) | core SQL s | task s (all processes) |");
    console.log("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (const r of results) {
      console.log(
        `| ${r.workerProcesses} x ${r.workersPerProcess} | ${r.rows} | ${r.seconds.toFixed(1)} | ${r.rowsPerSecond.toFixed(1)} | ${r.importPhaseSeconds.toFixed(1)} | ${r.pluginSqlSeconds.toFixed(2)} (${r.pluginSqlCalls}) | ${r.coreSqlSeconds.toFixed(1)} | ${r.taskSeconds.toFixed(1)} |`
      );
    }
    if (summary.ratio) console.log(`2 worker processes / 1: ${summary.ratio.toFixed(2)}x rows/s`);
  } finally {
    if (prepared) {
      fs.rmSync(path.join(prepared.appDir, "config"), { recursive: true, force: true });
      prepared.release();
    }
    await redis.stop();
    await pg.stop();
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error && error.stack ? error.stack : error);
    process.exit(1);
  }
);
