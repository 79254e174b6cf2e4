import { Client } from "pg";
import { postgresTableConnection } from "../src/connections/tableImport";
import { openConnection, PostgresConnection } from "../src/postgres";
import type { HighWaterMark } from "../src/templates/host";
import { freshDatabase, sql } from "./support/db";
import { FakeHost } from "./support/fakeHost";
import { runSchedule } from "./support/runs";

// Writers hold transactions open (explicitly: BEGIN, write, and COMMIT when the test says so) while
// incremental runs go on, through the same contract the core uses. A transaction that stamps
// `updated_at = now()` and commits after others' later stamps were read must still be imported.

const ROWS = 40;
const suffix = Math.random().toString(36).slice(2, 8);
const STATS_ROLE = `gpp_hz_stats_${suffix}`;
const PLAIN_ROLE = `gpp_hz_plain_${suffix}`;
const PASSWORD = "horizon-test-pw";

let url: string;
let adminOptions: Record<string, string>;
const opened: PostgresConnection[] = [];
const writers: Client[] = [];

beforeAll(async () => {
  ({ url, appOptions: adminOptions } = await freshDatabase("gpp_horizon"));
  const database = adminOptions.database;
  await sql(
    url,
    `CREATE ROLE ${STATS_ROLE} LOGIN PASSWORD '${PASSWORD}' IN ROLE pg_read_all_stats;
     CREATE ROLE ${PLAIN_ROLE} LOGIN PASSWORD '${PASSWORD}';
     GRANT CONNECT ON DATABASE "${database}" TO ${STATS_ROLE}, ${PLAIN_ROLE};
     GRANT USAGE ON SCHEMA public TO ${STATS_ROLE}, ${PLAIN_ROLE};
     ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO ${STATS_ROLE}, ${PLAIN_ROLE};`
  );
});

afterAll(async () => {
  for (const writer of writers) await writer.end().catch(() => {});
  for (const connection of opened) await connection.close();
  await sql(url, `DROP OWNED BY ${STATS_ROLE}, ${PLAIN_ROLE}; DROP ROLE ${STATS_ROLE}; DROP ROLE ${PLAIN_ROLE}`).catch(() => {});
});

async function writer(): Promise<Client> {
  const client = new Client({ connectionString: url, application_name: "horizon-test-writer" });
  await client.connect();
  writers.push(client);
  return client;
}

/** A table of ROWS rows stamped by the database's clock, committed well before the test's writers start. */
async function freshTable(name: string): Promise<void> {
  await sql(
    url,
    `CREATE TABLE ${name} (id int PRIMARY KEY, version int NOT NULL DEFAULT 0, updated_at timestamptz NOT NULL);
     INSERT INTO ${name} SELECT i, 0, now() - interval '1 hour' FROM generate_series(1, ${ROWS}) i;`
  );
}

