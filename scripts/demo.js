#!/usr/bin/env node
// The main job, end to end: a product database in Postgres, the real Grouparoo core 0.9.0 with this
// plugin, an incremental import of every user and their properties, then a change and a second run
// that imports only what changed. Starts everything it needs and stops it all at the end.
//
//   npm run demo                          # embedded Postgres, 10,000 users, 100,000 purchases
//   npm run demo -- --users 2000          # a smaller dataset (purchases default to 10 per user)
//   npm run demo -- --url postgres://u:p@host/db --config ./my-config   # a dry run of your own set-up
"use strict";

const path = require("path");
const fs = require("fs");
const { startPostgres, createDatabase, freePort } = require("./postgres-server");
const { bootCore, runSchedule, processImports } = require("./lib/core-driver");

function parseArgs(argv) {
  const args = { users: 10000, purchases: undefined, url: process.env.DEMO_SOURCE_URL, config: undefined, changes: 25 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${flag} needs a value`);
      return argv[++i];
    };
    if (flag === "--users") args.users = Number(value());
    else if (flag === "--purchases") args.purchases = Number(value());
    else if (flag === "--url") args.url = value();
    else if (flag === "--config") args.config = path.resolve(value());
    else if (flag === "--changes") args.changes = Number(value());
    else if (flag === "--help" || flag === "-h") args.help = true;
    else throw new Error(`unknown option ${flag} (try --help)`);
  }
  if (!Number.isInteger(args.users) || args.users < 1) throw new Error("--users must be a whole number above 0");
  if (args.purchases === undefined) args.purchases = args.users * 10;
  return args;
}

const HELP = `Usage: npm run demo -- [--users N] [--purchases N] [--changes N] [--url postgres://...] [--config DIR]
  --users N       users to create in the demo database (default 10000)
  --purchases N   purchases to create (default 10 per user)
  --changes N     users to update before the second run (default 25)
  --url URL       read YOUR database instead (nothing is created or changed there); also DEMO_SOURCE_URL
  --config DIR    the Grouparoo config folder to load (default examples/config)`;

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

async function oneRun(core, schedule, label) {
  const started = Date.now();
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
  if (totals.error) throw new Error(`the run failed: ${totals.error}`);
  return { ...totals, batches, steps, seconds };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.help) return console.log(HELP);
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
    let sourceUrl = args.url;
    if (!ownDatabase) {
      sourceUrl = await createDatabase(server.url, "shop");
      console.log(`2. Creating the demo database: ${args.users.toLocaleString()} users, ${args.purchases.toLocaleString()} purchases ...`);
      const t = Date.now();
      await createDataset(sourceUrl, args.users, args.purchases);
      console.log(`   done in ${((Date.now() - t) / 1000).toFixed(1)} s`);
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

    const results = [];
    const shownRecords = [];
    for (const schedule of schedules) {
      console.log(`4. Running schedule "${schedule.name}" ...`);
      const first = await oneRun(grouparoo.core, schedule, "run 1");
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
        const second = await oneRun(grouparoo.core, schedule, "run 2");
        results.push(second);
        console.log(`\n   Run 2: ${second.imports} imports (only the changed users), ${second.seconds.toFixed(1)} s`);
      }
    }

    const summary = {
      records: await GrouparooRecord.count(),
      properties: properties.length,
      runs: results.map((r) => ({ imports: r.imports, seconds: Number(r.seconds.toFixed(2)) })),
      sample: shownRecords,
    };
    console.log(`\nSUMMARY ${JSON.stringify(summary)}`);
    console.log("7. Stopping the core and PostgreSQL ...");
  } finally {
    await cleanup();
  }
  console.log("Done: nothing left running.");
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
