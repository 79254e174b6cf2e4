import type { ColumnFilter, ColumnInfo } from "../templates/dialect";
import { quoteIdentifier } from "./quote";

/** Collects bound parameters and hands out their placeholders. */
export class Params {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

/** `%`, `_` and `\` in a "contains" value are matched literally. */
export function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** A date filter's value may come as epoch milliseconds (the host's date filters): make it ISO text. */
function filterValue(column: ColumnInfo, value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  if (column.propertyType === "date" && (typeof value === "number" || (typeof value === "string" && /^-?\d{10,}$/.test(value)))) {
    return new Date(Number(value)).toISOString();
  }
  if (column.propertyType === "boolean" && typeof value === "string") return value.toLowerCase();
  return value;
}

function listValue(value: unknown): unknown[] {
  if (Array.isArray(value)) return value;
  return String(value ?? "")
    .split(",")
    .map((v) => v.trim())
    .filter((v) => v.length > 0);
}

/** The one filter-to-SQL function: a filter on a known column becomes a condition with bound values. */
export function filterToSql(filter: ColumnFilter, column: ColumnInfo, params: Params): string {
  const col = quoteIdentifier(column.name);
  const value = () => params.add(filterValue(column, filter.value));
  if (column.isArray) {
    switch (filter.op) {
      case "eq":
        return `${value()} = ANY(${col})`;
      case "ne":
        return `NOT (${value()} = ANY(${col}))`;
    }
  }
  switch (filter.op) {
    case "exists":
      return `${col} IS NOT NULL`;
    case "notExists":
      return `${col} IS NULL`;
    case "eq":
      return `${col} = ${value()}`;
    case "ne":
      return `${col} <> ${value()}`;
    case "gt":
      return `${col} > ${value()}`;
    case "gte":
      return `${col} >= ${value()}`;
    case "lt":
      return `${col} < ${value()}`;
    case "lte":
      return `${col} <= ${value()}`;
    case "substring":
      return `${col}::text ILIKE ${params.add(`%${escapeLike(String(filter.value ?? ""))}%`)}`;
    case "notSubstring":
      return `${col}::text NOT ILIKE ${params.add(`%${escapeLike(String(filter.value ?? ""))}%`)}`;
    case "in":
      return `${col} = ANY(${params.add(listValue(filter.value).map((v) => filterValue(column, v)))})`;
  }
  throw new Error(`unknown filter operation "${filter.op}" on column "${column.name}"`);
}
