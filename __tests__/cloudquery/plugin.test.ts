import * as fs from "fs";
import * as path from "path";
import * as grpc from "@grpc/grpc-js";
import { Client } from "pg";
import { freshDatabase, sql } from "../support/db";
import { call, decodeArrow, getVersions, init, removeTemporaryFolders, RunningPlugin, rowsOf, specFor, startPlugin, stopDecoder, sync, v3 } from "./support/plugin";

/**
 * The CloudQuery source plugin end to end, as the CloudQuery CLI drives it: the package's bin serves
 * gRPC plugin protocol v3, a client calls it, and Arrow is decoded with the SDK's own reader.
 */

let plugin: RunningPlugin;
let url: string;
let connection: Record<string, string>;

const FIXTURE = `
  CREATE TYPE mood AS ENUM ('sad', 'happy');
  CREATE DOMAIN price AS numeric(10, 2);
  CREATE TABLE all_types (
    id int8 PRIMARY KEY,
    small int2, regular int4, big int8, real4 float4, double8 float8,
    amount numeric(12, 2), precise numeric(38, 10), loose numeric, price_d price,
    label text, code varchar(10), fixed char(5), feeling mood, flag bool,
    day date, at timestamp, at_tz timestamptz, clock time,
    ident uuid UNIQUE, doc json, docb jsonb, blob bytea,
    ints int4[], words text[], amounts numeric(6, 2)[], stamps timestamptz[],
    span interval, addr inet
  );
  COMMENT ON TABLE all_types IS 'every mapped type';
  INSERT INTO all_types VALUES
    (1, -32768, 2147483647, 9223372036854775807, 1.5, 0.1,
     -1234567890.12, 1234567890123456789012345678.0123456789, 3.14159265358979323846264338327950288419716939937510, 19.99,
     'héllo, wörld ✓', 'abc', 'ab', 'happy', true,
     '2024-02-29', '2024-02-29 12:34:56.789012', '2024-02-29 12:34:56.789012+02', '23:59:59.999999',
     'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2]}', '{"b": {"c": null}}', '\\x00ff10',
     '{1,NULL,3}', '{"x","y z"}', '{1.50,-2.25}', '{"2024-01-01 00:00:00+00"}',
     '1 day 02:03:04', '192.168.0.1/24'),
    (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
     NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
    (3, 0, -1, -9223372036854775808, -0.25, -1e300,
     0.01, -0.0000000001, 'NaN', 0,
     '', 'x', 'abcde', 'sad', false,
     '1969-12-31', '1900-01-01 00:00:00', '1970-01-01 00:00:00+00', '00:00:00',
     '00000000-0000-0000-0000-000000000001', '[]', '[]', '\\x',
     '{}', '{}', '{}', '{}',
     '-1 mons', '::1');

  CREATE TABLE many (id int4 PRIMARY KEY, name text NOT NULL);
  INSERT INTO many SELECT i, 'name ' || i FROM generate_series(1, 25000) i;
  CREATE VIEW many_view AS SELECT id, name FROM many;

  CREATE TABLE events (id int4 PRIMARY KEY, updated_at timestamptz, payload text);
  INSERT INTO events VALUES
    (1, '2024-01-01 00:00:00+00', 'a'), (2, '2024-01-02 00:00:00+00', 'b'), (3, '2024-01-02 00:00:00+00', 'c'),
    (4, '2024-01-03 00:00:00+00', 'd'), (5, '2024-01-03 00:00:00+00', 'e'), (6, NULL, 'f'), (7, NULL, 'g');

  CREATE VIEW broken AS SELECT id, 1 / (id - id) AS boom FROM many;

  CREATE SCHEMA other;
  CREATE TABLE other.things (id int4 PRIMARY KEY, "Mixed Case" text);
  INSERT INTO other.things VALUES (1, 'one'), (2, 'two');
`;

function spec(extra: Record<string, unknown> = {}) {
  return specFor(connection, extra);
}

