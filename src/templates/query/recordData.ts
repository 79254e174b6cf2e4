import type { HostRecord } from "../host";
import type { TemplateData } from "./parameterize";

/** A date as query templates see it: `{{ createdAt.sql }}`, `{{ now.date }}`... (the core's shape). */
export interface ExpandedDate {
  raw: Date;
  /** 2024-05-01T10:00:00.000Z */
  iso: string;
  /** 2024-05-01 10:00:00 */
  sql: string;
  /** 2024-05-01 */
  date: string;
  /** 10:00:00 */
  time: string;
}

export function expandDate(raw: Date | null | undefined): ExpandedDate | null {
  if (!(raw instanceof Date) || isNaN(raw.getTime())) return null;
  const iso = raw.toISOString();
  return {
    raw,
    iso,
    sql: iso.slice(0, 19).replace("T", " "),
    date: iso.split("T")[0],
    time: iso.split("T")[1].split(".")[0],
  };
}

function valueText(value: unknown): string {
  if (value === null || value === undefined) return "";
  return value instanceof Date ? value.toISOString() : String(value);
}

/**
 * The variables of a record, as the core's `getRecordData` makes them: `now`, `createdAt`,
 * `updatedAt` as expanded dates, then each property key (which wins over those names) as its one
 * value (a date expanded), or its values joined with ", " (none: ""). Unlike the core, a 0 or false
 * among several values stays "0" / "false" and a date prints as ISO, not as "".
 */
export async function recordData(record: HostRecord, now: Date = new Date()): Promise<TemplateData> {
  const data: TemplateData = {
    now: expandDate(now),
    createdAt: expandDate(record.createdAt),
    updatedAt: expandDate(record.updatedAt),
  };
  const properties = await record.getProperties();
  for (const [key, property] of Object.entries(properties)) {
    const values = property?.values ?? [];
    if (values.length === 1) {
      const [value] = values;
      data[key] = value instanceof Date ? expandDate(value) : value;
    } else {
      data[key] = values.map(valueText).join(", ");
    }
  }
  return data;
}
