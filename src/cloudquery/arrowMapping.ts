import { numericPrecision, quoteIdentifier } from "../postgres";
import type { CatalogColumn, CatalogType } from "../postgres";

/**
 * The CloudQuery host's type map: a Postgres column to the Arrow type it is sent as, and how its
 * value arrives in binary COPY. Types are mapped without losing precision (int8 stays 64-bit,
 * numeric(p,s) is a decimal, timestamptz keeps microseconds in UTC); a type with no exact Arrow
 * counterpart is sent as its PostgreSQL text, which is exact too.
 */
export type ArrowKind =
  | { kind: "bool" }
  | { kind: "int16" }
  | { kind: "int32" }
  | { kind: "int64" }
  | { kind: "uint32" }
  | { kind: "float32" }
  | { kind: "float64" }
  /** Decimal128(precision, scale) from numeric(p, s), p <= 38 */
  | { kind: "decimal"; precision: number; scale: number }
  /** text (UTF-8) */
  | { kind: "utf8" }
  | { kind: "binary" }
  /** CloudQuery's json extension type (Binary storage); jsonb's version byte is dropped */
  | { kind: "json"; jsonb: boolean }
  /** CloudQuery's uuid extension type (FixedSizeBinary(16) storage) */
  | { kind: "uuid" }
  /** days since 1970-01-01 */
  | { kind: "date32" }
  /** microseconds since 1970-01-01; `utc` for timestamptz */
  | { kind: "timestamp"; utc: boolean }
  /** microseconds since midnight */
  | { kind: "time64" }
  | { kind: "list"; element: ArrowKind };

export interface ColumnMapping {
  arrow: ArrowKind;
  /** the SELECT expression that sends the column in the form `arrow` decodes */
  select: string;
  /** true when the value is sent as PostgreSQL's text output (no exact binary mapping) */
  asText: boolean;
}

const MAX_DECIMAL128_PRECISION = 38;

/** Types whose binary send format is their UTF-8 text. */
const TEXT_SEND = new Set(["text", "varchar", "bpchar", "name", "citext"]);

/** The Arrow kind of a scalar type read in binary, or undefined when it is read as text. */
function scalarKind(type: CatalogType): ArrowKind | undefined {
  switch (type.typname) {
    case "bool":
      return { kind: "bool" };
    case "int2":
      return { kind: "int16" };
    case "int4":
      return { kind: "int32" };
    case "int8":
      return { kind: "int64" };
    case "oid":
      return { kind: "uint32" };
    case "float4":
      return { kind: "float32" };
    case "float8":
      return { kind: "float64" };
    case "numeric": {
      const p = numericPrecision(type.typmod);
      if (p && p.precision >= 1 && p.precision <= MAX_DECIMAL128_PRECISION && p.scale >= 0 && p.scale <= p.precision) {
        return { kind: "decimal", precision: p.precision, scale: p.scale };
      }
      return undefined; // unconstrained (any scale, NaN, Infinity): exact as text
    }
    case "bytea":
      return { kind: "binary" };
    case "uuid":
      return { kind: "uuid" };
    case "json":
      return { kind: "json", jsonb: false };
    case "jsonb":
      return { kind: "json", jsonb: true };
    case "date":
      return { kind: "date32" };
    case "timestamp":
      return { kind: "timestamp", utc: false };
    case "timestamptz":
      return { kind: "timestamp", utc: true };
    case "time":
      return { kind: "time64" };
  }
  if (TEXT_SEND.has(type.typname) || type.category === "E") return { kind: "utf8" };
  return undefined;
}

export function columnMapping(column: CatalogColumn): ColumnMapping {
  const name = quoteIdentifier(column.name);
  if (column.element) {
    const element = scalarKind(column.element);
    if (element) return { arrow: { kind: "list", element }, select: name, asText: false };
    return { arrow: { kind: "list", element: { kind: "utf8" } }, select: `${name}::text[]`, asText: true };
  }
  const kind = scalarKind(column.type);
  if (kind) return { arrow: kind, select: name, asText: false };
  return { arrow: { kind: "utf8" }, select: `${name}::text`, asText: true };
}

/** A short description of an Arrow kind, for docs and messages, e.g. `list<decimal128(12, 2)>`. */
export function describeKind(kind: ArrowKind): string {
  switch (kind.kind) {
    case "decimal":
      return `decimal128(${kind.precision}, ${kind.scale})`;
    case "timestamp":
      return kind.utc ? "timestamp[us, tz=UTC]" : "timestamp[us]";
    case "json":
      return "json (extension)";
    case "uuid":
      return "uuid (extension)";
    case "list":
      return `list<${describeKind(kind.element)}>`;
    default:
      return kind.kind;
  }
}
