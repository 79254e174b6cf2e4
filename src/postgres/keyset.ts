import { quoteIdentifier } from "./quote";

/** Where a keyset walk stands: the same fields as the template's `KeysetPageRequest` and the walk planner's `PageRange`. */
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

export interface KeysetSqlOptions {
  /** turns a value into SQL: a bound parameter's placeholder for queries, a quoted literal for COPY */
  bind: (value: string) => string;
  /**
   * the alias of the relation read, through which every column is named: an output column of the
   * same name (a column sent as text) then cannot stand for it in ORDER BY
   */
  relation?: string;
  /** the output names of the position columns are this and the column's index */
  positionPrefix: string;
  /**
   * order and compare by the text of the values, byte-wise (a user query's column, of a type
   * whose order this plugin does not know); otherwise by the columns' own types (index friendly)
   */
  byText?: boolean;
}

/** The pieces of a keyset page's SELECT; the caller puts them around its own columns, FROM and LIMIT. */
export interface KeysetSql {
  /** each `orderBy` column read back as text (the position of a row, never NULL), in order */
  positions: string[];
  /** the WHERE conditions, to be joined by AND: non-null order columns, the NULL-only columns, the position, the horizon */
  conditions: string[];
  /** the ORDER BY list ("" when the range has no order) */
  orderBy: string;
}

/**
 * The SQL of a keyset range, shared by every reader of pages: the table dialect (bound parameters),
 * the CloudQuery COPY walk (literals) and the query source's paging (by text).
 */
export function keysetSql(range: KeysetRange, options: KeysetSqlOptions): KeysetSql {
  const qualifier = options.relation === undefined ? "" : `${quoteIdentifier(options.relation)}.`;
  const column = (name: string) => `${qualifier}${quoteIdentifier(name)}`;
  const key = options.byText ? (name: string) => `${column(name)}::text COLLATE "C"` : column;
  const { bind } = options;

  const conditions: string[] = [];
  for (const name of range.orderBy) conditions.push(`${column(name)} IS NOT NULL`);
  for (const name of range.whereNull ?? []) conditions.push(`${column(name)} IS NULL`);
  if (range.after) {
    if (range.after.length !== range.orderBy.length) {
      throw new Error(`a keyset position has ${range.after.length} values for ${range.orderBy.length} order columns`);
    }
    const left = range.orderBy.map(key).join(", ");
    const right = range.after.map((v) => bind(v)).join(", ");
    conditions.push(range.orderBy.length === 1 ? `${left} > ${right}` : `(${left}) > (${right})`);
  } else if (range.atOrAfterFirst !== undefined) {
    conditions.push(`${key(range.orderBy[0])} >= ${bind(range.atOrAfterFirst)}`);
  }
  if (range.below !== undefined) conditions.push(`${key(range.orderBy[0])} < ${bind(range.below)}`);

  return {
    positions: range.orderBy.map((name, i) => `${column(name)}::text AS ${quoteIdentifier(`${options.positionPrefix}${i}`)}`),
    conditions,
    orderBy: range.orderBy.map(key).join(", "),
  };
}
