import { postgresQueryConnection } from "../src/connections/queryImport";
import { PostgresConnection, openConnection, queryDialectFor } from "../src/postgres";
import type { HostRecord } from "../src/templates/host";
import { FakeHost, fakeRecord } from "./support/fakeHost";
import { freshDatabase, sql } from "./support/db";

// The plugin connects as the server's superuser here: nothing but binding and the read-only
// transaction stands between these values and the canary.
const host = new FakeHost();
const query = postgresQueryConnection(host);
let url: string;
let appOptions: Record<string, string>;
let connection: PostgresConnection;

const CANARY = [
  { id: 1, name: "alpha" },
  { id: 2, name: "beta's" },
  { id: 3, name: "gamma" },
];

const binaryish = Array.from({ length: 255 }, (_, i) => String.fromCharCode(i + 1)).join(""); // every byte but NUL
const HOSTILE: string[] = [
  "O'Brien",
  "x'; DROP TABLE canary; --",
  "'); DELETE FROM canary; --",
  "' OR '1'='1",
  "1 OR 1=1",
  "'",
  "''",
  "'''",
  "\\",
  "\\'",
  "\\'; DROP TABLE canary; --",
  "%_\\",
  "50% off_sale\\n",
  "-- a comment",
  "/* a comment",
  "*/ DROP TABLE canary; /*",
  ";",
  "; DELETE FROM canary;",
  "'; SET default_transaction_read_only = off; DELETE FROM canary; --",
  "$$",
  "$$; DROP TABLE canary; $$",
  "$q$ x $q$",
  "$1",
  "$1; DROP TABLE canary",
  "{{ other }}",
  "{{{ v }}}",
  "{{#section}}x{{/section}}",
  '"',
  '"; DROP TABLE canary; --',
  "E'\\x41'",
  "U&'\\0041'",
  "' || (SELECT string_agg(name, ',') FROM canary) || '",
  "x'; CREATE TABLE pwned (id int); --",
  "NULL",
  "",
  "   ",
  "line1\nline2\r\n\ttab\u000b\f",
  "🦄👩‍👩‍👧‍👦 emoji",
  "مرحبا بالعالم \u202Eevil\u202C ‏",
  "e\u0301 zero\u200Bwidth \uFEFF bom",
  "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \u{10FFFF}",
  "\\x00 \\u0000 not a NUL",
  binaryish,
  "a'b\\c;".repeat(16667).slice(0, 100000),
];

/** templates that must return exactly the value, or the value wrapped as shown */
const ROUND_TRIPS: [string, (v: string) => string][] = [
  ["SELECT '{{{ v }}}' AS v", (v) => v],
  ["SELECT '{{ v }}' AS v", (v) => v],
  ["SELECT {{ v }}::text AS v", (v) => v],
  ["SELECT '{{ v }}'::varchar AS v", (v) => v],
  ["SELECT E'{{ v }}' AS v", (v) => v],
  ["SELECT $q${{ v }}$q$ AS v", (v) => v],
  ["SELECT '%{{ v }}%' AS v", (v) => `%${v}%`],
  ["SELECT E'\\t[{{ v }}]\\'' AS v", (v) => `\t[${v}]'`],
  ["SELECT $$<{{ v }}>$$ AS v", (v) => `<${v}>`],
  ["SELECT /* {{ v }} */ {{ v }} AS v -- {{ v }}", (v) => v],
  ["SELECT email FROM people WHERE email = '{{{ email }}}'", (v) => v],
  ["SELECT email FROM people WHERE email = {{ email }} AND '{{ v }}' = email", (v) => v],
];

const property = { id: "prp_v", key: "v", type: "string", isArray: false };
const recordFor = (value: string, id = "rec") => fakeRecord(id, { v: [value], email: [value] });

async function valueOf(template: string, record: HostRecord, isArray = false) {
  return query.methods.recordProperty({ connection, appOptions, property: { ...property, isArray }, propertyOptions: { query: template }, record });
}

/** what a template does: its values, or its error message */
async function attempt(template: string): Promise<string> {
  try {
    return JSON.stringify(await valueOf(template, recordFor("x")));
  } catch (error) {
    return `error: ${(error as Error).message}`;
  }
}

async function canaryRows() {
  return (await sql(url, "SELECT id, name FROM canary ORDER BY id")).rows;
}

beforeAll(async () => {
  ({ url, appOptions } = await freshDatabase("gpp_query_injection"));
  await sql(url, "CREATE TABLE canary (id int PRIMARY KEY, name text NOT NULL)");
  for (const row of CANARY) await sql(url, "INSERT INTO canary VALUES ($1, $2)", [row.id, row.name]);
  await sql(url, "CREATE TABLE people (id serial PRIMARY KEY, email text NOT NULL)");
  for (const value of HOSTILE) await sql(url, "INSERT INTO people (email) VALUES ($1)", [value]);
  await sql(url, "CREATE TABLE companies (id int PRIMARY KEY, name text, limit_x int)");
  await sql(url, "INSERT INTO companies VALUES (1, 'Acme Inc', 10), (2, 'Inc Corp', 20), (3, 'Other', 30)");
  await sql(url, "CREATE SEQUENCE counter");
  connection = openConnection(appOptions);
});

afterAll(async () => {
  await connection?.close();
});

