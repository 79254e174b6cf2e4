import type { QueryDialect } from "../dialect";
import { LiteralToken, TemplateError, Token, lexTemplate, lineAndColumn } from "./lexer";

export { TemplateError } from "./lexer";

/** A variable of the template that the data does not hold; the caller turns it into "no value". */
export class MissingVariableError extends Error {
  constructor(readonly variables: string[]) {
    super(`the query uses ${variables.map((v) => `{{ ${v} }}`).join(", ")}, which ${variables.length > 1 ? "have" : "has"} no value here`);
    this.name = "MissingVariableError";
  }
}

/** A template made into one statement: the SQL with placeholders, and which variable fills each one. */
export interface CompiledQuery {
  template: string;
  sql: string;
  /** the variable of each placeholder, in order ($1 is variables[0]) */
  variables: string[];
  /** the offset in the template of an offset in `sql`, to point at a statement's error */
  templateOffset(sqlOffset: number): number;
}

export interface ParameterizedQuery {
  sql: string;
  params: string[];
}

/** Where a piece of `sql` came from: text maps character by character, placeholders to their tag. */
interface SourceMapEntry {
  sqlStart: number;
  templateStart: number;
  verbatim: boolean;
}

/** Drops trailing whitespace, comments and semicolons; refuses a second statement. */
function singleStatement(template: string, tokens: Token[]): Token[] {
  let last = tokens.length - 1;
  while (last >= 0) {
    const token = tokens[last];
    if (token.type !== "text" || !token.trivia) break;
    last--;
  }
  const kept = tokens.slice(0, last + 1);
  const semicolon = kept.find((t) => t.type === "text" && t.semicolon);
  if (semicolon) {
    throw new TemplateError(`the query must be one statement, but a ";" at ${lineAndColumn(template, semicolon.start)} is followed by more SQL`);
  }
  if (!kept.some((t) => t.type !== "text" || !t.trivia)) throw new TemplateError("the query is empty");
  return kept;
}

/**
 * Makes a query template into one parameterized statement. Every variable becomes a placeholder:
 * - outside literals, `{{ x }}` stands where a value goes: `WHERE id = {{ userId }}` -> `id = $1`;
 * - a literal that is exactly one tag is the value: `'{{{ email }}}'` -> `$1` (typed by its context,
 *   as the literal was);
 * - a literal mixing text and tags is the concatenation of its parts: `'%{{ name }}%'` ->
 *   `('%' || $1 || '%')` (text);
 * - tags in comments stay as they are; a tag in a quoted identifier, a section or a partial is an error.
 */
export function compileTemplate(template: string, dialect: Pick<QueryDialect, "placeholder" | "concat">): CompiledQuery {
  const tokens = singleStatement(template, lexTemplate(template));
  const variables: string[] = [];
  const map: SourceMapEntry[] = [];
  let sql = "";
  const emit = (text: string, templateStart: number, verbatim: boolean) => {
    map.push({ sqlStart: sql.length, templateStart, verbatim });
    sql += text;
  };
  const bind = (name: string) => {
    variables.push(name);
    return dialect.placeholder(variables.length);
  };
  const literal = (token: LiteralToken): string => {
    const [only] = token.parts;
    if (token.parts.length === 1 && only.type === "variable") return bind(only.name);
    return dialect.concat(token.parts.map((part) => (part.type === "variable" ? bind(part.name) : token.open + part.text + token.close)));
  };

  for (const token of tokens) {
    if (token.type === "text") emit(token.text, token.start, true);
    else if (token.type === "variable") emit(bind(token.name), token.start, false);
    else emit(literal(token), token.start, false);
  }

  return {
    template,
    sql,
    variables,
    templateOffset(sqlOffset: number) {
      let entry = map[0];
      for (const e of map) {
        if (e.sqlStart > sqlOffset) break;
        entry = e;
      }
      if (!entry) return 0;
      return entry.verbatim ? entry.templateStart + (sqlOffset - entry.sqlStart) : entry.templateStart;
    },
  };
}

/** What a template's variables are looked up in: the record's data (see recordData). */
export type TemplateData = Record<string, unknown>;

/**
 * Mustache's lookup: a dotted name walks into nested objects, through their own properties only
 * (`{{ constructor }}` or `{{ email.length }}` are no variables of a record).
 */
export function lookup(data: TemplateData, name: string): unknown {
  let value: unknown = data;
  for (const part of name.split(".")) {
    if (value === null || value === undefined || typeof value !== "object") return undefined;
    if (!Object.prototype.hasOwnProperty.call(value, part)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** The text a variable binds: what mustache would print, except dates, which bind their ISO form. */
function parameterText(name: string, value: unknown): string {
  if (value instanceof Date) return value.toISOString();
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value);
  // an expanded date ({{ createdAt }}) binds its ISO string
  const iso = (value as { iso?: unknown }).iso;
  if (typeof iso === "string") return iso;
  throw new TemplateError(`{{ ${name} }} is not a single value: use one of its fields (${Object.keys(value as object).join(", ")})`);
}

/** The parameters of a compiled query for some data; throws MissingVariableError naming what is missing. */
export function bindParameters(compiled: Pick<CompiledQuery, "variables">, data: TemplateData): string[] {
  const missing: string[] = [];
  const params = compiled.variables.map((name) => {
    const value = lookup(data, name);
    if (value === undefined || value === null) {
      if (!missing.includes(name)) missing.push(name);
      return "";
    }
    return parameterText(name, value);
  });
  if (missing.length > 0) throw new MissingVariableError(missing);
  return params;
}

/** Template + data -> `{ sql, params }`, every variable a bound parameter. */
export function parameterize(template: string, data: TemplateData, dialect: Pick<QueryDialect, "placeholder" | "concat">): ParameterizedQuery {
  const compiled = compileTemplate(template, dialect);
  return { sql: compiled.sql, params: bindParameters(compiled, data) };
}
