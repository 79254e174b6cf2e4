import { coreMethod, ImportConnectionSpec, importConnectionHeader } from "../connection";
import type { TableDialect } from "../dialect";
import { TABLE } from "./context";
import { propertyOptions, scheduleOptions, sourceFilters, sourceOptions, sourcePreview, uniquePropertyBootstrapOptions } from "./discovery";
import { importRecords, sourceRunPercentComplete } from "./importRecords";
import { recordProperties, recordProperty } from "./properties";

export { TABLE, COLUMN, AGGREGATION, SORT_COLUMN } from "./context";

export type TableConnectionSpec = ImportConnectionSpec<TableDialect>;

/**
 * A complete table import connection for the host: choose a table, map a column to records, import
 * rows by keyset pages, compute properties with the eight aggregations.
 */
export function buildTableConnection(spec: TableConnectionSpec) {
  return {
    ...importConnectionHeader(spec),
    supportIncrementalSchedule: true,
    options: [
      { key: TABLE, displayName: "Table", required: true, description: "the table or view to import from" },
    ],
    methods: {
      sourceOptions: coreMethod(spec.dialect, sourceOptions),
      sourcePreview: coreMethod(spec.dialect, sourcePreview),
      sourceFilters: coreMethod(spec.dialect, sourceFilters),
      uniquePropertyBootstrapOptions,
      propertyOptions: coreMethod(spec.dialect, propertyOptions),
      scheduleOptions: coreMethod(spec.dialect, scheduleOptions),
      importRecords: (args: Parameters<typeof importRecords>[2]) => importRecords(spec.dialect, spec.host, args),
      sourceRunPercentComplete: coreMethod(spec.dialect, sourceRunPercentComplete),
      recordProperty: coreMethod(spec.dialect, recordProperty),
      recordProperties: coreMethod(spec.dialect, recordProperties),
    },
  };
}
