// 1000 imports per schedule batch (the core's default), not the 50 of the other core tests
process.env.GROUPAROO_IMPORTS_BATCH_SIZE = "1000";
import { helper } from "./support/core";
import { freshDatabase, sql } from "./support/db";
import { CoreRunResult, runScheduleInCore } from "./support/coreRuns";
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { readyProperty, usersTableSource } = require("./support/coreModels");

// the real @grouparoo/core 0.9.0 computes query properties of a few thousand records with this plugin
helper.grouparooTestServer({ truncate: true, enableTestPlugin: false });

/* eslint-disable @typescript-eslint/no-var-requires */
const core = () => require("@grouparoo/core");

// three batches per property (500, 500 and a partial 200): the core's work per record is most of this
// suite's time, so a few thousand records would add minutes and no case
const USERS = 1200;
const CORE_BATCH = 500; // the core's GROUPAROO_RECORDS_BATCH_SIZE default

/** The batched source's properties: every kind of query a user can write today. */
const QUERIES: { key: string; type: string; isArray?: boolean; query: string }[] = [
  // an aggregate (0 for a record with no rows)
  { key: "purchaseCount", type: "integer", query: "SELECT COUNT(*) FROM purchases WHERE user_id = {{{ userId }}}" },
  // ORDER BY ... LIMIT 1 (no value for a record with no rows)
  { key: "lastState", type: "string", query: "SELECT state FROM purchases WHERE user_id = {{{ userId }}} ORDER BY created_at DESC LIMIT 1" },
  // an array property: every row, in the query's order
  { key: "amounts", type: "float", isArray: true, query: "SELECT amount FROM purchases WHERE user_id = {{{ userId }}} ORDER BY amount DESC, id" },
  // a variable used twice, a numeric and a date variable
  {
    key: "involvedSince",
    type: "integer",
    query: "SELECT COUNT(*) FROM purchases WHERE (user_id = {{{ userId }}} OR referrer_id = {{{ userId }}}) AND amount > {{{ score }}} AND bought_on >= {{{ signup }}}",
  },
  // a text variable that some records lack (their email is NULL)
  { key: "byEmail", type: "integer", query: "SELECT COUNT(*) FROM purchases WHERE buyer_email = '{{{ email }}}'" },
];

interface CoreRecord {
  id: string;
  createdAt: Date;
  updatedAt: Date;
  getProperties(): Promise<Record<string, { values: unknown[] }>>;
}
interface CoreProperty {
  id: string;
  key: string;
  type: string;
  isArray: boolean;
  getOptions(): Promise<Record<string, unknown>>;
}

/** A property's values as the core stores them, compared as plain JSON (no value = [null]). */
function stored(values: unknown[] | undefined): unknown[] {
  return (values ?? [null]).map((v) => (v instanceof Date ? v.toISOString() : v));
}

/** What the plugin's one-record query returned, in the core's terms. */
function asStored(values: unknown[] | undefined, type: string): unknown[] {
  if (values === undefined) return [null];
  return values.map((v) => (type === "integer" || type === "float" ? Number(v) : v));
}

