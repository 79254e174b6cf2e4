import * as fs from "fs";
import * as path from "path";
import * as grpc from "@grpc/grpc-js";
import { redact } from "../../src/postgres/errors";
import { FileCursorStore } from "../../src/cloudquery/state";
import { freshDatabase, sql } from "../support/db";
import { call, init, removeTemporaryFolders, RunningPlugin, rowsOf, specFor, startPlugin, stopDecoder, sync, v3 } from "./support/plugin";

/**
 * What an adversarial review broke in the CloudQuery host, against a real server through the
 * plugin's gRPC server: connection strings that leaked the password, URL passwords with "@" or "%",
 * the state file, glob patterns, and the plugin's own SQL following a hostile search_path.
 */

let plugin: RunningPlugin;
let connection: Record<string, string>;
let url: string;

const SECRET = "ab'Secr3t";
const SPACED = "pass word";
const LONG_NAME = "a".repeat(62) + "c"; // 63 characters: `*a*a*a*a*a*a*a*b` backtracks on it

beforeAll(async () => {
  const db = await freshDatabase("gpp_cq_hardening");
  url = db.url;
  connection = db.appOptions;
  await sql(
    url,
    `CREATE ROLE quoted LOGIN PASSWORD $$${SECRET}$$;
     CREATE ROLE spaced LOGIN PASSWORD '${SPACED}';
     CREATE ROLE "at_user" LOGIN PASSWORD 'p@ss%w0rd';
     GRANT SELECT ON ALL TABLES IN SCHEMA public TO quoted, spaced, at_user;
     CREATE TABLE "${LONG_NAME}" (id int PRIMARY KEY);
     CREATE TABLE codes (code varchar PRIMARY KEY, updated_at timestamptz, n int);
     INSERT INTO codes SELECT 'c' || lpad(i::text, 3, '0'), timestamptz '2024-01-01' + i * interval '1 hour', i FROM generate_series(1, 23) i;
     -- a role allowed to create in public plants an operator for varchar (CVE-2018-1058): it must never run
     CREATE FUNCTION public.hostile(a varchar, b varchar) RETURNS boolean LANGUAGE plpgsql IMMUTABLE
       AS $$ BEGIN RAISE EXCEPTION 'hostile operator called'; END $$;
     CREATE OPERATOR public.= (LEFTARG = varchar, RIGHTARG = varchar, FUNCTION = public.hostile);
     CREATE OPERATOR public.> (LEFTARG = varchar, RIGHTARG = varchar, FUNCTION = public.hostile);
     CREATE OPERATOR public.< (LEFTARG = varchar, RIGHTARG = varchar, FUNCTION = public.hostile);
     CREATE OPERATOR public.>= (LEFTARG = varchar, RIGHTARG = varchar, FUNCTION = public.hostile);`
  );
  plugin = await startPlugin();
});

afterAll(async () => {
  await plugin?.stop();
  await stopDecoder();
  removeTemporaryFolders();
});

const base = () => ({ sslmode: "disable", state_file: null });
const keywords = (password: string, user: string) => `host=${connection.host} port=${connection.port} dbname=${connection.database} user=${user} password=${password}`;

function testConnection(spec: Record<string, unknown>) {
  return call<{ success: boolean; failure_code: string; failure_description: string }>(
    plugin,
    "TestConnection",
    new v3.TestConnection.Request({ spec: Buffer.from(JSON.stringify(spec)) })
  );
}

function logText(): string {
  return JSON.stringify(plugin.logs);
}

