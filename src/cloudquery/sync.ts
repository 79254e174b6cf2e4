import type { ServerWritableStream } from "@grpc/grpc-js";
import { pluginV3 } from "@cloudquery/plugin-pb-javascript";
import { errorMessage, type PostgresConnection } from "../postgres";
import { loadArrow } from "./esm";
import type { Logger } from "./logger";
import type { Spec } from "./spec";
import { cursorKey, CursorStore } from "./state";
import { arrowSchema, encodeSchema } from "./arrowSchema";
import { discoverTables, selectTables, shardTables, SourceTable } from "./tableSelection";
import { InsertOutput, syncTable } from "./tableSync";
import type { IpcStream } from "./batch";

const v3 = pluginV3.cloudquery.plugin.v3;
/** A Sync response: a protobuf message, or the bytes of one already encoded (see `encodeInsert`). */
export type SyncResponse = InstanceType<typeof v3.Sync.Response> | Buffer;
type SyncCall = ServerWritableStream<InstanceType<typeof v3.Sync.Request>, SyncResponse>;

function varintLength(value: number): number {
  let length = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    length++;
  }
  return length;
}

function writeVarint(buffer: Buffer, at: number, value: number): number {
  while (value >= 0x80) {
    buffer[at++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 128);
  }
  buffer[at++] = value;
  return at;
}

/**
 * `Sync.Response{insert: MessageInsert{record}}` encoded by hand (field 2, then field 1, both
 * length-delimited), with the record's parts copied once into the message: the generated classes
 * would copy a batch of megabytes two more times.
 */
export function encodeInsert(record: IpcStream): Buffer {
  const inner = 1 + varintLength(record.length) + record.length;
  const buffer = Buffer.allocUnsafe(1 + varintLength(inner) + inner);
  let at = 0;
  buffer[at++] = (2 << 3) | 2;
  at = writeVarint(buffer, at, inner);
  buffer[at++] = (1 << 3) | 2;
  at = writeVarint(buffer, at, record.length);
  for (const part of record.parts) {
    buffer.set(part, at);
    at += part.byteLength;
  }
  return buffer;
}

/** Sync's serializer: encoded messages pass as they are. */
export function serializeSyncResponse(response: SyncResponse): Buffer {
  return Buffer.isBuffer(response) ? response : Buffer.from(response.serialize());
}

/**
 * The Sync stream as the tables see it: messages are written as they come. A table waits
 * (`ready`) before its next read while the client is behind: grpc's own signal (`write` returned
 * false, until `drain`), or more than `softLimitBytes` handed to grpc and not yet written to the
 * connection. A read in progress is not held up for that (a statement paused for long would meet
 * the statement timeout); it is paused only past `4 × softLimitBytes` (rows far wider than usual).
 */
export class SyncOutput implements InsertOutput {
  cancelled = false;
  private inFlight = 0;
  private waitingForDrain = false;
  private waiters: { resolve: () => void; reject: (error: Error) => void }[] = [];

  constructor(private readonly call: SyncCall, private readonly softLimitBytes: number) {
    call.on("drain", () => {
      this.waitingForDrain = false;
      this.wake();
    });
    call.on("cancelled", () => this.cancel());
    call.on("close", () => this.cancel());
  }

  private get behind(): boolean {
    return this.waitingForDrain || this.inFlight > this.softLimitBytes;
  }

  private get overloaded(): boolean {
    return this.inFlight > 4 * this.softLimitBytes;
  }

  private send(message: SyncResponse, size: number): boolean {
    if (this.cancelled) return false;
    this.inFlight += size;
    const accepted = this.call.write(message, () => {
      this.inFlight -= size;
      this.wake();
    });
    if (!accepted) this.waitingForDrain = true;
    return !this.overloaded;
  }

  insert(record: IpcStream): boolean {
    return this.send(encodeInsert(record), record.length);
  }

  migrateTable(table: Uint8Array): boolean {
    return this.send(new v3.Sync.Response({ migrate_table: new v3.Sync.MessageMigrateTable({ table }) }), table.byteLength);
  }