describe("query properties in batches through the real core 0.9.0", () => {
  let url: string;
  let schedule: { id: string };
  let run: CoreRunResult;
  const properties: Record<string, CoreProperty> = {};
  let batchedSource: { id: string; getPlugin(): Promise<{ pluginConnection: { methods: Record<string, (args: unknown) => Promise<unknown>> } }> };
  let app: { getConnection(): Promise<unknown>; getOptions(): Promise<Record<string, unknown>> };

  beforeAll(async () => {
    const db = await freshDatabase("gpp_core_query_batch");
    url = db.url;
    await sql(
      url,
      `CREATE TABLE users (id int PRIMARY KEY, email text, signup date, score numeric(6,2), updated_at timestamptz);
       INSERT INTO users SELECT i, CASE WHEN i % 10 = 0 THEN NULL ELSE 'u' || i || '@example.com' END,
         date '2024-01-01' + (i % 300), (i % 97)::numeric * 2, timestamptz '2024-01-01' + i * interval '1 minute'
         FROM generate_series(1, ${USERS}) i;
       -- the last 200 users have no purchases
       CREATE TABLE purchases (id serial PRIMARY KEY, user_id int, referrer_id int, buyer_email text, amount numeric(10,2),
         state text, created_at timestamptz, bought_on date);
       INSERT INTO purchases (user_id, referrer_id, buyer_email, amount, state, created_at, bought_on)
         SELECT u, CASE WHEN i % 3 = 0 THEN 1 + (i * 31) % ${USERS} END, 'u' || u || '@example.com', (i % 250) + 0.5,
           CASE i % 4 WHEN 0 THEN 'refunded' WHEN 1 THEN 'paid' ELSE 'pending' END,
           timestamptz '2024-01-01' + i * interval '17 minutes', date '2024-01-01' + (i % 400)
         FROM generate_series(1, ${USERS * 4}) i, LATERAL (SELECT 1 + (i * 7919) % ${USERS - 200} AS u) AS pick;`
    );

    const { Source, Property, Schedule } = core();
    const created = await usersTableSource(core(), db.appOptions);
    app = created.app;
    const { model, users } = created;
    const property = (sourceId: string, key: string, type: string, options: Record<string, string>, isArray = false) => readyProperty(Property, { sourceId, key, type, options, isArray });
    await property(users.id, "email", "string", { column: "email", aggregationMethod: "exact" });
    await property(users.id, "signup", "date", { column: "signup", aggregationMethod: "exact" });
    await property(users.id, "score", "float", { column: "score", aggregationMethod: "exact" });

    // opted in: the query source maps to the model's primary key
    const batched = await Source.create({ name: "batched queries", type: "postgres-import-query", appId: created.app.id, modelId: model.id });
    await batched.setMapping({ id: "userId" });
    await batched.update({ state: "ready" });
    for (const q of QUERIES) properties[q.key] = await property(batched.id, q.key, q.type, { query: q.query }, q.isArray ?? false);
    batchedSource = batched;

    schedule = await Schedule.create({ name: "users", sourceId: users.id, recurring: false, incremental: false });
    await schedule.setOptions({ column: "updated_at" });
    await schedule.update({ state: "ready" });

    run = await runScheduleInCore(schedule);
  }, 1800000);

  test("the run imports every user", async () => {
    expect(run.error).toBeNull();
    expect(run.imports).toBe(USERS);
    const { GrouparooRecord } = core();
    expect(await GrouparooRecord.count()).toBe(USERS);
  });

  test("a mapped query source's properties run as batch tasks of up to 500 records, none one record at a time", () => {
    const batchesPerProperty = Math.ceil(USERS / CORE_BATCH);
    for (const q of QUERIES) {
      const tasks = run.propertyTasks[properties[q.key].id];
      expect({ key: q.key, single: tasks.single }).toEqual({ key: q.key, single: 0 });
      expect(tasks.batches).toBeGreaterThanOrEqual(batchesPerProperty);
      // a record whose dependencies were not ready yet is retried in a later batch: a few more at most
      expect(tasks.batches).toBeLessThanOrEqual(batchesPerProperty + 2);
    }
  });

  test("every record's batched value equals the value of the query run for that record alone", async () => {
    const { GrouparooRecord } = core();
    const { pluginConnection } = await batchedSource.getPlugin();
    const connection = await app.getConnection();
    const appOptions = await app.getOptions();
    const records = (await GrouparooRecord.findAll()) as CoreRecord[];
    expect(records).toHaveLength(USERS);
    const mismatches: unknown[] = [];
    const seen: Record<string, Set<string>> = {};
    for (const record of records) {
      const values = await record.getProperties();
      // the record as the plugin sees it in a one-record task (its properties read once here)
      const alone = { id: record.id, createdAt: record.createdAt, updatedAt: record.updatedAt, getProperties: async () => values };
      for (const q of QUERIES) {
        const property = properties[q.key];
        const single = (await pluginConnection.methods.recordProperty({
          connection,
          appOptions,
          sourceMapping: { id: "userId" },
          property,
          propertyOptions: await property.getOptions(),
          propertyFilters: [],
          record: alone,
        })) as unknown[] | undefined;
        const expected = asStored(single, q.type);
        const actual = stored(values[q.key]?.values);
        (seen[q.key] ??= new Set()).add(JSON.stringify(actual));
        if (JSON.stringify(actual) !== JSON.stringify(expected)) mismatches.push({ userId: values.userId.values[0], key: q.key, actual, expected });
      }
    }
    expect(mismatches.slice(0, 5)).toEqual([]);
    // the values differ between records (a comparison of constants would prove nothing)
    for (const q of QUERIES) expect({ key: q.key, distinct: seen[q.key].size > 1 }).toEqual({ key: q.key, distinct: true });
  }, 600000);

  test("records with no rows and records missing a variable get no value", async () => {
    const { GrouparooRecord } = core();
    const byUser = new Map<number, Record<string, { values: unknown[] }>>();
    for (const record of (await GrouparooRecord.findAll()) as CoreRecord[]) {
      const values = await record.getProperties();
      byUser.set(values.userId.values[0] as number, values);
    }
    // users without purchases: COUNT is 0, ORDER BY ... LIMIT 1 and the array have no value
    const none = byUser.get(USERS)!;
    expect(stored(none.purchaseCount.values)).toEqual([0]);
    expect(stored(none.lastState.values)).toEqual([null]);
    expect(stored(none.amounts.values)).toEqual([null]);
    // users whose email is NULL lack {{{ email }}}: no value, where a COUNT would otherwise give a number
    const withoutEmail = [...byUser.values()].filter((v) => v.email.values[0] === null);
    expect(withoutEmail).toHaveLength(USERS / 10);
    for (const v of withoutEmail) expect(stored(v.byEmail.values)).toEqual([null]);
    expect(stored(byUser.get(1)!.byEmail.values)).toEqual([Number((await sql(url, "SELECT COUNT(*) FROM purchases WHERE buyer_email = 'u1@example.com'")).rows[0].count)]);
    // and an array property holds every row in the query's order
    const amounts = await sql(url, "SELECT amount::float8 AS a FROM purchases WHERE user_id = 7 ORDER BY amount DESC, id");
    expect(stored(byUser.get(7)!.amounts.values)).toEqual(amounts.rows.map((r) => r.a));
  });
});