/** Waits until the server's clock is past every stamp of the table by `ms` (a condition on the clock, not a guess). */
async function clockPast(table: string, ms: number): Promise<void> {
  for (;;) {
    const { rows } = await sql(url, `SELECT now() > max(updated_at) + $1::interval AS past FROM ${table}`, [`${ms} milliseconds`]);
    if (rows[0].past) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** How long (ms) the server says a writer's transaction has been open. */
async function openFor(client: Client): Promise<number> {
  const { rows } = await client.query(`SELECT extract(epoch FROM clock_timestamp() - now()) * 1000 AS ms`);
  return Number(rows[0].ms);
}

function incrementalRuns(role: string, options: Record<string, string>, table: string, column = "updated_at") {
  const host = new FakeHost();
  const connection = openConnection({ ...adminOptions, user: role, password: PASSWORD, ...options });
  opened.push(connection);
  const importRecords = postgresTableConnection(host).methods.importRecords;
  let previous: HighWaterMark | undefined;
  let runs = 0;
  return {
    host,
    /** one run, continuing from the previous one; the ids it imported */
    async run(): Promise<number[]> {
      const before = host.importedValues().length;
      const base = { connection, appOptions: adminOptions, sourceOptions: { table }, sourceMapping: { id: "id" } };
      const result = await runSchedule(importRecords, { ...base, run: undefined } as never, { incremental: true, column, limit: 7, previous, runId: `run_${runs}` });
      previous = result.highWaterMark;
      runs++;
      return host.importedValues().slice(before).map(Number);
    },
    get runs() {
      return runs;
    },
  };
}

/** Every id imported after its last change, and ids never changed imported once. */
function expectNothingLostNothingTwice(perRun: number[][], lastChangeRun: Map<number, number>) {
  for (let id = 1; id <= ROWS; id++) {
    const runsWithId = perRun.map((ids, i) => (ids.includes(id) ? i : -1)).filter((i) => i >= 0);
    const changedIn = lastChangeRun.get(id) ?? -1;
    // the last import of each row comes from a run that started after its last commit
    expect({ id, imported: runsWithId.some((i) => i > changedIn) }).toEqual({ id, imported: true });
    // within one run, a row is imported at most once
    for (const ids of perRun) expect(ids.filter((x) => x === id).length).toBeLessThanOrEqual(1);
    if (changedIn < 0) expect({ id, times: runsWithId.length }).toEqual({ id, times: 1 });
  }
}

test("exact horizon (a role with pg_read_all_stats): a transaction held open longer than the settle window commits late and is still imported", async () => {
  await freshTable("exact_events");
  const runs = incrementalRuns(STATS_ROLE, { settle_window: "1" }, "exact_events");
  const perRun: number[][] = [];
  const lastChange = new Map<number, number>();

  perRun.push(await runs.run()); // run 0: the whole table
  expect(perRun[0].sort((a, b) => a - b)).toEqual(Array.from({ length: ROWS }, (_, i) => i + 1));

  // a long writer stamps rows 1..5 with its start time, and stays open
  const long = await writer();
  await long.query("BEGIN");
  await long.query(`UPDATE exact_events SET version = version + 1, updated_at = now() WHERE id <= 5`);
  // other writers commit later stamps, while runs go on
  for (let round = 0; round < 3; round++) {
    const other = await writer();
    await other.query(`UPDATE exact_events SET version = version + 1, updated_at = now() WHERE id IN (${10 + round * 3}, ${11 + round * 3}, ${12 + round * 3})`);
    for (const id of [10 + round * 3, 11 + round * 3, 12 + round * 3]) lastChange.set(id, perRun.length - 1);
    await clockPast("exact_events", 1100);
    perRun.push(await runs.run());
  }
  // the long transaction has been open longer than the settle window: only the exact horizon protects its rows
  expect(await openFor(long)).toBeGreaterThan(1000);
  await long.query("COMMIT");
  for (let id = 1; id <= 5; id++) lastChange.set(id, perRun.length - 1);
  // rows that others committed during the long transaction wait for it: none was imported yet
  expect(perRun.slice(1).flat()).toEqual([]);

  await clockPast("exact_events", 1100);
  perRun.push(await runs.run());
  perRun.push(await runs.run()); // nothing changed: nothing imported
  expect(perRun[perRun.length - 1]).toEqual([]);
  expectNothingLostNothingTwice(perRun, lastChange);
  expect(runs.host.logs.filter((l) => l.level === "warning")).toEqual([]);
  expect(runs.host.logs.map((l) => l.message).join("\n")).toMatch(/wait until the transaction of pid \d+ \("horizon-test-writer"\)/);
});

test("fallback (a plain read-only role): rows newer than the settle window wait, and a transaction shorter than the window is not missed", async () => {
  await freshTable("settle_events");
  const WINDOW_S = 8;
  const runs = incrementalRuns(PLAIN_ROLE, { settle_window: String(WINDOW_S) }, "settle_events");
  const perRun: number[][] = [];
  const lastChange = new Map<number, number>();
  perRun.push(await runs.run());

  const long = await writer();
  await long.query("BEGIN");
  await long.query(`UPDATE settle_events SET version = version + 1, updated_at = now() WHERE id <= 5`);
  const other = await writer();
  await other.query(`UPDATE settle_events SET version = version + 1, updated_at = now() WHERE id IN (20, 21, 22)`);
  for (const id of [20, 21, 22]) lastChange.set(id, 0);
  perRun.push(await runs.run());
  // the premise of the fallback: the run came while the writer had been open less than the window
  expect(await openFor(long)).toBeLessThan(WINDOW_S * 1000);
  await long.query("COMMIT");
  for (let id = 1; id <= 5; id++) lastChange.set(id, 1);
  expect(perRun[1]).toEqual([]); // rows newer than the window wait

  await clockPast("settle_events", WINDOW_S * 1000 + 100);
  perRun.push(await runs.run());
  expect(perRun[2].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 20, 21, 22]);
  expectNothingLostNothingTwice(perRun, lastChange);
  const warnings = runs.host.logs.filter((l) => l.level === "warning").map((l) => l.message);
  // once per run, naming the grant that makes it exact
  expect(warnings.filter((w) => w.includes(`GRANT pg_read_all_stats TO "${PLAIN_ROLE}"`)).length).toBe(runs.runs);
});

test("a read-only role with a writer open longer than the settle window: the run's log says so, with its pid and application name", async () => {
  await freshTable("long_events");
  const runs = incrementalRuns(PLAIN_ROLE, { settle_window: "1" }, "long_events");
  await runs.run();
  const long = await writer();
  await long.query("BEGIN");
  await long.query(`UPDATE long_events SET version = version + 1, updated_at = now() WHERE id = 1`);
  const { rows } = await long.query("SELECT pg_backend_pid() AS pid");
  await runs.run(); // sees the writer (it cannot see when it started)
  expect(runs.host.logs.some((l) => l.message.includes(`pid ${rows[0].pid}`))).toBe(false);
  // the writer stays open longer than the window, as this process counts it
  await new Promise((resolve) => setTimeout(resolve, 1200));
  await runs.run();
  const warning = runs.host.logs.find((l) => l.level === "warning" && l.message.includes(`pid ${rows[0].pid}`));
  expect(warning?.message).toMatch(/open longer than the settle window \(1 s\): pid \d+ \("horizon-test-writer"\)/);
  expect(warning?.message).toContain(`GRANT pg_read_all_stats TO "${PLAIN_ROLE}"`);
  await long.query("COMMIT");
});

test("commit_horizon off reads up to the present (the behaviour before the horizon), and a bad value names the option", async () => {
  await freshTable("off_events");
  const runs = incrementalRuns(STATS_ROLE, { commit_horizon: "off" }, "off_events");
  await runs.run();
  await sql(url, `UPDATE off_events SET updated_at = now() WHERE id = 3`);
  expect(await runs.run()).toEqual([3]);
  expect(() => openConnection({ ...adminOptions, commit_horizon: "sometimes" })).toThrow(/App option `commit_horizon` must be one of auto, settle, off/);
  expect(() => openConnection({ ...adminOptions, settle_window: "-1" })).toThrow(/App option `settle_window` must be a whole number/);
});

test("date and timestamp watermarks are compared in their own type: a day is read once it is over, a local timestamp by local time", async () => {
  await sql(
    url,
    `CREATE TABLE daily (id int PRIMARY KEY, day date NOT NULL, local_at timestamp(0) NOT NULL);
     INSERT INTO daily VALUES (1, current_date - 2, localtimestamp - interval '1 hour'), (2, current_date - 1, localtimestamp - interval '1 hour'),
                              (3, current_date, localtimestamp + interval '1 hour'), (4, current_date + 1, localtimestamp - interval '1 hour');`
  );
  // what the horizon allows, asked of the server before and after the run (they differ only across midnight)
  const allowed = async (column: string) =>
    (await sql(url, `SELECT array_agg(id ORDER BY id) AS ids FROM daily WHERE ${column} < (now() - interval '1 second')::${column === "day" ? "date" : "timestamp"}`)).rows[0].ids as number[];
  for (const column of ["day", "local_at"]) {
    const runs = incrementalRuns(STATS_ROLE, {}, "daily", column);
    const before = await allowed(column);
    const ids = (await runs.run()).sort((a, b) => a - b);
    const after = await allowed(column);
    expect([before, after]).toContainEqual(ids);
    // today's rows (and later days, and a local time in the future) are not read yet
    expect(ids).not.toContain(3);
    if (column === "day") expect(ids).not.toContain(4);
    else expect(ids).toContain(4);
  }
});
