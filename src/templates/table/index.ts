import type { Host } from "../host";
import { DialectFactory, TABLE } from "./context";
import { buildDiscovery } from "./discovery";
import { importRecords, sourceRunPercentComplete } from "./importRecords";
import { buildProperties } from "./properties";

export { TABLE, COLUMN, AGGREGATION, SORT_COLUMN, LEGACY_FILTER_OPERATIONS } from "./context";

export interface TableConnectionSpec {
  name: string;
  displayName: string;
  description: string;
  apps: string[];
  /** the dialect that serves a call, from the App's connection and options */
  dialect: DialectFactory;
  host: Host;
}

/**
 * A complete table import connection for the host: choose a table, map a column to records, import
 * rows by keyset pages, compute properties with the eight aggregations.
 */
export function buildTableConnection(spec: TableConnectionSpec) {
  const discovery = buildDiscovery(spec.dialect);
  const { recordProperty, recordProperties } = buildProperties(spec.dialect);
  return {
    name: spec.name,
    displayName: spec.displayName,
    description: spec.description,
    direction: "import" as const,
    apps: spec.apps,
    supportIncrementalSchedule: true,
    options: [
      { key: TABLE, displayName: "Table", required: true, description: "the table or view to import from" },
    ],
    methods: {
      sourceOptions: discovery.sourceOptions,
      sourcePreview: discovery.sourcePreview,
      sourceFilters: discovery.sourceFilters,
      uniquePropertyBootstrapOptions: discovery.uniquePropertyBootstrapOptions,
      propertyOptions: discovery.propertyOptions,
      scheduleOptions: discovery.scheduleOptions,
      importRecords: (args: Parameters<typeof importRecords>[2]) => importRecords(spec.dialect, spec.host, args),
      sourceRunPercentComplete: (args: Parameters<typeof sourceRunPercentComplete>[1]) => sourceRunPercentComplete(spec.dialect, args),
      recordProperty,
      recordProperties,
    },
  };
}
