import type { Host, HostRecord, SourceMapping } from "../../src/templates/host";
import type { Row } from "../../src/templates/dialect";

/** A host that keeps what the plugin hands it: the imports it creates and the lines it logs. */
export class FakeHost implements Host {
  readonly imports: { mapping: SourceMapping; run: unknown; rows: Row[] }[] = [];
  /** every imported row as the core keeps it: `{ <property key>: value }` through the mapping */
  readonly importedRecords: Row[] = [];
  readonly logs: { message: string; level: string }[] = [];
  /** the logged messages alone; a test may push a connection's own log lines here too */
  readonly messages: string[] = [];

  async createImports(mapping: SourceMapping, run: unknown, rows: Row[]) {
    this.imports.push({ mapping, run, rows: rows.map((r) => ({ ...r })) });
    for (const row of rows) this.importedRecords.push(Object.fromEntries(Object.keys(mapping).map((column) => [mapping[column], row[column]])));
    return rows;
  }

  log(message: string, level: "info" | "warning" | "error") {
    this.logs.push({ message, level });
    this.messages.push(message);
  }

  /** every imported row's mapped value, in import order */
  importedValues(): unknown[] {
    return this.imports.flatMap(({ mapping, rows }) => rows.map((r) => r[Object.keys(mapping)[0]]));
  }
}

/** A record as the core hands it to recordProperty: properties as `{ key: { values: [...] } }`. */
export function fakeRecord(id: string, properties: Record<string, unknown[]>, dates: { createdAt?: Date; updatedAt?: Date } = {}): HostRecord {
  return {
    id,
    createdAt: dates.createdAt ?? new Date("2024-01-02T03:04:05.678Z"),
    updatedAt: dates.updatedAt ?? new Date("2024-02-03T04:05:06.789Z"),
    getProperties: async () => Object.fromEntries(Object.entries(properties).map(([key, values]) => [key, { values }])),
  };
}
