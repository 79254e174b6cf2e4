import type { Row, Value } from "./dialect";

/**
 * The parts of the host (a Grouparoo core) the builders touch, typed here rather than imported, so
 * that the builders load under any core and in unit tests with a fake host. The shapes are core
 * 0.9's; an older core's arguments are translated before they reach a builder
 * (src/connections/profileEra.ts).
 */
export interface HostRecord {
  id: string;
  createdAt?: Date | null;
  updatedAt?: Date | null;
  /** `unique` is the property's (core 0.9 gives it; absent elsewhere) */
  getProperties(): Promise<Record<string, { values: unknown[]; unique?: boolean } | undefined>>;
}

export interface HostProperty {
  id: string;
  key: string;
  type?: string;
  isArray?: boolean;
}

export interface HostFilter {
  key: string;
  op: string;
  match?: unknown;
}

export interface HostSchedule {
  id?: string;
  /** whether a run continues from the previous run's high watermark */
  incremental: boolean;
}

export type Options = Record<string, unknown>;
export type SourceMapping = Record<string, string>;
export type HighWaterMark = Record<string, unknown>;

export interface Host {
  /** the core's `plugin.createImports(mapping, run, rows)` */
  createImports(mapping: SourceMapping, run: unknown, rows: Row[]): Promise<unknown>;
  log(message: string, level: "info" | "warning" | "error"): void;
}

/** What every connection method receives from the core (the fields the builders use). */
export interface MethodArgs {
  connection: unknown;
  appOptions: Options;
  sourceOptions?: Options;
  sourceMapping?: SourceMapping;
}

export interface ImportRecordsArgs extends MethodArgs {
  /** the core passes the schedule of the run; a source that has no incremental mode ignores it */
  schedule: HostSchedule;
  scheduleOptions?: Options;
  scheduleFilters?: HostFilter[];
  properties?: HostProperty[];
  run: unknown;
  limit: number;
  highWaterMark?: HighWaterMark;
  sourceOffset?: number | string;
}

export interface ImportRecordsResult {
  importsCount: number;
  highWaterMark: HighWaterMark;
  sourceOffset: string;
}

export interface RecordPropertyArgs extends MethodArgs {
  property: HostProperty;
  propertyOptions: Options;
  propertyFilters?: HostFilter[];
  record: HostRecord;
}

export interface RecordPropertiesArgs extends MethodArgs {
  properties: HostProperty[];
  propertyOptions: Record<string, Options>;
  propertyFilters?: Record<string, HostFilter[]>;
  records: HostRecord[];
}

export type PropertyValues = Value[] | undefined;

/** An option the UI renders for a property or a schedule, with the choices its `options()` returns. */
export interface OptionChoice {
  key: string;
  description?: string;
  examples?: unknown[];
  default?: boolean;
}

export interface PluginOption {
  key: string;
  displayName?: string;
  required: boolean;
  description: string;
  type: "list" | "typeahead" | "text" | "textarea";
  primary?: boolean;
  options: (args: MethodArgs & { properties?: HostProperty[] }) => Promise<OptionChoice[]>;
}

/** Where a user's value was missing or wrong: the message names the option. */
export class OptionError extends Error {
  constructor(kind: "App" | "Source" | "Property" | "Schedule", option: string, problem: string) {
    super(`${kind} option \`${option}\` ${problem}`);
    this.name = "OptionError";
  }
}

/** The core's batch size (`limit`, GROUPAROO_IMPORTS_BATCH_SIZE): a whole number of rows, 1000 when absent. */
export function batchLimit(limit: unknown): number {
  if (limit === undefined || limit === null || limit === "" || limit === 0) return 1000;
  const n = Number(limit);
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new Error(`the batch size \`limit\` must be a whole number of rows (at least 1), got ${JSON.stringify(String(limit))}: check GROUPAROO_IMPORTS_BATCH_SIZE`);
  }
  return n;
}

export function optionText(options: Options | undefined, key: string): string | undefined {
  const value = options?.[key];
  if (value === undefined || value === null) return undefined;
  const s = String(value);
  return s.trim() === "" ? undefined : s;
}

/** A record's first value of a property, as text; 0, false and "" are real values. */
export async function recordKeyValue(record: HostRecord, propertyKey: string): Promise<string | undefined> {
  const properties = await record.getProperties();
  const values = properties[propertyKey]?.values ?? [];
  const value = values[0];
  if (value === undefined || value === null) return undefined;
  return value instanceof Date ? value.toISOString() : String(value);
}
