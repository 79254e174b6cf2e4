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
