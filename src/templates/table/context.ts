import { ColumnFilter, ColumnInfo, FILTER_OPERATIONS, MissingObjectError, TableDialect, isFilterOperation } from "../dialect";
import { HostFilter, MethodArgs, OptionError, optionText } from "../host";

export const TABLE = "table";
export const COLUMN = "column";
export const AGGREGATION = "aggregationMethod";
export const SORT_COLUMN = "sortColumn";

export type DialectFactory = (args: MethodArgs) => TableDialect;

/** The table a source reads, or a clear error when the option is missing. */
export function sourceTable(args: MethodArgs): string {
  const table = optionText(args.sourceOptions, TABLE);
  if (!table) throw new OptionError("Source", TABLE, "is required: choose the table or view to import from");
  if (table.includes("\u0000")) throw new OptionError("Source", TABLE, "contains a NUL character (\\0): no table name can");
  return table;
}

/** The source mapping's column (the column that identifies a record) and the property it fills. */
export function mappingColumn(args: MethodArgs): { column: string; propertyKey: string } {
  const entries = Object.entries(args.sourceMapping ?? {});
  if (entries.length === 0) throw new OptionError("Source", "mapping", "is required: map a column to the model's unique property");
  return { column: entries[0][0], propertyKey: entries[0][1] };
}

/** Runs `work`; a table or column that does not exist is reported against the option that named it. */
export async function naming<T>(kind: "Source" | "Property" | "Schedule", option: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof MissingObjectError) throw new OptionError(kind, option, `is wrong: ${error.message}`);
    throw error;
  }
}

export async function findColumn(dialect: TableDialect, table: string, name: string, kind: "Source" | "Property" | "Schedule", option: string): Promise<ColumnInfo> {
  const columns = await naming("Source", TABLE, () => dialect.listColumns(table));
  const column = columns.find((c) => c.name === name);
  if (!column) {
    throw new OptionError(kind, option, `is wrong: column "${name}" does not exist in table "${table}" (columns: ${columns.map((c) => c.name).join(", ")})`);
  }
  return column;
}

/** Host filters to dialect filters, each checked against its column's type. */
export async function toColumnFilters(dialect: TableDialect, table: string, filters: HostFilter[] | undefined, kind: "Property" | "Schedule"): Promise<ColumnFilter[]> {
  const out: ColumnFilter[] = [];
  for (const filter of filters ?? []) {
    const { op } = filter;
    if (!isFilterOperation(op)) {
      throw new OptionError(kind, `filters`, `has an unknown operation "${filter.op}" on "${filter.key}" (known: ${FILTER_OPERATIONS.join(", ")})`);
    }
    const column = await findColumn(dialect, table, filter.key, kind, "filters");
    if (!column.filterOperations.includes(op)) {
      throw new OptionError(kind, "filters", `cannot use "${op}" on column "${filter.key}" of type ${column.databaseType} (allowed: ${column.filterOperations.join(", ")})`);
    }
    if (op !== "exists" && op !== "notExists" && (filter.match === undefined || filter.match === null)) {
      throw new OptionError(kind, "filters", `needs a value to match for "${op}" on "${filter.key}"`);
    }
    out.push({ column: filter.key, op, value: filter.match });
  }
  return out;
}
