import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Client } from "pg";
import { buildPostgresApp } from "../src/app/postgresApp";
import { postgresQueryConnection } from "../src/connections/queryImport";
import { openConnection, PostgresConnection } from "../src/postgres";
import { testApp } from "./support/app";
import { freshDatabase, sql } from "./support/db";
import { FakeHost, fakeRecord } from "./support/fakeHost";

/**
 * The query source against a superuser App on a real server: only queries run (COPY TO PROGRAM ran
 * a shell command on the database host inside the "read-only" transaction), the App's test warns
 * about roles that can reach the host's files, nothing a query leaves on a session reaches the next
 * user of the pooled connection, and template variables are the record's own.
 */

const host = new FakeHost();
const query = postgresQueryConnection(host);
let url: string;
let appOptions: Record<string, string>;
let connection: PostgresConnection;
let folder: string;

const property = { id: "p", key: "v", isArray: false };
const record = fakeRecord("r1", { email: ["ann@example.com"], userId: [1] });

function valueOf(template: string, options: { connection?: PostgresConnection } = {}) {
  return query.methods.recordProperty({ connection: options.connection ?? connection, appOptions, property, propertyOptions: { query: template }, record });
}

beforeAll(async () => {
  ({ url, appOptions } = await freshDatabase("gpp_hardening_query"));
  folder = fs.mkdtempSync(path.join(os.tmpdir(), "gpp-hardening-"));
  fs.chmodSync(folder, 0o777); // the server runs as its own user: let it write the marker, if it ever could
  await sql(
    url,
    `CREATE TABLE accounts (id int PRIMARY KEY, email text);
     INSERT INTO accounts VALUES (1, 'ann@example.com'), (2, 'bob@example.com');
     CREATE FUNCTION leaky_prepare() RETURNS int LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'PREPARE leaked AS SELECT 1'; RETURN 1; END $$;
     CREATE FUNCTION leaky_listen() RETURNS int LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'LISTEN leaked_channel'; RETURN 1; END $$;
     CREATE ROLE reader LOGIN PASSWORD 'reader-pw';
     GRANT SELECT ON accounts TO reader;
     CREATE ROLE file_writer LOGIN PASSWORD 'writer-pw';
     GRANT pg_write_server_files TO file_writer;`
  );
  // one connection: the next query is sure to get the session the previous one used
  connection = openConnection({ ...appOptions, pool_size: "1" });
});

afterAll(async () => {
  await connection?.close();
  fs.rmSync(folder, { recursive: true, force: true });
});

describe("a query source runs queries only", () => {
  test("COPY ... TO PROGRAM and COPY ... TO a file are refused before they run", async () => {
    const marker = path.join(folder, "pwned");
    for (const template of [
      `COPY (SELECT 1) TO PROGRAM 'touch ${marker}'`,
      `copy (select email from accounts) to '${marker}'`,
      `/* leading comment */ -- and another\n  COPY accounts TO PROGRAM 'touch ${marker}'`,
    ]) {
      await expect(valueOf(template)).rejects.toThrow(/Property option `query` is wrong \(property "v"\): COPY is not a query; a query source runs one query only: SELECT, WITH \.\.\. SELECT, VALUES or TABLE/);
    }
    expect(fs.existsSync(marker)).toBe(false);
    await expect(
      query.methods.importRecords({ connection, appOptions, scheduleOptions: { query: `COPY (SELECT 1) TO PROGRAM 'touch ${marker}'`, propertyId: "p" }, properties: [{ id: "p", key: "v" }], run: {}, limit: 10, sourceOffset: 0 })
    ).rejects.toThrow(/Schedule option `query` is wrong: COPY is not a query/);
    expect(fs.existsSync(marker)).toBe(false);
  });

  test.each([
    ["SET statement_timeout = 0", /: SET is not a query/],
    ["PREPARE x AS SELECT 1", /: PREPARE is not a query/],
    ["LISTEN channel", /: LISTEN is not a query/],
    ["DECLARE c CURSOR WITH HOLD FOR SELECT 1", /: DECLARE is not a query/],
    ["EXPLAIN ANALYZE SELECT 1", /: EXPLAIN is not a query/],
    ["DO $$ BEGIN PERFORM 1; END $$", /: DO is not a query/],
    ["CALL something()", /: CALL is not a query/],
    ["DELETE FROM accounts", /: DELETE is not a query/],
    ["WITH gone AS (DELETE FROM accounts RETURNING id) SELECT id FROM gone", /its WITH clause holds a data-modifying DELETE/],
    ["WITH a AS (SELECT 1), b AS MATERIALIZED (UPDATE accounts SET email = '' RETURNING id) SELECT 1", /its WITH clause holds a data-modifying UPDATE/],
    ["WITH a AS (SELECT 2 AS id) DELETE FROM accounts USING a WHERE accounts.id = a.id", /WITH \.\.\. DELETE modifies data/],
    ["WITH a AS (SELECT 1) INSERT INTO accounts SELECT 3, 'x'", /WITH \.\.\. INSERT modifies data/],
  ])("%s is refused, naming what it is", async (template, message) => {
    await expect(valueOf(template)).rejects.toThrow(message);
    expect((await sql(url, "SELECT count(*)::int AS n FROM accounts WHERE email <> ''")).rows[0].n).toBe(2);
  });

  test.each([
    ["SELECT email FROM accounts WHERE id = {{ userId }}", "ann@example.com"],
    ["  -- a comment\n/* and /* a nested */ one */ select email from accounts where email = '{{ email }}'", "ann@example.com"],
    ["WITH a AS (SELECT email FROM accounts WHERE id = {{ userId }}) SELECT email FROM a", "ann@example.com"],
    ['WITH RECURSIVE "t"(n) AS NOT MATERIALIZED (VALUES (1) UNION ALL SELECT n + 1 FROM t WHERE n < 3) SEARCH DEPTH FIRST BY n SET ord SELECT max(n)::text FROM t', "3"],
    ["WITH a AS (SELECT 1 AS x), b AS (SELECT 'update' AS y) SELECT y FROM a, b", "update"],
    ["VALUES ('v')", "v"],
    ["TABLE accounts", 1],
    ["(SELECT 'left') UNION ALL (SELECT 'right')", "left"],
    ["SELECT 'COPY x TO PROGRAM' AS text_only", "COPY x TO PROGRAM"],
  ])("%s runs", async (template, expected) => {
    expect(await valueOf(template)).toEqual([expected]);
  });
});