function statusOf(promise: Promise<unknown>): Promise<grpc.ServiceError> {
  return promise.then(
    () => {
      throw new Error("the call succeeded, an error was expected");
    },
    (error: grpc.ServiceError) => error
  );
}

beforeAll(async () => {
  const db = await freshDatabase("gpp_cloudquery");
  url = db.url;
  connection = db.appOptions;
  await sql(url, FIXTURE);
  plugin = await startPlugin();
});

afterAll(async () => {
  await plugin?.stop();
  await stopDecoder();
  removeTemporaryFolders();
});

describe("what the CLI asks first", () => {
  test("discovery says protocol 3; the plugin is `postgresql` with a version and a JSON schema", async () => {
    expect(await getVersions(plugin)).toEqual([3]);
    expect((await call<{ name: string }>(plugin, "GetName", new v3.GetName.Request())).name).toBe("postgresql");
    const version = (await call<{ version: string }>(plugin, "GetVersion", new v3.GetVersion.Request())).version;
    expect(version).toBe(`v${require("../../package.json").version}`);
    const schema = JSON.parse((await call<{ json_schema: string }>(plugin, "GetSpecSchema", new v3.GetSpecSchema.Request())).json_schema);
    expect(schema.type).toBe("object");
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(["connection_string", "host", "database", "schemas", "table_options", "batch_size", "concurrency", "state_file"]));
  });

  test("Sync before Init fails at once, it does not hang", async () => {
    const started = Date.now();
    const result = await sync(plugin, {}, 10000);
    expect(result.failure?.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(result.failure?.details).toMatch(/not initialized: call Init/);
    expect(Date.now() - started).toBeLessThan(2000);
    expect((await statusOf(call(plugin, "GetTables", new v3.GetTables.Request({ tables: ["*"] })))).code).toBe(grpc.status.FAILED_PRECONDITION);
  });
});

describe("Init checks the spec and says what is wrong", () => {
  test.each([
    ["not JSON", "{database:", /the spec is not valid JSON/],
    ["a misspelt field", { ...{ database: "x" }, hots: "db" }, /the spec has an unknown field `hots` \(known fields: connection_string, host, port/],
    ["a port out of range", { database: "x", port: 70000 }, /spec field `port` must be <= 65535/],
    ["a wrong sslmode", { database: "x", sslmode: "strict" }, /spec field `sslmode` must be one of disable, prefer, require, verify-ca, verify-full/],
    ["no database", { host: "localhost" }, /spec field `database` is required/],
    ["a connection string and host", { connection_string: "postgresql://h/db", host: "h" }, /give either `connection_string` or `host`, not both/],
    ["an unsupported connection string parameter", { connection_string: "postgresql://h/db?target_session_attrs=any" }, /the parameter `target_session_attrs` is not supported/],
    ["a PEM that is not PEM", { database: "x", ssl_ca: "/etc/ca.pem" }, /spec field `ssl_ca` must be PEM text/],
    ["a table option for a missing table", "TABLE_OPTIONS_MISSING", /`table_options` names the table "nope", which is not a readable table or view of schema public/],
    ["an incremental column of text", "INCREMENTAL_TEXT", /`table_options.events.incremental_column`: "payload" is text; choose a number, date or timestamp column/],
    ["an incremental view without a key", "INCREMENTAL_NO_KEY", /`table_options.many_view.incremental_column` needs a key to resume from: "many_view" has no primary key, so give `table_options.many_view.key_columns`/],
  ])("%s", async (_, given, message) => {
    const specs: Record<string, unknown> = {
      TABLE_OPTIONS_MISSING: spec({ table_options: { nope: { incremental_column: "x" } } }),
      INCREMENTAL_TEXT: spec({ table_options: { events: { incremental_column: "payload" } } }),
      INCREMENTAL_NO_KEY: spec({ table_options: { many_view: { incremental_column: "id" } } }),
    };
    const error = await statusOf(init(plugin, typeof given === "string" && specs[given] ? specs[given] : given));
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error.details).toMatch(message);
  });

  test("a wrong password fails Init with the database's reason, never the password", async () => {
    const error = await statusOf(init(plugin, spec({ password: "not-the-password" })));
    expect(error.details).toMatch(/authentication failed for user .*check the spec fields `user` and `password`/);
    expect(error.details).not.toMatch(/not-the-password/);
  });

  test("TestConnection answers success, or a failure code and description", async () => {
    const ok = await call<{ success: boolean }>(plugin, "TestConnection", new v3.TestConnection.Request({ spec: Buffer.from(JSON.stringify(spec())) }));
    expect(ok.success).toBe(true);
    const bad = await call<{ success: boolean; failure_code: string; failure_description: string }>(
      plugin,
      "TestConnection",
      new v3.TestConnection.Request({ spec: Buffer.from(JSON.stringify(spec({ password: "wrong-secret" }))) })
    );
    expect(bad).toMatchObject({ success: false, failure_code: "INVALID_CREDENTIALS" });
    expect(bad.failure_description).not.toMatch(/wrong-secret/);
    const invalid = await call<{ success: boolean; failure_code: string }>(plugin, "TestConnection", new v3.TestConnection.Request({ spec: Buffer.from("{}") }));
    expect(invalid).toMatchObject({ success: false, failure_code: "INVALID_SPEC" });
  });

  test("a connection string works as well as separate fields", async () => {
    const u = new URL(url);
    await init(plugin, { connection_string: `postgresql://${u.username}:${u.password}@${u.host}${u.pathname}?sslmode=disable` });
    const tables = await call<{ tables: Uint8Array[] }>(plugin, "GetTables", new v3.GetTables.Request({ tables: ["many"] }));
    expect(tables.tables).toHaveLength(1);
  });
});

