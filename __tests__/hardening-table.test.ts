import { buildPostgresApp } from "../src/app/postgresApp";
import { postgresTableConnection } from "../src/connections/tableImport";
import { postgresQueryConnection } from "../src/connections/queryImport";
import { openConnection, PostgresConnection } from "../src/postgres";
import { testApp } from "./support/app";
import { freshDatabase, sql } from "./support/db";
import { FakeHost, fakeRecord } from "./support/fakeHost";
import { runSchedule } from "./support/runs";

/**
 * The table source against hostile objects and inputs, on a real server: an operator planted in
 * public (CVE-2018-1058) is never called by the plugin's own SQL; inputs that used to fail with
 * the driver's or JavaScript's message (a switched schedule's position, an epoch out of range, NUL
 * bytes, a batch size of Infinity, whitespace in the schema) fail naming the option, or just work.
 */

const host = new FakeHost();
const { importedRecords: imports } = host;
const table = postgresTableConnection(host);
const query = postgresQueryConnection(host);
const m = table.methods;
let url: string;
let appOptions: Record<string, string>;
let connection: PostgresConnection;

const SCHEMA = "tab\tand\nnewline schema";

beforeAll(async () => {
  ({ url, appOptions } = await freshDatabase("gpp_hardening_table"));
  await sql(
    url,
    `CREATE TABLE accounts (code varchar PRIMARY KEY, email varchar, updated_at timestamptz, signup date, amount int);
     INSERT INTO accounts SELECT 'a' || lpad(i::text, 3, '0'), 'user' || i || '@example.com',
                                 CASE WHEN i <= 3 THEN NULL ELSE timestamptz '2024-01-01' + i * interval '1 hour' END,
                                 date '2024-01-01' + i, i
                            FROM generate_series(1, 25) i;
     ANALYZE accounts;
     CREATE SCHEMA "${SCHEMA.replace(/"/g, '""')}";
     CREATE TABLE "${SCHEMA.replace(/"/g, '""')}".things (id int PRIMARY KEY, label text);
     INSERT INTO "${SCHEMA.replace(/"/g, '""')}".things VALUES (1, 'one'), (2, 'two');
     -- what a role allowed to create in public can plant: operators that fit varchar better than
     -- pg_catalog's text operators do. If the plugin's SQL ever resolves one, the statement fails.
     CREATE FUNCTION public.hostile(a varchar, b varchar) RETURNS boolean LANGUAGE plpgsql IMMUTABLE
       AS $$ BEGIN RAISE EXCEPTION 'hostile operator called'; END $$;
     CREATE OPERATOR public.= (LEFTARG = varchar, RIGHTARG = varchar, FUNCTION = public.hostile);
     CREATE OPERATOR public.<> (LEFTARG = varchar, RIGHTARG = varchar, FUNCTION = public.hostile);
     CREATE OPERATOR public.> (LEFTARG = varchar, RIGHTARG = varchar, FUNCTION = public.hostile);
     CREATE OPERATOR public.>= (LEFTARG = varchar, RIGHTARG = varchar, FUNCTION = public.hostile);
     CREATE OPERATOR public.< (LEFTARG = varchar, RIGHTARG = varchar, FUNCTION = public.hostile);
     CREATE OPERATOR public.<= (LEFTARG = varchar, RIGHTARG = varchar, FUNCTION = public.hostile);`
  );
  connection = openConnection(appOptions);
});

afterAll(() => connection.close());

const args = (tableName = "accounts", mapping: Record<string, string> = { code: "code" }) => ({
  connection,
  appOptions,
  sourceOptions: { table: tableName },
  sourceMapping: mapping,
});
const batch = (overrides: Record<string, unknown> = {}) => ({
  ...args(),
  schedule: { incremental: false },
  scheduleOptions: { column: "updated_at" },
  scheduleFilters: [],
  run: {},
  limit: 10,
  highWaterMark: {},
  sourceOffset: 0 as string | number,
  ...overrides,
});

describe("the plugin's own SQL never calls an operator planted in public", () => {
  test("keyset pages (full and incremental), filters on varchar, property values, previews and EXPLAIN", async () => {
    imports.length = 0;
    await runSchedule(m.importRecords, args(), { incremental: false, limit: 4, filters: [{ key: "email", op: "ne", match: "nobody" }] });
    expect(imports).toHaveLength(25);
    imports.length = 0;
    await runSchedule(m.importRecords, args(), { incremental: true, column: "updated_at", limit: 4, filters: [{ key: "code", op: "gte", match: "a010" }] });
    expect(imports.map((r) => r.code).sort()).toEqual(Array.from({ length: 16 }, (_, i) => `a${String(i + 10).padStart(3, "0")}`));

    const filters = [
      { key: "email", op: "eq", match: "user7@example.com" },
      { key: "code", op: "in", match: "a007,a008" },
      { key: "code", op: "lt", match: "a100" },
      { key: "code", op: "lte", match: "a100" },
      { key: "code", op: "gt", match: "a000" },
    ];
    const value = await m.recordProperty({
      ...args(),
      property: { id: "p", key: "email" },
      propertyOptions: { column: "email", aggregationMethod: "exact" },
      propertyFilters: filters,
      record: fakeRecord("r", { code: ["a007"] }),
    });
    expect(value).toEqual(["user7@example.com"]);
    const batched = await m.recordProperties({
      ...args(),
      properties: [{ id: "p", key: "amount" }],
      propertyOptions: { p: { column: "amount", aggregationMethod: "most recent value", sortColumn: "updated_at" } },
      propertyFilters: { p: [] },
      records: [fakeRecord("r1", { code: ["a001"] }), fakeRecord("r2", { code: ["a002"] })],
    });
    expect(batched).toEqual({ r1: { p: [1] }, r2: { p: [2] } });
    expect(await m.sourcePreview(args())).toHaveLength(10);
    const percent = await m.sourceRunPercentComplete({ ...batch({ scheduleFilters: filters }), run: { sourceOffset: '{"p":"k","n":1,"a":["a001"]}' } });
    expect(percent).toBeGreaterThanOrEqual(0);
  });

  test("user SQL still gets the App's schema and public; the plugin's sessions search pg_catalog only", async () => {
    const record = fakeRecord("r", {});
    const property = { id: "p", key: "path", isArray: false };
    expect(await query.methods.recordProperty({ connection, appOptions, property, propertyOptions: { query: "SELECT current_setting('search_path')" }, record })).toEqual([expect.stringMatching(/^"?public"?$/)]);
    const { rows } = await connection.query("SELECT current_setting('search_path') AS path");
    expect(rows[0].path).toMatch(/^pg_catalog, ?pg_temp$/);
  });
});

