import { Client } from "pg";
import { helper } from "./support/core";
import { freshDatabase, sql } from "./support/db";
import { recordsByKey, runCoreTimers, runScheduleInCore } from "./support/coreRuns";
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { readyProperty, usersTableSource } = require("./support/coreModels");

// Through the real @grouparoo/core 0.9.0: a row committed late by a long transaction is imported by
// a later run; a row deleted at the source removes its record (confirmRecords); a key inserted again
// comes back as a new record.
helper.grouparooTestServer({ truncate: true, enableTestPlugin: false });

/* eslint-disable @typescript-eslint/no-var-requires */
const core = () => require("@grouparoo/core");

const USERS = 60;
let url: string;
let schedule: { id: string };
const writers: Client[] = [];

beforeAll(async () => {
  const db = await freshDatabase("gpp_core_horizon");
  url = db.url;
  await sql(
    url,
    `CREATE TABLE users (id int PRIMARY KEY, first_name text, updated_at timestamptz NOT NULL);
     INSERT INTO users SELECT i, 'Name' || i, now() - interval '1 hour' - i * interval '1 second' FROM generate_series(1, ${USERS}) i;`
  );
  const { Property, Schedule } = core();
  const { users } = await usersTableSource(core(), { ...db.appOptions, settle_window: "1" });
  await readyProperty(Property, { sourceId: users.id, key: "firstName", type: "string", options: { column: "first_name", aggregationMethod: "exact" } });
  schedule = await Schedule.create({ name: "users by updated_at", sourceId: users.id, recurring: false, incremental: true, confirmRecords: true });
  await schedule.setOptions({ column: "updated_at" });
  await schedule.update({ state: "ready" });
});

afterAll(async () => {
  for (const writer of writers) await writer.end().catch(() => {});
});

async function clockPast(ms: number): Promise<void> {
  for (;;) {
    const { rows } = await sql(url, `SELECT now() > max(updated_at) + $1::interval AS past FROM users`, [`${ms} milliseconds`]);
    if (rows[0].past) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The core's timers after a run (confirm, property imports, the destroy sweeps), as its workers run them. */
const coreTimers = () => runCoreTimers();

test("a long transaction's rows, committed after others' later stamps were imported, reach their records", async () => {
  const first = await runScheduleInCore(schedule);
  expect(first.error).toBeNull();
  expect(first.imports).toBe(USERS);
  await coreTimers();

  const long = new Client({ connectionString: url, application_name: "core-horizon-writer" });
  await long.connect();
  writers.push(long);
  await long.query("BEGIN");
  await long.query(`UPDATE users SET first_name = 'Long', updated_at = now() WHERE id IN (1, 2)`);
  await sql(url, `UPDATE users SET first_name = 'Quick', updated_at = now() WHERE id IN (30, 31)`);
  await clockPast(1100);
  const during = await runScheduleInCore(schedule); // the quick writer's rows wait for the long one
  expect(during.error).toBeNull();
  expect(during.imports).toBe(0);
  await long.query("COMMIT");
  await clockPast(1100);
  const after = await runScheduleInCore(schedule);
  expect(after.error).toBeNull();
  expect(after.imports).toBe(4);
  await coreTimers();
  const records = await recordsByKey("userId");
  expect([records["1"].firstName, records["2"].firstName, records["30"].firstName, records["31"].firstName]).toEqual(["Long", "Long", "Quick", "Quick"]);
  expect(records["3"].firstName).toBe("Name3");
  expect(Object.keys(records)).toHaveLength(USERS);
});

test("a row deleted at the source removes its record (confirmRecords); the key inserted again is a new record", async () => {
  const { GrouparooRecord } = core();
  const before = await recordsByKey("userId");
  const { rows } = await sql(url, `SELECT count(*)::int AS n FROM users`);
  expect(Object.keys(before)).toHaveLength(rows[0].n);
  const seven = await GrouparooRecord.findOne({ include: [{ association: "recordProperties", where: { rawValue: "7" } }] });
  expect(seven).not.toBeNull();

  await sql(url, `DELETE FROM users WHERE id = 7`);
  const run = await runScheduleInCore(schedule);
  expect(run.error).toBeNull();
  expect(run.imports).toBe(0);
  await coreTimers();
  const after = await recordsByKey("userId");
  expect(after["7"]).toBeUndefined();
  expect(Object.keys(after)).toHaveLength(USERS - 1);
  expect(await GrouparooRecord.findByPk(seven.id)).toBeNull();
  expect(after["8"].firstName).toBe("Name8");

  await sql(url, `INSERT INTO users VALUES (7, 'Again', now())`);
  await clockPast(1100);
  const again = await runScheduleInCore(schedule);
  expect(again.error).toBeNull();
  expect(again.imports).toBe(1);
  await coreTimers();
  const back = await recordsByKey("userId");
  expect(back["7"].firstName).toBe("Again");
  expect(Object.keys(back)).toHaveLength(USERS);
  const newSeven = await GrouparooRecord.findOne({ include: [{ association: "recordProperties", where: { rawValue: "7" } }] });
  expect(newSeven.id).not.toBe(seven.id);
});
