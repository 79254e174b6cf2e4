/**
 * Production topology: the real @grouparoo/core 0.9.0 as two processes on a real Redis, the way the
 * README ("Running in production") tells users to run it. A deployment recipe:
 *
 * - Debian's `redis-server` on a free loopback port (installed with apt-get when missing);
 * - the plugin `npm pack`ed and installed into a Grouparoo app folder (scripts/ui/prepare-app.js), the
 *   config files of examples/production/config copied into its `config/`;
 * - `node_modules/@grouparoo/core/bin/start` twice: a web process (WEB_SERVER=true WORKERS=2) and a
 *   worker process (WEB_SERVER=false WORKERS=3), each with its own ACTIONHERO_TITLE and
 *   application_name, one REDIS_URL and one core DATABASE_URL;
 * - a read-only role for the App, a table of CUSTOMERS rows, small import batches.
 *
 * The recurring incremental schedule starts its first run by itself. While it runs: batches execute in
 * both processes; the App's options are edited (`grouparoo apply` of a changed config) while batches are
 * in flight on both, with the table locked so that work in progress outlasts the core's disconnect
 * broadcast; then the worker process is stopped with SIGTERM and the web process finishes the run.
 * Every row must become one record with the values SQL gives, no task may fail, and the next run
 * (started through the API) must import only what changed.
 *
 * Logs of every process: screenshots/topology/logs/ (git-ignored).
 */
import fs from "fs";
import path from "path";
import { Client } from "pg";
import { adminUrl, freshDatabase, sql } from "./support/db";
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { startRedis } = require("../scripts/topology/redis-server");
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { clusterEnv, createCustomers, startCoreProcess, applyConfig, httpPost, taskSuccesses } = require("../scripts/topology/cluster");
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { prepareApp } = require("../scripts/ui/prepare-app");
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { createDatabase, freePort } = require("../scripts/postgres-server");
// eslint-disable-next-line @typescript-eslint/no-var-requires
const Redis = require("ioredis");

const ROOT = path.join(__dirname, "..");
const LOGS = path.join(ROOT, "screenshots", "topology", "logs");
const CUSTOMERS = Number(process.env.GPP_TOPOLOGY_ROWS || 6000);
const BATCH_SIZE = 300;
const SCHEDULE_ID = "customers_by_updated_at";
const API_KEY = "gpp-topology-operations-key";
const READER = { user: "grouparoo_reader", password: "reader-topology-pw" };
// How long the table stays locked from the core's disconnect broadcast on. In production the window
// between the broadcast and the end of the disconnect lasts as long as the slowest read in flight; the
// lock makes it long enough (beyond recordProperties:enqueue's 10 s period) that tasks start in it
// every time, on a quiet machine as on a loaded one.
const LOCK_HOLD_MS = 12000;

interface Task {
  at: Date;
  class: string;
  args: { runId?: string };
  result?: string;
  duration: number;
}
interface CoreProcess {
  title: string;
  pid: number;
  logFile: string;
  webUrl?: string;
  bootSeconds: number;
  exited: Promise<{ code: number | null; signal: string | null }>;
  exitStatus: { code: number | null; signal: string | null } | null;
  log(): string;
  stop(graceMs?: number): Promise<void>;
}
interface ScheduleRun {
  id: string;
  state: string;
  error: string | null;
  importsCreated: number;
}

