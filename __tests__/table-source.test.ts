import { postgresTableConnection } from "../src/connections/tableImport";
import { forProfileEra } from "../src/connections/profileEra";
import { openConnection, PostgresConnection } from "../src/postgres";
import { freshDatabase, sql } from "./support/db";
import { FakeHost, fakeRecord } from "./support/fakeHost";
import { runSchedule } from "./support/runs";

const host = new FakeHost();
const { importedRecords: imports, messages: logs } = host;
const table = postgresTableConnection(host);
const m = table.methods;
// the same connection as a profile-era core (0.5.1) sees it; its methods take 0.5's shapes
type CoreMethod = (args: Record<string, unknown>) => Promise<unknown>;
const profileEra = forProfileEra(table).methods as Record<string, CoreMethod>;
let url: string;
let appOptions: Record<string, string>;
let connection: PostgresConnection;

const TIE = "2024-03-01 12:00:00.123456+00";
const TABLE = 'Mixed "Case" Tåble';

beforeAll(async () => {
  ({ url, appOptions } = await freshDatabase("gpp_table"));
  await sql(
    url,
    `CREATE TYPE mood AS ENUM ('happy', 'sad');
     CREATE TABLE users (
       id int PRIMARY KEY, email text, first_name text, country text, score numeric(10,2), big int8,
       updated_at timestamptz, tags text[], meta jsonb, uid uuid, feeling mood, active boolean, signup date);
     INSERT INTO users
       SELECT i, 'user' || i || '@example.com', 'Name' || i, CASE WHEN i % 3 = 0 THEN 'US' ELSE 'NZ' END,
              i * 1.5, CASE WHEN i = 1 THEN 9007199254740993 ELSE i END,
              CASE WHEN i <= 30 THEN NULL                            -- NULL watermarks
                   WHEN i <= 2530 THEN timestamptz '${TIE}'          -- 2,500 rows share one value
                   ELSE timestamptz '2024-01-01' + i * interval '1 second' END,
              ARRAY['t' || (i % 2), 'all'], jsonb_build_object('i', i), md5(i::text)::uuid,
              CASE WHEN i % 2 = 0 THEN 'happy'::mood ELSE 'sad'::mood END, i % 2 = 0, date '2024-01-01' + i
         FROM generate_series(1, 4000) AS i;
     CREATE VIEW nz_users AS SELECT * FROM users WHERE country = 'NZ';
     CREATE MATERIALIZED VIEW user_counts AS SELECT country, count(*) FROM users GROUP BY country;
     CREATE TABLE empty_table (a int, "B" text);
     CREATE TABLE purchases (id serial PRIMARY KEY, user_id int, amount numeric(10,2), status text, created_at timestamptz);
     INSERT INTO purchases (user_id, amount, status, created_at) VALUES
       (1, 10.00, 'paid', '2024-01-01'), (1, 20.50, 'paid', '2024-02-01'), (1, 5.00, 'refunded', '2024-03-01'),
       (2, 7.25, '50%_off', '2024-01-05'), (2, 1.00, '50 off', '2024-01-06'), (0, 3.00, 'paid', '2024-01-07'),
       (3, NULL, 'paid', '2024-01-08');
     CREATE TABLE "${TABLE.replace(/"/g, '""')}" ("ID" int, "Updated At" timestamptz, "名前" text, "e""mail" text);
     INSERT INTO "${TABLE.replace(/"/g, '""')}" SELECT i, timestamptz '2024-01-01' + (i / 10) * interval '1 day', '名' || i, 'x' || i || '@ex.com' FROM generate_series(1, 55) i;
     CREATE TABLE keyed (k text, flag boolean, n int);
     INSERT INTO keyed VALUES ('', false, 0), ('a', true, 1);`
  );
  connection = openConnection(appOptions);
});

afterAll(() => connection.close());

const args = (tableName: string, mapping: Record<string, string> = { id: "userId" }) => ({
  connection,
  appOptions,
  sourceOptions: { table: tableName },
  sourceMapping: mapping,
});

function importedIds(key = "userId") {
  return imports.map((row) => row[key]);
}

