import type { Row } from "../../src/templates/dialect";
import type { HighWaterMark, HostFilter, HostRecord, ImportRecordsArgs, ImportRecordsResult } from "../../src/templates/host";

/** A host that records what the plugin imports, as the core's createImports would receive it. */
export function recordingHost() {
  const imports: Row[] = [];
  const logs: string[] = [];
  return {
    imports,
    logs,
    host: {
      async createImports(mapping: Record<string, string>, _run: unknown, rows: Row[]) {
        // the core keeps the mapped columns of each row
        for (const row of rows) imports.push(Object.fromEntries(Object.keys(mapping).map((k) => [mapping[k], row[k]])));
      },
      log(message: string) {
        logs.push(message);
      },
    },
  };
}

export interface RunOptions {
  incremental: boolean;
  column?: string;
  filters?: HostFilter[];
  limit?: number;
  /** the previous run's high watermark (incremental schedules start from it) */
  previous?: HighWaterMark;
  maxBatches?: number;
  /** the run's id (the core's Run#id), "run_test" by default */
  runId?: string;
}

/**
 * Drives importRecords the way core 0.9's schedule:run does: one call per batch, the first with
 * sourceOffset 0, highWaterMark fed back only for incremental schedules ({} otherwise), until a
 * batch imports nothing. Returns the last high watermark and the batches' sizes.
 */
export async function runSchedule(
  importRecords: (args: ImportRecordsArgs) => Promise<ImportRecordsResult>,
  base: Omit<ImportRecordsArgs, "run" | "limit" | "highWaterMark" | "sourceOffset" | "schedule" | "scheduleOptions" | "scheduleFilters">,
  options: RunOptions
) {
  let highWaterMark: HighWaterMark = options.incremental && options.previous ? options.previous : {};
  let sourceOffset: string | number = 0;
  const batches: number[] = [];
  for (let i = 0; i < (options.maxBatches ?? 100000); i++) {
    const response = await importRecords({
      ...base,
      schedule: { incremental: options.incremental },
      scheduleOptions: options.column ? { column: options.column } : {},
      scheduleFilters: options.filters ?? [],
      run: { id: options.runId ?? "run_test" },
      limit: options.limit ?? 1000,
      highWaterMark,
      sourceOffset,
    });
    if (String(response.sourceOffset).length > 191) throw new Error(`sourceOffset longer than 191: ${response.sourceOffset}`);
    // the core stores the high watermark as JSON text
    highWaterMark = options.incremental ? JSON.parse(JSON.stringify(response.highWaterMark)) : {};
    sourceOffset = response.sourceOffset || 0;
    batches.push(response.importsCount);
    if (response.importsCount === 0) break;
  }
  return { highWaterMark, batches };
}

/** A record as the core hands it to property methods. */
export function fakeRecord(id: string, properties: Record<string, unknown[]>): HostRecord {
  return {
    id,
    createdAt: new Date("2024-01-01T00:00:00Z"),
    updatedAt: new Date("2024-01-02T00:00:00Z"),
    async getProperties() {
      return Object.fromEntries(Object.entries(properties).map(([k, values]) => [k, { values }]));
    },
  };
}