let redis: { url: string; stop(): Promise<void> };
let prepared: { appDir: string; shim: string; release(): void };
let shop: { url: string; appOptions: Record<string, string> };
let coreUrl: string;
let env: Record<string, string>;
let web: CoreProcess;
let worker: CoreProcess;
const applicationNamesSeen = new Set<string>();
let sampler: NodeJS.Timeout | undefined;
let firstRun: ScheduleRun;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor<T>(what: string, read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs: number): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}; last: ${JSON.stringify(value)?.slice(0, 2000)}`);
    await sleep(1000);
  }
}

async function scheduleRuns(): Promise<ScheduleRun[]> {
  const { rows } = await sql(
    coreUrl,
    `SELECT id, state, error, "importsCreated"::int AS "importsCreated" FROM runs
      WHERE "creatorType" = 'schedule' AND "creatorId" = $1 ORDER BY "createdAt"`,
    [SCHEDULE_ID]
  );
  return rows as ScheduleRun[];
}

async function importsOf(runId: string): Promise<number> {
  const { rows } = await sql(coreUrl, `SELECT count(*)::int AS n FROM imports WHERE "creatorId" = $1`, [runId]);
  return rows[0].n;
}

function batchesOf(core: CoreProcess, runId: string, after = new Date(0)): Task[] {
  return (taskSuccesses(core.log()) as Task[]).filter((t) => t.class === "schedule:run" && t.args.runId === runId && t.at > after);
}

/** Lines a process logged at level error or worse (a failed task, a failed batch). */
function errorLines(text: string): string[] {
  return text.split("\n").filter((line) => / - (error|crit|alert|emerg): /.test(line));
}

/** Every imported record and property is settled: imports associated, no property pending. */
async function settled(): Promise<{ unassociated: number; pendingProperties: number; records: number }> {
  const { rows } = await sql(
    coreUrl,
    `SELECT (SELECT count(*)::int FROM imports WHERE "recordAssociatedAt" IS NULL) AS unassociated,
            (SELECT count(*)::int FROM "recordProperties" WHERE state <> 'ready') AS "pendingProperties",
            (SELECT count(*)::int FROM records) AS records`
  );
  return rows[0];
}

/** What each record must hold, from the source table, as the core stores it (rawValue text). */
async function expectedRecords(): Promise<Map<string, Record<string, string>>> {
  const { rows } = await sql(shop.url, `SELECT id, email, score FROM customers ORDER BY id`);
  const expected = new Map<string, Record<string, string>>();
  for (const r of rows) {
    expected.set(String(r.id), {
      customer_id: String(r.id),
      email: r.email,
      score: String(Number(r.score)),
    });
  }
  return expected;
}

/** Each record's properties as the core stored them, keyed by the record's customer_id. */
async function storedRecords(): Promise<Map<string, Record<string, string>>> {
  const { rows } = await sql(
    coreUrl,
    `SELECT rp."recordId", p.key, rp."rawValue" FROM "recordProperties" rp JOIN properties p ON p.id = rp."propertyId"`
  );
  const byRecord = new Map<string, Record<string, string>>();
  for (const r of rows) {
    const record = byRecord.get(r.recordId) ?? {};
    record[r.key] = r.rawValue;
    byRecord.set(r.recordId, record);
  }
  const byCustomer = new Map<string, Record<string, string>>();
  for (const record of byRecord.values()) {
    if (byCustomer.has(record.customer_id)) throw new Error(`two records for customer ${record.customer_id}`);
    byCustomer.set(record.customer_id, record);
  }
  return byCustomer;
}

/** Differences between the records the core holds and the rows SQL returns (at most 10 listed). */
async function recordDifferences(): Promise<string[]> {
  const [expected, stored] = [await expectedRecords(), await storedRecords()];
  const differences: string[] = [];
  for (const [id, want] of expected) {
    const have = stored.get(id);
    if (!have) differences.push(`customer ${id}: no record`);
    else if (JSON.stringify(have, Object.keys(want).sort()) !== JSON.stringify(want, Object.keys(want).sort())) {
      differences.push(`customer ${id}: ${JSON.stringify(have)} != ${JSON.stringify(want)}`);
    }
  }
  for (const id of stored.keys()) if (!expected.has(id)) differences.push(`record for customer ${id} that has no row`);
  return differences.slice(0, 10).concat(differences.length > 10 ? [`... ${differences.length - 10} more`] : []);
}

async function fixtures() {
  await createCustomers(shop.url, CUSTOMERS);
  // the read-only role of the README's recipe (roles are per server: made once, password reset)
  await sql(
    shop.url,
    `DO $$ BEGIN
       IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${READER.user}') THEN CREATE ROLE ${READER.user} LOGIN; END IF;
     END $$;
     ALTER ROLE ${READER.user} WITH LOGIN PASSWORD '${READER.password}';
     ALTER ROLE ${READER.user} SET default_transaction_read_only = on;
     GRANT CONNECT ON DATABASE "${shop.appOptions.database}" TO ${READER.user};
     GRANT USAGE ON SCHEMA public TO ${READER.user};
     GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${READER.user};`
  );
}

beforeAll(async () => {
  fs.rmSync(path.dirname(LOGS), { recursive: true, force: true });
  fs.mkdirSync(LOGS, { recursive: true });
  redis = await startRedis();
  shop = await freshDatabase("gpp_topology_shop");
  coreUrl = await createDatabase(adminUrl(), "gpp_topology_core");
  await fixtures();
  // hold the app folder: a parallel Config UI test waits instead of reinstalling the plugin under us
  prepared = await prepareApp({ hold: true, log: (m: string) => console.error(m) });
  const configDir = path.join(prepared.appDir, "config");
  fs.rmSync(configDir, { recursive: true, force: true });
  fs.cpSync(path.join(ROOT, "examples", "production", "config"), configDir, { recursive: true });

  env = clusterEnv({
    coreDatabaseUrl: coreUrl,
    redisUrl: redis.url,
    serverToken: "gpp-topology-server-token",
    importsBatchSize: BATCH_SIZE,
    extra: {
      SHOP_DB_HOST: shop.appOptions.host,
      SHOP_DB_PORT: shop.appOptions.port,
      SHOP_DB_DATABASE: shop.appOptions.database,
      SHOP_DB_USER: READER.user,
      SHOP_DB_SSLMODE: "disable",
      GROUPAROO_OPTION__APP__SHOP_DB_PASSWORD: READER.password,
      GROUPAROO_OPERATIONS_API_KEY: API_KEY,
    },
  });
  // the web process first: it migrates the core database
  web = await startCoreProcess({
    appDir: prepared.appDir,
    title: "grouparoo-web",
    workers: 2,
    webPort: await freePort(),
    env: { ...env, GROUPAROO_OPTION__APP__SHOP_DB_APPLICATION_NAME: "grouparoo-web" },
    logFile: path.join(LOGS, "web.log"),
  });
  worker = await startCoreProcess({
    appDir: prepared.appDir,
    title: "grouparoo-worker-1",
    workers: 3,
    env: { ...env, GROUPAROO_OPTION__APP__SHOP_DB_APPLICATION_NAME: "grouparoo-worker-1" },
    logFile: path.join(LOGS, "worker-1.log"),
  });
  // which processes hold connections to the source database (each names itself)
  sampler = setInterval(() => {
    sql(shop.url, `SELECT DISTINCT application_name FROM pg_stat_activity WHERE datname = $1 AND usename = $2`, [shop.appOptions.database, READER.user])
      .then(({ rows }) => rows.forEach((r) => applicationNamesSeen.add(r.application_name)))
      .catch(() => undefined);
  }, 1000);
}, 600000);

afterAll(async () => {
  if (sampler) clearInterval(sampler);
  for (const p of [worker, web]) if (p) await p.stop(30000).catch(() => undefined);
  if (prepared) {
    fs.rmSync(path.join(prepared.appDir, "config"), { recursive: true, force: true });
    prepared.release();
  }
  if (redis) await redis.stop();
}, 120000);

test(
  `a recurring incremental schedule imports ${CUSTOMERS} rows through two processes; an App edit and a SIGTERM mid-run fail no batch and lose no row`,
  async () => {
    // 1. the recurring schedule starts its first run by itself; both processes execute its batches
    const [run] = await waitFor("the schedule's first run", scheduleRuns, (runs) => runs.length > 0, 120000);
    await waitFor(
      "batches of the first run in both processes",
      async () => [batchesOf(web, run.id).length, batchesOf(worker, run.id).length],
      ([inWeb, inWorker]) => inWeb > 0 && inWorker > 0,
      120000
    );

    // 2. an App edit while batches are in flight on both: `grouparoo apply` of a changed option. The
    // core broadcasts a disconnect to every process, which calls the plugin's disconnect. The table is
    // locked from just before that (once apply has booted and starts applying) until LOCK_HOLD_MS
    // after the broadcast, so that reads in flight outlast the disconnect and new tasks start in the
    // window between the broadcast and the end of the disconnect.
    const subscriber = new Redis(redis.url);
    const locker = new Client({ connectionString: shop.url });
    await locker.connect();
    let broadcastAt: Date | undefined;
    let lockHeld: Promise<void> | undefined;
    const takeLock = () => {
      // released LOCK_HOLD_MS after the broadcast (apply itself reads the table after it), or after 60 s
      lockHeld ??= (async () => {
        await locker.query("BEGIN");
        await locker.query("LOCK TABLE customers IN ACCESS EXCLUSIVE MODE");
        const lockedAt = Date.now();
        while (!(broadcastAt && Date.now() - broadcastAt.getTime() >= LOCK_HOLD_MS) && Date.now() - lockedAt < 60000) await sleep(100);
        await locker.query("ROLLBACK");
      })();
    };
    await subscriber.subscribe("actionhero");
    subscriber.on("message", (_channel: string, text: string) => {
      const message = JSON.parse(text) as { messageType?: string; method?: string };
      if (message.messageType !== "do" || message.method !== "api.rpc.app.disconnect" || broadcastAt) return;
      broadcastAt = new Date();
      takeLock();
    });
    const apply = await applyConfig({
      appDir: prepared.appDir,
      shim: prepared.shim,
      env: { ...env, SHOP_DB_STATEMENT_TIMEOUT: "100", GROUPAROO_OPTION__APP__SHOP_DB_APPLICATION_NAME: "grouparoo-apply" },
      logFile: path.join(LOGS, "apply.log"),
      // the CLI prints its banner once booted, a moment before it applies the App
      onOutput: (_chunk: string, all: string) => /Grouparoo: apply/.test(all) && takeLock(),
    });
    await lockHeld;
    await subscriber.quit();
    await locker.end();
    expect({ code: apply.code, signal: apply.signal }).toEqual({ code: 0, signal: null });
    expect(apply.output).toMatch(/updated App `Shop database`/);
    expect(broadcastAt).toBeDefined();
    const { rows: options } = await sql(coreUrl, `SELECT value FROM options WHERE "ownerId" = 'shop_db' AND key = 'statement_timeout'`);
    expect(options).toEqual([{ value: "100" }]);
    // both processes go on working the run after the edit
    await waitFor(
      "batches in both processes after the App edit",
      async () => [batchesOf(web, run.id, broadcastAt).length, batchesOf(worker, run.id, broadcastAt).length],
      ([inWeb, inWorker]) => inWeb > 0 && inWorker > 0,
      120000
    );

    // 3. SIGTERM the worker process in the middle of the run: it finishes its tasks and exits
    const importedAtStop = await importsOf(run.id);
    expect((await scheduleRuns())[0].state).toBe("running");
    await worker.stop(120000);
    expect(worker.exitStatus).toEqual({ code: 0, signal: null });
    const workerExitedAt = new Date();
    const stillRunning = (await scheduleRuns())[0];

    // 4. the web process ends the run alone, with every row
    firstRun = await waitFor("the first run to complete", async () => (await scheduleRuns())[0], (r) => r.state !== "running", 300000);
    expect(firstRun.error).toBeNull();
    expect(firstRun.state).toBe("complete");
    expect(await importsOf(run.id)).toBe(CUSTOMERS);
    await waitFor("every record and property settled", settled, (s) => s.unassociated === 0 && s.pendingProperties === 0 && s.records === CUSTOMERS, 400000);
    expect(await recordDifferences()).toEqual([]);
    // the core counts a run's imports every 15 s: the next run starts from this run's watermark once it has
    firstRun = await waitFor("the first run's counts", async () => (await scheduleRuns())[0], (r) => r.importsCreated === CUSTOMERS, 60000);

    const batches = {
      web: batchesOf(web, run.id).length,
      worker: batchesOf(worker, run.id).length,
      webAfterWorkerExit: batchesOf(web, run.id, workerExitedAt).length,
    };
    console.log(
      `first run: ${CUSTOMERS} rows in batches of ${BATCH_SIZE}; schedule:run batches web ${batches.web}, worker ${batches.worker}; ` +
        `App edit broadcast at ${broadcastAt?.toISOString()} (apply ${apply.seconds.toFixed(1)} s); ` +
        `worker stopped at ${importedAtStop} imports, web then ran ${batches.webAfterWorkerExit} batches; application_names seen: ${[...applicationNamesSeen].sort().join(", ")}`
    );
    expect(stillRunning.state).toBe("running"); // the SIGTERM came in the middle of the run
    expect(batches.webAfterWorkerExit).toBeGreaterThan(0);
    expect(batches.web + batches.worker).toBeGreaterThanOrEqual(CUSTOMERS / BATCH_SIZE);
    expect([...applicationNamesSeen].sort()).toEqual(expect.arrayContaining(["grouparoo-web", "grouparoo-worker-1"]));
    // no task failed in any process: no batch lost to the App edit or the SIGTERM
    const problems = { web: errorLines(web.log()), worker: errorLines(worker.log()), apply: errorLines(apply.output) };
    expect(problems).toEqual({ web: [], worker: [], apply: [] });
    expect(`${web.log()}\n${worker.log()}`).not.toMatch(/connection was closed/);
  },
  900000
);

test(
  "the next run, started through the API, imports only the rows that changed",
  async () => {
    expect(firstRun?.state).toBe("complete");
    // stamped two minutes ago: the App's plain read-only role gets the settle window's horizon (60 s) or,
    // when it happens to see every session, the exact one; either way these rows are below it
    await sql(shop.url, `UPDATE customers SET email = 'changed' || id || '@example.com', score = score + 1, updated_at = now() - interval '2 minutes' WHERE id % 250 = 7`);
    await sql(
      shop.url,
      `INSERT INTO customers
         SELECT i, 'new' || i || '@example.com', 'Newton', 1.5, date '2025-06-01', now() - interval '2 minutes'
           FROM generate_series($1::int + 1, $1::int + 30) i`,
      [CUSTOMERS]
    );
    const { rows: changed } = await sql(shop.url, `SELECT count(*)::int AS n FROM customers WHERE updated_at > now() - interval '1 hour'`);
    const response = await httpPost(`${web.webUrl}/api/v1/schedule/${SCHEDULE_ID}/run`, { apiKey: API_KEY });
    expect(response.status).toBe(200);
    const runId = JSON.parse(response.body).run.id as string;

    const run = await waitFor(
      "the second run to complete",
      async () => (await scheduleRuns()).find((r) => r.id === runId),
      (r) => r !== undefined && r.state !== "running",
      300000
    );
    expect(run?.error).toBeNull();
    expect(await importsOf(runId)).toBe(changed[0].n);
    await waitFor(
      "every record and property settled",
      settled,
      (s) => s.unassociated === 0 && s.pendingProperties === 0 && s.records === CUSTOMERS + 30,
      300000
    );
    expect(await recordDifferences()).toEqual([]);
    expect(errorLines(web.log())).toEqual([]);
  },
  600000
);