describe("errors that name the option", () => {
  test("a position from an incremental walk handed to a full one (schedule switched mid-run) restarts the walk", async () => {
    const incremental = await m.importRecords(batch({ schedule: { incremental: true }, limit: 2 }));
    expect(JSON.parse(String(incremental.sourceOffset)).p).toBe("n");
    imports.length = 0;
    const full = await m.importRecords(batch({ schedule: { incremental: false }, limit: 5, sourceOffset: incremental.sourceOffset }));
    expect(full.importsCount).toBe(5);
    expect(imports.map((r) => r.code)).toEqual(["a001", "a002", "a003", "a004", "a005"]);
    // and the other way round: a full walk's position handed to an incremental one
    const back = await m.importRecords(batch({ schedule: { incremental: true }, limit: 5, sourceOffset: full.sourceOffset }));
    expect(JSON.parse(String(back.sourceOffset)).p).toBe("n");
    expect(await m.sourceRunPercentComplete({ ...batch({ schedule: { incremental: true } }), run: { sourceOffset: full.sourceOffset } })).toBe(0);
  });

  test("a date filter with an epoch out of range names the filter, not RangeError", async () => {
    await expect(m.importRecords(batch({ scheduleFilters: [{ key: "signup", op: "gt", match: "99999999999999999999" }] }))).rejects.toThrow(
      /the filter on column "signup" has the date "99999999999999999999" \(epoch milliseconds\), which is out of range/
    );
  });

  test("NUL bytes: in the table name, a filter value, database, user and application_name", async () => {
    await expect(m.sourcePreview(args("acc\u0000ounts"))).rejects.toThrow("Source option `table` contains a NUL character");
    await expect(m.importRecords(batch({ scheduleFilters: [{ key: "email", op: "eq", match: "a\u0000b" }] }))).rejects.toThrow(
      /the filter on column "email" has a value with a NUL character/
    );
    await expect(m.importRecords(batch({ scheduleFilters: [{ key: "email", op: "substring", match: "a\u0000b" }] }))).rejects.toThrow(
      /the filter on column "email" has a value with a NUL character/
    );
    const app = buildPostgresApp(() => {});
    for (const option of ["database", "user", "application_name", "host", "password"]) {
      const given = { ...appOptions, [option]: `${appOptions[option] ?? "x"}\u0000tail` };
      await expect(testApp(app, given)).rejects.toThrow(`App option \`${option}\` contains a NUL character`);
    }
  });

  test("a batch size (`limit`) of Infinity or 2.5 is refused naming limit, for table and query schedules", async () => {
    for (const limit of [Infinity, 2.5, -3, "ten"]) {
      await expect(m.importRecords(batch({ limit }))).rejects.toThrow(/the batch size `limit` must be a whole number of rows/);
      await expect(
        query.methods.importRecords({ connection, appOptions, scheduleOptions: { query: "SELECT code FROM accounts", propertyId: "code" }, properties: [{ id: "code", key: "code" }], run: {}, limit, sourceOffset: 0 })
      ).rejects.toThrow(/the batch size `limit` must be a whole number of rows/);
    }
  });

  test("a schema holding a tab, a newline and a space works for table and query sources (it never enters the startup options)", async () => {
    const options = { ...appOptions, schema: SCHEMA };
    const inSchema = openConnection(options);
    try {
      const a = { connection: inSchema, appOptions: options, sourceOptions: { table: "things" }, sourceMapping: { id: "id" } };
      expect((await m.sourceOptions({ connection: inSchema, appOptions: options })).table.options).toEqual(["things"]);
      expect(await m.sourcePreview(a)).toEqual([{ id: 1, label: "one" }, { id: 2, label: "two" }]);
      const value = await query.methods.recordProperty({
        connection: inSchema,
        appOptions: options,
        property: { id: "p", key: "label", isArray: false },
        propertyOptions: { query: "SELECT label FROM things WHERE id = {{ id }}" },
        record: fakeRecord("r", { id: [2] }),
      });
      expect(value).toEqual(["two"]);
    } finally {
      await inSchema.close();
    }
  });
});
