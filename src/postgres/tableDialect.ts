import {
  CommitHorizonRequest,
  MissingObjectError,
  type ColumnInfo,
  KeysetPage,
  KeysetPageRequest,
  PropertyValuesRequest,
  Row,
  TableDialect,
  TableInfo,
  Value,
} from "../templates/dialect";
import { filterToSql, Params } from "./filters";
import { KeysetSql, keysetSql } from "./keyset";
import type { PostgresConnection } from "./pool";
import { qualifiedName, quoteIdentifier } from "./quote";
import { arrayTypeInfo, typeInfo } from "./propertyTypes";
import { findRelation, listRelations } from "./catalog";
import { watermarkHorizon } from "./horizon";

const COLUMN_CACHE_MS = 30000;
const POSITION_PREFIX = "__gpp_position_";

/** The Postgres side of the table template: catalog reads and the SQL of pages and property values. */
export class PostgresTableDialect implements TableDialect {
  private readonly columnCache = new Map<string, { at: number; columns: Promise<ColumnInfo[]> }>();

  constructor(private readonly connection: PostgresConnection, private readonly schema: string) {}

  private relation(table: string): string {
    return qualifiedName(this.schema, table);
  }

  listTables(): Promise<TableInfo[]> {
    return listRelations(this.connection, this.schema);
  }

  listColumns(table: string): Promise<ColumnInfo[]> {
    const cached = this.columnCache.get(table);
    if (cached && Date.now() - cached.at < COLUMN_CACHE_MS) return cached.columns;
    const columns = this.readColumns(table);
    this.columnCache.set(table, { at: Date.now(), columns });
    columns.catch(() => this.columnCache.delete(table));
    return columns;
  }

  private async readColumns(table: string): Promise<ColumnInfo[]> {
    const relation = await findRelation(this.connection, this.schema, table);
    if (!relation) {
      throw new MissingObjectError("table", table, `table or view "${table}" does not exist in schema "${this.schema}"`);
    }
    return relation.columns.map((column) => {
      const info = column.element
        ? arrayTypeInfo(typeInfo(column.element.typname, column.element.category))
        : typeInfo(column.type.typname, column.type.category);
      return { name: column.name, databaseType: column.databaseType, isArray: column.element !== undefined, ...info };
    });
  }

  private async columnMap(table: string): Promise<Map<string, ColumnInfo>> {
    return new Map((await this.listColumns(table)).map((c) => [c.name, c]));
  }

  private async column(table: string, name: string, columns?: Map<string, ColumnInfo>): Promise<ColumnInfo> {
    const map = columns ?? (await this.columnMap(table));
    const found = map.get(name);
    if (!found) {
      throw new MissingObjectError("column", name, `column "${name}" does not exist in "${this.schema}"."${table}" (columns: ${[...map.keys()].join(", ")})`);
    }
    return found;
  }

  async sampleRows(table: string, limit: number): Promise<Row[]> {
    await this.listColumns(table); // a clear error for a missing table
    const { rows } = await this.connection.query(`SELECT * FROM ${this.relation(table)} LIMIT $1`, [limit]);
    return rows;
  }

  /** The SQL of a keyset page: its position columns, ORDER BY, and WHERE (the range's conditions, then the filters). */
  private async keyset(request: Omit<KeysetPageRequest, "limit" | "select">, params: Params): Promise<{ where: string; keyset: KeysetSql }> {
    const columns = await this.columnMap(request.table);
    for (const name of [...request.orderBy, ...(request.whereNull ?? [])]) await this.column(request.table, name, columns);
    const keyset = keysetSql(request, { bind: (value) => params.add(value), positionPrefix: POSITION_PREFIX });
    const conditions = [...keyset.conditions];
    for (const filter of request.filters) {
      conditions.push(filterToSql(filter, await this.column(request.table, filter.column, columns), params));
    }
    return { where: conditions.length ? `WHERE ${conditions.join(" AND ")}` : "", keyset };
  }

