#!/usr/bin/env node
// The main job, end to end: a product database in Postgres, the real Grouparoo core 0.9.0 with this
// plugin, an incremental import of every user and their properties, then a change and a second run
// that imports only what changed. Starts everything it needs and stops it all at the end, and says
// where the time went: the plugin's reads against the core's own work (scripts/lib/plugin-time.js).
//
//   npm run demo                          # embedded Postgres, DEFAULT_USERS users, 10 purchases each
//   npm run demo -- --users 10000         # a larger dataset (purchases default to 10 per user)
//   npm run demo -- --url postgres://u:p@host/db --config ./my-config   # a dry run of your own set-up
"use strict";

const path = require("path");
const fs = require("fs");
const { startPostgres, createDatabase, freePort } = require("./postgres-server");
const { bootCore, runSchedule, processImports } = require("./lib/core-driver");
const { timePluginMethods } = require("./lib/plugin-time");
const { parseArgs: parseOptions } = require("./lib/args");

// The whole story (two runs, the change picked up, the summary) in under a minute on a shared 2-core
// machine: the core stores a few dozen records a second there, and its boot (some 100 migrations of its
// own database) is a fixed cost, so the default is small; --users sets any size (README: The demo).
const DEFAULT_USERS = 500;
const PLUGIN_ROOT = path.join(__dirname, "..");

function parseArgs(argv) {
  const args = parseOptions(argv, { users: DEFAULT_USERS, purchases: undefined, url: process.env.DEMO_SOURCE_URL, config: undefined, changes: 25, help: false }, { numbers: ["purchases"] });
  if (args.config) args.config = path.resolve(args.config);
  if (!Number.isInteger(args.users) || args.users < 1) throw new Error("--users must be a whole number above 0");
  if (args.purchases === undefined) args.purchases = args.users * 10;
  return args;
}

const HELP = `Usage: npm run demo -- [--users N] [--purchases N] [--changes N] [--url postgres://...] [--config DIR]
  --users N       users to create in the demo database (default ${DEFAULT_USERS})
  --purchases N   purchases to create (default 10 per user)
  --changes N     users to update before the second run (default 25)
  --url URL       read YOUR database instead (nothing is created or changed there); also DEMO_SOURCE_URL
  --config DIR    the Grouparoo config folder to load (default examples/config)`;

/** The newest modification time (ms) of the files under `dir`, or of `dir` itself when it is a file. */
function newestMtime(dir) {
  const stat = fs.statSync(dir);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...fs.readdirSync(dir).map((name) => newestMtime(path.join(dir, name))));
}

/**
 * The core loads the plugin from dist/: build it when it is missing or older than its sources, and
 * not otherwise (tsc alone takes 15-75 s on a shared 2-core machine, more than the rest of the demo).
 */
function buildIfStale() {
  const built = path.join(PLUGIN_ROOT, "dist", "initializers", "grouparoo-plugin-postgres.js");
  const sources = ["src", "tsconfig.json", "tsconfig.build.json", "package.json"].map((f) => path.join(PLUGIN_ROOT, f));
  if (fs.existsSync(built) && fs.statSync(built).mtimeMs >= Math.max(...sources.filter(fs.existsSync).map(newestMtime))) return false;
  console.log("0. Building the plugin (npm run build: dist/ is missing or older than src/) ...");
  const { spawnSync } = require("child_process");
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const result = spawnSync(npm, ["run", "build"], { cwd: PLUGIN_ROOT, stdio: "inherit" });
  if (result.status !== 0) throw new Error(`npm run build failed (${result.error ? result.error.message : `exit ${result.status}`})`);
  return true;
}