describe("GetTables", () => {
  beforeAll(() => init(plugin, spec({ table_options: { events: { incremental_column: "updated_at" }, many_view: { key_columns: ["id"] } } })));

  test("lists the tables and views that match, as Arrow schemas with CloudQuery's metadata", async () => {
    const response = await call<{ tables: Uint8Array[] }>(plugin, "GetTables", new v3.GetTables.Request({ tables: ["*"], skip_tables: ["broken", "many_*"] }));
    const tables = await decodeArrow(response.tables);
    expect(tables.map((t) => t.metadata["cq:table_name"])).toEqual(["all_types", "events", "many"]);
    expect(tables.every((t) => t.rows.length === 0)).toBe(true);

    const allTypes = tables[0];
    expect(allTypes.metadata).toMatchObject({ "cq:table_name": "all_types", "cq:table_description": "every mapped type", "cq:extension:constraint_name": "all_types_pkey" });
    expect(allTypes.metadata["cq:extension:incremental"]).toBeUndefined();
    const types = Object.fromEntries(allTypes.fields.map((f) => [f.name, f.children.length ? `${f.type} of ${f.children[0].type}` : f.type]));
    expect(types).toEqual({
      id: "Int64",
      small: "Int16",
      regular: "Int32",
      big: "Int64",
      real4: "Float32",
      double8: "Float64",
      amount: "Decimal[12e+2]",
      precise: "Decimal[38e+10]",
      loose: "Utf8",
      price_d: "Decimal[10e+2]",
      label: "Utf8",
      code: "Utf8",
      fixed: "Utf8",
      feeling: "Utf8",
      flag: "Bool",
      day: "Date32<DAY>",
      at: "Timestamp<MICROSECOND>",
      at_tz: "Timestamp<MICROSECOND, UTC>",
      clock: "Time64<MICROSECOND>",
      ident: "FixedSizeBinary[16]",
      doc: "Binary",
      docb: "Binary",
      blob: "Binary",
      ints: "List<Int32> of Int32",
      words: "List<Utf8> of Utf8",
      amounts: "List<Decimal[6e+2]> of Decimal[6e+2]",
      stamps: "List<Timestamp<MICROSECOND, UTC>> of Timestamp<MICROSECOND, UTC>",
      span: "Utf8",
      addr: "Utf8",
    });
    const field = (name: string) => allTypes.fields.find((f) => f.name === name)!;
    expect(field("id")).toMatchObject({ nullable: false, metadata: { "cq:extension:primary_key": "true", "cq:extension:unique": "true", "cq:extension:incremental": "false" } });
    expect(field("ident").metadata).toMatchObject({ "ARROW:extension:name": "uuid", "ARROW:extension:metadata": "uuid-serialized", "cq:extension:unique": "true", "cq:extension:primary_key": "false" });
    expect(field("doc").metadata).toMatchObject({ "ARROW:extension:name": "json", "ARROW:extension:metadata": "json-serialized" });
    expect(field("docb").metadata["ARROW:extension:name"]).toBe("json");
    expect(field("blob").metadata["ARROW:extension:name"]).toBeUndefined();
    expect(field("label").nullable).toBe(true);

    const events = tables[1];
    expect(events.metadata["cq:extension:incremental"]).toBe("true");
    expect(events.fields.find((f) => f.name === "updated_at")!.metadata["cq:extension:incremental"]).toBe("true");
    expect(events.fields.find((f) => f.name === "id")!.metadata["cq:extension:incremental"]).toBe("false");
  });

  test("a view gets the key columns the spec gives it as its primary key", async () => {
    const response = await call<{ tables: Uint8Array[] }>(plugin, "GetTables", new v3.GetTables.Request({ tables: ["many_view"] }));
    const [view] = await decodeArrow(response.tables);
    expect(view.fields.map((f) => [f.name, f.metadata["cq:extension:primary_key"]])).toEqual([
      ["id", "true"],
      ["name", "false"],
    ]);
  });

  test("with several schemas, tables are named schema.table", async () => {
    await init(plugin, spec({ schemas: ["public", "other"], state_file: null, table_options: { "other.things": { key_columns: ["id"] } } }));
    const response = await call<{ tables: Uint8Array[] }>(plugin, "GetTables", new v3.GetTables.Request({ tables: ["other.*", "public.many"] }));
    expect((await decodeArrow(response.tables)).map((t) => t.metadata["cq:table_name"])).toEqual(["other.things", "public.many"]);
    expect(await rowsOf(await sync(plugin, { tables: ["other.things"] }), "other.things")).toEqual([
      { id: 1, "Mixed Case": "one" },
      { id: 2, "Mixed Case": "two" },
    ]);
    await init(plugin, spec({ table_options: { events: { incremental_column: "updated_at" }, many_view: { key_columns: ["id"] } } }));
  });

  test("a table name that does not exist is an error, a pattern that matches nothing is not", async () => {
    const error = await statusOf(call(plugin, "GetTables", new v3.GetTables.Request({ tables: ["nope"] })));
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error.details).toMatch(/the table "nope" was not found \(tables: all_types, broken, events, many, many_view\)/);
    const none = await call<{ tables: Uint8Array[] }>(plugin, "GetTables", new v3.GetTables.Request({ tables: ["nope_*"] }));
    expect(none.tables).toHaveLength(0);
  });
});

