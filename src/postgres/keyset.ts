import { quoteIdentifier } from "./quote";

/** Where a keyset walk stands: the same fields as the template's `KeysetPageRequest`. */
export interface KeysetRange {
  /** keyset order, most significant first; rows with NULL in any of them are not read */
  orderBy: string[];
  /** rows strictly after this position (the text of each `orderBy` value) */
  after?: string[];
  /** rows at or after this value of `orderBy[0]` (used when `after` is absent) */
  atOrAfterFirst?: string;
  /** read only rows whose these columns are NULL */
  whereNull?: string[];
  /** read only rows whose `orderBy[0]` is strictly below this value, read as that column's type (the commit horizon) */
  below?: string;
}

/**
 * The conditions of a keyset walk, shared by every reader of pages (bound parameters for queries,
 * literals for COPY): non-null order columns, the NULL-only columns, then the position.
 * `bind` turns a value into SQL (a placeholder, or a quoted literal).
 */
export function keysetConditions(range: KeysetRange, bind: (value: string) => string): string[] {
  const conditions: string[] = [];
  for (const name of range.orderBy) conditions.push(`${quoteIdentifier(name)} IS NOT NULL`);
  for (const name of range.whereNull ?? []) conditions.push(`${quoteIdentifier(name)} IS NULL`);
  if (range.after) {
    if (range.after.length !== range.orderBy.length) {
      throw new Error(`a keyset position has ${range.after.length} values for ${range.orderBy.length} order columns`);
    }
    const left = range.orderBy.map(quoteIdentifier).join(", ");
    const right = range.after.map((v) => bind(v)).join(", ");
    conditions.push(range.orderBy.length === 1 ? `${left} > ${right}` : `(${left}) > (${right})`);
  } else if (range.atOrAfterFirst !== undefined) {
    conditions.push(`${quoteIdentifier(range.orderBy[0])} >= ${bind(range.atOrAfterFirst)}`);
  }
  if (range.below !== undefined) conditions.push(`${quoteIdentifier(range.orderBy[0])} < ${bind(range.below)}`);
  return conditions;
}
