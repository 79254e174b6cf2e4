import type { PostgresConnection } from "./pool";

/**
 * The catalog as a host that copies whole tables needs it: every readable table and view of some
 * schemas with its columns (types down to their wire identity), primary key, not-null unique keys
 * and comments, in two statements whatever the number of tables.
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

export interface CatalogRelation {
  schema: string;
  name: string;
  /** "table", "view", "materialized view", "foreign table", "partitioned table" */
  kind: string;
  description: string;
  columns: CatalogColumn[];
  /** primary key columns in key order, empty when there is none */
  primaryKey: string[];
  primaryKeyConstraint: string;
  /** unique constraints whose columns are all NOT NULL (each one identifies a row) */
  uniqueKeys: string[][];
  /** columns that are alone in a unique constraint */
  uniqueColumns: string[];
}

/** pg_class.relkind of the relations a source may read, by name. */
export const RELATION_KINDS: Record<string, string> = {
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

export async function describeRelations(connection: PostgresConnection, schemas: string[]): Promise<CatalogRelation[]> {
  const { rows } = await connection.query(
    `SELECT n.nspname AS schema, c.relname AS name, c.relkind AS kind,
            COALESCE(obj_description(c.oid, 'pg_class'), '') AS description,
            a.attname AS column_name, a.attnum AS position,
            format_type(a.atttypid, a.atttypmod) AS database_type,
            (a.attnotnull OR dt.typnotnull) AS not_null,
            COALESCE(col_description(c.oid, a.attnum), '') AS column_description,
            CASE WHEN dt.typbasetype <> 0 THEN dt.typtypmod ELSE a.atttypmod END AS typmod,
            t.oid::int8 AS type_oid, t.typname, t.typcategory,
            e.oid::int8 AS element_oid, e.typname AS element_typname, e.typcategory AS element_typcategory
       FROM pg_catalog.pg_class c
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
       JOIN pg_catalog.pg_type dt ON dt.oid = a.atttypid
       JOIN pg_catalog.pg_type t ON t.oid = COALESCE(NULLIF(dt.typbasetype, 0), dt.oid)
       LEFT JOIN pg_catalog.pg_type e ON e.oid = t.typelem AND t.typcategory = 'A'
      WHERE n.nspname = ANY($1::text[])
        AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
        AND NOT c.relispartition
        AND has_table_privilege(c.oid, 'SELECT')
      ORDER BY n.nspname COLLATE "C", c.relname COLLATE "C", a.attnum`,
    [schemas]
  );
  const { rows: constraints } = await connection.query(
    `SELECT n.nspname AS schema, c.relname AS name, con.contype AS type, con.conname AS constraint_name,
            array_agg(a.attname::text ORDER BY k.ord) AS columns,
            bool_and(a.attnotnull) AS not_null
       FROM pg_catalog.pg_constraint con
       JOIN pg_catalog.pg_class c ON c.oid = con.conrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord) ON true
       JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
      WHERE n.nspname = ANY($1::text[]) AND con.contype IN ('p', 'u')
      GROUP BY n.nspname, c.relname, con.contype, con.conname
      ORDER BY con.conname COLLATE "C"`,
    [schemas]
  );

  const relations = new Map<string, CatalogRelation>();
  const id = (schema: unknown, name: unknown) => JSON.stringify([schema, name]);
  for (const r of rows) {
    const key = id(r.schema, r.name);
    let relation = relations.get(key);
    if (!relation) {
      relation = {
        schema: String(r.schema),
        name: String(r.name),
        kind: RELATION_KINDS[String(r.kind)] ?? String(r.kind),
        description: String(r.description),
        columns: [],
        primaryKey: [],
        primaryKeyConstraint: "",
        uniqueKeys: [],
        uniqueColumns: [],
      };
      relations.set(key, relation);
    }
    const typmod = Number(r.typmod);
    relation.columns.push({
      name: String(r.column_name),
      position: relation.columns.length + 1,
      databaseType: String(r.database_type),
      type: { oid: Number(r.type_oid), typname: String(r.typname), category: String(r.typcategory), typmod: r.element_oid === null ? typmod : -1 },
      element:
        r.element_oid === null
          ? undefined
          : { oid: Number(r.element_oid), typname: String(r.element_typname), category: String(r.element_typcategory), typmod },
      notNull: r.not_null === true,
      description: String(r.column_description),
    });
  }
  for (const con of constraints) {
    const relation = relations.get(id(con.schema, con.name));
    if (!relation) continue;
    const columns = (con.columns as string[]).map(String);
    if (con.type === "p") {
      relation.primaryKey = columns;
      relation.primaryKeyConstraint = String(con.constraint_name);
    } else {
      if (con.not_null === true) relation.uniqueKeys.push(columns);
      if (columns.length === 1) relation.uniqueColumns.push(columns[0]);
    }
  }
  return [...relations.values()];
}
