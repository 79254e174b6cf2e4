import { Client } from "pg";
import { openConnection, PostgresConnection } from "../src/postgres";
import { SESSION_STATEMENT_LIMIT } from "../src/postgres/flight";
import { freshDatabase, sql } from "./support/db";
import { cutHappened, FaultProxy } from "./support/faultProxy";

/**
 * The named statements a session keeps for user queries (issue 18): each text parsed once per
 * session, and the registry of them right after whatever can change the session's statements under
 * it: a user's DEALLOCATE ALL, an ALTER TABLE that changes a statement's result columns, a
 * connection killed between two queries, more texts than the session keeps.
 */

let url: string;
let appOptions: Record<string, string>;
let connection: PostgresConnection;

beforeAll(async () => {
  ({ url, appOptions } = await freshDatabase("gpp_query_statements"));
  await sql(
    url,
    `CREATE TABLE accounts (id int PRIMARY KEY, email text, score int);
     INSERT INTO accounts VALUES (1, 'ann@example.com', 10), (2, 'bob@example.com', 20);
     CREATE FUNCTION drop_statements() RETURNS int LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'DEALLOCATE ALL'; RETURN 1; END $$;`
  );
  // one connection: every query gets the session the previous one used
  connection = openConnection({ ...appOptions, pool_size: "1" });
});

afterAll(async () => {
  await connection?.close();
});

/** The session's prepared statements, read on that session (the plugin's own SQL is not a user query). */
async function onSession(): Promise<{ name: string; statement: string; from_sql: boolean; runs: number }[]> {
  const { rows } = await connection.query("SELECT name, statement, from_sql, (generic_plans + custom_plans)::int AS runs FROM pg_prepared_statements ORDER BY name");
  return rows as { name: string; statement: string; from_sql: boolean; runs: number }[];
}

const EMAIL = "SELECT email FROM accounts WHERE id = $1";

test("a text is parsed once per session and then only bound; every statement on the session is the plugin's", async () => {
  for (const id of [1, 2, 1]) await connection.queryUserSql(EMAIL, [id]);
  const statements = await onSession();
  const email = statements.filter((s) => s.statement === EMAIL);
  expect(email).toHaveLength(1);
  expect(email[0].runs).toBe(3);
  expect(statements.every((s) => !s.from_sql && /^gpp_s\d+$/.test(s.name))).toBe(true);
});

test("a user's DEALLOCATE ALL: that query and the next ones still answer, and the registry follows", async () => {
  expect((await connection.queryUserSql(EMAIL, [1])).rows).toEqual([{ email: "ann@example.com" }]);
  expect((await connection.queryUserSql("SELECT drop_statements() AS dropped", [])).rows).toEqual([{ dropped: 1 }]);
  expect((await connection.queryUserSql(EMAIL, [2])).rows).toEqual([{ email: "bob@example.com" }]);
  expect((await connection.queryUserSql(EMAIL, [1])).rows).toEqual([{ email: "ann@example.com" }]);
  const email = (await onSession()).filter((s) => s.statement === EMAIL);
  expect(email).toHaveLength(1);
  expect(email[0].runs).toBe(2); // parsed again after the DEALLOCATE ALL, then bound
});

test("a column's type changed between two runs of the same text: parsed again, the new type read", async () => {
  const text = "SELECT score FROM accounts WHERE id = $1";
  expect((await connection.queryUserSql(text, [1])).rows).toEqual([{ score: 10 }]);
  await sql(url, "ALTER TABLE accounts ALTER COLUMN score TYPE text USING 'score ' || score");
  try {
    const result = await connection.queryUserSql(text, [1]);
    expect(result.rows).toEqual([{ score: "score 10" }]);
    expect(result.fields).toEqual([{ name: "score", dataTypeID: 25 }]);
    expect((await onSession()).filter((s) => s.statement === text)).toHaveLength(1);
  } finally {
    await sql(url, "ALTER TABLE accounts ALTER COLUMN score TYPE int USING substr(score, 7)::int");
  }
});

test("no more statements than the limit stay on a session, the least recently used closed", async () => {
  for (let i = 0; i < SESSION_STATEMENT_LIMIT + 10; i++) {
    expect((await connection.queryUserSql(`SELECT ${i} + $1::int AS n`, [1])).rows).toEqual([{ n: i + 1 }]);
  }
  const statements = await onSession();
  expect(statements.length).toBeLessThanOrEqual(SESSION_STATEMENT_LIMIT);
  expect(statements.some((s) => s.statement === `SELECT ${SESSION_STATEMENT_LIMIT + 9} + $1::int AS n`)).toBe(true);
  expect(statements.some((s) => s.statement === "SELECT 0 + $1::int AS n")).toBe(false);
});

describe("a connection killed between two queries", () => {
  let proxy: FaultProxy;
  let proxied: PostgresConnection;

  beforeAll(async () => {
    proxy = await FaultProxy.start({ host: appOptions.host, port: Number(appOptions.port) });
    proxied = openConnection({ ...appOptions, port: String(proxy.port), pool_size: "1", connect_timeout: "10" });
  });

  afterAll(async () => {
    await proxied?.close();
    await proxy?.stop();
  });

  test("the next query, on a new session, parses its statements again and answers", async () => {
    expect((await proxied.queryUserSql(EMAIL, [1])).rows).toEqual([{ email: "ann@example.com" }]);
    const accepted = proxy.accepted;
    // the session dies at the end of the next flight, once its statements are bound and run
    const cut = proxy.cutWhen((m) => m.type === "Z");
    const next = proxied.queryUserSql(EMAIL, [2]).catch((error: Error) => error);
    await cutHappened(cut);
    await next; // answered or failed: the session is gone either way
    expect((await proxied.queryUserSql(EMAIL, [2])).rows).toEqual([{ email: "bob@example.com" }]);
    expect((await proxied.queryUserSql(EMAIL, [1])).rows).toEqual([{ email: "ann@example.com" }]);
    expect(proxy.accepted).toBeGreaterThan(accepted);
    // the new session holds each text once, and the registry knows them (no stale name was bound)
    const { rows } = await proxied.query("SELECT statement FROM pg_prepared_statements");
    expect(rows.filter((r) => r.statement === EMAIL)).toHaveLength(1);
  });
});

test("a server-side kill (pg_terminate_backend) between two queries: the next one answers", async () => {
  expect((await connection.queryUserSql(EMAIL, [1])).rows).toEqual([{ email: "ann@example.com" }]);
  const { rows } = await connection.query("SELECT pg_backend_pid() AS pid");
  const admin = new Client({ connectionString: url });
  await admin.connect();
  try {
    await admin.query("SELECT pg_terminate_backend($1)", [rows[0].pid]);
  } finally {
    await admin.end();
  }
  expect((await connection.queryUserSql(EMAIL, [2])).rows).toEqual([{ email: "bob@example.com" }]);
});
