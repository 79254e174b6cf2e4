import type { QueryDialect, Value } from "../dialect";
import { Host, MethodArgs, OptionError } from "../host";
import { lineAndColumn } from "./lexer";
import { assertQuery } from "./statementKind";
import { CompiledQuery, TemplateError, compileTemplate } from "./parameterize";

export const QUERY = "query";
export const PROPERTY_ID = "propertyId";

export type QueryDialectFactory = (args: MethodArgs) => QueryDialect;

/** What the query source's methods share, made once per connection by its builder. */
export interface QueryConnectionContext {
  dialectFor: QueryDialectFactory;
  host: Host;
  /** the connection's name, at the start of its log lines */
  connectionName: string;
  /** the reasons for one statement per record already logged, per property: each is logged once */
  loggedFallbacks: Set<string>;
}

/**
 * Compiles a user's query; a template that cannot be bound, or that is no query (COPY, SET, a
 * data-modifying WITH...), is reported against its option before anything runs.
 */
export function compileOption(dialect: QueryDialect, kind: "Property" | "Schedule", template: string, what: string): CompiledQuery {
  try {
    const compiled = compileTemplate(template, dialect);
    assertQuery(compiled.sql);
    return compiled;
  } catch (error) {
    if (error instanceof TemplateError) throw new OptionError(kind, QUERY, `is wrong${what}: ${error.message}`);
    throw error;
  }
}

/**
 * A statement error, said against the option: the database's message (no credentials: the dialect
 * redacts them) and, when the database gives one, where in the user's query it is.
 */
export function queryFailure(kind: "Property" | "Schedule", compiled: CompiledQuery, error: unknown, what: string): Error {
  const e = error as { message?: string; position?: unknown; code?: string };
  let message = e?.message ?? String(error);
  const position = Number(e?.position);
  if (Number.isInteger(position) && position > 0) {
    const offset = compiled.templateOffset(position - 1);
    // line and column only: an excerpt of the query could carry what the dialect redacted from the message
    message += ` (at ${lineAndColumn(compiled.template, offset)} of the query)`;
  }
  const out = new OptionError(kind, QUERY, `failed${what}: ${message}`);
  (out as OptionError & { code?: string }).code = e?.code;
  return out;
}

/** A database value as a property value: bigints and buffers as text, composite values as JSON. */
export function toValue(value: unknown): Value | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === "string" || typeof value === "number" || typeof value === "boolean" || value instanceof Date) return value;
  if (typeof value === "bigint") return value.toString();
  if (Buffer.isBuffer(value)) return `\\x${value.toString("hex")}`;
  return JSON.stringify(value);
}