function expectEachOnce(ids: unknown[], expected: unknown[]) {
  expect(new Set(ids).size).toBe(ids.length); // no duplicates
  expect([...ids].sort()).toEqual([...expected].sort());
}

describe("discovery", () => {
  test("tables, views and materialized views of the schema, sorted, as a typeahead", async () => {
    const options = await m.sourceOptions({ connection, appOptions });
    expect(options.table.type).toBe("typeahead");
    expect(options.table.options).toEqual([TABLE, "empty_table", "keyed", "nz_users", "purchases", "user_counts", "users"]);
    expect(options.table.descriptions).toEqual(["table", "table", "table", "view", "table", "materialized view", "table"]);
  });

  test("a preview of 10 rows, and the columns of an empty table", async () => {
    const rows = await m.sourcePreview(args("users"));
    expect(rows).toHaveLength(10);
    expect(Object.keys(rows[0])).toEqual(["id", "email", "first_name", "country", "score", "big", "updated_at", "tags", "meta", "uid", "feeling", "active", "signup"]);
    expect(await m.sourcePreview(args("empty_table"))).toEqual([{ a: null, B: null }]);
  });

  test("filters offer the operations each type allows", async () => {
    const filters = await m.sourceFilters(args("users"));
    const ops = Object.fromEntries(filters.map((f) => [f.key, f.ops]));
    expect(ops.id).toEqual(expect.arrayContaining(["eq", "ne", "gt", "gte", "lt", "lte", "in", "exists", "notExists"]));
    expect(ops.email).toEqual(expect.arrayContaining(["substring", "notSubstring", "eq", "in"]));
    expect(ops.updated_at).toEqual(expect.arrayContaining(["gt", "lt", "exists"]));
    expect(ops.updated_at).not.toContain("substring");
    expect(ops.uid).toEqual(["eq", "ne", "in", "exists", "notExists"]);
    expect(ops.feeling).toEqual(["eq", "ne", "in", "exists", "notExists"]);
    expect(ops.tags).toEqual(["eq", "ne", "exists", "notExists"]);
    expect(ops.active).toEqual(["eq", "ne", "exists", "notExists"]);
  });

  test("schedule options offer only columns that can be a high watermark", async () => {
    const [option] = await m.scheduleOptions();
    const choices = await option.options(args("users"));
    expect(choices.map((c) => c.key)).toEqual(["id", "score", "big", "updated_at", "signup"]);
  });

  test("property options: columns with examples, the eight aggregations, a sort column where needed", async () => {
    const options = await m.propertyOptions({ propertyOptions: {} });
    expect(options.map((o) => o.key)).toEqual(["column", "aggregationMethod"]);
    const columns = await options[0].options(args("users"));
    expect(columns[1]).toMatchObject({ key: "email", examples: ["user1@example.com", "user2@example.com", "user3@example.com"] });
    const aggregations = await options[1].options(args("users"));
    expect(aggregations.map((a) => a.key)).toEqual(["exact", "average", "count", "sum", "min", "max", "most recent value", "least recent value"]);
    const recent = await m.propertyOptions({ propertyOptions: { aggregationMethod: "most recent value" } });
    expect(recent.find((o) => o.key === "sortColumn")).toMatchObject({ required: true });
  });

  test("uniquePropertyBootstrapOptions maps the key column exactly", async () => {
    expect(await m.uniquePropertyBootstrapOptions({ mappedColumn: "id" })).toEqual({ column: "id", aggregationMethod: "exact" });
  });
});

