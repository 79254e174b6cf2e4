import { Client } from "pg";
import { postgresTableConnection } from "../src/connections/tableImport";
import { openConnection, PostgresConnection } from "../src/postgres";
import { FakeHost } from "./support/fakeHost";
import { runSchedule } from "./support/runs";
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { startPostgres, createDatabase } = require("../scripts/postgres-server");

// A server of its own, so that it can be restarted under a run.
describe("faults during a run", () => {
  let server: { url: string; restart(): Promise<void>; stop(): Promise<void> };
  let appOptions: Record<string, string>;
  let connection: PostgresConnection;
  const host = new FakeHost();
  const { importedRecords: imports, messages: logs } = host;
  const table = postgresTableConnection(host);
  const ROWS = 3000;

  beforeAll(async () => {
    server = await startPostgres();
    const url: string = await createDatabase(server.url, "faults");
    const client = new Client({ connectionString: url });
    await client.connect();
    await client.query(`CREATE TABLE events (id int PRIMARY KEY, seen_at timestamptz);
      INSERT INTO events SELECT i, timestamptz '2024-01-01' + (i / 7) * interval '1 minute' FROM generate_series(1, ${ROWS}) i;`);
    await client.end();
    const u = new URL(url);
    appOptions = { host: u.hostname, port: u.port, database: "faults", user: u.username, password: decodeURIComponent(u.password), sslmode: "disable", connect_timeout: "30" };
    connection = openConnection(appOptions, (message) => logs.push(message));
  });

  afterAll(async () => {
    await connection?.close();
    await server?.stop();
  });

  beforeEach(() => imports.splice(0));

  const args = () => ({ connection, appOptions, sourceOptions: { table: "events" }, sourceMapping: { id: "eventId" } });

  async function runWithRestartAt(batchToRestart: number, incremental: boolean) {
    let batch = 0;
    let restart: Promise<void> | undefined;
    const importRecords: typeof table.methods.importRecords = async (a) => {
      batch++;
      // the server goes down while this batch reads: the read is retried once the server is back
      if (batch === batchToRestart) restart = server.restart();
      return table.methods.importRecords(a);
    };
    const result = await runSchedule(importRecords, args(), { incremental, column: "seen_at", limit: 200 });
    await restart;
    return result;
  }

  test("a server restarted mid-run (incremental) loses no row and imports none twice", async () => {
    const { batches } = await runWithRestartAt(4, true);
    const ids = imports.map((r) => r.eventId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toHaveLength(ROWS);
    expect(batches.filter((b) => b > 0).length).toBe(ROWS / 200);
    expect(logs.some((l) => /retrying the read/.test(l) || /idle connection was lost/.test(l))).toBe(true);
  });

  test("a server restarted mid-run (full walk) loses no row and imports none twice", async () => {
    await runWithRestartAt(9, false);
    const ids = imports.map((r) => r.eventId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toHaveLength(ROWS);
  });
});