describe("connection_string never echoes its text, and reads values as libpq does", () => {
  test("an unquoted value may hold a quote (libpq): password=ab'Secr3t connects", async () => {
    expect(await testConnection({ ...base(), connection_string: keywords(SECRET, "quoted") })).toMatchObject({ success: true });
  });

  test("a backslash escapes in an unquoted value: password=pass\\ word connects", async () => {
    expect(await testConnection({ ...base(), connection_string: keywords("pass\\ word", "spaced") })).toMatchObject({ success: true });
  });

  test.each([
    ["an unclosed quote", `password='Secr3t host=x`, /the quoted value of `password` that starts at character 10 is not closed/],
    ["a word without =", `password=abc Secr3tword dbname=x`, /a word without "=" at character 14 after the parameter `password`/],
    ["an unknown parameter", `password=abc Secr3tword=1`, /the parameter at character 14 is not one this plugin knows/],
  ])("%s: the error names the parameter, never the text (TestConnection, Init and the log)", async (_, connectionString, message) => {
    const answer = await testConnection({ ...base(), connection_string: connectionString });
    expect(answer).toMatchObject({ success: false, failure_code: "INVALID_SPEC" });
    expect(answer.failure_description).toMatch(message);
    const error = await init(plugin, { ...base(), connection_string: connectionString }).then(
      () => undefined,
      (e: grpc.ServiceError) => e
    );
    expect(error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    for (const text of [answer.failure_description, error?.details ?? "", logText()]) {
      expect(text).not.toMatch(/Secr3t/);
    }
  });

  test("a URL password holding @ connects, and redact masks all of it", async () => {
    const uri = `postgresql://at_user:p@ss%25w0rd@${connection.host}:${connection.port}/${connection.database}`;
    expect(await testConnection({ ...base(), connection_string: uri })).toMatchObject({ success: true });
    expect(redact(`could not connect to postgres://at_user:p@ss@host/db`, undefined)).not.toMatch(/ss@host|p@ss/);
    expect(redact(`postgresql://u:a@b@c@db.example.com:5432/x failed`, undefined)).toBe("postgresql://u:*****@db.example.com:5432/x failed");
  });

  test("a raw % in a URL password is a spec error naming the password, not URIError / INTERNAL", async () => {
    const uri = `postgresql://at_user:100%Secr3t@${connection.host}:${connection.port}/${connection.database}`;
    const answer = await testConnection({ ...base(), connection_string: uri });
    expect(answer).toMatchObject({ success: false, failure_code: "INVALID_SPEC" });
    expect(answer.failure_description).toMatch(/the password is not valid percent-encoding/);
    const error = await init(plugin, { ...base(), connection_string: uri }).then(
      () => undefined,
      (e: grpc.ServiceError) => e
    );
    expect(error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(`${answer.failure_description} ${error?.details} ${logText()}`).not.toMatch(/Secr3t|URIError/);
  });

  test("an sslrootcert that is no PEM is blamed on the connection string's sslrootcert, not on ssl_ca", async () => {
    const file = path.join(plugin.cwd, "not-a-ca.txt");
    fs.writeFileSync(file, "hello");
    const answer = await testConnection({ ...base(), sslmode: "verify-full", connection_string: `postgresql://${connection.host}/${connection.database}?sslrootcert=${file}` });
    expect(answer.failure_description).toMatch(/`connection_string`: sslrootcert names a file that is not PEM text/);
    expect(answer.failure_description).not.toMatch(/ssl_ca/);
  });

  test("parameters are not looked up through Object.prototype: toString=y is unknown, not a crash", async () => {
    const answer = await testConnection({ ...base(), connection_string: `host=${connection.host} toString=y` });
    expect(answer).toMatchObject({ success: false, failure_code: "INVALID_SPEC" });
    expect(answer.failure_description).toMatch(/not one this plugin knows/);
  });
});

describe("table globs are matched in linear time", () => {
  test("*a*a*a*a*a*a*a*b against a 63-character name answers within the call's deadline", async () => {
    await init(plugin, specFor(connection, { state_file: null }));
    // a backtracking RegExp took about 30 s here and blocked every other call meanwhile
    const answer = await call<{ tables: Uint8Array[] }>(plugin, "GetTables", new v3.GetTables.Request({ tables: ["*a*a*a*a*a*a*a*b", "*a?c", "code*"] }), 10000);
    expect(answer.tables).toHaveLength(2); // LONG_NAME (by *a?c) and codes
  });
});

describe("the plugin's own SQL never resolves through a schema a user can write", () => {
  test("COPY keyset pages on a varchar key, and an incremental read from a saved cursor, never call public.=(varchar, varchar)", async () => {
    const stateFile = path.join(plugin.cwd, "hostile-state.json");
    const spec = specFor(connection, {
      batch_size: 1, // pages of 5 rows: every page after the first compares keys
      state_file: stateFile,
      table_options: { codes: { incremental_column: "updated_at" } },
    });
    await init(plugin, { ...spec, table_options: {}, state_file: null });
    const whole = await sync(plugin, { tables: ["codes"] });
    expect(whole.errors).toEqual([]);
    expect(whole.failure).toBeUndefined();
    expect((await rowsOf(whole, "codes")).map((r) => r.code)).toHaveLength(23);

    await init(plugin, spec);
    expect((await rowsOf(await sync(plugin, { tables: ["codes"] }), "codes")).length).toBe(23);
    await sql(url, `UPDATE codes SET updated_at = '2025-01-01' WHERE code::text = 'c007'`);
    const next = await sync(plugin, { tables: ["codes"] });
    expect(next.errors).toEqual([]);
    expect((await rowsOf(next, "codes")).map((r) => r.code)).toEqual(["c007"]);
    expect(logText()).not.toMatch(/hostile operator called/);
  });
});

describe("the state file", () => {
  test("is written through a random temp name, created exclusively with mode 0600: a planted link is not followed", async () => {
    const folder = fs.mkdtempSync(path.join(plugin.cwd, "state-"));
    const file = path.join(folder, "state.json");
    const victim = path.join(folder, "victim.txt");
    fs.writeFileSync(victim, "keep me");
    // the names an attacker could predict: the old `<file>.<pid>.tmp`, for every pid nearby
    for (let pid = process.pid - 5; pid <= process.pid + 5; pid++) fs.symlinkSync(victim, `${file}.${pid}.tmp`);
    const store = new FileCursorStore(file);
    await store.set("k", { column: "updated_at", key: ["id"], after: ["2024-01-01", "1"] });
    expect(fs.readFileSync(victim, "utf8")).toBe("keep me");
    expect(fs.lstatSync(file).isSymbolicLink()).toBe(false);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(await store.get("k")).toMatchObject({ after: ["2024-01-01", "1"] });
    expect(fs.readdirSync(folder).filter((f) => f.endsWith(".tmp") && !fs.lstatSync(path.join(folder, f)).isSymbolicLink())).toEqual([]);
  });

  test.each([
    ['"after": "ab"', { version: 1, cursors: { k: { column: "c", key: ["id"], after: "ab" } } }, /cursor "k": "after" is not a list of text/],
    ['"cursors": null', { version: 1, cursors: null }, /"cursors" is not an object/],
    ["a list", [], /it is not a JSON object/],
  ])("a wrong shape (%s) is a clear error naming the file, in Sync too", async (_, content, problem) => {
    const file = path.join(plugin.cwd, `wrong-${Math.random().toString(16).slice(2)}.json`);
    fs.writeFileSync(file, JSON.stringify(content));
    await expect(new FileCursorStore(file).get("k")).rejects.toThrow(problem);
    await expect(new FileCursorStore(file).get("k")).rejects.toThrow(`the state file ${file} is not this plugin's state`);
    await init(plugin, specFor(connection, { state_file: file, table_options: { codes: { incremental_column: "updated_at" } } }));
    const result = await sync(plugin, { tables: ["codes"] });
    const said = JSON.stringify([result.errors, result.failure?.details]);
    expect(said).toContain(`the state file ${file} is not this plugin's state`);
    expect(said).not.toMatch(/TypeError|Cannot read/);
  });
});
