import { ColumnFilter, KeysetPageRequest } from "../dialect";
import { IncrementalMark, WalkState, decodeMark, decodeWalkState, encodeMark, encodeWalkState } from "../cursor";
import { Host, ImportRecordsArgs, ImportRecordsResult, MethodArgs, OptionError, batchLimit, optionText } from "../host";
import { COLUMN, DialectFactory, findColumn, mappingColumn, naming, sourceTable, TABLE, toColumnFilters } from "./context";

/**
 * The paging rules of a schedule run over a table, as keyset walks (no OFFSET):
 * - incremental: first the rows whose watermark is NULL, by key, after the last such key seen
 *   (so they are imported once, and new ones later); then the rest by (watermark, key) after the
 *   last pair imported. Ties on the watermark, however many, are walked by key: no row twice, none
 *   skipped. The next run starts where this one ended. Before each page of that phase the dialect
 *   may give a commit horizon: only rows below it are read, so a row that an open transaction will
 *   still commit with an older watermark is not passed over (it is read by a later run).
 * - not incremental: every row, by key.
 * Rows whose key is NULL cannot become records and are not read.
 */
interface Walk {
  incremental: boolean;
  table: string;
  keyColumn: string;
  watermarkColumn?: string;
  filters: ColumnFilter[];
  mark: IncrementalMark;
}

async function describeWalk(dialectFor: DialectFactory, args: ImportRecordsArgs | WalkArgs, highWaterMark: ImportRecordsArgs["highWaterMark"]): Promise<Walk> {
  const dialect = dialectFor(args);
  const table = sourceTable(args);
  const { column: keyColumn } = mappingColumn(args);
  await naming("Source", TABLE, () => dialect.listColumns(table));
  await findColumn(dialect, table, keyColumn, "Source", "mapping");
  const filters = await toColumnFilters(dialect, table, args.scheduleFilters, "Schedule");
  // cores before incremental schedules (0.5) always continue from the last watermark
  const incremental = args.schedule?.incremental !== false;
  const watermarkColumn = optionText(args.scheduleOptions, COLUMN);
  if (incremental) {
    if (!watermarkColumn) throw new OptionError("Schedule", COLUMN, "is required for an incremental schedule: choose a column that grows when a row changes");
    const column = await findColumn(dialect, table, watermarkColumn, "Schedule", COLUMN);
    if (!column.canBeWatermark) {
      throw new OptionError("Schedule", COLUMN, `cannot serve as a high watermark: "${watermarkColumn}" is ${column.databaseType}; choose a number, date or timestamp column`);
    }
  }
  const mark = incremental && watermarkColumn ? decodeMark(highWaterMark, watermarkColumn, keyColumn) : {};
  return { incremental, table, keyColumn, watermarkColumn: incremental ? watermarkColumn : undefined, filters, mark };
}

type PageRequest = Omit<KeysetPageRequest, "select" | "limit">;

/** The keyset request of a phase from a walk's position; undefined when the phase does not apply. */
function phaseRequest(walk: Walk, state: WalkState): PageRequest | undefined {
  const base = { table: walk.table, filters: walk.filters };
  if (state.phase === "keys") return { ...base, orderBy: [walk.keyColumn], after: state.after };
  const wm = walk.watermarkColumn as string;
  if (state.phase === "nulls") {
    if (wm === walk.keyColumn) return undefined; // a NULL key is never read
    return { ...base, orderBy: [walk.keyColumn], whereNull: [wm], after: walk.mark.nullsKey !== undefined ? [walk.mark.nullsKey] : undefined };
  }
  if (wm === walk.keyColumn) {
    return { ...base, orderBy: [wm], after: walk.mark.watermark !== undefined ? [walk.mark.watermark] : undefined };
  }
  if (walk.mark.watermark !== undefined && walk.mark.key !== undefined) return { ...base, orderBy: [wm, walk.keyColumn], after: [walk.mark.watermark, walk.mark.key] };
  // a watermark without a key (the original plugin's): at or after it, so nothing is lost
  return { ...base, orderBy: [wm, walk.keyColumn], atOrAfterFirst: walk.mark.watermark };
}

const NEXT_PHASE: Record<string, WalkState["phase"] | undefined> = { nulls: "values" };

