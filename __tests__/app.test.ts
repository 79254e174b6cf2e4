import net from "net";
import { testApp } from "./support/app";
import { buildPostgresApp } from "../src/app/postgresApp";
import { PostgresConnection, parseSettings, openConnection } from "../src/postgres";
import { freshDatabase, sql } from "./support/db";

const logged: string[] = [];
const app = buildPostgresApp((message) => logged.push(message));
let url: string;
let options: Record<string, string>;

beforeAll(async () => {
  ({ url, appOptions: options } = await freshDatabase("gpp_app"));
  await sql(url, `CREATE TABLE public.customers (id int primary key, email text)`);
  await sql(url, `CREATE TABLE public.orders (id int primary key)`);
  await sql(url, `CREATE SCHEMA shop`);
  await sql(url, `CREATE TABLE shop.customers (id int primary key, note text)`);
});

const testWith = (appOptions: Record<string, string>) => testApp(app, appOptions);

/** A port on which nothing listens. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

describe("the postgres App", () => {
  test("test succeeds and says what it found: server version, user, tables of the schema", async () => {
    const result = await testWith(options);
    expect(result.success).toBe(true);
    expect(result.message).toMatch(/^PostgreSQL \d+/);
    expect(result.message).toContain(`as ${options.user}`);
    expect(result.message).toContain(`schema "public" has 2 tables and views: customers, orders`);
    expect(result.message).toContain("not encrypted (sslmode=disable)");
  });

  test("the UI's blank strings take the defaults; port comes as a string", async () => {
    const result = await testWith({ ...options, schema: "", ssl: "", sslmode: "disable", connect_timeout: "", statement_timeout: "" });
    expect(result.success).toBe(true);
    const settings = parseSettings({ ...options, schema: "", connect_timeout: "", statement_timeout: "", pool_size: "" });
    expect(settings).toMatchObject({ schema: "public", connectTimeoutMs: 10000, statementTimeoutMs: 120000, poolSize: 5, port: Number(options.port) });
  });

  test("a wrong password fails with the reason and never shows the password", async () => {
    const password = "not-the-password-1234";
    await expect(testWith({ ...options, password })).rejects.toThrow(/authentication failed for user "postgres"/);
    try {
      await testWith({ ...options, password });
    } catch (error) {
      expect((error as Error).message).not.toContain(password);
      expect((error as Error).message).toContain("`password`");
    }
    expect(logged.join("\n")).not.toContain(password);
  });

  test("an unknown database is named", async () => {
    await expect(testWith({ ...options, database: "no_such_db" })).rejects.toThrow(/database "no_such_db" does not exist: check the App option `database`/);
  });

  test("a closed port answers at once, and an unreachable host within the connect timeout", async () => {
    const port = await closedPort();
    const started = Date.now();
    await expect(testWith({ ...options, port: String(port), connect_timeout: "2" })).rejects.toThrow(/nothing accepts connections at 127\.0\.0\.1:\d+/);
    expect(Date.now() - started).toBeLessThan(2000);

    // a listener that accepts TCP but never answers: only the connect timeout ends the wait
    const silent = net.createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const silentPort = (silent.address() as net.AddressInfo).port;
    const t0 = Date.now();
    try {
      await expect(testWith({ ...options, port: String(silentPort), connect_timeout: "1" })).rejects.toThrow(/within connect_timeout \(1 s\)/);
      expect(Date.now() - t0).toBeLessThan(4000);
    } finally {
      silent.close();
    }
  });

  test("a missing database option and a malformed port are named", async () => {
    await expect(app.methods.connect({ appOptions: { ...options, database: "" } })).rejects.toThrow("App option `database` is required");
    await expect(app.methods.connect({ appOptions: { ...options, port: "54x" } })).rejects.toThrow("App option `port` must be a whole number");
    await expect(app.methods.connect({ appOptions: { ...options, sslmode: "strict" } })).rejects.toThrow("App option `sslmode` must be one of disable, prefer, require, verify-ca, verify-full");
  });

  test("the statement timeout is honoured", async () => {
    const connection = openConnection({ ...options, statement_timeout: "1" });
    try {
      const started = Date.now();
      await expect(connection.query("SELECT pg_sleep(5)")).rejects.toThrow(/statement_timeout/);
      expect(Date.now() - started).toBeLessThan(4000);
    } finally {
      await connection.close();
    }
  });

  test("an idle connection killed by the server does not crash the process, and the next read works", async () => {
    const connection = openConnection({ ...options, application_name: "gpp-idle-kill" }, (message) => logged.push(message));
    try {
      await connection.query("SELECT 1");
      const killed = await sql(url, `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = 'gpp-idle-kill'`);
      expect(killed.rows.length).toBeGreaterThan(0);
      await new Promise((r) => setTimeout(r, 500));
      const { rows } = await connection.query("SELECT 41 + 1 AS answer");
      expect(rows[0].answer).toBe(42);
      expect(logged.some((l) => l.includes("idle connection was lost"))).toBe(true);
    } finally {
      await connection.close();
    }
  });

  test("a read whose connection is killed mid-statement is retried, not failed", async () => {
    const connection = openConnection({ ...options, application_name: "gpp-busy-kill" });
    try {
      const read = connection.query("SELECT pg_sleep(1.5), 7 AS n");
      await new Promise((r) => setTimeout(r, 500));
      await sql(url, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'gpp-busy-kill' AND state = 'active'`);
      const { rows } = await read;
      expect(rows[0].n).toBe(7);
    } finally {
      await connection.close();
    }
  });

  test("user SQL searches the App's schema first without hiding public", async () => {
    const connection = openConnection({ ...options, schema: "shop" });
    try {
      const own = await connection.queryUserSql("SELECT * FROM customers");
      expect(own.fields.map((f) => f.name)).toEqual(["id", "note"]);
      const fromPublic = await connection.queryUserSql("SELECT count(*)::int AS n FROM orders");
      expect(fromPublic.rows[0].n).toBe(0);
    } finally {
      await connection.close();
    }
    const result = await testWith({ ...options, schema: "shop" });
    expect(result.message).toContain(`schema "shop" has 1 tables and views: customers`);
    await expect(testWith({ ...options, schema: "nope" })).rejects.toThrow('App option `schema` is wrong: schema "nope" does not exist');
  });

  test("sessions are read-only", async () => {
    const connection = openConnection(options);
    try {
      await expect(connection.query("INSERT INTO public.orders VALUES (1)")).rejects.toThrow(/read-only transaction/);
    } finally {
      await connection.close();
    }
  });

  test("appOptions renders the password as a password field and sslmode as a list", async () => {
    const ui = await app.methods.appOptions();
    expect(ui.password.type).toBe("password");
    expect(ui.sslmode).toMatchObject({ type: "list", options: ["disable", "prefer", "require", "verify-ca", "verify-full"] });
    for (const option of app.options) expect(option.description.length).toBeGreaterThan(10);
  });

  // the core calls disconnect when an App's options change and hands the old connection to tasks
  // until it returns: work in flight finishes, work that starts meanwhile does not fail (issue 17)
  test("disconnect drains the pool: reads in flight and reads that start meanwhile succeed, then no session is left", async () => {
    const appOptions = { ...options, application_name: "gpp_drain_test" };
    const sessions = async () => Number((await sql(url, "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'gpp_drain_test'")).rows[0].n);
    const connection = (await app.methods.connect({ appOptions })) as PostgresConnection;
    await connection.query("SELECT 1");
    const inFlight = connection.query("SELECT pg_sleep(0.5), 1 AS one");
    const closing = app.methods.disconnect({ appOptions, connection });
    const meanwhile = connection.query("SELECT 2 AS two");
    expect((await inFlight).rows[0].one).toBe(1);
    expect((await meanwhile).rows).toEqual([{ two: 2 }]);
    await closing;
    // the pool opened for the late read ends once it is idle: no session stays open
    for (let i = 0; i < 50 && (await sessions()) > 0; i++) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await sessions()).toBe(0);
  });
});