describe("import runs", () => {
  beforeEach(() => imports.splice(0));

  test("an incremental run imports every row exactly once, ties larger than a batch and NULL watermarks included", async () => {
    const first = await runSchedule(m.importRecords, args("users"), { incremental: true, column: "updated_at", limit: 1000 });
    expectEachOnce(importedIds(), Array.from({ length: 4000 }, (_, i) => i + 1));
    expect(first.batches.slice(0, 1)).toEqual([30]); // the NULL-watermark rows first
    expect(first.highWaterMark).toEqual({ updated_at: TIE, "@after:id": "2530", "@nullsAfter:id": "30" });

    imports.splice(0);
    const second = await runSchedule(m.importRecords, args("users"), { incremental: true, column: "updated_at", previous: first.highWaterMark });
    expect(imports).toHaveLength(0);
    expect(second.highWaterMark).toEqual(first.highWaterMark);

    await sql(url, `UPDATE users SET updated_at = '2025-01-01', first_name = 'Changed' WHERE id IN (7, 2000)`);
    await sql(url, `INSERT INTO users (id, email) VALUES (5000, 'nulls@example.com')`); // a new NULL-watermark row
    const third = await runSchedule(m.importRecords, args("users"), { incremental: true, column: "updated_at", previous: second.highWaterMark });
    expectEachOnce(importedIds(), [7, 2000, 5000]);
    imports.splice(0);
    await runSchedule(m.importRecords, args("users"), { incremental: true, column: "updated_at", previous: third.highWaterMark });
    expect(imports).toHaveLength(0);
    await sql(url, `DELETE FROM users WHERE id = 5000; UPDATE users SET updated_at = NULL WHERE id = 7`);
  });

  test("ties are walked by key with small batches too", async () => {
    await runSchedule(m.importRecords, args("users"), { incremental: true, column: "updated_at", limit: 7 , filters: [{ key: "id", op: "lte", match: "100" }] });
    expectEachOnce(importedIds(), Array.from({ length: 100 }, (_, i) => i + 1));
  });

  test("a schedule that is not incremental walks the whole table by key, every run", async () => {
    for (let run = 0; run < 2; run++) {
      imports.splice(0);
      const { batches } = await runSchedule(m.importRecords, args("users"), { incremental: false, column: "updated_at", limit: 1500 });
      expect(batches).toEqual([1500, 1500, 1000, 0]);
      expectEachOnce(importedIds(), Array.from({ length: 4000 }, (_, i) => i + 1));
    }
  });

  test("a non-unique mapping column: a full walk imports each key once, however the pages fall", async () => {
    await runSchedule(m.importRecords, args("purchases", { user_id: "userId" }), { incremental: false, column: "created_at", limit: 2 });
    expectEachOnce(importedIds(), [0, 1, 2, 3]);
  });

  test("schedule filters are applied", async () => {
    await runSchedule(m.importRecords, args("users"), {
      incremental: true,
      column: "updated_at",
      filters: [{ key: "country", op: "eq", match: "US" }, { key: "id", op: "lt", match: "100" }],
    });
    expectEachOnce(importedIds(), Array.from({ length: 33 }, (_, i) => (i + 1) * 3));
  });

  test("a profile-era schedule (no `incremental` flag, long filter names) continues from the watermark, NULL-watermark rows first", async () => {
    const call = { ...args("users"), schedule: { id: "sch_05" }, scheduleOptions: { column: "updated_at" }, scheduleFilters: [{ key: "id", op: "less than or equal to", match: "40" }], run: { id: "run_05" }, limit: 1000, highWaterMark: {}, sourceOffset: 0 };
    const first = (await profileEra.profiles(call)) as { importsCount: number; highWaterMark: Record<string, unknown>; sourceOffset: string };
    expect(first.importsCount).toBe(30);
    expect(JSON.parse(first.sourceOffset).p).toBe("n");
    expect(first.highWaterMark).toEqual({ "@nullsAfter:id": "30" });
    expectEachOnce(importedIds(), Array.from({ length: 30 }, (_, i) => i + 1));
    const percent = await profileEra.sourceRunPercentComplete({ ...call, run: { id: "run_05", highWaterMark: first.highWaterMark, sourceOffset: first.sourceOffset } });
    expect(percent).toBeGreaterThanOrEqual(0);
    expect(percent).toBeLessThan(100);
  });

  test("a high watermark written by the original plugin is accepted: rows at or after it are imported", async () => {
    await runSchedule(m.importRecords, args("users"), { incremental: true, column: "updated_at", previous: { updated_at: "2024-01-01 01:06:30+00" } });
    // the 30 NULL-watermark rows are imported once (the original could not store them), then 3990..4000 and the ties
    const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
    expectEachOnce(importedIds(), [...range(1, 30), ...range(3990, 4000), ...range(31, 2530)]);
  });

  test("quoted, mixed-case and unicode identifiers work everywhere", async () => {
    const a = args(TABLE, { ID: "id" });
    await runSchedule(m.importRecords, a, { incremental: true, column: "Updated At", limit: 4 });
    expectEachOnce(importedIds("id"), Array.from({ length: 55 }, (_, i) => i + 1));
    const filters = await m.sourceFilters(a);
    expect(filters.map((f) => f.key)).toEqual(["ID", "Updated At", "名前", 'e"mail']);
    const values = await m.recordProperty({
      ...a,
      property: { id: "p", key: "email" },
      propertyOptions: { column: 'e"mail', aggregationMethod: "exact" },
      propertyFilters: [{ key: "名前", op: "substring", match: "名1" }],
      record: fakeRecord("r1", { id: [12] }),
    });
    expect(values).toEqual(["x12@ex.com"]);
  });

  test("the position is kept in sourceOffset within 191 characters, and the high watermark stays readable JSON", async () => {
    const first = await m.importRecords({
      ...args("users"),
      schedule: { incremental: false },
      scheduleOptions: { column: "updated_at" },
      scheduleFilters: [],
      run: {},
      limit: 10,
      highWaterMark: {},
      sourceOffset: 0,
    });
    expect(first).toEqual({ importsCount: 10, highWaterMark: {}, sourceOffset: '{"p":"k","n":10,"a":["10"]}' });
  });

  test("percent complete comes from an estimate and moves with the run", async () => {
    const a = { ...args("users"), schedule: { incremental: false }, scheduleOptions: { column: "updated_at" }, scheduleFilters: [] };
    expect(await m.sourceRunPercentComplete({ ...a, run: { sourceOffset: "0" } })).toBe(0);
    await sql(url, "ANALYZE users");
    const half = await m.sourceRunPercentComplete({ ...a, run: { sourceOffset: '{"p":"k","n":2000,"a":["2000"]}' } });
    expect(half).toBeGreaterThan(35);
    expect(half).toBeLessThan(65);
  });
});

