import { postgresQueryConnection } from "../src/connections/queryImport";
import { PostgresConnection, openConnection } from "../src/postgres";
import type { HostProperty, HostRecord, PropertyValues } from "../src/templates/host";
import { FakeHost, fakeRecord } from "./support/fakeHost";
import { freshDatabase, sql } from "./support/db";
import { errorOf } from "./support/failures";

// recordProperties of the query source against a real Postgres: the same values as recordProperty
// per record, and a fall-back for what cannot be batched (the core-level test is core-query-batch)

let host: FakeHost;
let query: ReturnType<typeof postgresQueryConnection>;
let appOptions: Record<string, string>;
let connection: PostgresConnection;
const MAPPING = { id: "userId" };

const scalar: HostProperty = { id: "prp_value", key: "value", type: "string", isArray: false };
const list: HostProperty = { id: "prp_values", key: "values", type: "string", isArray: true };

/** records as core 0.9 hands them over: the mapped primary key is unique */
function record(id: string, properties: Record<string, unknown[]>): HostRecord {
  const plain = fakeRecord(id, properties);
  return {
    ...plain,
    getProperties: async () => {
      const p = (await plain.getProperties()) as Record<string, { values: unknown[]; unique?: boolean }>;
      if (p.userId) p.userId.unique = true;
      return p;
    },
  };
}

const records = [
  record("rec_1", { userId: [1], email: ["ann@example.com"], since: [new Date("2024-01-15T00:00:00Z")], minimum: [5] }),
  record("rec_2", { userId: [2], email: ["bob@example.com"], since: [new Date("2024-03-01T00:00:00Z")], minimum: [50.5] }),
  record("rec_3", { userId: [3], email: ["o'brien@example.com"], since: [new Date("2023-01-01T00:00:00Z")], minimum: [0] }),
  record("rec_4", { userId: [4] }), // lacks email, since and minimum; has no purchases
];

async function batched(template: string, property: HostProperty = scalar, mapping: Record<string, string> = MAPPING) {
  const out = await query.methods.recordProperties({
    connection,
    appOptions,
    sourceMapping: mapping,
    properties: [property],
    propertyOptions: { [property.id]: { query: template } },
    propertyFilters: { [property.id]: [] },
    records,
  });
  return Object.fromEntries(records.map((r) => [r.id, out[r.id]?.[property.id]]));
}

async function alone(template: string, property: HostProperty = scalar) {
  const out: Record<string, PropertyValues> = {};
  for (const r of records) out[r.id] = await query.methods.recordProperty({ connection, appOptions, property, propertyOptions: { query: template }, record: r });
  return out;
}

beforeAll(async () => {
  let url: string;
  ({ url, appOptions } = await freshDatabase("gpp_query_batch"));
  await sql(
    url,
    `CREATE TABLE purchases (id serial PRIMARY KEY, user_id int, buyer text, amount numeric(10,2), bought_on date);
     INSERT INTO purchases (user_id, buyer, amount, bought_on) VALUES
       (1, 'ann@example.com', 10.50, '2024-01-01'), (1, 'ann@example.com', 4.50, '2024-02-01'), (1, 'bob@example.com', 7, '2024-02-02'),
       (2, 'bob@example.com', 100, '2024-03-01'), (2, 'bob@example.com', 20, '2024-03-05'), (3, 'o''brien@example.com', 1, '2024-03-02');`
  );
  connection = openConnection(appOptions);
});

beforeEach(() => {
  host = new FakeHost();
  query = postgresQueryConnection(host);
});

afterAll(async () => {
  await connection.close();
});

