/**
 * What a database must provide for the table and query template builders. The builders know the
 * host's contract and the paging rules; a dialect knows only its database: how to list tables and
 * columns, quote, bind and run SQL. A MySQL or Snowflake plugin reuses the builders by writing one.
 */

/** The property types of the host (Grouparoo). */
export type PropertyType = "boolean" | "date" | "email" | "float" | "integer" | "phoneNumber" | "string" | "url";

export const FILTER_OPERATIONS = ["eq", "ne", "gt", "gte", "lt", "lte", "substring", "notSubstring", "in", "exists", "notExists"] as const;
export type FilterOperation = (typeof FILTER_OPERATIONS)[number];

export function isFilterOperation(op: string): op is FilterOperation {
  return (FILTER_OPERATIONS as readonly string[]).includes(op);
}

export const AGGREGATION_METHODS = ["exact", "average", "count", "sum", "min", "max", "most recent value", "least recent value"] as const;
export type AggregationMethod = (typeof AGGREGATION_METHODS)[number];

export type Row = Record<string, unknown>;
export type Value = string | number | boolean | Date;

export interface TableInfo {
  name: string;
  /** "table", "view", "materialized view", "foreign table", "partitioned table" */
  kind: string;
}

export interface ColumnInfo {
  name: string;
  /** the database's own type name, for messages */
  databaseType: string;
  /** the host property type this column fills best, or null when it has none */
  propertyType: PropertyType | null;
  /** whether values are arrays (their elements have `propertyType`) */
  isArray: boolean;
  /** the filter operations this column allows */
  filterOperations: FilterOperation[];
  /** whether the column has a total order usable as a high watermark (numbers, dates, times) */
  canBeWatermark: boolean;
}

/** A filter on a column, checked by the builder against the column's allowed operations. */
export interface ColumnFilter {
  column: string;
  op: FilterOperation;
  /** one value, or several for `in`; absent for exists / notExists */
  value?: unknown;
}

/** A position in a keyset walk: the text of each ordered column's value in the last row read. */
export type KeysetPosition = string[];

export interface KeysetPageRequest {
  table: string;
  /** the columns to return, in the database's own types (the mapped key) */
  select: string[];
  /** keyset order, most significant first; every column must be non-null in the rows read */
  orderBy: string[];
  /** rows strictly after this position; undefined = from the start */
  after?: KeysetPosition;
  /** rows at or after this position of `orderBy`'s first column only (a watermark without a key) */
  atOrAfterFirst?: string;
  /** read only rows whose these columns are NULL (the rest of `orderBy` orders them) */
  whereNull?: string[];
  /** read only rows whose `orderBy[0]` is strictly below this value (a commit horizon), as the dialect wrote it */
  below?: string;
  filters: ColumnFilter[];
  limit: number;
}

export interface KeysetPage {
  /** the selected columns of each row */
  rows: Row[];
  /** the position (the text of its `orderBy` values) of the last row, for the next page; undefined when empty */
  last?: KeysetPosition;
  /** for each row, whether its position equals the previous row's (a key repeated in a non-unique column) */
  repeats: boolean[];
}

export interface PropertyValuesRequest {
  table: string;
  /** the column that identifies a record (the source mapping's column) */
  keyColumn: string;
  /** key values (as text) of the records wanted */
  keys: string[];
  column: string;
  aggregation: AggregationMethod;
  sortColumn?: string;
  filters: ColumnFilter[];
  /** all values (array property) rather than one */
  isArray: boolean;
}

export interface TableDialect {
  listTables(): Promise<TableInfo[]>;
  /** columns in table order; throws a clear error when the table does not exist */
  listColumns(table: string): Promise<ColumnInfo[]>;
  sampleRows(table: string, limit: number): Promise<Row[]>;
  readKeysetPage(request: KeysetPageRequest): Promise<KeysetPage>;
  /** a cheap estimate (planner statistics, no scan) of the rows a page walk would still read */
  estimateRows(request: Omit<KeysetPageRequest, "limit" | "select">): Promise<number>;
  /** values per key (as text) for one property; keys with no rows are absent */
  propertyValues(request: PropertyValuesRequest): Promise<Map<string, Value[]>>;
  /**
   * Before a page of an incremental walk by `column`: the value below which no open transaction can
   * still commit a row (KeysetPageRequest.below), or undefined when the dialect cannot bound it for
   * this column. `runKey` names the run (a warning is given once per run).
   */
  commitHorizon?(request: CommitHorizonRequest): Promise<string | undefined>;
}

export interface CommitHorizonRequest {
  table: string;
  column: string;
  runKey: string;
  log(message: string, level: "info" | "warning"): void;
}

/**
 * Errors thrown by `runUserQuery` and `pageUserQuery` name the problem without credentials; when the
 * database says where in the statement it is, they carry `position` (1-based, in the `sql` given).
 */
export interface QueryDialect {
  /** the placeholder of the n-th bound parameter (1-based), e.g. `$1` */
  placeholder(index: number): string;
  /**
   * SQL that concatenates parts into one text value. A part is a string literal as the user wrote it
   * (`'%'`, `E'\n'`, `$$x$$`) or a placeholder; each must become text whatever its type.
   */
  concat(parts: string[]): string;
  /** runs one user statement, read-only, with bound parameters */
  runUserQuery(sql: string, params: unknown[]): Promise<UserQueryResult>;
  /**
   * wraps a user statement so that it is read page by page in order of its first column (rows whose
   * first column is NULL are not read); `positions` is each row's position, for `after` next time
   */
  pageUserQuery(sql: string, params: unknown[], after: string | undefined, limit: number): Promise<{ rows: Row[]; firstColumn: string; positions: string[] }>;
  /**
   * what stands for the n-th parameter (1-based) in a batched statement: a reference to the record's
   * value in the batch, e.g. `"gpp_batch"."gpp_p1"`
   */
  batchPlaceholder(index: number): string;
  /**
   * runs a user statement once per record in one read-only statement; an error it throws carries
   * `position` in `batchSql`, like `runUserQuery`'s in `sql`
   */
  runUserQueryBatch(batch: UserQueryBatch): Promise<UserQueryBatchOutcome>;
}

/** What one user statement returned. */
export interface UserQueryResult {
  rows: Row[];
  columns: string[];
}

/**
 * A user statement run for many records in one statement: the statement as written (placeholders
 * from `placeholder`) and as compiled again with `batchPlaceholder`, and each record's parameters.
 */
export interface UserQueryBatch {
  sql: string;
  batchSql: string;
  /** one row of parameter values per record, in placeholder order */
  parameterRows: string[][];
}

/**
 * Either each record's result, in the order of `parameterRows`, or why the statement cannot run as
 * a batch with the same results as one statement per record (the caller then runs one per record).
 */
export type UserQueryBatchOutcome = { results: UserQueryResult[] } | { unbatchable: string };

/** Thrown by a dialect when a table or column named by the user does not exist; builders name the option. */
export class MissingObjectError extends Error {
  constructor(readonly what: "table" | "column", readonly objectName: string, message: string) {
    super(message);
    this.name = "MissingObjectError";
  }
}
