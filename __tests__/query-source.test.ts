import { postgresQueryConnection } from "../src/connections/queryImport";
import { PostgresConnection, PostgresQueryDialect, openConnection } from "../src/postgres";
import { buildQueryConnection } from "../src/templates/query";
import { SOURCE_OFFSET_MAX } from "../src/templates/cursor";
import type { HostProperty, HostRecord, ImportRecordsResult } from "../src/templates/host";
import { FakeHost, fakeRecord } from "./support/fakeHost";
import { freshDatabase, sql } from "./support/db";
import { errorOf } from "./support/failures";
import { runSchedule as driveSchedule } from "./support/runs";

let host: FakeHost;
let query: ReturnType<typeof postgresQueryConnection>;
let url: string;
let appOptions: Record<string, string>;
let connection: PostgresConnection;

const scalar: HostProperty = { id: "prp_total", key: "total", type: "float", isArray: false };
const list: HostProperty = { id: "prp_tags", key: "tags", type: "string", isArray: true };
const userId: HostProperty = { id: "prp_user_id", key: "userId", type: "integer", isArray: false };
const email: HostProperty = { id: "prp_email", key: "email", type: "email", isArray: false };
const properties = [userId, email, scalar, list];

const ann = fakeRecord("rec_ann", { userId: [1], email: ["ann@example.com"] });
const bob = fakeRecord("rec_bob", { userId: [2], email: ["bob@example.com"] });
const anonymous = fakeRecord("rec_anon", { email: ["anon@example.com"] });

function propertyValue(template: string, record: HostRecord, property: HostProperty = scalar) {
  return query.methods.recordProperty({ connection, appOptions, property, propertyOptions: { query: template }, record });
}

beforeAll(async () => {
  ({ url, appOptions } = await freshDatabase("gpp_query_source"));
  await sql(
    url,
    `CREATE TABLE purchases (id serial PRIMARY KEY, user_id int, amount numeric(10,2), created_at timestamptz);
     INSERT INTO purchases (user_id, amount, created_at) VALUES
       (1, 10.50, '2024-01-01'), (1, 4.50, '2024-02-01'), (2, 100, '2024-03-01'), (3, 1, '2024-03-02');
     CREATE TABLE tags (user_id int, tag text);
     INSERT INTO tags VALUES (1, 'vip'), (1, 'early'), (2, 'new');
     CREATE TABLE accounts (id int PRIMARY KEY, email text, active boolean);
     INSERT INTO accounts
       SELECT i, CASE WHEN i % 7 = 0 THEN NULL ELSE 'user' || (i % 11) || '@example.com' END, i % 3 <> 0
       FROM generate_series(1, 53) AS i;`
  );
  connection = openConnection(appOptions);
});

beforeEach(() => {
  host = new FakeHost();
  query = postgresQueryConnection(host);
});

afterAll(async () => {
  await connection?.close();
});

describe("the connection", () => {
  test("is an import connection without incremental schedules or source options", async () => {
    expect(query).toMatchObject({ name: "postgres-import-query", direction: "import", apps: ["postgres"], supportIncrementalSchedule: false, options: [] });
    expect(Object.keys(query.methods).sort()).toEqual(["importRecords", "propertyOptions", "recordProperties", "recordProperty", "scheduleOptions"]);
  });

  test("a property has one option, the query; a schedule has the query and the property its first column fills", async () => {
    const [option] = await query.methods.propertyOptions();
    expect(option).toMatchObject({ key: "query", type: "textarea", required: true });
    expect(option.description).toContain("{{{ userId }}}");
    expect(await option.options({ connection, appOptions })).toEqual([]);

    const [queryOption, propertyOption] = await query.methods.scheduleOptions();
    expect(queryOption).toMatchObject({ key: "query", type: "textarea", required: true });
    expect(propertyOption).toMatchObject({ key: "propertyId", type: "list", required: true });
    expect(await propertyOption.options({ connection, appOptions, properties })).toEqual([
      { key: "prp_user_id", description: "userId (integer)" },
      { key: "prp_email", description: "email (email)" },
      { key: "prp_total", description: "total (float)" },
      { key: "prp_tags", description: "tags (string)" },
    ]);
  });
});