describe("bad input gets a clear error that names the option", () => {
  const base = { schedule: { incremental: true }, scheduleFilters: [], run: {}, limit: 10, highWaterMark: {}, sourceOffset: 0 };
  test("a missing table option, a table that does not exist, a watermark column that does not exist or cannot serve", async () => {
    await expect(m.sourcePreview({ ...args("users"), sourceOptions: {} })).resolves.toEqual([]);
    await expect(m.sourceFilters({ ...args("users"), sourceOptions: {} })).rejects.toThrow("Source option `table` is required");
    await expect(m.sourcePreview(args("nope"))).rejects.toThrow('Source option `table` is wrong: table or view "nope" does not exist in schema "public"');
    await expect(m.importRecords({ ...args("users"), ...base, scheduleOptions: { column: "nope" } })).rejects.toThrow(
      'Schedule option `column` is wrong: column "nope" does not exist in table "users"'
    );
    await expect(m.importRecords({ ...args("users"), ...base, scheduleOptions: { column: "email" } })).rejects.toThrow(
      "Schedule option `column` cannot serve as a high watermark"
    );
    await expect(m.importRecords({ ...args("users", { nope: "userId" }), ...base, scheduleOptions: { column: "id" } })).rejects.toThrow(
      'Source option `mapping` is wrong: column "nope" does not exist'
    );
  });

  test("a malformed filter", async () => {
    const opts = { ...args("users"), ...base, scheduleOptions: { column: "id" } };
    await expect(m.importRecords({ ...opts, scheduleFilters: [{ key: "email", op: "between", match: "a" }] })).rejects.toThrow('Schedule option `filters` has an unknown operation "between"');
    await expect(m.importRecords({ ...opts, scheduleFilters: [{ key: "active", op: "gt", match: "a" }] })).rejects.toThrow('Schedule option `filters` cannot use "gt" on column "active" of type boolean');
    await expect(m.importRecords({ ...opts, scheduleFilters: [{ key: "email", op: "eq" }] })).rejects.toThrow('needs a value to match for "eq" on "email"');
  });

  test("a property column that does not exist, and most recent value without a sort column", async () => {
    const record = fakeRecord("r", { userId: [1] });
    const p = { ...args("purchases", { user_id: "userId" }), property: { id: "p", key: "x" }, record };
    await expect(m.recordProperty({ ...p, propertyOptions: { column: "nope", aggregationMethod: "sum" } })).rejects.toThrow('Property option `column` is wrong: column "nope" does not exist in table "purchases"');
    await expect(m.recordProperty({ ...p, propertyOptions: { column: "amount", aggregationMethod: "most recent value" } })).rejects.toThrow("Property option `sortColumn` is required");
    await expect(m.recordProperty({ ...p, propertyOptions: { column: "amount", aggregationMethod: "median" } })).rejects.toThrow("Property option `aggregationMethod` must be one of");
  });
});