async function createDataset(url, users, purchases) {
  const { Client } = require("pg");
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`
      DROP TABLE IF EXISTS purchases; DROP TABLE IF EXISTS users;
      CREATE TABLE users (
        id integer PRIMARY KEY, email text NOT NULL UNIQUE, first_name text, country text,
        created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL);
      CREATE TABLE purchases (
        id bigint PRIMARY KEY, user_id integer NOT NULL REFERENCES users(id), amount numeric(10,2) NOT NULL,
        created_at timestamptz NOT NULL);`);
    // deterministic pseudo-random data: the same flags give the same database
    await client.query(
      `INSERT INTO users
         SELECT i, 'user' || i || '@example.com',
                (ARRAY['Ada','Grace','Linus','Margaret','Alan','Barbara','Dennis','Frances','Ken','Radia'])[1 + i % 10],
                (ARRAY['NZ','US','FR','DE','JP','BR','IN','ZA'])[1 + (i * 7) % 8],
                timestamptz '2023-01-01' + (i * interval '37 minutes'),
                timestamptz '2024-01-01' + ((i / 50) * interval '1 hour')   -- 50 users share each watermark
           FROM generate_series(1, $1::int) AS i`,
      [users]
    );
    await client.query(
      `INSERT INTO purchases
         SELECT p, 1 + ((p * 7919) % $2::int), round((5 + (p * 31 % 2000) / 10.0)::numeric, 2),
                timestamptz '2023-06-01' + (p * interval '3 minutes')
           FROM generate_series(1, $1::int) AS p`,
      [purchases, users]
    );
    await client.query(`CREATE INDEX purchases_user_id ON purchases (user_id); CREATE INDEX users_updated_at ON users (updated_at, id); ANALYZE users; ANALYZE purchases;`);
  } finally {
    await client.end();
  }
}

function progressBar(label) {
  let last = -1;
  return (percent) => {
    const p = Math.max(0, Math.min(100, Math.round(percent)));
    if (p === last) return;
    last = p;
    const width = 30;
    const filled = Math.round((p / 100) * width);
    const line = `  ${label} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${String(p).padStart(3)}%`;
    if (process.stdout.isTTY) process.stdout.write(`\r${line}${p === 100 ? "\n" : ""}`);
    else if (p === 100 || p % 25 === 0) process.stdout.write(`${line}\n`);
  };
}

function table(rows, columns) {
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c] ?? "").length)));
  const line = (cells) => "  " + cells.map((cell, i) => String(cell ?? "").padEnd(widths[i])).join("  ");
  return [line(columns), line(widths.map((w) => "-".repeat(w))), ...rows.map((r) => line(columns.map((c) => r[c])))].join("\n");
}

function format(value) {
  if (value instanceof Date) return value.toISOString().slice(0, 19).replace("T", " ");
  if (typeof value === "number" && !Number.isInteger(value)) return value.toFixed(2);
  return value;
}

const round = (seconds) => Number(seconds.toFixed(2));
const percent = (part, whole) => `${whole > 0 ? ((100 * part) / whole).toFixed(1) : "0.0"} %`;

async function oneRun(core, schedule, label, pluginTime) {
  const started = Date.now();
  const pluginBefore = pluginTime.read();
  const { run, batches } = await runSchedule(schedule, { onProgress: progressBar(`${label}: importing`) });
  let steps = 0;
  let shown = Date.now();
  const totals = await processImports(run, {
    onStep: (step) => {
      steps++;
      // the core's own work (associating imports, storing property values) is most of a run: show it moves
      if (Date.now() - shown > 3000) {
        shown = Date.now();
        process.stdout.write(`  ${label}: ${step === "associate" ? "associating imports with records" : "computing properties"} ... ${steps} batches done\n`);
      }
    },
  });
  const seconds = (Date.now() - started) / 1000;
  const pluginAfter = pluginTime.read();
  if (totals.error) throw new Error(`the run failed: ${totals.error}`);
  // this run's share of the plugin's clock; the rest of the run's wall time is the core's
  const methods = {};
  for (const [name, after] of Object.entries(pluginAfter.methods)) {
    const before = pluginBefore.methods[name] || { calls: 0, seconds: 0 };
    if (after.calls > before.calls) methods[name] = { calls: after.calls - before.calls, seconds: after.seconds - before.seconds };
  }
  const pluginSeconds = Math.min(seconds, pluginAfter.seconds - pluginBefore.seconds);
  return { ...totals, batches, steps, seconds, pluginSeconds, coreSeconds: seconds - pluginSeconds, pluginMethods: methods };
}