describe("a query property", () => {
  test("a scalar property takes the first row's first column", async () => {
    expect(await propertyValue("SELECT SUM(amount) AS total FROM purchases WHERE user_id = {{{ userId }}}", ann)).toEqual([15]);
    expect(await propertyValue("SELECT amount, id FROM purchases WHERE user_id = '{{ userId }}' ORDER BY created_at DESC", ann)).toEqual([4.5]);
    expect(await propertyValue("SELECT created_at FROM purchases WHERE user_id = {{ userId }} ORDER BY created_at", bob)).toEqual([new Date("2024-03-01T00:00:00Z")]);
  });

  test("an array property takes every row's first column (an array column gives its elements)", async () => {
    expect(await propertyValue("SELECT tag FROM tags WHERE user_id = {{ userId }} ORDER BY tag", ann, list)).toEqual(["early", "vip"]);
    expect(await propertyValue("SELECT array_agg(tag ORDER BY tag) FROM tags WHERE user_id = {{ userId }}", ann, list)).toEqual(["early", "vip"]);
  });

  test("no rows, or a NULL, is no value", async () => {
    const nobody = fakeRecord("rec_x", { userId: [99] });
    expect(await propertyValue("SELECT amount FROM purchases WHERE user_id = {{ userId }}", nobody)).toBeUndefined();
    expect(await propertyValue("SELECT SUM(amount) FROM purchases WHERE user_id = {{ userId }}", nobody)).toBeUndefined();
    expect(await propertyValue("SELECT tag FROM tags WHERE user_id = {{ userId }}", nobody, list)).toBeUndefined();
  });

  test("record dates and the time of the call are variables too", async () => {
    const record = fakeRecord("rec_d", { userId: [1] }, { createdAt: new Date("2024-01-15T12:00:00Z") });
    expect(await propertyValue("SELECT count(*)::int FROM purchases WHERE user_id = {{ userId }} AND created_at < '{{ createdAt.sql }}'::timestamptz", record)).toEqual([1]);
    expect(await propertyValue("SELECT '{{ createdAt.date }}'::date < '{{ now.date }}'::date", record)).toEqual([true]);
  });

  test("a record without a variable gets no value, without an error, and the log names the variable", async () => {
    expect(await propertyValue("SELECT SUM(amount) FROM purchases WHERE user_id = {{{ userId }}} AND {{ email }} <> ''", anonymous)).toBeUndefined();
    expect(host.logs).toHaveLength(1);
    expect(host.logs[0].message).toBe('postgres-import-query: record rec_anon gets no value for property "total": the query uses {{ userId }}, which has no value here');
  });

  test("a statement error names the problem, and never the password", async () => {
    const missingColumn = await errorOf(propertyValue("SELECT nope FROM purchases WHERE user_id = {{ userId }}", ann));
    expect(missingColumn.message).toMatch(/^Property option `query` failed for property "total": column "nope" does not exist/);
    const syntax = await errorOf(propertyValue("SELECT amount FROM FROM purchases", ann));
    expect(syntax.message).toMatch(/syntax error at or near "FROM"/);
    // a statement that is no query never reaches the server
    expect((await errorOf(propertyValue("SELEC amount FROM purchases", ann))).message).toMatch(/^Property option `query` is wrong \(property "total"\): SELEC is not a query/);
    const echoed = await errorOf(propertyValue(`SELECT '${appOptions.password}'::int`, ann));
    expect(echoed.message).toMatch(/invalid input syntax for type integer/);
    for (const error of [missingColumn, syntax, echoed]) {
      expect(error.message).not.toContain(appOptions.password);
      expect(error.message).not.toContain("postgresql://");
    }
  });

  test("when the database says where the error is, the message points into the user's query", async () => {
    // the server's position is in the statement sent ($1...), not in the template the user wrote
    const dialect = new PostgresQueryDialect({
      queryUserSql: async (statement: string) => {
        throw Object.assign(new Error('column "nope" does not exist'), { position: String(statement.indexOf("nope") + 1) });
      },
    } as never);
    const stubbed = buildQueryConnection({ name: "q", displayName: "q", description: "q", apps: ["postgres"], dialect: () => dialect, host });
    const template = "SELECT amount\n     , '%{{ email }}%', nope FROM purchases WHERE user_id = {{ userId }}";
    const run = (property: HostProperty) =>
      stubbed.methods.recordProperty({ connection, appOptions, property, propertyOptions: { query: template }, record: ann });
    await expect(run(scalar)).rejects.toThrow('Property option `query` failed for property "total": column "nope" does not exist (at line 2, column 25 of the query)');
    // paging wraps the statement in a subquery: the dialect re-bases the position onto the user's SQL
    const paged = await errorOf(dialect.pageUserQuery("SELECT id,\n nope FROM t", [], undefined, 10));
    expect((paged as Error & { position?: number }).position).toBe(13);
  });

  test("a query that cannot be bound, or returns no usable first column, is an error naming the option", async () => {
    await expect(propertyValue(`SELECT "{{ column }}" FROM purchases`, ann)).rejects.toThrow(/^Property option `query` is wrong \(property "total"\): a mustache variable inside the quoted identifier/);
    await expect(propertyValue("SELECT 1 WHERE {{#admin}}1{{/admin}}", ann)).rejects.toThrow(/sections, inverted sections and partials/);
    await expect(propertyValue("  ", ann)).rejects.toThrow('Property option `query` is required (property "total")');
    await expect(propertyValue("SELECT p.id, t.user_id AS id FROM purchases p, tags t LIMIT 1", ann)).rejects.toThrow(/first column's name "id" appears twice/);
    await expect(propertyValue("SELECT array_agg(tag) FROM tags", ann)).rejects.toThrow(/is an array, but the property is not/);
  });
});

describe("a schedule query", () => {
  /** Runs a whole schedule run, batch by batch, as the core does; returns the batches' results. */
  async function runSchedule(scheduleQuery: string, limit: number, propertyId = email.id, between?: (batch: number) => Promise<void>) {
    const results: ImportRecordsResult[] = [];
    const run = await driveSchedule(query.methods.importRecords, { connection, appOptions, properties }, {
      incremental: false,
      scheduleOptions: { query: scheduleQuery, propertyId },
      runId: "run_1",
      limit,
      maxBatches: 1000,
      async onBatch(result, batch) {
        results.push(result);
        expect(result.highWaterMark).toEqual({});
        expect(typeof result.sourceOffset).toBe("string");
        expect(result.sourceOffset.length).toBeLessThanOrEqual(SOURCE_OFFSET_MAX);
        if (result.importsCount > 0 && between) await between(batch);
      },
    });
    if (run.capped) throw new Error("the run did not end");
    return results;
  }

  /** the distinct non-null first-column values of a query, as text */
  async function expectedValues(statement: string): Promise<string[]> {
    const { rows, fields } = await sql(url, statement);
    const values = rows.map((r) => r[fields[0].name]).filter((v) => v !== null);
    return [...new Set(values.map(String))].sort();
  }

  const imported = () => host.importedValues().map(String);

  test("pages a query with more rows than the limit, repeated values and NULLs: every value once, then 0 ends the run", async () => {
    const results = await runSchedule("SELECT email, id FROM accounts", 4);
    const expected = await expectedValues("SELECT email FROM accounts");
    expect(expected.length).toBe(11);
    expect([...imported()].sort()).toEqual(expected);
    expect(new Set(imported()).size).toBe(imported().length);
    expect(results[results.length - 1].importsCount).toBe(0);
    expect(results.slice(0, -1).every((r) => r.importsCount > 0)).toBe(true);
    expect(host.imports.every((i) => JSON.stringify(i.mapping) === JSON.stringify({ email: "email" }) && (i.run as { id: string }).id === "run_1")).toBe(true);
  });

  test.each([
    ["its own ORDER BY and LIMIT", "SELECT id FROM accounts WHERE active ORDER BY email DESC NULLS LAST, id LIMIT 17"],
    ["a CTE and a trailing semicolon", "WITH active AS (SELECT id, email FROM accounts WHERE active)\nSELECT id, email FROM active;"],
    ["a trailing comment", "SELECT user_id FROM purchases -- every buyer"],
    ["ties in its first column", "SELECT p.user_id, p.amount FROM purchases p JOIN purchases q ON q.user_id = p.user_id"],
    ["LIKE '%...%' and a column named limit_x", "SELECT id AS limit_x FROM accounts WHERE email LIKE '%user1%'"],
  ])("a query with %s imports every first-column value exactly once", async (_, statement) => {
    await runSchedule(statement, 5, userId.id);
    const expected = await expectedValues(statement);
    expect(expected.length).toBeGreaterThan(0);
    expect([...imported()].sort()).toEqual(expected);
    expect(imported().length).toBe(expected.length);
  });

  test("rows deleted or added behind the cursor do not shift the pages (no OFFSET)", async () => {
    await sql(url, "CREATE TABLE moving AS SELECT i AS id FROM generate_series(10, 39) AS i");
    await runSchedule("SELECT id FROM moving", 6, userId.id, async (batch) => {
      if (batch === 0) await sql(url, "DELETE FROM moving WHERE id < 16; INSERT INTO moving VALUES (0), (1), (99)");
    });
    // ordered by text: 10..15 first; 0 and 1 sort before them, behind the cursor, and wait for the next
    // run; 99 is ahead and comes in this one; the deleted 10..15 were read already, nothing is skipped
    const all = [...Array.from({ length: 30 }, (_, i) => String(i + 10)), "99"].sort();
    expect([...imported()].sort()).toEqual(all);
  });

  test("each run walks the whole query again", async () => {
    await runSchedule("SELECT id FROM accounts WHERE id <= 10", 3, userId.id);
    await runSchedule("SELECT id FROM accounts WHERE id <= 10", 3, userId.id);
    expect(imported().length).toBe(20);
  });

  test("propertyId is required and must name a property (by id, or by key in config files)", async () => {
    const run = (propertyId: string | undefined) =>
      query.methods.importRecords({ connection, appOptions, scheduleOptions: { query: "SELECT id FROM accounts", propertyId }, properties, run: {}, limit: 5, sourceOffset: 0 });
    await expect(run(undefined)).rejects.toThrow("Schedule option `propertyId` is required: choose the property that the query's first column fills");
    await expect(run("prp_nope")).rejects.toThrow('Schedule option `propertyId` is wrong: no property "prp_nope" in this model (properties: userId (prp_user_id), email (prp_email)');
    expect((await run("userId")).importsCount).toBe(5);
    expect(host.imports[0].mapping).toEqual({ id: "userId" });
  });

  test("a schedule query with variables, several statements or an error fails clearly", async () => {
    const run = (statement: string) =>
      query.methods.importRecords({ connection, appOptions, scheduleOptions: { query: statement, propertyId: userId.id }, properties, run: {}, limit: 5, sourceOffset: 0 });
    await expect(run("SELECT id FROM accounts WHERE id > {{ minimum }}")).rejects.toThrow("Schedule option `query` cannot use variables ({{ minimum }}): a schedule query runs for no record; remove them");
    await expect(run("SELECT id FROM accounts; DROP TABLE accounts")).rejects.toThrow(/^Schedule option `query` is wrong: the query must be one statement/);
    await expect(run("SELECT nope FROM accounts")).rejects.toThrow(/^Schedule option `query` failed: column "nope" does not exist/);
    await expect(run("")).rejects.toThrow("Schedule option `query` is required");
    await expect(run("DELETE FROM accounts RETURNING id")).rejects.toThrow(/^Schedule option `query` is wrong: DELETE is not a query/);
    expect(host.imports).toEqual([]);
  });

  test("a first column too long to be kept in the sourceOffset fails before importing", async () => {
    const error = await errorOf(runSchedule("SELECT repeat('x', 300) AS k", 5, userId.id));
    expect(error.message).toMatch(/^Schedule option `query` cannot be paged: the value "x{40}\.\.\." of its first column "k" \(300 characters\) does not fit the core's 191-character sourceOffset/);
    expect(host.imports).toEqual([]);
  });
});
