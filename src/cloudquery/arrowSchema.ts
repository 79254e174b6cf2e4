import type { DataType, Field, Schema } from "@apache-arrow/esnext-esm";
import type { ArrowKind } from "./arrowMapping";
import type { Arrow } from "./esm";
import type { SourceTable } from "./tableSelection";

/**
 * A table's Arrow schema as CloudQuery reads it: the Arrow type of each column's kind
 * (arrowMapping.ts), CloudQuery's extension types and metadata (keys, incremental), and the IPC bytes
 * that `GetTables` and `Sync` send.
 */

const TRUE = "true";
const FALSE = "false";

export function arrowType(arrow: Arrow, kind: ArrowKind): DataType {
  switch (kind.kind) {
    case "bool":
      return new arrow.Bool();
    case "int16":
      return new arrow.Int16();
    case "int32":
      return new arrow.Int32();
    case "int64":
      return new arrow.Int64();
    case "uint32":
      return new arrow.Uint32();
    case "float32":
      return new arrow.Float32();
    case "float64":
      return new arrow.Float64();
    case "decimal":
      return new arrow.Decimal(kind.scale, kind.precision, 128);
    case "utf8":
      return new arrow.Utf8();
    case "binary":
    case "json":
      return new arrow.Binary();
    case "uuid":
      return new arrow.FixedSizeBinary(16);
    case "date32":
      return new arrow.DateDay();
    case "timestamp":
      return new arrow.TimestampMicrosecond(kind.utc ? "UTC" : null);
    case "time64":
      return new arrow.TimeMicrosecond();
    case "list":
      return new arrow.List(arrowField(arrow, "item", kind.element, true, new Map()));
  }
}

/** CloudQuery's extension types travel as Arrow extension metadata on the field. */
function extensionMetadata(kind: ArrowKind): [string, string][] {
  if (kind.kind === "json") return [["ARROW:extension:name", "json"], ["ARROW:extension:metadata", "json-serialized"]];
  if (kind.kind === "uuid") return [["ARROW:extension:name", "uuid"], ["ARROW:extension:metadata", "uuid-serialized"]];
  return [];
}

function arrowField(arrow: Arrow, name: string, kind: ArrowKind, nullable: boolean, metadata: Map<string, string>): Field {
  for (const [key, value] of extensionMetadata(kind)) metadata.set(key, value);
  return new arrow.Field(name, arrowType(arrow, kind), nullable, metadata);
}

/** The table's Arrow schema with CloudQuery's metadata (table name, description, keys, incremental). */
export function arrowSchema(arrow: Arrow, table: SourceTable): Schema {
  const unique = new Set(table.relation.uniqueColumns);
  if (table.primaryKey.length === 1) unique.add(table.primaryKey[0]);
  const fields = table.columns.map(({ column, mapping }) => {
    const metadata = new Map<string, string>([
      ["cq:extension:primary_key", table.primaryKey.includes(column.name) ? TRUE : FALSE],
      ["cq:extension:unique", unique.has(column.name) ? TRUE : FALSE],
      ["cq:extension:incremental", column.name === table.incrementalColumn ? TRUE : FALSE],
    ]);
    return arrowField(arrow, column.name, mapping.arrow, !column.notNull && !table.primaryKey.includes(column.name), metadata);
  });
  const metadata = new Map<string, string>([
    ["cq:table_name", table.name],
    ["cq:table_title", table.relation.name],
    ["cq:table_description", table.relation.description],
  ]);
  if (table.relation.primaryKeyConstraint && table.primaryKey === table.relation.primaryKey) {
    metadata.set("cq:extension:constraint_name", table.relation.primaryKeyConstraint);
  }
  if (table.incrementalColumn) metadata.set("cq:extension:incremental", TRUE);
  return new arrow.Schema(fields, metadata);
}

/** A schema as CloudQuery sends tables: an Arrow IPC stream with the schema and no rows. */
export function encodeSchema(arrow: Arrow, schema: Schema): Uint8Array {
  return arrow.tableToIPC(new arrow.Table(schema), "stream");
}