describe("properties", () => {
  const purchases = () => args("purchases", { user_id: "userId" });
  const records = [fakeRecord("r0", { userId: [0] }), fakeRecord("r1", { userId: [1] }), fakeRecord("r2", { userId: [2] }), fakeRecord("r3", { userId: [3] }), fakeRecord("r9", { userId: [9] }), fakeRecord("rx", {})];

  async function valuesOf(options: Record<string, string>, filters: { key: string; op: string; match?: unknown }[] = [], isArray = false) {
    const result = await m.recordProperties({
      ...purchases(),
      properties: [{ id: "p", key: "prop", isArray }],
      propertyOptions: { p: options },
      propertyFilters: { p: filters },
      records,
    });
    return Object.fromEntries(records.map((r) => [r.id, result[r.id].p]));
  }

  test("all eight aggregation methods, for a non-unique mapping column (key 0 is a real key)", async () => {
    expect(await valuesOf({ column: "amount", aggregationMethod: "sum" })).toEqual({ r0: [3], r1: [35.5], r2: [8.25], r3: [0], r9: [0], rx: undefined });
    expect(await valuesOf({ column: "amount", aggregationMethod: "count" })).toEqual({ r0: [1], r1: [3], r2: [2], r3: [0], r9: [0], rx: undefined });
    expect(await valuesOf({ column: "amount", aggregationMethod: "average" })).toMatchObject({ r1: [11.833333333333334], r2: [4.125], r9: undefined });
    expect(await valuesOf({ column: "amount", aggregationMethod: "min" })).toMatchObject({ r1: [5], r2: [1] });
    expect(await valuesOf({ column: "amount", aggregationMethod: "max" })).toMatchObject({ r1: [20.5], r2: [7.25] });
    expect(await valuesOf({ column: "status", aggregationMethod: "most recent value", sortColumn: "created_at" })).toMatchObject({ r1: ["refunded"], r2: ["50 off"], r9: undefined });
    expect(await valuesOf({ column: "status", aggregationMethod: "least recent value", sortColumn: "created_at" })).toMatchObject({ r1: ["paid"], r2: ["50%_off"] });
    expect(await valuesOf({ column: "amount", aggregationMethod: "exact", sortColumn: "created_at" })).toMatchObject({ r1: [10], r2: [7.25], r3: undefined });
    expect(await valuesOf({ column: "created_at", aggregationMethod: "max" })).toMatchObject({ r1: [new Date("2024-03-01T00:00:00Z")] });
  });

  test("filters with every operation; % and _ in contains are literal", async () => {
    const sum = (filters: { key: string; op: string; match?: unknown }[]) => valuesOf({ column: "amount", aggregationMethod: "sum" }, filters);
    expect((await sum([{ key: "status", op: "eq", match: "paid" }])).r1).toEqual([30.5]);
    expect((await sum([{ key: "status", op: "ne", match: "paid" }])).r1).toEqual([5]);
    expect((await sum([{ key: "amount", op: "gt", match: "10" }])).r1).toEqual([20.5]);
    expect((await sum([{ key: "amount", op: "gte", match: "10" }])).r1).toEqual([30.5]);
    expect((await sum([{ key: "amount", op: "lt", match: "10" }])).r1).toEqual([5]);
    expect((await sum([{ key: "amount", op: "lte", match: "10" }])).r1).toEqual([15]);
    expect((await sum([{ key: "status", op: "substring", match: "%_" }])).r2).toEqual([7.25]);
    expect((await sum([{ key: "status", op: "substring", match: "PAI" }])).r1).toEqual([30.5]);
    expect((await sum([{ key: "status", op: "notSubstring", match: "%_" }])).r2).toEqual([1]);
    expect((await sum([{ key: "status", op: "in", match: "refunded,50 off" }])).r1).toEqual([5]);
    expect((await sum([{ key: "created_at", op: "gte", match: String(Date.parse("2024-02-01T00:00:00Z")) }])).r1).toEqual([25.5]);
    expect((await sum([{ key: "created_at", op: "exists" }])).r1).toEqual([35.5]);
    expect((await sum([{ key: "created_at", op: "notExists" }])).r1).toEqual([0]);
    // the profile-era names of the same operations (read by the era adapter: the builder knows 0.9's only)
    const profileEraSum = await profileEra.profileProperties({
      ...purchases(),
      property: { id: "p", key: "prop" },
      propertyOptions: { column: "amount", aggregationMethod: "sum" },
      propertyFilters: [{ key: "status", op: "does not equal", match: "paid" }],
      profiles: records.map((r) => ({ id: r.id, properties: () => r.getProperties() })),
    });
    expect((profileEraSum as Record<string, unknown>).r1).toEqual([5]);
  });

  test("array properties take every value, in sort order", async () => {
    expect((await valuesOf({ column: "status", aggregationMethod: "exact", sortColumn: "created_at" }, [], true)).r1).toEqual(["paid", "paid", "refunded"]);
  });

  test("typed values: int8 beyond 2^53 stays exact as a string, numeric as numbers, dates as strings, arrays and enums", async () => {
    const one = (column: string, isArray = false) =>
      m.recordProperty({ ...args("users"), property: { id: "p", key: column, isArray }, propertyOptions: { column, aggregationMethod: "exact" }, record: fakeRecord("r", { userId: [1] }) });
    expect(await one("big")).toEqual(["9007199254740993"]);
    expect(await one("score")).toEqual([1.5]);
    expect(await one("signup")).toEqual(["2024-01-02"]);
    expect(await one("tags", true)).toEqual(["t1", "all"]);
    expect(await one("feeling")).toEqual(["sad"]);
    expect(await one("meta")).toEqual(['{"i": 1}']);
    expect(await one("uid")).toEqual(["c4ca4238-a0b9-2382-0dcc-509a6f75849b"]);
    expect(await one("active")).toEqual([false]);
  });

  test('mapped keys whose value is 0, false or "" are real keys', async () => {
    const keyed = (column: string, value: unknown) =>
      m.recordProperty({ ...args("keyed", { [column]: "key" }), property: { id: "p", key: "n" }, propertyOptions: { column: "n", aggregationMethod: "exact" }, record: fakeRecord("r", { key: [value] }) });
    expect(await keyed("k", "")).toEqual([0]);
    expect(await keyed("flag", false)).toEqual([0]);
    expect(await keyed("n", 0)).toEqual([0]);
  });

  test("several properties of a batch in one call", async () => {
    const result = await m.recordProperties({
      ...args("users"),
      properties: [{ id: "e", key: "email" }, { id: "c", key: "country" }],
      propertyOptions: { e: { column: "email", aggregationMethod: "exact" }, c: { column: "country", aggregationMethod: "exact" } },
      propertyFilters: { e: [], c: [] },
      records: [fakeRecord("a", { userId: [3] }), fakeRecord("b", { userId: [4] })],
    });
    expect(result).toEqual({ a: { e: ["user3@example.com"], c: ["US"] }, b: { e: ["user4@example.com"], c: ["NZ"] } });
  });

  test("nothing was logged as a failure", () => {
    expect(logs.filter((l) => /error/i.test(l))).toEqual([]);
  });
});