/** Where a run's wall time went: the plugin's reads (by method) against the core's own work. */
function whereTheTimeWent(label, run) {
  const methods = Object.entries(run.pluginMethods)
    .sort((a, b) => b[1].seconds - a[1].seconds)
    .map(([name, m]) => `${name} ${m.calls}x ${m.seconds.toFixed(2)} s`)
    .join(", ");
  return [
    `   Where the ${run.seconds.toFixed(1)} s of ${label} went:`,
    `     the plugin's reads   ${run.pluginSeconds.toFixed(2).padStart(7)} s  ${percent(run.pluginSeconds, run.seconds).padStart(7)}  (inside its methods: ${methods || "none"})`,
    `     the core's own work  ${run.coreSeconds.toFixed(2).padStart(7)} s  ${percent(run.coreSeconds, run.seconds).padStart(7)}  (creating imports, associating them with records, storing property values in its database)`,
  ].join("\n");
}

async function main() {
  // the default size goes first, so that a --users given on the command line overrides it
  const args = parseArgs(process.argv.slice(2));
  if (args.help) return console.log(HELP);
  const demoStarted = Date.now();
  const phases = [];
  let phaseStarted = Date.now();
  // wall time by step of the demo, for the closing line
  const phaseDone = (name) => {
    phases.push({ name, seconds: (Date.now() - phaseStarted) / 1000 });
    phaseStarted = Date.now();
  };
  if (buildIfStale()) phaseDone("build");
  const ownDatabase = Boolean(args.url);
  const configDir = args.config || path.join(__dirname, "..", "examples", "config");
  if (!fs.existsSync(configDir)) throw new Error(`--config: no such folder ${configDir}`);
  const cleanups = [];
  const cleanup = async () => {
    while (cleanups.length) await cleanups.pop()().catch((e) => console.error(`cleanup: ${e.message}`));
  };
  process.once("SIGINT", () => cleanup().then(() => process.exit(130)));

  try {
    console.log("1. Starting PostgreSQL (embedded, from npm) ...");
    const server = await startPostgres();
    cleanups.push(() => server.stop());
    const coreUrl = await createDatabase(server.url, "grouparoo_core");
    phaseDone("start PostgreSQL");
    let sourceUrl = args.url;
    if (!ownDatabase) {
      sourceUrl = await createDatabase(server.url, "shop");
      console.log(`2. Creating the demo database: ${args.users.toLocaleString()} users, ${args.purchases.toLocaleString()} purchases ...`);
      const t = Date.now();
      await createDataset(sourceUrl, args.users, args.purchases);
      console.log(`   done in ${((Date.now() - t) / 1000).toFixed(1)} s`);
      phaseDone("create the dataset");
    } else {
      console.log("2. Reading your database (nothing is created or changed there)");
    }
    const u = new URL(sourceUrl);
    Object.assign(process.env, {
      DEMO_PG_HOST: u.hostname,
      DEMO_PG_PORT: u.port || "5432",
      DEMO_PG_DATABASE: decodeURIComponent(u.pathname.slice(1)),
      DEMO_PG_USER: decodeURIComponent(u.username),
      DEMO_PG_PASSWORD: decodeURIComponent(u.password),
      DEMO_PG_SSLMODE: u.searchParams.get("sslmode") || (ownDatabase ? "prefer" : "disable"),
    });

    console.log(`3. Booting @grouparoo/core ${require("@grouparoo/core/package.json").version} with this plugin and ${path.relative(process.cwd(), configDir) || configDir} ...`);
    const grouparoo = await bootCore({ coreDatabaseUrl: coreUrl, configDir, port: await freePort() });
    cleanups.push(() => grouparoo.stop());
    const { Schedule, Source, GrouparooRecord, Property } = grouparoo.core;
    const schedules = await Schedule.findAll();
    if (schedules.length === 0) throw new Error(`the config in ${configDir} has no schedule to run`);
    const properties = await Property.findAll();
    console.log(`   ${(await Source.count())} sources, ${properties.length} properties, ${schedules.length} schedule(s)`);
    const pluginTime = timePluginMethods({ api: require("actionhero").api, corePlugin: grouparoo.core.plugin, pluginName: require("../package.json").name });
    phaseDone("boot the core (its migrations and the config)");

    const results = [];
    const shownRecords = [];
    for (const schedule of schedules) {
      console.log(`4. Running schedule "${schedule.name}" ...`);
      const first = await oneRun(grouparoo.core, schedule, "run 1", pluginTime);
      results.push(first);
      const records = await GrouparooRecord.count();
      console.log(
        `\n   Run 1: ${first.imports.toLocaleString()} imports, ${records.toLocaleString()} records, ${properties.length} properties each, ` +
          `${first.seconds.toFixed(1)} s, ${Math.round(records / first.seconds).toLocaleString()} records/s`
      );
      // the query source maps to the primary key, so its property runs in batch tasks too (README: Batched query properties)
      const tasks = Object.values(first.propertyTasks);
      const sum = (key) => tasks.reduce((n, t) => n + t[key], 0);
      console.log(`   Property tasks: ${sum("batches").toLocaleString()} batch tasks, ${sum("single").toLocaleString()} one-record tasks`);
      console.log(whereTheTimeWent("run 1", first));
      phaseDone("run 1 and the records shown");

      console.log("5. A few records:");
      const sample = await GrouparooRecord.findAll({ limit: 5, order: [["createdAt", "ASC"]] });
      const rows = [];
      for (const record of sample) {
        const simple = await record.simplifiedProperties();
        rows.push(Object.fromEntries(Object.entries(simple).map(([k, v]) => [k, format(v.length > 1 ? v.join("|") : v[0])])));
        shownRecords.push(Object.fromEntries(Object.entries(simple).map(([k, v]) => [k, v.length > 1 ? v : v[0]])));
      }
      const columns = properties.map((p) => p.key);
      console.log(table(rows, columns));

      if (!ownDatabase && schedule.incremental) {
        const { Client } = require("pg");
        const client = new Client({ connectionString: sourceUrl });
        await client.connect();
        await client.query(
          `UPDATE users SET first_name = first_name || ' (changed)', updated_at = now() WHERE id IN (SELECT id FROM users ORDER BY id DESC LIMIT $1)`,
          [args.changes]
        );
        // the commit horizon reads a row once its stamp is 1 s old (no open transaction can still write below it)
        while (!(await client.query(`SELECT now() > max(updated_at) + interval '1100 milliseconds' AS past FROM users`)).rows[0].past) {
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        await client.end();
        console.log(`6. Changed ${args.changes} users in Postgres (first_name, updated_at); running again ...`);
        const second = await oneRun(grouparoo.core, schedule, "run 2", pluginTime);
        results.push(second);
        console.log(`\n   Run 2: ${second.imports} imports (only the changed users), ${second.seconds.toFixed(1)} s`);
        console.log(whereTheTimeWent("run 2", second));
        phaseDone("the change and run 2");
      }
    }

    const summary = {
      records: await GrouparooRecord.count(),
      properties: properties.length,
      runs: results.map((r) => ({
        imports: r.imports,
        seconds: round(r.seconds),
        pluginSeconds: round(r.pluginSeconds),
        coreSeconds: round(r.coreSeconds),
        pluginCalls: Object.fromEntries(Object.entries(r.pluginMethods).map(([name, m]) => [name, m.calls])),
      })),
      sample: shownRecords,
    };
    console.log(`\nSUMMARY ${JSON.stringify(summary)}`);
    console.log("7. Stopping the core and PostgreSQL ...");
  } finally {
    await cleanup();
  }
  phaseDone("stop everything");
  const total = (Date.now() - demoStarted) / 1000;
  console.log(`Done: nothing left running. The demo took ${total.toFixed(1)} s: ${phases.map((p) => `${p.name} ${p.seconds.toFixed(1)} s`).join(", ")}.`);
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (error) => {
      console.error(`demo failed: ${error.message}`);
      process.exit(1);
    }
  );
}

module.exports = { createDataset };
