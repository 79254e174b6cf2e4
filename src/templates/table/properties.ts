import { AGGREGATION_METHODS, AggregationMethod, Value } from "../dialect";
import { HostFilter, HostProperty, HostRecord, OptionError, Options, PropertyValues, RecordPropertiesArgs, RecordPropertyArgs, optionText, recordKeyValue } from "../host";
import { AGGREGATION, COLUMN, DialectFactory, SORT_COLUMN, findColumn, mappingColumn, sourceTable, toColumnFilters } from "./context";

/** Aggregations whose answer for a record with no rows is 0 rather than "no value". */
const ZERO_WHEN_EMPTY: AggregationMethod[] = ["count", "sum"];

interface PropertyRequest {
  property: HostProperty;
  options: Options;
  filters?: HostFilter[];
}

/**
 * Property values for many records: one query per property for the whole batch, keyed by the
 * source mapping's column. Records without a key value get no value.
 */
async function propertyValuesOfRecords(
  dialectFor: DialectFactory,
  args: RecordPropertiesArgs | RecordPropertyArgs,
  records: HostRecord[],
  requests: PropertyRequest[]
): Promise<Record<string, Record<string, PropertyValues>>> {
  const dialect = dialectFor(args);
  const table = sourceTable(args);
  const { column: keyColumn, propertyKey } = mappingColumn(args);
  await findColumn(dialect, table, keyColumn, "Source", "mapping");

  const keyOf = new Map<string, string>();
  for (const record of records) {
    const key = await recordKeyValue(record, propertyKey);
    if (key !== undefined) keyOf.set(record.id, key);
  }
  const keys = [...new Set(keyOf.values())];
  const out: Record<string, Record<string, PropertyValues>> = {};
  for (const record of records) out[record.id] = {};

  for (const { property, options, filters } of requests) {
    const column = optionText(options, COLUMN);
    if (!column) throw new OptionError("Property", COLUMN, `is required (property "${property.key}")`);
    const aggregation = (optionText(options, AGGREGATION) ?? "exact") as AggregationMethod;
    if (!AGGREGATION_METHODS.includes(aggregation)) {
      throw new OptionError("Property", AGGREGATION, `must be one of ${AGGREGATION_METHODS.join(", ")}, got "${aggregation}" (property "${property.key}")`);
    }
    const sortColumn = optionText(options, SORT_COLUMN);
    if ((aggregation === "most recent value" || aggregation === "least recent value") && !sortColumn) {
      throw new OptionError("Property", SORT_COLUMN, `is required for "${aggregation}" (property "${property.key}")`);
    }
    await findColumn(dialect, table, column, "Property", COLUMN);
    if (sortColumn) await findColumn(dialect, table, sortColumn, "Property", SORT_COLUMN);
    const values = await dialect.propertyValues({
      table,
      keyColumn,
      keys,
      column,
      aggregation,
      sortColumn,
      filters: await toColumnFilters(dialect, table, filters, "Property"),
      isArray: Boolean(property.isArray),
    });
    for (const record of records) {
      const key = keyOf.get(record.id);
      const found: Value[] | undefined = key === undefined ? undefined : values.get(key);
      if (found && found.length > 0) out[record.id][property.id] = found;
      else if (key !== undefined && ZERO_WHEN_EMPTY.includes(aggregation)) out[record.id][property.id] = [0];
      else out[record.id][property.id] = undefined;
    }
  }
  return out;
}

export async function recordProperty(dialectFor: DialectFactory, args: RecordPropertyArgs): Promise<PropertyValues> {
  const values = await propertyValuesOfRecords(dialectFor, args, [args.record], [{ property: args.property, options: args.propertyOptions, filters: args.propertyFilters }]);
  return values[args.record.id][args.property.id];
}

export async function recordProperties(dialectFor: DialectFactory, args: RecordPropertiesArgs): Promise<Record<string, Record<string, PropertyValues>>> {
  const requests = args.properties.map((property) => ({
    property,
    options: args.propertyOptions[property.id] ?? {},
    filters: args.propertyFilters?.[property.id],
  }));
  return propertyValuesOfRecords(dialectFor, args, args.records, requests);
}