describe("Sync", () => {
  beforeAll(() => init(plugin, spec({ batch_size: 10000, state_file: null })));

  test("sends migrate_table for every table first, then the rows of every mapped type, exactly", async () => {
    const result = await sync(plugin, { tables: ["all_types"] });
    expect(result.failure).toBeUndefined();
    expect(result.order).toEqual(["migrate_table", "insert"]);
    const rows = await rowsOf(result, "all_types");
    const micros = (iso: string, extra: number) => BigInt(Date.parse(iso)) * 1000n + BigInt(extra);
    const days = (iso: string) => Date.parse(iso) / 86400000;
    expect(rows).toEqual([
      {
        id: 1n,
        small: -32768,
        regular: 2147483647,
        big: 9223372036854775807n,
        real4: 1.5,
        double8: 0.1,
        amount: "-1234567890.12",
        precise: "1234567890123456789012345678.0123456789",
        loose: "3.14159265358979323846264338327950288419716939937510",
        price_d: "19.99",
        label: "héllo, wörld ✓",
        code: "abc",
        fixed: "ab   ",
        feeling: "happy",
        flag: true,
        day: days("2024-02-29T00:00:00Z"),
        at: micros("2024-02-29T12:34:56Z", 789012),
        at_tz: micros("2024-02-29T10:34:56Z", 789012),
        clock: 86399999999n,
        ident: "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        doc: '{"a": [1, 2]}',
        docb: '{"b": {"c": null}}',
        blob: "\\x00ff10",
        ints: [1, null, 3],
        words: ["x", "y z"],
        amounts: ["1.50", "-2.25"],
        stamps: [micros("2024-01-01T00:00:00Z", 0)],
        span: "1 day 02:03:04",
        addr: "192.168.0.1/24",
      },
      Object.fromEntries(Object.keys(rows[0]).map((k) => [k, k === "id" ? 2n : null])),
      {
        id: 3n,
        small: 0,
        regular: -1,
        big: -9223372036854775808n,
        real4: -0.25,
        double8: -1e300,
        amount: "0.01",
        precise: "-0.0000000001",
        loose: "NaN",
        price_d: "0.00",
        label: "",
        code: "x",
        fixed: "abcde",
        feeling: "sad",
        flag: false,
        day: -1,
        at: micros("1900-01-01T00:00:00Z", 0),
        at_tz: 0n,
        clock: 0n,
        ident: "00000000-0000-0000-0000-000000000001",
        doc: "[]",
        docb: "[]",
        blob: "\\x",
        ints: [],
        words: [],
        amounts: [],
        stamps: [],
        span: "-1 mons",
        addr: "::1/128", // inet's cast to text keeps the mask
      },
    ]);
  });

  test("sends rows in batches of batch_size, by key or (without a key) in one read", async () => {
    const result = await sync(plugin, { tables: ["many", "many_view"], skip_tables: [] });
    expect(result.failure).toBeUndefined();
    const decoded = await decodeArrow(result.inserts);
    for (const table of ["many", "many_view"]) {
      const batches = decoded.filter((t) => t.metadata["cq:table_name"] === table);
      expect(batches.map((b) => b.rows.length)).toEqual([10000, 10000, 5000]);
      // every row once (a relation without a key comes in the database's order)
      const ids = batches.flatMap((b) => b.rows.map((r) => r.id as number)).sort((a, b) => a - b);
      expect(ids).toEqual(Array.from({ length: 25000 }, (_, i) => i + 1));
      expect(batches.flatMap((b) => b.rows).find((r) => r.id === 1)).toEqual({ id: 1, name: "name 1" });
    }
    expect(result.order.slice(0, 2)).toEqual(["migrate_table", "migrate_table"]);
  });

  test("values of every length, and NULLs in any row, arrive exactly in every batch (the column buffers are reused between batches)", async () => {
    await sql(
      url,
      `CREATE TABLE widths (id int4 PRIMARY KEY, label text, n int8, amount numeric(12, 2), flag bool, at timestamptz);
       INSERT INTO widths SELECT i,
         CASE WHEN i % 7 = 3 THEN NULL ELSE repeat(chr(97 + i % 26), i) END,
         CASE WHEN i % 5 = 0 THEN NULL ELSE (i - 350)::int8 * 1000000007 END,
         CASE WHEN i % 3 = 1 THEN NULL ELSE (i - 350) * 1.25 + 0.01 END,
         CASE i % 4 WHEN 0 THEN NULL WHEN 1 THEN true ELSE false END,
         CASE WHEN i % 11 = 0 THEN NULL ELSE '2024-01-01T00:00:00Z'::timestamptz + i * interval '1 second' END
       FROM generate_series(0, 699) i`
    );
    try {
      await init(plugin, spec({ batch_size: 64, state_file: null }));
      const result = await sync(plugin, { tables: ["widths"] });
      expect(result.failure).toBeUndefined();
      expect(result.inserts.length).toBe(Math.ceil(700 / 64));
      const rows = await rowsOf(result, "widths");
      const amount = (i: number) => {
        const cents = (i - 350) * 125 + 1;
        const magnitude = Math.abs(cents);
        return `${cents < 0 ? "-" : ""}${Math.floor(magnitude / 100)}.${String(magnitude % 100).padStart(2, "0")}`;
      };
      expect(rows).toEqual(
        Array.from({ length: 700 }, (_, i) => ({
          id: i,
          label: i % 7 === 3 ? null : String.fromCharCode(97 + (i % 26)).repeat(i),
          n: i % 5 === 0 ? null : BigInt(i - 350) * 1000000007n,
          amount: i % 3 === 1 ? null : amount(i),
          flag: i % 4 === 0 ? null : i % 4 === 1,
          at: i % 11 === 0 ? null : (BigInt(Date.parse("2024-01-01T00:00:00Z")) + BigInt(i) * 1000n) * 1000n,
        }))
      );
    } finally {
      await sql(url, "DROP TABLE widths");
      await init(plugin, spec({ batch_size: 10000, state_file: null }));
    }
  });

  test("a table that fails sends an error message; the other tables are sent", async () => {
    const result = await sync(plugin, { tables: ["broken", "events"] });
    expect(result.failure).toBeUndefined();
    expect(result.errors).toEqual([{ table: "broken", error: expect.stringMatching(/division by zero/) }]);
    expect(await rowsOf(result, "events")).toHaveLength(7);
    expect(plugin.logs.some((l) => l.level === "error" && l.message === "table failed" && l.table === "broken")).toBe(true);
  });

  test("without error messages (an older CLI), a failed table fails the Sync instead of passing silently", async () => {
    const result = await sync(plugin, { tables: ["broken"], withErrorMessages: false });
    expect(result.failure?.code).toBe(grpc.status.INTERNAL);
    expect(result.failure?.details).toMatch(/1 table\(s\) failed: broken: division by zero/);
  });
});

