/**
 * The one place where identifiers become SQL. Every table, column and schema name that reaches a
 * statement goes through `quoteIdentifier`, whatever its case, spaces, quotes or unicode.
 */
export function quoteIdentifier(name: string): string {
  if (typeof name !== "string" || name.length === 0) {
    throw new Error("an identifier (table, column or schema name) cannot be empty");
  }
  if (name.includes("\u0000")) {
    throw new Error(`the identifier ${JSON.stringify(name)} contains a NUL character`);
  }
  return `"${name.replace(/"/g, '""')}"`;
}

/** `"schema"."table"` */
export function qualifiedName(schema: string, table: string): string {
  return `${quoteIdentifier(schema)}.${quoteIdentifier(table)}`;
}

/**
 * A text value as an SQL string literal, for the one statement that cannot bind parameters
 * (`COPY (SELECT ...) TO STDOUT`). Escapes as libpq's PQescapeLiteral does, whatever the server's
 * standard_conforming_strings: quotes doubled, and backslashes doubled inside an E'' literal.
 */
export function quoteLiteral(value: string): string {
  if (typeof value !== "string") throw new Error("only text can be quoted as an SQL literal");
  if (value.includes("\u0000")) throw new Error(`the value ${JSON.stringify(value)} contains a NUL character`);
  const quoted = value.replace(/'/g, "''");
  return value.includes("\\") ? `E'${quoted.replace(/\\/g, "\\\\")}'` : `'${quoted}'`;
}