describe("the App's test says when the role can reach the database host", () => {
  const app = buildPostgresApp(() => {});

  test("a superuser: success, with a warning that names the read-only grants that suffice", async () => {
    const result = await testApp(app, appOptions);
    expect(result.success).toBe(true);
    expect(result.message).toMatch(/WARNING: this role is a superuser, so a query source's SQL can read or write files or run programs on the database host/);
    expect(result.message).toMatch(/CONNECT on the database, USAGE on the schema and SELECT on its tables \(or membership of pg_read_all_data\)/);
  });

  test("a member of pg_write_server_files: the warning names the role", async () => {
    const result = await testApp(app, { ...appOptions, user: "file_writer", password: "writer-pw" });
    expect(result.message).toMatch(/WARNING: this role is a member of pg_write_server_files/);
  });

  test("a role with SELECT only: no warning", async () => {
    const result = await testApp(app, { ...appOptions, user: "reader", password: "reader-pw" });
    expect(result.success).toBe(true);
    expect(result.message).not.toMatch(/WARNING/);
  });
});

describe("what a query leaves on its session does not reach the next user of the connection", () => {
  async function advisoryLocks(): Promise<number> {
    return (await sql(url, "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory'")).rows[0].n;
  }

  test("session advisory locks are released, SET by set_config is undone", async () => {
    expect(await valueOf("SELECT pg_advisory_lock(4242)::text || set_config('work_mem', '7MB', false) AS v")).toEqual(["7MB"]);
    expect(await advisoryLocks()).toBe(0);
    // another session can take the lock at once
    const other = new Client({ connectionString: url });
    await other.connect();
    try {
      expect((await other.query("SELECT pg_try_advisory_lock(4242) AS got")).rows[0].got).toBe(true);
    } finally {
      await other.end();
    }
    expect(await valueOf("SELECT current_setting('work_mem')")).toEqual(["4MB"]);
    expect(await valueOf("SELECT pg_try_advisory_lock_shared(7)::text")).toEqual(["true"]);
    expect(await advisoryLocks()).toBe(0);
  });

  test("prepared statements made by SQL are deallocated; LISTEN ends with the rollback; the plugin leaves no prepared statement of its own", async () => {
    expect(await valueOf("SELECT leaky_prepare()::text")).toEqual(["1"]);
    expect(await valueOf("SELECT leaky_listen()::text")).toEqual(["1"]);
    expect(await valueOf("SELECT count(*)::text FROM pg_prepared_statements WHERE from_sql")).toEqual(["0"]);
    expect(await valueOf("SELECT count(*)::text FROM pg_listening_channels()")).toEqual(["0"]);
    // the only statements that stay are the plugin's own protocol-level ones (issue 18: parsed once per
    // session, see SessionStatements), never one a query made
    expect(await valueOf("SELECT count(*)::text FROM pg_prepared_statements WHERE from_sql OR name !~ '^gpp_s[0-9]+$'")).toEqual(["0"]);
  });
});

describe("template variables are the record's own", () => {
  test.each(["constructor", "toString", "__proto__", "hasOwnProperty", "email.length"])("{{ %s }} is a missing variable (no value, logged), not Object.prototype's", async (name) => {
    host.logs.length = 0;
    expect(await valueOf(`SELECT {{ ${name} }}::text AS v`)).toBeUndefined();
    expect(host.logs.map((l) => l.message).join("\n")).toContain(`{{ ${name} }}`);
  });
});
