import type { QueryDialect, Row } from "../dialect";
import { HostProperty, HostRecord, OptionError, Options, PropertyValues, RecordPropertiesArgs, RecordPropertyArgs, optionText } from "../host";
import { QUERY, QueryConnectionContext, compileOption, queryFailure, toValue } from "./context";
import { CompiledQuery, MissingVariableError, bindParameters, compileTemplate } from "./parameterize";
import { recordData } from "./recordData";

/**
 * Why a batch of records is refused (the core then imports the property one record at a time). The
 * core logs the stack of a refused batch: it is the message alone, one line, not a trace.
 */
export class BatchRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BatchRefusedError";
    this.stack = `${this.name}: ${message}`;
  }
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

function compiledQuery(dialect: QueryDialect, property: HostProperty, options: Options | undefined): CompiledQuery {
  const query = optionText(options, QUERY);
  if (!query) throw new OptionError("Property", QUERY, `is required (property "${property.key}"): write the SELECT whose first column is the value`);
  return compileOption(dialect, "Property", query, ` (property "${property.key}")`);
}

async function valueFor({ host, connectionName }: QueryConnectionContext, dialect: QueryDialect, compiled: CompiledQuery, property: HostProperty, record: HostRecord): Promise<PropertyValues> {
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

/** Each reason a property falls back to one statement per record is logged once per connection. */
function logFallbackOnce({ host, connectionName, loggedFallbacks }: QueryConnectionContext, property: HostProperty, reason: string) {
  const key = `${property.id}\u0000${reason}`;
  if (loggedFallbacks.has(key)) return;
  loggedFallbacks.add(key);
  host.log(`${connectionName}: property "${property.key}" is queried one record at a time, not in batches: ${reason}`, "warning");
}

/** The records a batch serves, as the core's one-record import would: those holding the mapped property. */
async function mappedRecords({ connectionName }: QueryConnectionContext, args: RecordPropertiesArgs): Promise<HostRecord[]> {
  const mappedKeys = Object.values(args.sourceMapping ?? {});
  if (mappedKeys.length === 0) {
    throw new BatchRefusedError(
      `${connectionName}: this query source has no mapping, so its properties (${args.properties.map((p) => `"${p.key}"`).join(", ")}) are imported one record at a time. ` +
        `To query them in batches, map the source to the model's primary key (README: "Batched query properties").`
    );
  }
  const [mappedKey] = mappedKeys;
  const served: HostRecord[] = [];
  for (const record of args.records) {
    const mapped = (await record.getProperties())[mappedKey];
    if (!mapped) continue; // the core's one-record import gives such a record no value
    if (mapped.unique === false) {
      // the core would copy one record's values to every record sharing the mapped value
      throw new BatchRefusedError(`${connectionName}: this query source maps to "${mappedKey}", which is not unique; map it to the model's primary key to query in batches.`);
    }
    served.push(record);
  }
  return served;
}

async function batchValues(
  context: QueryConnectionContext,
  dialect: QueryDialect,
  property: HostProperty,
  options: Options | undefined,
  records: HostRecord[]
): Promise<Map<string, PropertyValues>> {
  const { host, connectionName } = context;
  const compiled = compiledQuery(dialect, property, options);
  const values = new Map<string, PropertyValues>();
  if (records.length === 0) return values;

  // each record's parameters; a record lacking a variable gets no value, as alone
  const bound: { record: HostRecord; params: string[] }[] = [];
  const missing = new Map<string, number>();
  for (const record of records) {
    try {
      bound.push({ record, params: bindParameters(compiled, await recordData(record)) });
    } catch (error) {
      if (!(error instanceof MissingVariableError)) throw error;
      missing.set(error.message, (missing.get(error.message) ?? 0) + 1);
    }
  }
  for (const [message, count] of missing) {
    host.log(`${connectionName}: ${count} record(s) get no value for property "${property.key}": ${message}`, "info");
  }
  if (bound.length === 0) return values;

  const batchCompiled = compileTemplate(compiled.template, { placeholder: (i) => dialect.batchPlaceholder(i), concat: (parts) => dialect.concat(parts) });
  let outcome;
  try {
    outcome = await dialect.runUserQueryBatch({ sql: compiled.sql, batchSql: batchCompiled.sql, parameterRows: bound.map((b) => b.params) });
  } catch (error) {
    throw queryFailure("Property", batchCompiled, error, ` for property "${property.key}"`);
  }
  if ("unbatchable" in outcome) {
    logFallbackOnce(context, property, outcome.unbatchable);
    for (const { record } of bound) values.set(record.id, await valueFor(context, dialect, compiled, property, record));
    return values;
  }
  outcome.results.forEach((result, i) => values.set(bound[i].record.id, firstColumnValues(result, property)));
  return values;
}

/**
 * A property's values from a query per record. The record's variables are bound as parameters; a
 * record that lacks one gets no value, and the log says which variable (the core also calls this
 * when a property is saved, with whatever record comes first: that must not fail).
 */
export async function recordProperty(context: QueryConnectionContext, args: RecordPropertyArgs): Promise<PropertyValues> {
  const dialect = context.dialectFor(args);
  const compiled = compiledQuery(dialect, args.property, args.propertyOptions);
  return valueFor(context, dialect, compiled, args.property, args.record);
}

/**
 * The same values as `recordProperty` per record, for a batch of records (up to 500, the core's
 * batch) in one statement per property. Only for a source that maps to a unique property (the
 * model's primary key): core 0.9 fans a batch's results out through the source mapping and fails on
 * an empty one, so an unmapped source's batch is refused at once and the core imports its
 * properties one record at a time, as before batching existed.
 */
export async function recordProperties(context: QueryConnectionContext, args: RecordPropertiesArgs): Promise<Record<string, Record<string, PropertyValues>>> {
  const records = await mappedRecords(context, args);
  const dialect = context.dialectFor(args);
  const out: Record<string, Record<string, PropertyValues>> = {};
  for (const property of args.properties) {
    const values = await batchValues(context, dialect, property, args.propertyOptions[property.id], records);
    for (const [recordId, value] of values) {
      if (value === undefined) continue; // absent = no value
      (out[recordId] ??= {})[property.id] = value;
    }
  }
  return out;
}
