import { SOURCE_OFFSET_MAX, WalkState, decodeWalkState, encodeWalkState } from "../cursor";
import { HostProperty, ImportRecordsArgs, ImportRecordsResult, OptionError, batchLimit, optionText } from "../host";
import { PROPERTY_ID, QUERY, QueryConnectionContext, compileOption, queryFailure } from "./context";

/** The property a schedule's first column fills: by id (what the UI stores), else by key (config files). */
function scheduleProperty(args: ImportRecordsArgs): HostProperty {
  const wanted = optionText(args.scheduleOptions, PROPERTY_ID);
  if (!wanted) throw new OptionError("Schedule", PROPERTY_ID, "is required: choose the property that the query's first column fills");
  const properties = args.properties ?? [];
  const property = properties.find((p) => p.id === wanted) ?? properties.find((p) => p.key === wanted);
  if (!property) {
    throw new OptionError(
      "Schedule",
      PROPERTY_ID,
      `is wrong: no property "${wanted}" in this model (properties: ${properties.map((p) => `${p.key} (${p.id})`).join(", ") || "none"})`
    );
  }
  return property;
}

/**
 * A schedule run over a query, as a keyset walk on the text of its first column: the query is read
 * as a subquery in that order, a page after the last value read (no OFFSET, so rows that appear or
 * vanish meanwhile do not shift the pages). Each value is imported once; rows repeating a value are
 * the same record. Every run reads the whole query (there is no incremental mode).
 */
export async function importRecords({ dialectFor, host }: QueryConnectionContext, args: ImportRecordsArgs): Promise<ImportRecordsResult> {
  const dialect = dialectFor(args);
  const query = optionText(args.scheduleOptions, QUERY);
  if (!query) throw new OptionError("Schedule", QUERY, "is required: write the SELECT whose first column identifies the records");
  const property = scheduleProperty(args);
  const compiled = compileOption(dialect, "Schedule", query, "");
  if (compiled.variables.length > 0) {
    throw new OptionError(
      "Schedule",
      QUERY,
      `cannot use variables (${[...new Set(compiled.variables)].map((v) => `{{ ${v} }}`).join(", ")}): a schedule query runs for no record; remove them`
    );
  }
  const state: WalkState = decodeWalkState(args.sourceOffset) ?? { phase: "keys", done: 0 };
  const limit = batchLimit(args.limit);

  let page: Awaited<ReturnType<typeof dialect.pageUserQuery>>;
  try {
    page = await dialect.pageUserQuery(compiled.sql, [], state.after?.[0], limit);
  } catch (error) {
    throw queryFailure("Schedule", compiled, error, "");
  }

  // consecutive rows with the same first column are one record
  const rows = page.rows.filter((_, i) => i === 0 || page.positions[i] !== page.positions[i - 1]);
  if (rows.length > 0) {
    state.after = [page.positions[page.positions.length - 1]];
    state.done += rows.length;
  }
  // encoded before importing: a position that cannot be kept fails the batch before any import
  const sourceOffset = encodeOffset(state, page.firstColumn);
  if (rows.length > 0) await host.createImports({ [page.firstColumn]: property.key }, args.run, rows);
  return { importsCount: rows.length, highWaterMark: {}, sourceOffset };
}

function encodeOffset(state: WalkState, firstColumn: string): string {
  try {
    return encodeWalkState(state);
  } catch (error) {
    const last = state.after?.[0] ?? "";
    throw new OptionError(
      "Schedule",
      QUERY,
      `cannot be paged: the value ${JSON.stringify(last.length > 40 ? `${last.slice(0, 40)}...` : last)} of its first column "${firstColumn}" (${last.length} characters) ` +
        `does not fit the core's ${SOURCE_OFFSET_MAX}-character sourceOffset; make the first column a shorter key (e.g. an id)`
    );
  }
}
