import type { QueryDialect, Row } from "../dialect";
import {
  Host,
  HostProperty,
  HostRecord,
  OptionError,
  Options,
  PropertyValues,
  RecordPropertiesArgs,
  RecordPropertyArgs,
  optionText,
} from "../host";
import { QUERY, QueryDialectFactory, compileOption, queryFailure, toValue } from "./context";
import { CompiledQuery, MissingVariableError, bindParameters } from "./parameterize";
import { recordData } from "./recordData";

/** Records computed at once in a batch: the pool serves them side by side, each in its own transaction. */
const RECORDS_IN_PARALLEL = 4;

async function mapLimited<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        out[i] = await work(items[i]);
      } catch (error) {
        failed = true; // the batch fails: start no more
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

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

    async recordProperties(args: RecordPropertiesArgs): Promise<Record<string, Record<string, PropertyValues>>> {
      const dialect = dialectFor(args);
      const out: Record<string, Record<string, PropertyValues>> = {};
      for (const record of args.records) out[record.id] = {};
      for (const property of args.properties) {
        const compiled = compiledQuery(dialect, property, args.propertyOptions[property.id]);
        const values = await mapLimited(args.records, RECORDS_IN_PARALLEL, (record) => valueFor(dialect, compiled, property, record));
        args.records.forEach((record, i) => {
          out[record.id][property.id] = values[i];
        });
      }
      return out;
    },
  };
}
