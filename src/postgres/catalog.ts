import type { PostgresConnection } from "./pool";

/**
 * The one reader of the catalog, for every host: the relations of a schema a source may read (the
 * table source's dropdown, the App's Test), one relation and its columns by name (the table
 * dialect), and every readable relation of some schemas with columns (types down to their wire
 * identity), primary key, not-null unique keys and comments (CloudQuery), in two statements
 * whatever the number of tables. Which relations count is decided once, in `relationFilter`.
 */

export interface CatalogType {
  oid: number;
  /** pg_type.typname of the (base) type: domains are resolved to their base type */
  typname: string;
  /** pg_type.typcategory, e.g. "E" for enums */
  category: string;
  /** the type modifier (atttypmod, or the domain's typtypmod); -1 when there is none */
  typmod: number;
}

export interface CatalogColumn {
  name: string;
  /** 1-based position among the relation's live columns */
  position: number;
  /** the database's own spelling of the type, e.g. `numeric(12,2)`, `timestamp with time zone`, `integer[]` */
  databaseType: string;
  type: CatalogType;
  /** the element type of an array column (with the column's typmod), undefined otherwise */
  element?: CatalogType;
  notNull: boolean;
  description: string;
}

/** A relation a source may read, as a listing names it. */
export interface CatalogRelationName {
  name: string;
  /** "table", "view", "materialized view", "foreign table", "partitioned table" */
  kind: string;
}

/** A relation and its columns, as a lookup by name reads it. */
export interface CatalogRelationColumns extends CatalogRelationName {
  schema: string;
  description: string;
  columns: CatalogColumn[];
}

/** A relation with its columns and keys, as a host that copies whole tables needs it. */
export interface CatalogRelation extends CatalogRelationColumns {
  /** primary key columns in key order, empty when there is none */
  primaryKey: string[];
  primaryKeyConstraint: string;
  /** unique constraints whose columns are all NOT NULL (each one identifies a row) */
  uniqueKeys: string[][];
  /** columns that are alone in a unique constraint */
  uniqueColumns: string[];
}

/** pg_class.relkind of the relations a source may read, by name. */
const RELATION_KINDS: Record<string, string> = {
  r: "table",
  p: "partitioned table",
  v: "view",
  m: "materialized view",
  f: "foreign table",
};

/** numeric(p, s) from its type modifier; undefined for an unconstrained numeric. */
export function numericPrecision(typmod: number): { precision: number; scale: number } | undefined {
  if (typmod < 4) return undefined;
  const packed = typmod - 4;
  const precision = (packed >> 16) & 0xffff;
  // PostgreSQL 15 stores negative scales as 11-bit two's complement
  const scale = ((packed & 0x7ff) ^ 1024) - 1024;
  return { precision, scale };
}

/**
 * Which rows of pg_class (as `c`) are relations a source may read: the one place that says so.
 * - `listed`, for what a host offers or counts (the source dropdown, the App's Test, CloudQuery's
 *   tables): only what the role may SELECT, and no partition, whose rows its partitioned parent
 *   already holds (offering both invites importing every row twice).
 * - `named`, for the relation a Source names: partitions too, because a partition is a table a
 *   config may name to read one slice; and relations the role may not SELECT, so that reading one
 *   fails with the server's "permission denied for table ...", which says what is wrong, and not as
 *   a table that does not exist.
 */
function relationFilter(use: "listed" | "named"): string {
  const kinds = Object.keys(RELATION_KINDS)
    .map((kind) => `'${kind}'`)
    .join(", ");
  const conditions = [`c.relkind IN (${kinds})`];
  if (use === "listed") conditions.push("NOT c.relispartition", "has_table_privilege(c.oid, 'SELECT')");
  return conditions.join(" AND ");
}

const RELATIONS = "pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace";

function kindName(relkind: string): string {
  return RELATION_KINDS[relkind] ?? relkind;
}

/** A row of `columnsSql`: the relation, then one of its columns (all NULL for a relation without columns). */
interface RawRelationRow {
  schema: string;
  name: string;
  kind: string;
  description: string;
}
type RawElementFields =
  | { element_oid: number; element_typname: string; element_typcategory: string }
  | { element_oid: null; element_typname: null; element_typcategory: null };
type RawColumnFields = {
  column_name: string;
  database_type: string;
  not_null: boolean;
  column_description: string;
  typmod: number;
  type_oid: number;
  typname: string;
  typcategory: string;
} & RawElementFields;
type RawColumnRow = RawRelationRow & (RawColumnFields | { column_name: null });

/** A row of `KEYS_SQL`: a primary key or unique constraint, its columns in key order. */
interface RawKeyRow {
  schema: string;
  name: string;
  type: "p" | "u";
  constraint_name: string;
  columns: string[];
  not_null: boolean;
}