  async readKeysetPage(request: KeysetPageRequest): Promise<KeysetPage> {
    const params = new Params();
    const { where, keyset } = await this.keyset(request, params);
    const columns = await this.columnMap(request.table);
    for (const name of request.select) await this.column(request.table, name, columns);
    const select = [...request.select.map(quoteIdentifier), ...keyset.positions].join(", ");
    const sql = `SELECT ${select} FROM ${this.relation(request.table)} ${where} ORDER BY ${keyset.orderBy} LIMIT ${params.add(request.limit)}`;
    const raw = await this.connection.queryArrays(sql, params.values);
    // the selected columns come first, then the position columns (text, never NULL)
    const width = request.select.length;
    const depth = request.orderBy.length;
    const rows: Row[] = new Array(raw.length);
    const repeats: boolean[] = new Array(raw.length);
    for (let i = 0; i < raw.length; i++) {
      const values = raw[i];
      const row: Row = {};
      for (let j = 0; j < width; j++) row[request.select[j]] = values[j];
      rows[i] = row;
      let same = i > 0;
      for (let j = width; same && j < width + depth; j++) same = values[j] === raw[i - 1][j];
      repeats[i] = same;
    }
    const lastValues = raw[raw.length - 1];
    const last = lastValues ? lastValues.slice(width).map(String) : undefined;
    return { rows, last, repeats };
  }

  async estimateRows(request: Omit<KeysetPageRequest, "limit" | "select">): Promise<number> {
    const params = new Params();
    const { where } = await this.keyset(request, params);
    const { rows } = await this.connection.query(`EXPLAIN (FORMAT JSON) SELECT 1 FROM ${this.relation(request.table)} ${where}`, params.values);
    const plan = rows[0]?.["QUERY PLAN"] as unknown;
    const parsed = (typeof plan === "string" ? JSON.parse(plan) : plan) as { Plan: { "Plan Rows": number } }[];
    return Math.max(0, Math.round(parsed[0]?.Plan?.["Plan Rows"] ?? 0));
  }

  async commitHorizon(request: CommitHorizonRequest): Promise<string | undefined> {
    return watermarkHorizon(this.connection, await this.column(request.table, request.column), request.runKey, request.log);
  }

  async propertyValues(request: PropertyValuesRequest): Promise<Map<string, Value[]>> {
    const out = new Map<string, Value[]>();
    if (request.keys.length === 0) return out;
    const columns = await this.columnMap(request.table);
    const key = await this.column(request.table, request.keyColumn, columns);
    const column = await this.column(request.table, request.column, columns);
    const sort = request.sortColumn ? await this.column(request.table, request.sortColumn, columns) : undefined;
    if ((request.aggregation === "most recent value" || request.aggregation === "least recent value") && !sort) {
      throw new Error(`the aggregation "${request.aggregation}" needs a sortColumn`);
    }
    const params = new Params();
    const k = quoteIdentifier(key.name);
    const c = quoteIdentifier(column.name);
    const conditions = [`${k} = ANY(${params.add(request.keys)})`, `${c} IS NOT NULL`];
    for (const filter of request.filters) conditions.push(filterToSql(filter, await this.column(request.table, filter.column, columns), params));
    const from = `FROM ${this.relation(request.table)} WHERE ${conditions.join(" AND ")}`;
    const keyText = `${k}::text AS "__key"`;
    const aggregates: Record<string, string> = { count: "COUNT", sum: "SUM", min: "MIN", max: "MAX" };

    let sql: string;
    if (request.aggregation === "average") {
      // an average is approximate by nature: a float, not numeric's 16 decimals
      sql = `SELECT ${keyText}, AVG(${c})::double precision AS "__value" ${from} GROUP BY ${k}`;
    } else if (aggregates[request.aggregation]) {
      sql = `SELECT ${keyText}, ${aggregates[request.aggregation]}(${c}) AS "__value" ${from} GROUP BY ${k}`;
    } else {
      // exact, most / least recent: ordered rows, deterministic ties (the value itself breaks them)
      const direction = request.aggregation === "most recent value" ? "DESC" : "ASC";
      // json and types without an order are compared as text; the rest by their own order (index friendly)
      const tieBreak = column.propertyType === null || column.databaseType === "json" ? `${c}::text` : c;
      const order = [k, ...(sort ? [`${quoteIdentifier(sort.name)} ${direction} NULLS LAST`] : []), tieBreak].join(", ");
      const one = !(request.aggregation === "exact" && request.isArray);
      sql = `SELECT ${one ? `DISTINCT ON (${k}) ` : ""}${keyText}, ${c} AS "__value" ${from} ORDER BY ${order}`;
    }
    const { rows } = await this.connection.query(sql, params.values);
    for (const row of rows) {
      const keyValue = String(row.__key);
      const values = out.get(keyValue) ?? [];
      const value = row.__value;
      if (Array.isArray(value)) values.push(...(value.filter((v) => v !== null) as Value[]));
      else values.push(value as Value);
      out.set(keyValue, values);
    }
    return out;
  }
}