describe("a batch gives every record what its own query gives it", () => {
  const cases: [string, string, HostProperty?][] = [
    ["an aggregate", "SELECT SUM(amount) FROM purchases WHERE user_id = {{{ userId }}}"],
    ["ORDER BY ... LIMIT 1", "SELECT amount FROM purchases WHERE user_id = {{{ userId }}} ORDER BY bought_on DESC LIMIT 1"],
    ["an array property, in the query's order", "SELECT amount FROM purchases WHERE user_id = {{{ userId }}} ORDER BY amount", list],
    ["GROUP BY", "SELECT buyer FROM purchases WHERE user_id = {{{ userId }}} GROUP BY buyer ORDER BY COUNT(*) DESC, buyer LIMIT 1"],
    ["a variable used twice", "SELECT COUNT(*) FROM purchases WHERE user_id = {{{ userId }}} OR id = {{{ userId }}}"],
    ["a text variable in quotes (with a quote in a value)", "SELECT COUNT(*) FROM purchases WHERE buyer = '{{{ email }}}'"],
    ["a numeric variable", "SELECT COUNT(*) FROM purchases WHERE user_id = {{{ userId }}} AND amount > {{{ minimum }}}"],
    ["a date variable", "SELECT MIN(amount) FROM purchases WHERE user_id = {{{ userId }}} AND bought_on >= {{{ since }}}"],
    ["a variable inside a literal", "SELECT COUNT(*) FROM purchases WHERE buyer LIKE '%{{ email }}'"],
    ["no variables at all", "SELECT COUNT(*) FROM purchases"],
    ["a variable inside an ARRAY[] constructor", "SELECT COUNT(*) FROM purchases WHERE user_id = ANY(ARRAY[{{{ userId }}}]::int[])"],
    ["a variable turned into an array by the query", "SELECT COUNT(*) FROM purchases WHERE ARRAY[user_id] <@ string_to_array({{ userId }}, ',')::int[]"],
  ];
  test.each(cases)("%s", async (_, template, property = scalar) => {
    const expected = await alone(template, property);
    expect(await batched(template, property)).toEqual(expected);
    // in one statement, not by the fall-back
    expect(host.logs.filter((l) => /one record at a time/.test(l.message))).toEqual([]);
    // not a comparison of nothing: at least one record has a value, and not all the same unless constant
    expect(Object.values(expected).some((v) => v !== undefined)).toBe(true);
  });

  test("a record lacking a variable, and a record with no rows, get no value", async () => {
    const values = await batched("SELECT amount FROM purchases WHERE buyer = {{{ email }}} ORDER BY amount LIMIT 1");
    expect(values).toEqual({ rec_1: [4.5], rec_2: [7], rec_3: [1], rec_4: undefined });
    expect((await batched("SELECT amount FROM purchases WHERE user_id = {{{ userId }}} LIMIT 1")).rec_4).toBeUndefined();
  });

  test("a result column named like the batch's own: queried per record, same values", async () => {
    const template = "SELECT amount AS gpp_batch_row FROM purchases WHERE user_id = {{{ userId }}} ORDER BY 1 LIMIT 1";
    expect(await batched(template)).toEqual(await alone(template));
    expect(host.logs.filter((l) => /one record at a time/.test(l.message)).map((l) => l.message)).toEqual([
      expect.stringMatching(/returns a column named gpp_batch_ordinal or gpp_batch_row/),
    ]);
  });

  test("a variable typed as an array is queried per record, and the log says so once", async () => {
    const template = "SELECT COUNT(*) FROM purchases WHERE ARRAY[user_id] <@ {{ userId }}";
    const first = await errorOf(batched(template));
    // '1' is no array literal: the first record's error, as when it is queried alone
    expect(first.message).toBe((await errorOf(alone(template))).message);
    await errorOf(batched(template));
    const fallbacks = host.logs.filter((l) => /one record at a time/.test(l.message));
    expect(fallbacks).toHaveLength(1);
    expect(fallbacks[0].message).toMatch(/"value".*parameter \$1 has the type _int4/);
  });
});

describe("what a batch refuses", () => {
  test("a source without a mapping: refused at once with a one-line reason, so the core imports record by record", async () => {
    const error = await errorOf(batched("SELECT 1", scalar, {}));
    expect(error.message).toMatch(/no mapping.*one record at a time.*map the source to the model's primary key/);
    expect(error.stack).toBe(`BatchRefusedError: ${error.message}`);
  });

  test("a mapping to a property that is not unique", async () => {
    const error = await errorOf(
      query.methods.recordProperties({
        connection,
        appOptions,
        sourceMapping: { email: "email" },
        properties: [scalar],
        propertyOptions: { [scalar.id]: { query: "SELECT 1" } },
        records: [fakeRecord("rec_x", { email: ["x@example.com"] })].map((r) => ({
          ...r,
          getProperties: async () => ({ email: { values: ["x@example.com"], unique: false } }),
        })),
      })
    );
    expect(error.message).toMatch(/maps to "email", which is not unique/);
  });

  test("an error in a batch points into the user's query", async () => {
    const error = await errorOf(batched("SELECT amount\nFROM purchases\nWHERE user_id = {{{ userId }}} AND amont > 1"));
    expect(error.message).toMatch(/column "amont" does not exist.*\(at line 3, column \d+ of the query\)/);
    // a value the statement cannot take fails the batch (the core then imports each record alone)
    const bad = await errorOf(batched("SELECT COUNT(*) FROM purchases WHERE user_id = {{{ email }}}"));
    expect(bad.message).toMatch(/invalid input syntax for type integer/);
  });

  test("nothing is left on the pooled session after batches", async () => {
    await batched("SELECT SUM(amount) FROM purchases WHERE user_id = {{{ userId }}}");
    const { rows } = await connection.query("SELECT current_setting('transaction_read_only') AS ro, (SELECT COUNT(*) FROM pg_prepared_statements WHERE name NOT LIKE 'gpp\\_%') AS others");
    expect(rows[0]).toEqual({ ro: "on", others: 0 });
  });
});
