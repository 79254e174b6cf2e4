import type { QueryDialect, Row, UserQueryBatch, UserQueryBatchOutcome, UserQueryResult } from "../templates/dialect";
import type { PostgresConnection } from "./pool";
import { keysetSql } from "./keyset";
import { quoteIdentifier } from "./quote";
import { errorMessage } from "./errors";

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

// the user's statement as a subquery, and the text of its first column (the position of a page's rows)
const USER_QUERY = "user_query";
const POSITION_PREFIX = "__gpp_position_";
const POSITION = `${POSITION_PREFIX}0`;

const BATCH = quoteIdentifier("gpp_batch");
const USER = quoteIdentifier("gpp_user");
const ORDINAL_NAME = "gpp_batch_ordinal";
const ROW_NUMBER_NAME = "gpp_batch_row";
const ORDINAL = quoteIdentifier(ORDINAL_NAME);
const ROW_NUMBER = quoteIdentifier(ROW_NUMBER_NAME);
const WRAPPER_COLUMNS = new Set([ORDINAL_NAME, ROW_NUMBER_NAME]);

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

  async runUserQuery(sql: string, params: unknown[]): Promise<UserQueryResult> {
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
      described = await this.connection.queryUserSql(`${describe}${inner}\n) AS ${quoteIdentifier(USER_QUERY)} LIMIT 0`, params);
    } catch (error) {
      throw rebasePosition(error, describe.length, inner.length);
    }
    if (described.fields.length === 0) throw new Error("the query returns no columns");
    const firstColumn = described.fields[0].name;
    if (described.fields.filter((f) => f.name === firstColumn).length > 1) {
      throw new Error(`the query's first column "${firstColumn}" appears twice: give it a unique name (AS ...)`);
    }
    const bound = [...params];
    const keyset = keysetSql(
      { orderBy: [firstColumn], after: after === undefined ? undefined : [after] },
      { bind: (value) => `$${bound.push(value)}`, relation: USER_QUERY, positionPrefix: POSITION_PREFIX, byText: true }
    );
    const head = `SELECT ${quoteIdentifier(USER_QUERY)}.*, ${keyset.positions[0]} FROM (`;
    const paged = `${head}${inner}\n) AS ${quoteIdentifier(USER_QUERY)} WHERE ${keyset.conditions.join(" AND ")} ORDER BY ${keyset.orderBy} LIMIT $${bound.push(limit)}`;
    let result;
    try {
      result = await this.connection.queryUserSql(paged, bound);
    } catch (error) {
      throw rebasePosition(error, head.length, inner.length);
    }
    const positions = result.rows.map((r) => String(r[POSITION]));
    const rows = result.rows.map((r) => {
      const { [POSITION]: position, ...rest } = r;
      return rest;
    });
    return { rows, firstColumn, positions };
  }

  batchPlaceholder(index: number): string {
    return `${BATCH}.${quoteIdentifier(`gpp_p${index}`)}`;
  }

  /**
   * A user statement once per record, in one statement: each parameter's values for the batch bound
   * as one array, the arrays unnested side by side (one row per record, numbered), and the user's
   * statement run for each of those rows in a LATERAL subquery that reads the row's values where the
   * single statement reads its parameters. So every record keeps its own ORDER BY, LIMIT, aggregates
   * and GROUP BY, and its rows their order (numbered inside the subquery, before anything else can
   * reorder them). The arrays get the element types that the server infers for the single statement,
   * so that `user_id = {{ userId }}` compares as an integer, as it does alone.
   */
  async runUserQueryBatch(batch: UserQueryBatch): Promise<UserQueryBatchOutcome> {
    const parameterCount = batch.parameterRows[0]?.length ?? 0;
    if (batch.parameterRows.length === 0) return { results: [] };
    if (parameterCount === 0) {
      // no variables: the same statement for every record, run once
      const result = await this.runUserQuery(batch.sql, []);
      return { results: batch.parameterRows.map(() => result) };
    }
    const types = await this.parameterTypes(stripTrailingSemicolons(batch.sql), parameterCount);
    if ("unbatchable" in types) return types;

    const inner = stripTrailingSemicolons(batch.batchSql);
    const columns = types.types.map((_, i) => quoteIdentifier(`gpp_p${i + 1}`));
    const arrays = types.types.map((type, i) => `$${i + 1}::${type}[]`);
    const head =
      `SELECT ${BATCH}.${ORDINAL}, ${USER}.* FROM unnest(${arrays.join(", ")}) WITH ORDINALITY AS ${BATCH}(${[...columns, ORDINAL].join(", ")})\n` +
      `CROSS JOIN LATERAL (SELECT row_number() OVER () AS ${ROW_NUMBER}, "gpp_query".* FROM (\n`;
    // ordered by position (the record, then its row): a user column of the same name is no ambiguity
    const sql = `${head}${inner}\n) AS "gpp_query") AS ${USER}\nORDER BY 1, 2`;
    const params = types.types.map((_, i) => batch.parameterRows.map((row) => row[i]));

    let result;
    try {
      result = await this.connection.queryUserSql(sql, params);
    } catch (error) {
      // a batch that outlasts the statement timeout may still fit it record by record
      if ((error as { code?: string })?.code === "57014") return { unbatchable: "the batched statement ran longer than the statement timeout" };
      throw rebasePosition(error, head.length, inner.length);
    }
    const userColumns = result.fields.slice(2).map((f) => f.name);
    if (userColumns.some((name) => WRAPPER_COLUMNS.has(name))) {
      return { unbatchable: `the query returns a column named ${[...WRAPPER_COLUMNS].join(" or ")}, which the batched statement uses` };
    }
    const results: UserQueryResult[] = batch.parameterRows.map(() => ({ rows: [], columns: userColumns }));
    for (const row of result.rows) {
      const ordinal = Number(row[ORDINAL_NAME]);
      delete row[ORDINAL_NAME];
      delete row[ROW_NUMBER_NAME];
      results[ordinal - 1].rows.push(row);
    }
    return { results };
  }

  /**
   * The type the server infers for each parameter of a user statement, as a quoted type name; or why
   * an array of it would not stand for the parameter (an array, a pseudo-type, a type without an array
   * type, a statement the server cannot type). Read through `pg_typeof` of the parameters in a
   * statement that plans the user's statement first (so its context types them) and runs none of it.
   */
  private async parameterTypes(sql: string, parameterCount: number): Promise<{ types: string[] } | { unbatchable: string }> {
    const typeOfs = Array.from({ length: parameterCount }, (_, i) => `pg_catalog.pg_typeof($${i + 1})::oid`).join(", ");
    const describe =
      `SELECT p.position::int AS "position", n.nspname AS "schema", t.typname AS "name", ` +
      `(t.typtype = 'p' OR t.typcategory = 'A' OR t.typarray = 0) AS "unbatchable" ` +
      `FROM (SELECT ARRAY[${typeOfs}]::oid[] AS oids FROM (SELECT 1) AS "gpp_one" LEFT JOIN (SELECT * FROM (\n${sql}\n) AS "gpp_inner" LIMIT 0) AS "gpp_query" ON false) AS "gpp_described" ` +
      `CROSS JOIN unnest("gpp_described".oids) WITH ORDINALITY AS p(oid, position) ` +
      `JOIN pg_catalog.pg_type t ON t.oid = p.oid JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace ORDER BY p.position`;
    let described;
    try {
      // NULL for every parameter: the types come from the statement, never from a record's values
      described = await this.connection.queryUserSql(describe, new Array(parameterCount).fill(null));
    } catch (error) {
      const reason = errorMessage(error);
      return { unbatchable: `the server cannot type its parameters in a batch (${reason})` };
    }
    const rows = described.rows as { position: number; schema: string; name: string; unbatchable: boolean }[];
    if (rows.length !== parameterCount) return { unbatchable: "the server did not type every parameter" };
    const odd = rows.find((r) => r.unbatchable);
    if (odd) return { unbatchable: `its parameter $${odd.position} has the type ${odd.name}, which has no array of single values to bind` };
    return { types: rows.map((r) => `${quoteIdentifier(r.schema)}.${quoteIdentifier(r.name)}`) };
  }
}
