import { freshDatabase, sql } from "../support/db";
import { cutHappened, FaultProxy } from "../support/faultProxy";
import { init, removeTemporaryFolders, RunningPlugin, rowsOf, startPlugin, stopDecoder, sync } from "./support/plugin";

/**
 * The CloudQuery reader when the connection breaks in the middle of a binary COPY: the plugin
 * process lives on (no unhandled 'error'), the page is read again from the last row sent, and every
 * row arrives once. A proxy breaks the connection at an exact CopyData message.
 */
let plugin: RunningPlugin;
let proxy: FaultProxy;
let database: Record<string, string>;
const ROWS = 30000;

beforeAll(async () => {
  const db = await freshDatabase("gpp_cq_faults");
  database = db.appOptions;
  await sql(db.url, `CREATE TABLE many (id int4 PRIMARY KEY, name text NOT NULL);
    INSERT INTO many SELECT i, 'name ' || i FROM generate_series(1, ${ROWS}) i;
    CREATE TABLE events (id int4 PRIMARY KEY, updated_at timestamptz);
    INSERT INTO events SELECT i, timestamptz '2024-01-01' + (i / 3) * interval '1 second' FROM generate_series(1, ${ROWS}) i;`);
  proxy = await FaultProxy.start({ host: database.host, port: Number(database.port) });
  plugin = await startPlugin();
});

afterAll(async () => {
  await plugin?.stop();
  await proxy?.stop();
  await stopDecoder();
  removeTemporaryFolders();
});

const spec = (extra: Record<string, unknown> = {}) => ({ host: "127.0.0.1", port: proxy.port, database: database.database, user: database.user, password: database.password, sslmode: "disable", connect_timeout: 10, ...extra });

async function idsOf(table: string): Promise<number[]> {
  const result = await sync(plugin, { tables: [table] }, 60000);
  expect(result.failure).toBeUndefined();
  expect(result.errors).toEqual([]);
  return (await rowsOf(result, table)).map((r) => r.id as number);
}

function expectEveryRowOnce(ids: number[]) {
  expect(new Set(ids).size).toBe(ids.length);
  expect([...ids].sort((a, b) => a - b)).toEqual(Array.from({ length: ROWS }, (_, i) => i + 1));
}

test("a connection broken in the middle of a COPY page: the page is read again, every row once", async () => {
  await init(plugin, spec());
  // the 12,001st CopyData message from now on (the header comes with the first row): the second batch of the page
  let copyData = 0;
  const cut = proxy.cutWhen((m) => m.type === "d" && ++copyData === 12001);
  expectEveryRowOnce(await idsOf("many"));
  await cutHappened(cut);
  expect(plugin.child.exitCode).toBeNull();
  expect(plugin.logs.some((l) => /connection was lost during a read/.test(l.message))).toBe(true);
});

test("an incremental table: broken mid-page, every row once, and the next sync sends nothing", async () => {
  await init(plugin, spec({ table_options: { events: { incremental_column: "updated_at" } } }));
  let copyData = 0;
  const cut = proxy.cutWhen((m) => m.type === "d" && ++copyData === 15001);
  expectEveryRowOnce(await idsOf("events"));
  await cutHappened(cut);
  expect(plugin.child.exitCode).toBeNull();
  // the cursor saved after the retried read is the table's end: a second sync sends nothing
  expect(await idsOf("events")).toEqual([]);
});
