import { coreMethod, ImportConnectionSpec, importConnectionHeader } from "../connection";
import type { QueryDialect } from "../dialect";
import type { QueryConnectionContext } from "./context";
import { importRecords } from "./importRecords";
import { propertyOptions, scheduleOptions } from "./options";
import { recordProperties, recordProperty } from "./properties";

export { QUERY, PROPERTY_ID } from "./context";
export { compileTemplate, bindParameters, parameterize, lookup, MissingVariableError, TemplateError } from "./parameterize";
export type { CompiledQuery, ParameterizedQuery, TemplateData } from "./parameterize";
export { lexTemplate } from "./lexer";
export { recordData, expandDate } from "./recordData";
export type { ExpandedDate } from "./recordData";

export type QueryConnectionSpec = ImportConnectionSpec<QueryDialect>;

/**
 * A complete query import connection for the host: properties computed by a query per record (its
 * variables bound as parameters), and schedules that page a query whose first column names records.
 * No source options and no preview; a source mapping (to the model's primary key) makes its
 * properties run in batches of records, one statement per batch.
 */
export function buildQueryConnection(spec: QueryConnectionSpec) {
  const context: QueryConnectionContext = { dialectFor: spec.dialect, host: spec.host, connectionName: spec.name, loggedFallbacks: new Set() };
  return {
    ...importConnectionHeader(spec),
    // every run walks the whole query: there is no column to continue from (the core requires the flag)
    supportIncrementalSchedule: false,
    // the schedule's propertyId names the records' property; the UI asks for no source mapping (a
    // mapping set in the config file opts the source's properties into batches: see recordProperties)
    skipSourceMapping: true,
    options: [],
    methods: {
      propertyOptions,
      scheduleOptions,
      recordProperty: coreMethod(context, recordProperty),
      recordProperties: coreMethod(context, recordProperties),
      importRecords: coreMethod(context, importRecords),
    },
  };
}