describe("incremental tables", () => {
  test("a second sync with unchanged data sends no rows; changes are sent, NULL incremental values are not lost; a new process resumes", async () => {
    const stateFile = path.join(plugin.cwd, "state", "cursors.json");
    const incremental = spec({ state_file: stateFile, table_options: { events: { incremental_column: "updated_at" } } });
    await init(plugin, incremental);
    const ids = async (result: Awaited<ReturnType<typeof sync>>) => (await rowsOf(result, "events")).map((r) => r.id).sort((a, b) => Number(a) - Number(b));

    expect(await ids(await sync(plugin, { tables: ["events"] }))).toEqual([1, 2, 3, 4, 5, 6, 7]);
    const second = await sync(plugin, { tables: ["events"] });
    expect(second.order).toEqual(["migrate_table"]);

    await sql(url, `UPDATE events SET updated_at = '2024-02-01 00:00:00+00', payload = 'b2' WHERE id = 2`);
    await sql(url, `INSERT INTO events VALUES (8, NULL, 'h'), (9, '2024-01-03 00:00:00+00', 'tie with the last value sent')`);
    const third = await sync(plugin, { tables: ["events"] });
    expect(await ids(third)).toEqual([2, 8, 9]);
    expect((await rowsOf(third, "events")).find((r) => r.id === 2)).toMatchObject({ payload: "b2" });

    const saved = JSON.parse(fs.readFileSync(stateFile, "utf8"));
    expect(Object.values(saved.cursors)).toEqual([
      expect.objectContaining({ column: "updated_at", key: ["id"], after: ["2024-02-01 00:00:00+00", "2"], nullsAfter: ["8"] }),
    ]);

    // another process, the same state file: nothing new to send
    const other = await startPlugin();
    try {
      await init(other, incremental);
      expect((await sync(other, { tables: ["events"] })).inserts).toHaveLength(0);
      // cursors are kept per backend table name: another source reading the same database starts over
      expect(await ids(await sync(other, { tables: ["events"], backendTableName: "cq_state_other" }))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    } finally {
      expect(await other.stop()).toBe(0);
    }
  });

  test("a row that a long transaction commits with an older value than rows already sent is sent by a later sync (commit horizon)", async () => {
    await sql(url, `CREATE TABLE late (id int4 PRIMARY KEY, updated_at timestamptz NOT NULL, payload text);
                    INSERT INTO late SELECT i, now() - interval '1 hour', 'v0' FROM generate_series(1, 5) i`);
    await init(plugin, spec({ state_file: path.join(plugin.cwd, "state", "late.json"), table_options: { late: { incremental_column: "updated_at" } } }));
    const rows = async () => (await rowsOf(await sync(plugin, { tables: ["late"] }), "late")).map((r) => [r.id, r.payload]).sort((a, b) => Number(a[0]) - Number(b[0]));
    // waits on the server's clock (a condition, not a guess) until every committed stamp is past the horizon's margin
    const clockPast = async () => {
      while (!(await sql(url, `SELECT now() > max(updated_at) + interval '1100 milliseconds' AS past FROM late`)).rows[0].past) await new Promise((r) => setTimeout(r, 100));
    };
    expect(await rows()).toHaveLength(5);

    const long = new Client({ connectionString: url });
    await long.connect();
    try {
      await long.query("BEGIN");
      await long.query(`UPDATE late SET payload = 'long', updated_at = now() WHERE id = 1`);
      await sql(url, `UPDATE late SET payload = 'quick', updated_at = now() WHERE id = 2`);
      await clockPast();
      expect(await rows()).toEqual([]); // the quick row waits for the long transaction
      await long.query("COMMIT");
    } finally {
      await long.end();
    }
    await clockPast();
    expect(await rows()).toEqual([
      [1, "long"],
      [2, "quick"],
    ]);
    expect(await rows()).toEqual([]);
  });

  test("with state_file null, an incremental table is read whole every time", async () => {
    await init(plugin, spec({ state_file: null, table_options: { events: { incremental_column: "updated_at" } } }));
    expect(await rowsOf(await sync(plugin, { tables: ["events"] }), "events")).toHaveLength(9);
    expect(await rowsOf(await sync(plugin, { tables: ["events"] }), "events")).toHaveLength(9);
  });
});

describe("shutting down", () => {
  test("Close, then SIGTERM: the server stops and the process exits 0", async () => {
    const own = await startPlugin();
    await init(own, spec());
    await call(own, "Close", new v3.Close.Request());
    // after Close the plugin is back to its state before Init
    expect((await sync(own, {}, 5000)).failure?.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(await own.stop()).toBe(0);
    expect(own.logs.map((l) => l.message)).toEqual(expect.arrayContaining(["stopping", "stopped"]));
  });

  test("a client that goes away during a Sync does not stop the server", async () => {
    await init(plugin, spec({ batch_size: 1000, state_file: null }));
    const stream = plugin.client.Sync(new v3.Sync.Request({ tables: ["many"], withErrorMessages: true }), { deadline: Date.now() + 10000 });
    await new Promise<void>((resolve) => {
      stream.once("data", () => {
        stream.cancel();
        resolve();
      });
    });
    stream.on("error", () => {});
    const result = await sync(plugin, { tables: ["many"] });
    expect((await rowsOf(result, "many")).length).toBe(25000);
  });
});
