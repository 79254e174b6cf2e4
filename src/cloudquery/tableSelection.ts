import { describeRelations, qualifiedName, typeInfo } from "../postgres";
import type { CatalogColumn, CatalogRelation, PostgresConnection } from "../postgres";
import { ColumnMapping, columnMapping } from "./arrowMapping";
import type { Spec } from "./spec";

/**
 * Which tables a sync reads: the relations of the spec's schemas as CloudQuery tables (name, key,
 * incremental column, the spec's table options checked against the catalog), and the ones a request
 * selects (glob patterns, shards). Their Arrow schemas are arrowSchema.ts's.
 */

/** A table as this plugin syncs it: a relation of the database, its CloudQuery name, its key and options. */
export interface SourceTable {
  /** the CloudQuery table name: the relation's name, or `schema.name` when several schemas are synced */
  name: string;
  relation: CatalogRelation;
  /** `"schema"."name"` */
  sql: string;
  columns: { column: CatalogColumn; mapping: ColumnMapping }[];
  /** the primary key sent to CloudQuery: the table's own, or the spec's key_columns */
  primaryKey: string[];
  /** the columns of keyset reads (the primary key, a not-null unique key, or key_columns); empty: read in one statement */
  key: string[];
  incrementalColumn?: string;
}

export class TableSelectionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TableSelectionError";
  }
}

function cloudQueryName(relation: CatalogRelation, schemas: string[]): string {
  return schemas.length === 1 ? relation.name : `${relation.schema}.${relation.name}`;
}

/**
 * The tables of the spec's schemas, with the spec's table options checked against the catalog
 * (an option naming a table or a column that does not exist is an error, not a silent no-op).
 */
export async function discoverTables(connection: PostgresConnection, spec: Spec): Promise<SourceTable[]> {
  const relations = await describeRelations(connection, spec.schemas);
  const tables = relations.map((relation) => buildTable(relation, spec));
  const names = new Set(tables.map((t) => t.name));
  for (const name of Object.keys(spec.tableOptions)) {
    if (!names.has(name)) {
      throw new TableSelectionError(
        `spec field \`table_options\` names the table "${name}", which is not a readable table or view of schema${spec.schemas.length > 1 ? "s" : ""} ${spec.schemas.join(", ")}`
      );
    }
  }
  return tables;
}

function buildTable(relation: CatalogRelation, spec: Spec): SourceTable {
  const name = cloudQueryName(relation, spec.schemas);
  // an own entry only: a table named "constructor" has no options from Object.prototype
  const options = Object.prototype.hasOwnProperty.call(spec.tableOptions, name) ? spec.tableOptions[name] : {};
  const where = `table_options.${name}`;
  const column = (columnName: string, field: string) => {
    const found = relation.columns.find((c) => c.name === columnName);
    if (!found) {
      throw new TableSelectionError(`spec field \`${where}.${field}\` names the column "${columnName}", which "${name}" does not have (columns: ${relation.columns.map((c) => c.name).join(", ")})`);
    }
    return found;
  };
  for (const keyColumn of options.key_columns ?? []) column(keyColumn, "key_columns");
  const key = options.key_columns ?? (relation.primaryKey.length ? relation.primaryKey : relation.uniqueKeys[0] ?? []);
  let incrementalColumn: string | undefined;
  if (options.incremental_column) {
    const incremental = column(options.incremental_column, "incremental_column");
    const type = incremental.element ? undefined : incremental.type;
    if (!type || !typeInfo(type.typname, type.category).canBeWatermark) {
      throw new TableSelectionError(`spec field \`${where}.incremental_column\`: "${incremental.name}" is ${incremental.databaseType}; choose a number, date or timestamp column that grows when a row changes`);
    }
    if (key.length === 0) {
      throw new TableSelectionError(`spec field \`${where}.incremental_column\` needs a key to resume from: "${name}" has no primary key, so give \`${where}.key_columns\``);
    }
    incrementalColumn = incremental.name;
  }
  return {
    name,
    relation,
    sql: qualifiedName(relation.schema, relation.name),
    columns: relation.columns.map((c) => ({ column: c, mapping: columnMapping(c) })),
    primaryKey: options.key_columns ?? relation.primaryKey,
    key,
    incrementalColumn,
  };
}

/**
 * CloudQuery's glob (`*` any run, `?` one character) matched without a regular expression: a
 * backtracking RegExp takes exponential time on `*a*a*a*...b`. Greedy with one remembered star:
 * at most (name length x pattern length) steps.
 */
export function globMatches(pattern: string, name: string): boolean {
  const p = [...pattern];
  const n = [...name];
  let pi = 0;
  let ni = 0;
  let star = -1;
  let starAt = 0;
  while (ni < n.length) {
    if (pi < p.length && (p[pi] === "?" || (p[pi] !== "*" && p[pi] === n[ni]))) {
      pi++;
      ni++;
    } else if (pi < p.length && p[pi] === "*") {
      star = pi++;
      starAt = ni;
    } else if (star >= 0) {
      pi = star + 1;
      ni = ++starAt;
    } else return false;
  }
  while (pi < p.length && p[pi] === "*") pi++;
  return pi === p.length;
}

/**
 * The tables a `GetTables` or `Sync` request asks for: `tables` and `skip_tables` are CloudQuery's
 * glob patterns (`*`, `?`). A pattern without a wildcard that names no table is an error.
 */
export function selectTables(all: SourceTable[], include: string[], skip: string[]): SourceTable[] {
  for (const pattern of include) {
    if (!/[*?]/.test(pattern) && !all.some((t) => t.name === pattern)) {
      throw new TableSelectionError(`the table "${pattern}" was not found (tables: ${all.map((t) => t.name).join(", ") || "none"})`);
    }
  }
  return all.filter((t) => include.some((pattern) => globMatches(pattern, t.name)) && !skip.some((pattern) => globMatches(pattern, t.name)));
}

/** The tables of one shard (`Sync.shard`, 1-based `num` of `total`), by position in name order. */
export function shardTables(tables: SourceTable[], shard: { num: number; total: number } | undefined): SourceTable[] {
  if (!shard || shard.total <= 1) return tables;
  return tables.filter((_, i) => i % shard.total === shard.num - 1);
}
