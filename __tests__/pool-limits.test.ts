import * as net from "net";
import { buildPostgresApp } from "../src/app/postgresApp";
import { postgresQueryConnection } from "../src/connections/queryImport";
import { postgresTableConnection } from "../src/connections/tableImport";
import { openConnection } from "../src/postgres";
import type { HostProperty } from "../src/templates/host";
import { testApp } from "./support/app";
import { freshDatabase, sql } from "./support/db";
import { FakeHost, fakeRecord } from "./support/fakeHost";

/**
 * The user's timeouts are the time they wait: connect_timeout bounds getting a working connection,
 * every retry included, and a pool whose connections are all busy is no network fault.
 */

async function failureOf(work: Promise<unknown>): Promise<{ error: Error; seconds: number }> {
  const started = Date.now();
  try {
    await work;
  } catch (error) {
    return { error: error as Error, seconds: (Date.now() - started) / 1000 };
  }
  throw new Error("the call succeeded, a failure was expected");
}

describe("a server that accepts TCP and never answers, with connect_timeout 3", () => {
  let silent: net.Server;
  const sockets: net.Socket[] = [];
  let appOptions: Record<string, string>;
  // 3 s and what a loaded machine adds; five retries of 3 s each (the defect) take over 15 s
  const BOUND_S = 3 + 2.5;

  beforeAll(async () => {
    silent = net.createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    appOptions = { host: "127.0.0.1", port: String((silent.address() as net.AddressInfo).port), database: "shop", user: "reader", password: "s3cret-pw", sslmode: "disable", connect_timeout: "3" };
  });

  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });

  const args = () => ({ connection: openConnection(appOptions), appOptions, sourceOptions: { table: "purchases" }, sourceMapping: { user_id: "userId" } });

  test("a table property import fails within connect_timeout, saying no answer came", async () => {
    const table = postgresTableConnection(new FakeHost());
    const base = args();
    const { error, seconds } = await failureOf(
      table.methods.recordProperties({ ...base, properties: [{ id: "p", key: "total", isArray: false }], propertyOptions: { p: { column: "amount", aggregationMethod: "sum" } }, propertyFilters: { p: [] }, records: [fakeRecord("r1", { userId: [1] })] })
    );
    await base.connection.close();
    expect(error.message).toMatch(/no answer from 127\.0\.0\.1:\d+ within connect_timeout \(3 s\)/);
    expect(error.message).not.toContain("s3cret-pw");
    expect(seconds).toBeLessThan(BOUND_S);
  });

  test("a query property fails within connect_timeout", async () => {
    const query = postgresQueryConnection(new FakeHost());
    const connection = openConnection(appOptions);
    const property: HostProperty = { id: "p", key: "total", type: "float", isArray: false };
    const { error, seconds } = await failureOf(
      query.methods.recordProperty({ connection, appOptions, property, propertyOptions: { query: "SELECT 1 WHERE {{{ userId }}} = 1" }, record: fakeRecord("r1", { userId: [1] }) })
    );
    await connection.close();
    expect(error.message).toMatch(/within connect_timeout/);
    expect(seconds).toBeLessThan(BOUND_S);
  });

  test("a preview fails within connect_timeout", async () => {
    const table = postgresTableConnection(new FakeHost());
    const base = args();
    const { error, seconds } = await failureOf(table.methods.sourcePreview(base));
    await base.connection.close();
    expect(error.message).toMatch(/within connect_timeout/);
    expect(seconds).toBeLessThan(BOUND_S);
  });

  test("the App's test fails within connect_timeout", async () => {
    const started = Date.now();
    const result = await testApp(buildPostgresApp(() => {}), appOptions).catch((error: Error) => ({ success: false, message: error.message }));
    expect(result.success).toBe(false);
    expect(result.message).toMatch(/within connect_timeout/);
    expect((Date.now() - started) / 1000).toBeLessThan(BOUND_S);
  });
});

describe("a pool smaller than the work a process runs at once", () => {
  let appOptions: Record<string, string>;
  let url: string;
  const property: HostProperty = { id: "p", key: "slow", type: "float", isArray: false };

  beforeAll(async () => {
    ({ url, appOptions } = await freshDatabase("gpp_pool_limits"));
  });

  const slowRead = (connection: ReturnType<typeof openConnection>, seconds: number, userId: number) =>
    postgresQueryConnection(new FakeHost()).methods.recordProperty({
      connection,
      appOptions,
      property,
      propertyOptions: { query: `SELECT {{{ userId }}}::int AS v FROM pg_sleep(${seconds})` },
      record: fakeRecord(`r${userId}`, { userId: [userId] }),
    });

  test("six concurrent slow reads on a pool of 2 wait their turn: none fails", async () => {
    const logs: string[] = [];
    const connection = openConnection({ ...appOptions, pool_size: "2", connect_timeout: "20" }, (message) => logs.push(message));
    try {
      const values = await Promise.all([1, 2, 3, 4, 5, 6].map((u) => slowRead(connection, 0.4, u)));
      expect(values).toEqual([[1], [2], [3], [4], [5], [6]]);
      // waiting for a free connection is no connection fault: nothing was retried
      expect(logs.filter((l) => /retrying/.test(l))).toEqual([]);
    } finally {
      await connection.close();
    }
  });

  test("a read that waits longer than connect_timeout for a free connection says the pool is full, not the network", async () => {
    const logs: string[] = [];
    const connection = openConnection({ ...appOptions, pool_size: "2", connect_timeout: "1", application_name: "gpp_pool_full" }, (message) => logs.push(message));
    try {
      const holders = [slowRead(connection, 4, 1), slowRead(connection, 4, 2)];
      // both connections are busy before the third read asks for one
      for (let i = 0; i < 100; i++) {
        const { rows } = await sql(url, "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'gpp_pool_full' AND query LIKE '%pg_sleep%' AND state = 'active'");
        if (Number(rows[0].n) === 2) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const { error } = await failureOf(slowRead(connection, 0, 3));
      expect(error.message).toMatch(/all 2 connections of the pool were busy with other reads for 1\.0 s/);
      expect(error.message).toMatch(/raise the App option `pool_size` \(now 2\)/);
      expect(error.message).not.toMatch(/no answer|firewall|host/);
      expect(logs.filter((l) => /retrying/.test(l))).toEqual([]);
      expect(await Promise.all(holders)).toEqual([[1], [2]]);
    } finally {
      await connection.close();
    }
  });
});

test("pool_size defaults to the process's WORKERS + 1, at least 5", () => {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { defaultPoolSize } = require("../src/postgres/settings");
  expect(defaultPoolSize({})).toBe(5);
  expect(defaultPoolSize({ WORKERS: "2" })).toBe(5);
  expect(defaultPoolSize({ WORKERS: "10" })).toBe(11);
  expect(defaultPoolSize({ WORKERS: "500" })).toBe(100);
});
