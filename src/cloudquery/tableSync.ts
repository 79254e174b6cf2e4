import type { Schema } from "@apache-arrow/esnext-esm";
import { commitHorizon, errorMessage, isConnectionError, keysetConditions, quoteIdentifier, quoteLiteral, typeInfo, withRetry } from "../postgres";
import type { PostgresConnection } from "../postgres";
import { BatchBuilder, IpcStream } from "./batch";
import type { Arrow } from "./esm";
import type { Logger } from "./logger";
import type { Cursor, CursorStore } from "./state";
import type { SourceTable } from "./tableSelection";

/**
 * One table's rows, read in keyset pages by binary COPY and sent as Arrow record batches:
 * - a table with a key (primary key, a not-null unique key, or the spec's key_columns) is walked
 *   by key, a page of five batches per statement;
 * - an incremental table is walked in two phases, as the Grouparoo table source does: first the
 *   rows whose incremental column is NULL, by key, after the last such key sent; then the rest by
 *   (incremental column, key) after the last pair sent. Ties on the incremental value, however
 *   many, are walked by key. Before each page of the second phase over a time column, the commit
 *   horizon (postgres/horizon.ts) bounds what is read, so a row that an open transaction will
 *   still commit with an older value is sent by a later sync. The cursor is saved when the table
 *   has been sent whole;
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

interface Phase {
  name: "all" | "keys" | "nulls" | "values";
  orderBy: string[];
  whereNull?: string[];
  after?: string[];
  /** the commit horizon of the page being read (values phase over a time column) */
  below?: string;
}

const PAGE_BATCHES = 5;
const SOURCE_ALIAS = quoteIdentifier("__cq_source");
const POSITION_ALIAS = "__cq_position_";

function copySql(table: SourceTable, phase: Phase, after: string[] | undefined, limit: number): string {
  const selects = table.columns.map((c) => c.mapping.select);
  if (phase.name === "all") return `COPY (SELECT ${selects.join(", ") || ""} FROM ${table.sql}) TO STDOUT (FORMAT binary)`;
  const positions = phase.orderBy.map((name, i) => `${quoteIdentifier(name)}::text AS ${quoteIdentifier(`${POSITION_ALIAS}${i}`)}`);
  const conditions = keysetConditions({ orderBy: phase.orderBy, whereNull: phase.whereNull, after, below: phase.below }, quoteLiteral);
  // ORDER BY names the relation's columns, not the output's (a column sent as text has the same name)
  const order = phase.orderBy.map((name) => `${SOURCE_ALIAS}.${quoteIdentifier(name)}`).join(", ");
  return (
    `COPY (SELECT ${[...selects, ...positions].join(", ")} FROM ${table.sql} AS ${SOURCE_ALIAS}` +
    ` WHERE ${conditions.join(" AND ")} ORDER BY ${order} LIMIT ${limit}) TO STDOUT (FORMAT binary)`
  );
}

function samePath(a: string[] | undefined, b: string[]): boolean {
  return Array.isArray(a) && a.length === b.length && a.every((v, i) => v === b[i]);
}

/** The phases of a table's walk, resumed from its saved cursor. */
function plan(table: SourceTable, cursor: Cursor | undefined): Phase[] {
  if (table.key.length === 0) return [{ name: "all", orderBy: [] }];
  const column = table.incrementalColumn;
  if (!column) return [{ name: "keys", orderBy: table.key }];
  const rest = table.key.filter((k) => k !== column);
  const valuesOrder = [column, ...rest];
  const phases: Phase[] = [];
  if (rest.length === table.key.length) {
    phases.push({ name: "nulls", orderBy: table.key, whereNull: [column], after: cursor?.nullsAfter?.length === table.key.length ? cursor.nullsAfter : undefined });
  }
  phases.push({ name: "values", orderBy: valuesOrder, after: cursor?.after?.length === valuesOrder.length ? cursor.after : undefined });
  return phases;
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
  const phases = plan(table, cursor);
  const incremental = table.columns.find((c) => c.column.name === table.incrementalColumn)?.column.type;
  // only a time column has a horizon: see postgres/horizon.ts for numbers
  const horizonApplies = incremental !== undefined && typeInfo(incremental.typname, incremental.category).propertyType === "date";
  const horizonLog = (message: string, level: "info" | "warning") => (level === "warning" ? logger.warn(message, { table: table.name }) : logger.info(message, { table: table.name }));
  // a page is read as a stream (batches leave as they fill), so it can hold several batches:
  // fewer statements for the same memory
  const pageRows = context.batchRows * PAGE_BATCHES;
  const result: TableSyncResult = { rows: 0, batches: 0, unrepresentable: 0, flattenedArrays: 0 };
  // where the last batch sent ends (a page read again after a broken connection starts there)
  let sentPosition: string[] | undefined;
  let sentThisStatement = 0;

  const send = (builder: BatchBuilder) => {
    const rows = builder.rows;
    const record = builder.flush();
    sentPosition = builder.lastPosition() ?? sentPosition;
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

  for (const phase of phases) {
    const builder: BatchBuilder = new BatchBuilder(arrow, schema, table, { rows: context.batchRows, bytes: context.batchBytes }, phase.orderBy.length, () => send(builder));
    sentPosition = phase.after;
    for (;;) {
      await output.ready();
      if (phase.name === "values" && horizonApplies) phase.below = (await commitHorizon(connection, context.runKey ?? "sync", horizonLog))?.below;
      const budget = connection.connectBudget();
      const rows = await withRetry(
        async () => {
          sentThisStatement = 0;
          try {
            return await connection.copyOut(copySql(table, phase, sentPosition, pageRows), builder, budget);
          } catch (error) {
            if (output.cancelled) throw new Error("the sync was cancelled");
            throw error;
          }
        },
        {
          budget,
          // a relation read in one statement cannot resume once rows of it were sent
          retryable: (error) => isConnectionError(error) && (phase.name !== "all" || sentThisStatement === 0),
          onRetry: (error, attempt) => {
            builder.clear();
            logger.warn("the connection was lost during a read: reading again from the last row sent", { table: table.name, attempt, error: errorMessage(error) });
          },
        }
      );
      if (output.cancelled) throw new Error("the sync was cancelled");
      if (builder.rows > 0) send(builder);
      phase.after = sentPosition;
      if (phase.name === "all" || rows < pageRows) break;
    }
    result.unrepresentable += builder.losses.unrepresentable;
    result.flattenedArrays += builder.losses.flattenedArrays;
  }
  await output.ready();

  if (table.incrementalColumn) {
    const nulls = phases.find((p) => p.name === "nulls");
    const values = phases.find((p) => p.name === "values");
    await context.store.set(context.cursorKey, {
      column: table.incrementalColumn,
      key: table.key,
      ...(values?.after ? { after: values.after } : {}),
      ...(nulls?.after ? { nullsAfter: nulls.after } : {}),
    });
  }
  return result;
}
