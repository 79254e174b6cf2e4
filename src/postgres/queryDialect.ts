import type { QueryDialect, Row } from "../templates/dialect";
import type { PostgresConnection } from "./pool";
import { quoteIdentifier } from "./quote";

/** Removes trailing semicolons and whitespace, so that a statement can be wrapped as a subquery. */
export function stripTrailingSemicolons(sql: string): string {
  return sql.replace(/[\s;]+$/, "");
}

/** The Postgres side of the query template: placeholders, concatenation, read-only execution, paging. */
export class PostgresQueryDialect implements QueryDialect {
  constructor(private readonly connection: PostgresConnection) {}

  placeholder(index: number): string {
    return `$${index}`;
  }

  concat(parts: string[]): string {
    return `(${parts.map((p) => (p.startsWith("$") ? `${p}::text` : p)).join(" || ")})`;
  }

  async runUserQuery(sql: string, params: unknown[]): Promise<{ rows: Row[]; columns: string[] }> {
    const result = await this.connection.queryUserSql(stripTrailingSemicolons(sql), params);
    return { rows: result.rows, columns: result.fields.map((f) => f.name) };
  }

  /**
   * The user's statement as a subquery, ordered by its first column and read after the last value of
   * that column seen: deterministic pages with no OFFSET, whatever ORDER BY, LIMIT or WITH it holds.
   */
  async pageUserQuery(sql: string, params: unknown[], after: string | undefined, limit: number) {
    const inner = stripTrailingSemicolons(sql);
    const described = await this.connection.queryUserSql(`SELECT * FROM (${inner}) AS "user_query" LIMIT 0`, params);
    if (described.fields.length === 0) throw new Error("the query returns no columns");
    const firstColumn = described.fields[0].name;
    if (described.fields.filter((f) => f.name === firstColumn).length > 1) {
      throw new Error(`the query's first column "${firstColumn}" appears twice: give it a unique name (AS ...)`);
    }
    const first = `"user_query".${quoteIdentifier(firstColumn)}`;
    const bound = [...params];
    const conditions = [`${first} IS NOT NULL`];
    if (after !== undefined) {
      bound.push(after);
      conditions.push(`${first}::text COLLATE "C" > $${bound.length}`);
    }
    bound.push(limit);
    const paged = `SELECT "user_query".*, ${first}::text AS "__gpp_position" FROM (${inner}) AS "user_query" WHERE ${conditions.join(" AND ")} ORDER BY ${first}::text COLLATE "C" LIMIT $${bound.length}`;
    const result = await this.connection.queryUserSql(paged, bound);
    const positions = result.rows.map((r) => String(r.__gpp_position));
    const rows = result.rows.map((r) => {
      const { __gpp_position, ...rest } = r;
      return rest;
    });
    return { rows, firstColumn, positions };
  }
}
