import type { QueryDialect, Row } from "../templates/dialect";
import type { PostgresConnection } from "./pool";
import { quoteIdentifier } from "./quote";

/** Removes trailing semicolons and whitespace, so that a statement can be wrapped as a subquery. */
export function stripTrailingSemicolons(sql: string): string {
  return sql.replace(/[\s;]+$/, "");
}

/**
 * The server's error `position` (1-based) points into the statement sent; a wrapped user statement
 * starts `offset` characters in. Re-based so that it points into the user's SQL (dropped when the
 * error is in the wrapper itself).
 */
function rebasePosition(error: unknown, offset: number, length: number): unknown {
  const e = error as { position?: unknown };
  if (e && typeof e === "object" && e.position !== undefined) {
    const position = Number(e.position) - offset;
    e.position = position >= 1 && position <= length + 1 ? position : undefined;
  }
  return error;
}

/** The Postgres side of the query template: placeholders, concatenation, read-only execution, paging. */
export class PostgresQueryDialect implements QueryDialect {
  constructor(private readonly connection: PostgresConnection) {}

  placeholder(index: number): string {
    return `$${index}`;
  }

  /** Every part is cast to text: a placeholder alone has no type, and a literal part may be `$$...$$`. */
  concat(parts: string[]): string {
    return `(${parts.map((p) => `${p}::text`).join(" || ")})`;
  }

  async runUserQuery(sql: string, params: unknown[]): Promise<{ rows: Row[]; columns: string[] }> {
    const statement = stripTrailingSemicolons(sql);
    try {
      const result = await this.connection.queryUserSql(statement, params);
      return { rows: result.rows, columns: result.fields.map((f) => f.name) };
    } catch (error) {
      throw rebasePosition(error, 0, statement.length);
    }
  }

  /**
   * The user's statement as a subquery, ordered by its first column and read after the last value of
   * that column seen: deterministic pages with no OFFSET, whatever ORDER BY, LIMIT or WITH it holds.
   * The subquery closes on a line of its own, so that a trailing `--` comment cannot swallow it.
   */
  async pageUserQuery(sql: string, params: unknown[], after: string | undefined, limit: number) {
    const inner = stripTrailingSemicolons(sql);
    const describe = `SELECT * FROM (`;
    let described;
    try {
      described = await this.connection.queryUserSql(`${describe}${inner}\n) AS "user_query" LIMIT 0`, params);
    } catch (error) {
      throw rebasePosition(error, describe.length, inner.length);
    }
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
    const head = `SELECT "user_query".*, ${first}::text AS "__gpp_position" FROM (`;
    const paged = `${head}${inner}\n) AS "user_query" WHERE ${conditions.join(" AND ")} ORDER BY ${first}::text COLLATE "C" LIMIT $${bound.length}`;
    let result;
    try {
      result = await this.connection.queryUserSql(paged, bound);
    } catch (error) {
      throw rebasePosition(error, head.length, inner.length);
    }
    const positions = result.rows.map((r) => String(r.__gpp_position));
    const rows = result.rows.map((r) => {
      const { __gpp_position, ...rest } = r;
      return rest;
    });
    return { rows, firstColumn, positions };
  }
}
