import { errorMessage, type PostgresConnection } from "../postgres";
import { loadArrow } from "./esm";
import type { Logger } from "./logger";
import type { Spec } from "./spec";
import { cursorKey, CursorStore } from "./state";
import { arrowSchema, encodeSchema } from "./arrowSchema";
import type { SyncCall } from "./syncMessages";
import { SyncOutput } from "./syncOutput";
import { discoverTables, selectTables, shardTables, SourceTable } from "./tableSelection";
import { syncTable } from "./tableSync";

/** A Sync's orchestration: the tables chosen, their schemas sent, the tables read side by side (the wire format is in syncMessages.ts, back-pressure in syncOutput.ts). */

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