  error(tableName: string, message: string): boolean {
    return this.send(new v3.Sync.Response({ error: new v3.Sync.MessageError({ table_name: tableName, error: message }) }), message.length);
  }

  ready(): Promise<void> {
    if (this.cancelled) return Promise.reject(new Error("the sync was cancelled"));
    if (!this.behind) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  private wake(): void {
    if (this.behind || this.waiters.length === 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter.resolve();
  }

  private cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter.reject(new Error("the sync was cancelled"));
  }
}

export interface SyncRequest {
  tables: string[];
  skipTables: string[];
  shard?: { num: number; total: number };
  /** the CLI understands `error` messages (else a failed table fails the whole Sync) */
  withErrorMessages: boolean;
  /** `Sync.backend.table_name`: a namespace for the cursors of this source */
  backendTableName: string;
}

export interface SyncSession {
  spec: Spec;
  connection: PostgresConnection;
  store: CursorStore;
  logger: Logger;
}

/** Runs `work` over `items`, at most `limit` at a time. */
async function eachLimited<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++]);
  });
  await Promise.all(workers);
}

/** Streams a Sync: `migrate_table` for every table, then each table's batches, tables side by side. */
export async function runSync(session: SyncSession, request: SyncRequest, call: SyncCall): Promise<void> {
  const { spec, connection, logger } = session;
  const output = new SyncOutput(call, Math.max(2 * spec.batchSizeBytes, 4 * 1024 * 1024));
  const arrow = await loadArrow();
  const tables: SourceTable[] = shardTables(selectTables(await discoverTables(connection, spec), request.tables, request.skipTables), request.shard);
  const schemas = new Map(tables.map((table) => [table, arrowSchema(arrow, table)]));
  logger.info("sync started", { tables: tables.length, concurrency: spec.concurrency, state: session.store.description });
  const started = Date.now();
  const syncKey = `sync ${started} ${Math.random()}`;

  for (const table of tables) output.migrateTable(encodeSchema(arrow, schemas.get(table)!));
  await output.ready();

  const failures: { table: string; message: string }[] = [];
  let totalRows = 0;
  await eachLimited(tables, spec.concurrency, async (table) => {
    if (output.cancelled) return;
    const tableStarted = Date.now();
    try {
      const result = await syncTable(
        {
          arrow,
          connection,
          store: session.store,
          cursorKey: cursorKey({
            namespace: request.backendTableName,
            host: spec.settings.host,
            port: spec.settings.port,
            database: spec.settings.database,
            schema: table.relation.schema,
            table: table.relation.name,
          }),
          batchRows: spec.batchSize,
          batchBytes: spec.batchSizeBytes,
          output,
          logger,
          runKey: syncKey,
        },
        table,
        schemas.get(table)!
      );
      totalRows += result.rows;
      const seconds = (Date.now() - tableStarted) / 1000;
      logger.info("table synced", { table: table.name, rows: result.rows, batches: result.batches, seconds, incremental: Boolean(table.incrementalColumn) });
      if (result.unrepresentable) {
        logger.warn("values with no Arrow representation (±infinity dates or timestamps, NaN decimals) were sent as NULL", { table: table.name, values: result.unrepresentable });
      }
      if (result.flattenedArrays) {
        logger.warn("multidimensional arrays were sent flattened into one list", { table: table.name, values: result.flattenedArrays });
      }
    } catch (error) {
      if (output.cancelled) return;
      const message = errorMessage(error) || String(error);
      failures.push({ table: table.name, message });
      logger.error("table failed", { table: table.name, error: message });
      if (request.withErrorMessages) output.error(table.name, message);
    }
  });

  if (output.cancelled) {
    logger.warn("sync cancelled by the client", { rows: totalRows });
    return;
  }
  await output.ready().catch(() => {});
  logger.info("sync finished", { rows: totalRows, failed_tables: failures.length, seconds: (Date.now() - started) / 1000 });
  if (failures.length && !request.withErrorMessages) {
    throw new Error(`${failures.length} table(s) failed: ${failures.map((f) => `${f.table}: ${f.message}`).join("; ")}`);
  }
}