test("the corpus is large and has no duplicates", () => {
  expect(HOSTILE.length).toBeGreaterThanOrEqual(30);
  expect(new Set(HOSTILE).size).toBe(HOSTILE.length);
  expect(HOSTILE.some((v) => v.length === 100000)).toBe(true);
  expect(HOSTILE.some((v) => v.includes("\u0000"))).toBe(false);
});

describe.each(ROUND_TRIPS)("%s", (template, expected) => {
  test("every hostile value round-trips unchanged", async () => {
    for (const value of HOSTILE) {
      const result = await valueOf(template, recordFor(value));
      if (result?.[0] !== expected(value)) {
        throw new Error(`${JSON.stringify(value.slice(0, 80))} came back as ${JSON.stringify(result)?.slice(0, 200)}`);
      }
    }
  });
});

test("each record of a batch binds its own value", async () => {
  const records = HOSTILE.map((value, i) => recordFor(value, `rec_${i}`));
  const values = await Promise.all(
    records.map((record) =>
      query.methods.recordProperty({
        connection,
        appOptions,
        property,
        propertyOptions: { query: "SELECT id FROM people WHERE email = '{{{ email }}}'" },
        record,
      })
    )
  );
  const ids = (await sql(url, "SELECT id, email FROM people")).rows as { id: number; email: string }[];
  HOSTILE.forEach((value, i) => {
    expect(values[i]).toEqual([ids.find((r) => r.email === value)?.id]);
  });
});

describe("queries are one read-only statement", () => {
  test("several statements are refused, by the plugin and by the server", async () => {
    expect(await attempt("SELECT 1; DROP TABLE canary")).toMatch(/^error: Property option `query` is wrong .*one statement/);
    expect(await attempt("SELECT 1; DROP TABLE canary;")).toMatch(/one statement/);
    // the server refuses it as well, whatever the plugin's lexer thinks
    await expect(queryDialectFor({ connection, appOptions }).runUserQuery("SELECT 1; DROP TABLE canary", [])).rejects.toThrow(/cannot insert multiple commands/);
  });

  test.each([
    "DELETE FROM canary",
    "UPDATE canary SET name = 'x'",
    "INSERT INTO canary VALUES (9, 'x')",
    "TRUNCATE canary",
    "DROP TABLE canary",
    "CREATE TABLE pwned (id int)",
    "WITH d AS (DELETE FROM canary RETURNING id) SELECT count(*) FROM d",
    "SELECT * FROM canary FOR UPDATE",
    "SELECT nextval('counter')",
    "DO $$BEGIN SET LOCAL transaction_read_only = off; DELETE FROM canary; END$$",
  ])("a write fails: %s", async (template) => {
    // refused by the plugin when it is no query, by the server when it is one (FOR UPDATE, nextval)
    expect(await attempt(template)).toMatch(
      /^error: Property option `query` (is wrong \(property "v"\): (\w+ is not a query|its WITH clause holds a data-modifying DELETE)|failed for property "v": .*read-only transaction)/
    );
    // and the server refuses it too, when the plugin's check is bypassed (the dialect runs it as given)
    await expect(queryDialectFor({ connection, appOptions }).runUserQuery(template, [])).rejects.toThrow(/read-only transaction|read-write mode must be set before any query/);
    expect(await canaryRows()).toEqual(CANARY);
  });

  test.each([
    "SET default_transaction_read_only = off",
    "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
    "SELECT set_config('default_transaction_read_only', 'off', false)",
    "SET TRANSACTION READ WRITE",
    "COMMIT",
    "RESET ALL",
  ])("turning read-only off does not outlive its call: %s, then a write", async (template) => {
    await attempt(template);
    await queryDialectFor({ connection, appOptions }).runUserQuery(template, []).catch(() => undefined);
    await expect(queryDialectFor({ connection, appOptions }).runUserQuery("DELETE FROM canary", [])).rejects.toThrow(/read-only transaction/);
    expect(await attempt("SELECT current_setting('transaction_read_only') AS ro")).toBe('["on"]');
  });
});

describe("ordinary SQL that the original plugin broke", () => {
  test("LIKE '%Inc%' next to a variable", async () => {
    const record = fakeRecord("r", { minimum: [0] });
    expect(await valueOf("SELECT count(*)::int FROM companies WHERE name LIKE '%Inc%' AND limit_x > {{ minimum }}", record)).toEqual([2]);
  });

  test("-- inside a string literal, and a column named limit_x", async () => {
    const record = fakeRecord("r", { id: [2] });
    expect(await valueOf("SELECT 'a -- b' || name AS v FROM companies WHERE id = {{ id }}", record)).toEqual(["a -- bInc Corp"]);
    expect(await valueOf("SELECT limit_x FROM companies WHERE id = '{{ id }}'", record)).toEqual([20]);
    expect(await valueOf("SELECT limit_x FROM companies ORDER BY limit_x LIMIT 2", record, true)).toEqual([10, 20]);
  });
});

test("after everything, the canary is intact and nothing was created", async () => {
  expect(await canaryRows()).toEqual(CANARY);
  const tables = await sql(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename");
  expect(tables.rows.map((r) => r.tablename)).toEqual(["canary", "companies", "people"]);
  expect((await sql(url, "SELECT count(*)::int AS n FROM people")).rows[0].n).toBe(HOSTILE.length);
  expect((await sql(url, "SELECT last_value::int AS n, is_called FROM counter")).rows[0]).toEqual({ n: 1, is_called: false });
});
