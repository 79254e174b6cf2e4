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

/** A filter value that cannot be sent, said against the filter. */
export class FilterValueError extends Error {
  constructor(column: string, problem: string) {
    super(`the filter on column "${column}" ${problem}`);
    this.name = "FilterValueError";
  }
}

function withoutNul(column: ColumnInfo, value: string): string {
  if (value.includes("\u0000")) throw new FilterValueError(column.name, "has a value with a NUL character (\\0), which PostgreSQL cannot take");
  return value;
}

/** A date filter's value may come as epoch milliseconds (the host's date filters): make it ISO text. */
function filterValue(column: ColumnInfo, value: unknown): unknown {
  if (value instanceof Date) {
    if (isNaN(value.getTime())) throw new FilterValueError(column.name, "has an invalid date");
    return value.toISOString();
  }
  if (column.propertyType === "date" && (typeof value === "number" || (typeof value === "string" && /^-?\d{10,}$/.test(value)))) {
    const date = new Date(Number(value));
    // a Date holds +-8.64e15 ms (about 275,000 years either side of 1970)
    if (isNaN(date.getTime())) throw new FilterValueError(column.name, `has the date ${JSON.stringify(String(value))} (epoch milliseconds), which is out of range`);
    return date.toISOString();
  }
  if (typeof value === "string") withoutNul(column, value);
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
  const contains = () => params.add(`%${escapeLike(withoutNul(column, String(filter.value ?? "")))}%`);
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
      return `${col}::text ILIKE ${contains()}`;
    case "notSubstring":
      return `${col}::text NOT ILIKE ${contains()}`;
    case "in":
      return `${col} = ANY(${params.add(listValue(filter.value).map((v) => filterValue(column, v)))})`;
  }
  throw new Error(`unknown filter operation "${filter.op}" on column "${column.name}"`);
}
