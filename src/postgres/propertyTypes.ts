import type { FilterOperation, PropertyType } from "../templates/dialect";

/**
 * The one type map: a Postgres type (by name and pg_type category) to the host property type, the
 * filter operations it allows, and whether it can serve as a high watermark.
 */
export interface PostgresTypeInfo {
  propertyType: PropertyType | null;
  filterOperations: FilterOperation[];
  canBeWatermark: boolean;
}

const BASE: FilterOperation[] = ["eq", "ne", "in", "exists", "notExists"];
const COMPARE: FilterOperation[] = ["gt", "gte", "lt", "lte"];
const CONTAINS: FilterOperation[] = ["substring", "notSubstring"];
const PRESENCE: FilterOperation[] = ["exists", "notExists"];

const INTEGER_TYPES = new Set(["int2", "int4", "int8", "oid"]);
const FLOAT_TYPES = new Set(["float4", "float8", "numeric"]);
const DATE_TYPES = new Set(["date", "timestamp", "timestamptz"]);
const TEXT_TYPES = new Set(["text", "varchar", "bpchar", "name", "citext", "char"]);

/**
 * @param typname  pg_type.typname of the (base) type, e.g. "int8", "timestamptz"
 * @param category pg_type.typcategory, e.g. "E" for enums
 */
export function typeInfo(typname: string, category: string): PostgresTypeInfo {
  if (typname === "bool") return { propertyType: "boolean", filterOperations: ["eq", "ne", "exists", "notExists"], canBeWatermark: false };
  if (INTEGER_TYPES.has(typname)) return { propertyType: "integer", filterOperations: [...BASE, ...COMPARE], canBeWatermark: true };
  if (FLOAT_TYPES.has(typname)) return { propertyType: "float", filterOperations: [...BASE, ...COMPARE], canBeWatermark: true };
  if (DATE_TYPES.has(typname)) return { propertyType: "date", filterOperations: ["eq", "ne", ...COMPARE, "exists", "notExists"], canBeWatermark: true };
  if (TEXT_TYPES.has(typname)) return { propertyType: "string", filterOperations: [...BASE, ...COMPARE, ...CONTAINS], canBeWatermark: false };
  if (typname === "uuid") return { propertyType: "string", filterOperations: BASE, canBeWatermark: false };
  if (typname === "json" || typname === "jsonb") return { propertyType: "string", filterOperations: [...CONTAINS, ...PRESENCE], canBeWatermark: false };
  if (category === "E") return { propertyType: "string", filterOperations: BASE, canBeWatermark: false };
  if (typname === "time" || typname === "timetz" || typname === "interval") return { propertyType: "string", filterOperations: [...BASE, ...COMPARE], canBeWatermark: false };
  if (typname === "money" || category === "I") return { propertyType: "string", filterOperations: BASE, canBeWatermark: false };
  // bytea, geometry, ranges, bit strings...: readable as text, filterable only on presence
  return { propertyType: null, filterOperations: PRESENCE, canBeWatermark: false };
}

/** Array columns take their element's property type; a filter then tests membership (eq, ne) or presence. */
export function arrayTypeInfo(element: PostgresTypeInfo): PostgresTypeInfo {
  return { propertyType: element.propertyType, filterOperations: element.propertyType ? ["eq", "ne", ...PRESENCE] : PRESENCE, canBeWatermark: false };
}