/** The relations `where` matches, one row per column in column order; domains resolved to their base type. */
function columnsSql(where: string): string {
  return `SELECT n.nspname AS schema, c.relname AS name, c.relkind AS kind,
            COALESCE(obj_description(c.oid, 'pg_class'), '') AS description,
            a.attname AS column_name,
            format_type(a.atttypid, a.atttypmod) AS database_type,
            (a.attnotnull OR dt.typnotnull) AS not_null,
            COALESCE(col_description(c.oid, a.attnum), '') AS column_description,
            CASE WHEN dt.typbasetype <> 0 THEN dt.typtypmod ELSE a.atttypmod END AS typmod,
            t.oid::int8 AS type_oid, t.typname, t.typcategory,
            e.oid::int8 AS element_oid, e.typname AS element_typname, e.typcategory AS element_typcategory
       FROM ${RELATIONS}
       LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
       LEFT JOIN pg_catalog.pg_type dt ON dt.oid = a.atttypid
       LEFT JOIN pg_catalog.pg_type t ON t.oid = COALESCE(NULLIF(dt.typbasetype, 0), dt.oid)
       LEFT JOIN pg_catalog.pg_type e ON e.oid = t.typelem AND t.typcategory = 'A'
      WHERE ${where}
      ORDER BY n.nspname COLLATE "C", c.relname COLLATE "C", a.attnum`;
}

const KEYS_SQL = `SELECT n.nspname AS schema, c.relname AS name, con.contype AS type, con.conname AS constraint_name,
            array_agg(a.attname::text ORDER BY k.ord) AS columns,
            bool_and(a.attnotnull) AS not_null
       FROM pg_catalog.pg_constraint con
       JOIN pg_catalog.pg_class c ON c.oid = con.conrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord) ON true
       JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
      WHERE n.nspname = ANY($1::text[]) AND con.contype IN ('p', 'u')
      GROUP BY n.nspname, c.relname, con.contype, con.conname
      ORDER BY con.conname COLLATE "C"`;

/** A catalog statement whose rows have the shape `R`: its aliases are R's fields, the pool's type parsers give their types. */
async function catalogRows<R>(connection: PostgresConnection, sql: string, params: unknown[]): Promise<R[]> {
  const { rows } = await connection.query(sql, params);
  return rows as unknown as R[];
}

function relationsFromRows(rows: RawColumnRow[]): CatalogRelationColumns[] {
  const relations: CatalogRelationColumns[] = [];
  let current: CatalogRelationColumns | undefined;
  for (const row of rows) {
    // ordered by schema and relation: a relation's rows are consecutive
    if (!current || current.schema !== row.schema || current.name !== row.name) {
      current = { schema: row.schema, name: row.name, kind: kindName(row.kind), description: row.description, columns: [] };
      relations.push(current);
    }
    if (row.column_name === null) continue;
    current.columns.push({
      name: row.column_name,
      position: current.columns.length + 1,
      databaseType: row.database_type,
      // an array's type modifier belongs to its elements (numeric(6,2)[])
      type: { oid: row.type_oid, typname: row.typname, category: row.typcategory, typmod: row.element_oid === null ? row.typmod : -1 },
      element:
        row.element_oid === null ? undefined : { oid: row.element_oid, typname: row.element_typname, category: row.element_typcategory, typmod: row.typmod },
      notNull: row.not_null,
      description: row.column_description,
    });
  }
  return relations;
}

/** The relations of a schema a source may read, by name (`COLLATE "C"` order). */
export async function listRelations(connection: PostgresConnection, schema: string): Promise<CatalogRelationName[]> {
  const rows = await catalogRows<Pick<RawRelationRow, "name" | "kind">>(
    connection,
    `SELECT c.relname AS name, c.relkind AS kind FROM ${RELATIONS}
      WHERE n.nspname = $1 AND ${relationFilter("listed")}
      ORDER BY c.relname COLLATE "C"`,
    [schema]
  );
  return rows.map((row) => ({ name: row.name, kind: kindName(row.kind) }));
}

/** The relation a Source names, with its columns; undefined when there is none of that name. */
export async function findRelation(connection: PostgresConnection, schema: string, name: string): Promise<CatalogRelationColumns | undefined> {
  const rows = await catalogRows<RawColumnRow>(connection, columnsSql(`n.nspname = $1 AND c.relname = $2 AND ${relationFilter("named")}`), [schema, name]);
  return relationsFromRows(rows)[0];
}

/** Every relation of some schemas a source may read, with columns and keys. */
export async function describeRelations(connection: PostgresConnection, schemas: string[]): Promise<CatalogRelation[]> {
  const rows = await catalogRows<RawColumnRow>(connection, columnsSql(`n.nspname = ANY($1::text[]) AND ${relationFilter("listed")}`), [schemas]);
  const keys = await catalogRows<RawKeyRow>(connection, KEYS_SQL, [schemas]);

  const relations = new Map<string, CatalogRelation>();
  const id = (schema: string, name: string) => JSON.stringify([schema, name]);
  for (const relation of relationsFromRows(rows)) {
    // a relation without columns has nothing to copy: left out, as it always was
    if (relation.columns.length === 0) continue;
    relations.set(id(relation.schema, relation.name), { ...relation, primaryKey: [], primaryKeyConstraint: "", uniqueKeys: [], uniqueColumns: [] });
  }
  for (const key of keys) {
    const relation = relations.get(id(key.schema, key.name));
    if (!relation) continue;
    if (key.type === "p") {
      relation.primaryKey = key.columns;
      relation.primaryKeyConstraint = key.constraint_name;
    } else {
      if (key.not_null) relation.uniqueKeys.push(key.columns);
      if (key.columns.length === 1) relation.uniqueColumns.push(key.columns[0]);
    }
  }
  return [...relations.values()];
}
