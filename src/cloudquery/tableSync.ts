import type { Schema } from "@apache-arrow/esnext-esm";
import { errorMessage, isConnectionError, keysetSql, quoteIdentifier, quoteLiteral, typeInfo, watermarkHorizon, withRetry } from "../postgres";
import type { PostgresConnection } from "../postgres";
import { BatchBuilder, IpcStream } from "./batch";
import type { Arrow } from "./esm";
import type { Logger } from "./logger";
import type { Cursor, CursorStore } from "./state";
import type { SourceTable } from "./tableSelection";
import { HorizonHook, KeysetWalk, PageRange, WalkStep } from "../walk/planner";

/**
 * One table's rows, read in keyset pages by binary COPY and sent as Arrow record batches:
 * - a table with a key (primary key, a not-null unique key, or the spec's key_columns) is walked
 *   by key, a page of five batches per statement;
 * - an incremental table is walked in the phases that the walk planner (walk/planner.ts) gives
 *   the Grouparoo table source too: the rows whose incremental column is NULL, by key, then the
 *   rest by (incremental column, key), each after the last position sent. Before each page of the
 *   second phase over a time column, the commit horizon (postgres/horizon.ts) bounds what is read,
 *   so a row that an open transaction will still commit with an older value is sent by a later
 *   sync. The cursor is saved when the table has been sent whole;
 * - a relation without any key (most views) is read by one COPY, paused while the client is behind.
 * Memory stays bounded: a page is read as a stream, batches leave as they fill, the next page waits
 * until the client has caught up, and a read is paused if the client falls far behind.
 */

export interface InsertOutput {
  /** sends one `insert` message (its record: an Arrow IPC stream); false when the client is so far behind that reading must pause until `ready()` */
  insert(record: IpcStream): boolean;
  /** resolves when the client has caught up; rejects when the sync was cancelled */
  ready(): Promise<void>;
  readonly cancelled: boolean;
}

export interface TableSyncContext {
  arrow: Arrow;
  connection: PostgresConnection;
  store: CursorStore;
  cursorKey: string;
  batchRows: number;
  batchBytes: number;
  output: InsertOutput;
  logger: Logger;
  /** names the sync, so that a commit-horizon warning is given once per sync */
  runKey?: string;
}

export interface TableSyncResult {
  rows: number;
  batches: number;
  /** values sent as NULL because Arrow cannot hold them (±infinity, NaN) */
  unrepresentable: number;
  flattenedArrays: number;
}

const PAGE_BATCHES = 5;
const SOURCE_ALIAS = "__cq_source";
const POSITION_PREFIX = "__cq_position_";

function copySql(table: SourceTable, range: PageRange, limit: number): string {
  const selects = table.columns.map((c) => c.mapping.select);
  if (range.phase === "all") return `COPY (SELECT ${selects.join(", ") || ""} FROM ${table.sql}) TO STDOUT (FORMAT binary)`;
  // the relation's columns by its alias: ORDER BY would otherwise take a column sent as text, which has the same name
  const keyset = keysetSql(range, { bind: quoteLiteral, relation: SOURCE_ALIAS, positionPrefix: POSITION_PREFIX });
  return (
    `COPY (SELECT ${[...selects, ...keyset.positions].join(", ")} FROM ${table.sql} AS ${quoteIdentifier(SOURCE_ALIAS)}` +
    ` WHERE ${keyset.conditions.join(" AND ")} ORDER BY ${keyset.orderBy} LIMIT ${limit}) TO STDOUT (FORMAT binary)`
  );
}

function samePath(a: string[] | undefined, b: string[]): boolean {
  return Array.isArray(a) && a.length === b.length && a.every((v, i) => v === b[i]);
}

export async function syncTable(context: TableSyncContext, table: SourceTable, schema: Schema): Promise<TableSyncResult> {
  const { arrow, connection, output, logger } = context;
  let cursor: Cursor | undefined;
  if (table.incrementalColumn) {
    cursor = await context.store.get(context.cursorKey);
    if (cursor && (cursor.column !== table.incrementalColumn || !samePath(cursor.key, table.key))) {
      logger.info("the saved cursor belongs to another incremental column or key: the table is read from the start", { table: table.name, saved_column: cursor.column });
      cursor = undefined;
    }
  }
  // a sync reads the whole table in one call, so a short page ends a phase
  const walk = new KeysetWalk(
    { key: table.key, watermark: table.incrementalColumn, phaseEnd: "short page" },
    { nulls: cursor?.nullsAfter, values: cursor?.after }
  );
  const incremental = table.columns.find((c) => c.column.name === table.incrementalColumn)?.column.type;
  const horizonLog = (message: string, level: "info" | "warning") => (level === "warning" ? logger.warn(message, { table: table.name }) : logger.info(message, { table: table.name }));
  const horizon: HorizonHook | undefined = incremental && (() => watermarkHorizon(connection, typeInfo(incremental.typname, incremental.category), context.runKey ?? "sync", horizonLog));
  // a page is read as a stream (batches leave as they fill), so it can hold several batches:
  // fewer statements for the same memory
  const pageRows = context.batchRows * PAGE_BATCHES;
  const result: TableSyncResult = { rows: 0, batches: 0, unrepresentable: 0, flattenedArrays: 0 };
  let sentThisStatement = 0;

  const send = (builder: BatchBuilder) => {
    const rows = builder.rows;
    const record = builder.flush();
    // where the last batch sent ends: a page read again after a broken connection starts there
    const last = builder.lastPosition();
    if (last) walk.advance(last);
    sentThisStatement++;
    result.rows += rows;
    result.batches++;
    if (!output.insert(record)) {
      // the client is far behind: stop reading until it has caught up
      builder.flow?.pause();
      output.ready().then(
        () => builder.flow?.resume(),
        () => builder.discard()
      );
    }
  };

  let step: WalkStep;
  do {
    const builder: BatchBuilder = new BatchBuilder(arrow, schema, table, { rows: context.batchRows, bytes: context.batchBytes }, walk.range().orderBy.length, () => send(builder));
    do {
      await output.ready();
      const page = await walk.pageRange(horizon);
      const budget = connection.connectBudget();
      const rows = await withRetry(
        async () => {
          sentThisStatement = 0;
          try {
            // from the last batch sent, with this page's horizon
            return await connection.copyOut(copySql(table, walk.range(page.phase, page.below), pageRows), builder, budget);
          } catch (error) {
            if (output.cancelled) throw new Error("the sync was cancelled");
            throw error;
          }
        },
        {
          budget,
          // a relation read in one statement cannot resume once rows of it were sent
          retryable: (error) => isConnectionError(error) && (page.phase !== "all" || sentThisStatement === 0),
          onRetry: (error, attempt) => {
            builder.clear();
            logger.warn("the connection was lost during a read: reading again from the last row sent", { table: table.name, attempt, error: errorMessage(error) });
          },
        }
      );
      if (output.cancelled) throw new Error("the sync was cancelled");
      if (builder.rows > 0) send(builder);
      step = walk.afterPage(rows, pageRows);
    } while (step === "page");
    result.unrepresentable += builder.losses.unrepresentable;
    result.flattenedArrays += builder.losses.flattenedArrays;
  } while (step === "phase");
  await output.ready();

  if (table.incrementalColumn) {
    const { values, nulls } = walk.position;
    await context.store.set(context.cursorKey, {
      column: table.incrementalColumn,
      key: table.key,
      ...(values ? { after: values } : {}),
      ...(nulls ? { nullsAfter: nulls } : {}),
    });
  }
  return result;
}