/**
 * The position of the run in progress, if it belongs to this kind of walk: a schedule switched
 * between incremental and full mid-run hands over the other walk's position, which starts over.
 */
function walkState(walk: Walk, sourceOffset: unknown): WalkState | undefined {
  const state = decodeWalkState(sourceOffset);
  return state && (state.phase === "keys") === !walk.incremental ? state : undefined;
}

/** Moves the position past the last row of a page. */
function advance(walk: Walk, state: WalkState, last: string[]): void {
  if (state.phase === "keys") state.after = last;
  else if (state.phase === "nulls") walk.mark.nullsKey = last[0];
  else if (last.length === 1) walk.mark = { ...walk.mark, watermark: last[0], key: undefined };
  else walk.mark = { ...walk.mark, watermark: last[0], key: last[1] };
}

/** The core's Run has an id; anything else is one unnamed run. */
function runKeyOf(run: unknown): string {
  const id = (run as { id?: unknown } | null | undefined)?.id;
  return id === undefined || id === null ? "run" : String(id);
}

export interface WalkArgs extends MethodArgs {
  schedule?: ImportRecordsArgs["schedule"];
  scheduleOptions?: ImportRecordsArgs["scheduleOptions"];
  scheduleFilters?: ImportRecordsArgs["scheduleFilters"];
}

export function buildImportRecords(dialectFor: DialectFactory, host: Host) {
  async function importRecords(args: ImportRecordsArgs): Promise<ImportRecordsResult> {
    const walk = await describeWalk(dialectFor, args, args.highWaterMark);
    const dialect = dialectFor(args);
    const state: WalkState = walkState(walk, args.sourceOffset) ?? { phase: walk.incremental ? "nulls" : "keys", done: 0 };
    const limit = batchLimit(args.limit);

    for (;;) {
      const request = phaseRequest(walk, state);
      if (request) {
        if (state.phase === "values" && dialect.commitHorizon) {
          request.below = await dialect.commitHorizon({ table: walk.table, column: walk.watermarkColumn as string, runKey: runKeyOf(args.run), log: (message, level) => host.log(message, level) });
        }
        const page = await dialect.readKeysetPage({ ...request, select: [walk.keyColumn], limit });
        if (page.last) {
          // consecutive rows with the same position are the same import (a key repeated in a non-unique column)
          const rows = page.rows.filter((_, i) => !page.repeats[i]);
          await host.createImports(args.sourceMapping ?? {}, args.run, rows);
          advance(walk, state, page.last);
          state.done += rows.length;
          return result(walk, state, rows.length);
        }
      }
      const next = NEXT_PHASE[state.phase];
      if (!next) return result(walk, state, 0);
      state.phase = next;
    }
  }

  function result(walk: Walk, state: WalkState, importsCount: number): ImportRecordsResult {
    return {
      importsCount,
      highWaterMark: walk.incremental ? encodeMark(walk.mark, walk.watermarkColumn as string, walk.keyColumn) : {},
      sourceOffset: encodeWalkState(state),
    };
  }

  /**
   * Percent complete from the rows imported so far and a planner estimate of the rows left after the
   * current position (EXPLAIN: statistics only, no scan, whatever the table size).
   */
  async function sourceRunPercentComplete(args: WalkArgs & { run?: { highWaterMark?: Record<string, unknown>; sourceOffset?: unknown } }): Promise<number> {
    const run = args.run ?? {};
    if (!decodeWalkState(run.sourceOffset)) return 0;
    const walk = await describeWalk(dialectFor, args, run.highWaterMark);
    const state = walkState(walk, run.sourceOffset);
    if (!state) return 0;
    const dialect = dialectFor(args);
    let remaining = 0;
    for (let phase: WalkState["phase"] | undefined = state.phase; phase; phase = NEXT_PHASE[phase]) {
      const request = phaseRequest(walk, { ...state, phase });
      if (request) remaining += await dialect.estimateRows(request);
    }
    const total = state.done + remaining;
    if (total === 0) return 0;
    return Math.min(99, Math.max(0, Math.floor((100 * state.done) / total)));
  }

  return { importRecords, sourceRunPercentComplete };
}
