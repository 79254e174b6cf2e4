import { HorizonHook, KeysetWalk, WalkPosition, WalkShape } from "../../walk/planner";
import { ColumnFilter } from "../dialect";
import { IncrementalMark, WalkState, decodeMark, decodeWalkState, encodeMark, encodeWalkState } from "../cursor";
import { Host, ImportRecordsArgs, ImportRecordsResult, MethodArgs, OptionError, batchLimit, optionText } from "../host";
import { COLUMN, DialectFactory, findColumn, mappingColumn, naming, sourceTable, TABLE, toColumnFilters } from "./context";

/**
 * A schedule run over a table, as the keyset walk that walk/planner.ts plans (no OFFSET), by the
 * mapping's column:
 * - incremental: the NULL-watermark rows by key, then the rest by (watermark, key); the positions
 *   are kept in the high watermark, so the next run starts where this one ended (and NULL-watermark
 *   rows are imported once, new ones later). The dialect may give the commit horizon of a page: a
 *   row that an open transaction will still commit with an older watermark is read by a later run.
 * - not incremental: every row by key; the position is kept in `sourceOffset` (the core resets
 *   the high watermark after each batch of such a schedule).
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
  // connections/profileEra.ts hands core 0.5's schedules (which have no flag) on as incremental
  const incremental = args.schedule.incremental;
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

/** A table source walks by one key column (the mapping's), one page per call (see PhaseEnd). */
function shapeOf(walk: Walk): WalkShape {
  return { key: [walk.keyColumn], watermark: walk.watermarkColumn, phaseEnd: "empty page" };
}

/** The planned walk, from where the run (`state`) and the previous runs (the high watermark) stand. */
function keysetWalk(walk: Walk, state?: WalkState): KeysetWalk {
  const { mark } = walk;
  const position: WalkPosition = { keys: state?.after };
  if (mark.nullsKey !== undefined) position.nulls = [mark.nullsKey];
  if (mark.watermark !== undefined) {
    if (walk.watermarkColumn === walk.keyColumn) position.values = [mark.watermark];
    else if (mark.key !== undefined) position.values = [mark.watermark, mark.key];
    // a watermark without a key (the original plugin's): at or after it, so nothing is lost
    else position.valuesFrom = mark.watermark;
  }
  return new KeysetWalk(shapeOf(walk), position, state?.phase);
}

/**
 * The high watermark where the walk stands: the stored mark with the positions of its phases.
 * What no phase of this walk uses (a NULL-watermark key while the watermark is the key column) is
 * kept for a later walk that does.
 */
function markOf(walk: Walk, position: WalkPosition): IncrementalMark {
  const mark = { ...walk.mark };
  if (position.nulls) mark.nullsKey = position.nulls[0];
  if (position.values) mark.watermark = position.values[0];
  if (position.values) mark.key = position.values[1];
  return mark;
}

/**
 * The position of the run in progress, if it belongs to this kind of walk: a schedule switched
 * between incremental and full mid-run hands over the other walk's position, which starts over.
 */
function walkState(walk: Walk, sourceOffset: unknown): WalkState | undefined {
  const state = decodeWalkState(sourceOffset);
  return state && KeysetWalk.belongs(shapeOf(walk), state.phase) ? state : undefined;
}

/** The core's Run has an id; anything else is one unnamed run. */
function runKeyOf(run: unknown): string {
  const id = (run as { id?: unknown } | null | undefined)?.id;
  return id === undefined || id === null ? "run" : String(id);
}

export interface WalkArgs extends MethodArgs {
  schedule: ImportRecordsArgs["schedule"];
  scheduleOptions?: ImportRecordsArgs["scheduleOptions"];
  scheduleFilters?: ImportRecordsArgs["scheduleFilters"];
}

/** The core's `importRecords` for a table source: one keyset page a call (see the walk rules above). */
export async function importRecords(dialectFor: DialectFactory, host: Host, args: ImportRecordsArgs): Promise<ImportRecordsResult> {
  const walk = await describeWalk(dialectFor, args, args.highWaterMark);
  const dialect = dialectFor(args);
  const state: WalkState = walkState(walk, args.sourceOffset) ?? { phase: walk.incremental ? "nulls" : "keys", done: 0 };
  const keyset = keysetWalk(walk, state);
  const limit = batchLimit(args.limit);
  const commitHorizon = dialect.commitHorizon?.bind(dialect);
  const horizon: HorizonHook | undefined =
    commitHorizon && (() => commitHorizon({ table: walk.table, column: walk.watermarkColumn as string, runKey: runKeyOf(args.run), log: (message, level) => host.log(message, level) }));

  for (;;) {
    const range = await keyset.pageRange(horizon);
    const page = await dialect.readKeysetPage({ ...range, table: walk.table, filters: walk.filters, select: [walk.keyColumn], limit });
    if (page.last) keyset.advance(page.last);
    const step = keyset.afterPage(page.rows.length, limit);
    if (page.last) {
      // consecutive rows with the same position are the same import (a key repeated in a non-unique column)
      const rows = page.rows.filter((_, i) => !page.repeats[i]);
      await host.createImports(args.sourceMapping ?? {}, args.run, rows);
      state.done += rows.length;
      return importResult(walk, keyset, state, rows.length);
    }
    if (step === "done") return importResult(walk, keyset, state, 0);
  }
}

function importResult(walk: Walk, keyset: KeysetWalk, state: WalkState, importsCount: number): ImportRecordsResult {
  if (keyset.phase === "all") throw new Error("a table source's walk always has a key"); // its shape has one key column
  state.phase = keyset.phase;
  state.after = keyset.position.keys;
  return {
    importsCount,
    highWaterMark: walk.incremental ? encodeMark(markOf(walk, keyset.position), walk.watermarkColumn as string, walk.keyColumn) : {},
    sourceOffset: encodeWalkState(state),
  };
}

/**
 * The core's `sourceRunPercentComplete` for a table source: the rows imported so far and a planner
 * estimate of the rows left after the current position (EXPLAIN: statistics only, no scan, whatever
 * the table size).
 */
export async function sourceRunPercentComplete(
  dialectFor: DialectFactory,
  args: WalkArgs & { run?: { highWaterMark?: Record<string, unknown>; sourceOffset?: unknown } }
): Promise<number> {
  const run = args.run ?? {};
  if (!decodeWalkState(run.sourceOffset)) return 0;
  const walk = await describeWalk(dialectFor, args, run.highWaterMark);
  const state = walkState(walk, run.sourceOffset);
  if (!state) return 0;
  const dialect = dialectFor(args);
  let remaining = 0;
  for (const range of keysetWalk(walk, state).remaining()) remaining += await dialect.estimateRows({ ...range, table: walk.table, filters: walk.filters });
  const total = state.done + remaining;
  if (total === 0) return 0;
  return Math.min(99, Math.max(0, Math.floor((100 * state.done) / total)));
}
