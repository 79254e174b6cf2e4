import { postgresQueryConnection } from "../src/connections/queryImport";
import { postgresTableConnection } from "../src/connections/tableImport";
import { openConnection, PostgresConnection } from "../src/postgres";
import type { HostProperty } from "../src/templates/host";
import { freshDatabase, sql } from "./support/db";
import { FakeHost, fakeRecord } from "./support/fakeHost";
import { commandTag, cutHappened, FaultProxy } from "./support/faultProxy";
import { runSchedule } from "./support/runs";

/**
 * A connection broken at each point where a client is checked out of the pool: no unhandled 'error'
 * (it would kill a Grouparoo worker and fail this test as an uncaught exception), no row lost or
 * imported twice, every value right. A proxy breaks the connection at an exact protocol message, so
 * each test hits its window every time, however busy the machine is.
 */
describe("a connection dropped while a client is checked out", () => {
  let proxy: FaultProxy;
  let appOptions: Record<string, string>;
  let url: string;
  const ROWS = 1500;
  const uncaught: Error[] = [];
  const onUncaught = (error: Error) => uncaught.push(error);

  beforeAll(async () => {
    const db = await freshDatabase("gpp_fault_windows");
    url = db.url;
    await sql(
      url,
      `CREATE TABLE events (id int PRIMARY KEY, seen_at timestamptz);
       INSERT INTO events SELECT i, timestamptz '2024-01-01' + (i / 7) * interval '1 minute' FROM generate_series(1, ${ROWS}) i;
       CREATE TABLE purchases (user_id int, amount numeric);
       INSERT INTO purchases SELECT i % 10, i FROM generate_series(1, 100) i;`
    );
    proxy = await FaultProxy.start({ host: db.appOptions.host, port: Number(db.appOptions.port) });
    appOptions = { ...db.appOptions, port: String(proxy.port), connect_timeout: "10" };
    process.on("uncaughtException", onUncaught);
  });

  afterAll(async () => {
    process.off("uncaughtException", onUncaught);
    await proxy?.stop();
  });

  afterEach(() => {
    expect(proxy.disarm()).toBe(false); // every armed cut happened
    expect(uncaught).toEqual([]);
  });

  async function walk(connection: PostgresConnection, incremental: boolean) {
    const host = new FakeHost();
    const { importedRecords: imports } = host;
    const table = postgresTableConnection(host);
    await runSchedule(table.methods.importRecords, { connection, appOptions, sourceOptions: { table: "events" }, sourceMapping: { id: "eventId" } }, { incremental, column: "seen_at", limit: 200 });
    return { ids: imports.map((r) => r.eventId as number) };
  }

  function expectEveryRowOnce(ids: number[]) {
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.sort((a, b) => a - b)).toEqual(Array.from({ length: ROWS }, (_, i) => i + 1));
  }

  test("in the middle of a page's rows: the page is read again, no row lost or twice", async () => {
    const logs: string[] = [];
    const connection = openConnection(appOptions, (message) => logs.push(message));
    try {
      // the 700th row of one connection: inside the fourth page
      const cut = proxy.cutWhen((m, h) => m.type === "D" && h.count.D === 700);
      const { ids } = await walk(connection, true);
      await cutHappened(cut);
      expectEveryRowOnce(ids);
      expect(logs.some((l) => /retrying the read/.test(l))).toBe(true);
    } finally {
      await connection.close();
    }
  });

  test("after a page's last row, before the statement completes (full walk)", async () => {
    const connection = openConnection(appOptions);
    try {
      const cut = proxy.cutWhen((m, h) => (m.type === "C" && commandTag(m).startsWith("SELECT") && (h.count.D ?? 0) >= 800 ? "before" : false));
      const { ids } = await walk(connection, false);
      await cutHappened(cut);
      expectEveryRowOnce(ids);
    } finally {
      await connection.close();
    }
  });

  describe("a property query (user SQL in a read-only transaction)", () => {
    const property: HostProperty = { id: "prp_total", key: "total", type: "float", isArray: false };
    const records = Array.from({ length: 10 }, (_, i) => fakeRecord(`rec_${i}`, { userId: [i] }));

    async function values(connection: PostgresConnection): Promise<unknown[]> {
      const query = postgresQueryConnection(new FakeHost());
      const out: unknown[] = [];
      for (const record of records) {
        const value = await query.methods.recordProperty({ connection, appOptions, property, propertyOptions: { query: "SELECT sum(amount) FROM purchases WHERE user_id = {{{ userId }}}" }, record });
        out.push(value?.[0]);
      }
      return out;
    }
    const expected = Array.from({ length: 10 }, (_, u) => Array.from({ length: 100 }, (_, i) => i + 1).filter((i) => i % 10 === u).reduce((a, b) => a + b, 0));

    // the whole transaction goes in one flight (BEGIN, SET LOCAL, the statement, ROLLBACK, the look for
    // leftovers): the connection breaks while the server's answers to it are arriving
    test("between BEGIN and the statement", async () => {
      const connection = openConnection(appOptions);
      try {
        // the transaction is open (BEGIN, and SET LOCAL of the user's search path), the statement not answered yet
        const cut = proxy.cutWhen((m, h) => commandTag(m) === "SET" && (h.count.C ?? 0) >= 10);
        expect(await values(connection)).toEqual(expected);
        await cutHappened(cut);
      } finally {
        await connection.close();
      }
    });

    test("between the statement's last row and the rollback", async () => {
      const connection = openConnection(appOptions);
      try {
        const cut = proxy.cutWhen((m, h) => commandTag(m).startsWith("SELECT") && h.lastCommand === "SET" && (h.count.C ?? 0) >= 10);
        expect(await values(connection)).toEqual(expected);
        await cutHappened(cut);
        // the client that lost its connection was not pooled again: the next reads work at once
        expect(await values(connection)).toEqual(expected);
      } finally {
        await connection.close();
      }
    });
  });

  test("a connection dropped while a client is idle in the pool is replaced", async () => {
    const logs: string[] = [];
    const connection = openConnection(appOptions, (message) => logs.push(message));
    try {
      await connection.query("SELECT 1");
      const before = proxy.accepted;
      await sql(url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'grouparoo-plugin-postgres' AND datname = current_database()");
      await new Promise((resolve) => setTimeout(resolve, 200));
      const { rows } = await connection.query("SELECT 2 AS two");
      expect(rows).toEqual([{ two: 2 }]);
      expect(proxy.accepted).toBeGreaterThan(before);
    } finally {
      await connection.close();
    }
  });
});
