import { helper } from "./support/core";
import { freshDatabase, sql, usersAndPurchasesSql } from "./support/db";
import { recordsByKey, runScheduleInCore } from "./support/coreRuns";
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { readyProperty, usersTableSource } = require("./support/coreModels");

// the real @grouparoo/core 0.9.0 runs a schedule over a table with this plugin
helper.grouparooTestServer({ truncate: true, enableTestPlugin: false });

/* eslint-disable @typescript-eslint/no-var-requires */
const core = () => require("@grouparoo/core");

describe("postgres-import-table through the real core 0.9.0", () => {
  let url: string;
  let schedule: { id: string };
  let querySchedule: { id: string };
  let paidTotal: { id: string };
  const USERS = 160;

  beforeAll(async () => {
    const db = await freshDatabase("gpp_core_table");
    url = db.url;
    await sql(url, usersAndPurchasesSql({ users: USERS, nullUntil: 5, tiedUntil: 105, firstName: true, purchases: 400, buyers: 50 }));

    const { Source, Property, Schedule } = core();
    const { app, model, users } = await usersTableSource(core(), db.appOptions);
    const property = (sourceId: string, key: string, type: string, options: Record<string, string>, filters: unknown[] = []) => readyProperty(Property, { sourceId, key, type, options, filters });
    await property(users.id, "email", "email", { column: "email", aggregationMethod: "exact" });
    await property(users.id, "firstName", "string", { column: "first_name", aggregationMethod: "exact" });

    const purchases = await Source.create({ name: "purchases", type: "postgres-import-table", appId: app.id, modelId: model.id });
    await purchases.setOptions({ table: "purchases" });
    await purchases.setMapping({ user_id: "userId" });
    await purchases.update({ state: "ready" });
    await property(purchases.id, "ltv", "float", { column: "amount", aggregationMethod: "sum" });
    await property(purchases.id, "purchaseCount", "integer", { column: "id", aggregationMethod: "count" });
    await property(purchases.id, "lastState", "string", { column: "state", aggregationMethod: "most recent value", sortColumn: "created_at" });
    await property(purchases.id, "refunded", "float", { column: "amount", aggregationMethod: "sum" }, [{ key: "state", op: "eq", match: "refunded" }]);

    // a query source: a property computed by the user's SQL, and a schedule that imports by query
    const query = await Source.create({ name: "queries", type: "postgres-import-query", appId: app.id, modelId: model.id });
    await query.update({ state: "ready" });
    paidTotal = await property(query.id, "paidTotal", "float", { query: "SELECT SUM(amount) FROM purchases WHERE user_id = {{{ userId }}} AND state = 'paid'" });
    querySchedule = await Schedule.create({ name: "recent buyers", sourceId: query.id, recurring: false, incremental: false });
    await querySchedule.setOptions({ query: "SELECT DISTINCT user_id FROM purchases WHERE user_id <= 10 ORDER BY 1 DESC", propertyId: (await Property.findOne({ where: { key: "userId" } })).id });
    await querySchedule.update({ state: "ready" });

    schedule = await Schedule.create({ name: "users by updated_at", sourceId: users.id, recurring: false, incremental: true });
    await schedule.setOptions({ column: "updated_at" });
    await schedule.update({ state: "ready" });
  });

  test("a run imports exactly the table's rows as records, with the right properties", async () => {
    const run = await runScheduleInCore(schedule);
    expect(run.error).toBeNull();
    expect(run.state).toBe("complete");
    expect(run.imports).toBe(USERS);
    const records = await recordsByKey("userId");
    expect(Object.keys(records)).toHaveLength(USERS);
    expect(records["1"]).toMatchObject({ userId: 1, email: "u1@example.com", firstName: "Name1" });

    const expected = await sql(
      url,
      `SELECT user_id, sum(amount)::float8 AS ltv, count(id)::int AS n,
              (array_agg(state ORDER BY created_at DESC))[1] AS last_state,
              coalesce(sum(amount) FILTER (WHERE state = 'refunded'), 0)::float8 AS refunded
         FROM purchases GROUP BY user_id`
    );
    expect(expected.rows).toHaveLength(50);
    const paid = await sql(url, `SELECT user_id, sum(amount)::float8 AS paid FROM purchases WHERE state = 'paid' GROUP BY user_id`);
    for (const row of paid.rows) expect(records[String(row.user_id)].paidTotal).toBe(row.paid);
    for (const row of expected.rows) {
      expect(records[String(row.user_id)]).toMatchObject({ ltv: row.ltv, purchaseCount: row.n, lastState: row.last_state, refunded: row.refunded });
    }
    // ties on the watermark (100 rows) were larger than a batch (50)
    expect(run.batches).toBeGreaterThan(4);
    // a user without purchases: sum and count are 0, most recent has no value
    expect(records["140"]).toMatchObject({ ltv: 0, purchaseCount: 0, lastState: null, paidTotal: null });
    // the query source has no mapping (configured as before batching): one query per record, one task each
    expect(run.propertyTasks[paidTotal.id].single).toBe(USERS);
  });

  test("a second run with no changes imports nothing", async () => {
    const run = await runScheduleInCore(schedule);
    expect(run.error).toBeNull();
    expect(run.imports).toBe(0);
  });

  test("an update is picked up by the next run, and only it", async () => {
    // a stamp in the past: a future one ('2030-01-01') waits below the commit horizon until its time comes
    await sql(url, `UPDATE users SET first_name = 'Updated', updated_at = now() - interval '10 seconds' WHERE id IN (3, 150)`);
    const run = await runScheduleInCore(schedule);
    expect(run.error).toBeNull();
    expect(run.imports).toBe(2);
    const records = await recordsByKey("userId");
    expect(records["3"].firstName).toBe("Updated");
    expect(records["150"].firstName).toBe("Updated");
    expect(records["4"].firstName).toBe("Name4");
    expect(Object.keys(records)).toHaveLength(USERS);
  });

  test("a schedule on the query source imports the records its query returns", async () => {
    const run = await runScheduleInCore(querySchedule);
    expect(run.error).toBeNull();
    expect(run.imports).toBe(10);
  });
});
