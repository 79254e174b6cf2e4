import type { QueryDialect, Row } from "../dialect";
import {
  Host,
  HostProperty,
  HostRecord,
  OptionError,
  Options,
  PropertyValues,
  RecordPropertyArgs,
  optionText,
} from "../host";
import { QUERY, QueryDialectFactory, compileOption, queryFailure, toValue } from "./context";
import { CompiledQuery, MissingVariableError, bindParameters } from "./parameterize";
import { recordData } from "./recordData";

/** Array property: every row's first column (an array value gives its elements); scalar: the first row's. */
function firstColumnValues(result: { rows: Row[]; columns: string[] }, property: HostProperty): PropertyValues {
  const [column] = result.columns;
  if (column === undefined) throw new OptionError("Property", QUERY, `is wrong for property "${property.key}": the query returns no columns`);
  if (result.columns.filter((c) => c === column).length > 1) {
    throw new OptionError("Property", QUERY, `is wrong for property "${property.key}": the first column's name "${column}" appears twice; give it a name of its own (AS ...)`);
  }
  if (property.isArray) {
    const values = result.rows
      .flatMap((row) => (Array.isArray(row[column]) ? (row[column] as unknown[]) : [row[column]]))
      .map(toValue)
      .filter((v): v is NonNullable<typeof v> => v !== undefined);
    return values.length > 0 ? values : undefined;
  }
  if (result.rows.length === 0) return undefined;
  const first = result.rows[0][column];
  if (Array.isArray(first)) {
    throw new OptionError(
      "Property",
      QUERY,
      `is wrong for property "${property.key}": its first column "${column}" is an array, but the property is not; return one value (e.g. arr[1]) or make the property an array`
    );
  }
  const value = toValue(first);
  return value === undefined ? undefined : [value];
}

/**
 * Property values from a query per record. The record's variables are bound as parameters; a record
 * that lacks one gets no value, and the log says which variable (the core also calls this when a
 * property is saved, with whatever record comes first: that must not fail).
 *
 * There is no batched `recordProperties`: core 0.9 fans batched results out through the source
 * mapping, and a query source has none (its batch task fails on the empty mapping), so the core
 * must call `recordProperty` for each record.
 */
export function buildQueryProperties(dialectFor: QueryDialectFactory, host: Host, connectionName: string) {
  function compiledQuery(dialect: QueryDialect, property: HostProperty, options: Options | undefined): CompiledQuery {
    const query = optionText(options, QUERY);
    if (!query) throw new OptionError("Property", QUERY, `is required (property "${property.key}"): write the SELECT whose first column is the value`);
    return compileOption(dialect, "Property", query, ` (property "${property.key}")`);
  }

  async function valueFor(dialect: QueryDialect, compiled: CompiledQuery, property: HostProperty, record: HostRecord): Promise<PropertyValues> {
    let params: string[];
    try {
      params = bindParameters(compiled, await recordData(record));
    } catch (error) {
      if (!(error instanceof MissingVariableError)) throw error;
      host.log(`${connectionName}: record ${record.id} gets no value for property "${property.key}": ${error.message}`, "info");
      return undefined;
    }
    let result: { rows: Row[]; columns: string[] };
    try {
      result = await dialect.runUserQuery(compiled.sql, params);
    } catch (error) {
      throw queryFailure("Property", compiled, error, ` for property "${property.key}"`);
    }
    return firstColumnValues(result, property);
  }

  return {
    async recordProperty(args: RecordPropertyArgs): Promise<PropertyValues> {
      const dialect = dialectFor(args);
      const compiled = compiledQuery(dialect, args.property, args.propertyOptions);
      return valueFor(dialect, compiled, args.property, args.record);
    },
  };
}
