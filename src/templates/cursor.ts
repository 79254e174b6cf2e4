import type { HighWaterMark } from "./host";

/**
 * Where a run stands, and where the next run starts.
 *
 * Within a run the core keeps only `sourceOffset` for schedules that are not incremental (it resets
 * the high watermark to {} after every batch), in a column of 191 characters. So:
 * - `sourceOffset` holds the walk state of this run: which phase, how many rows so far, and for a
 *   full walk the last key read. It is compact JSON, e.g. `{"p":"k","n":3000,"a":["1234"]}`.
 * - `highWaterMark` (incremental schedules only, kept across runs as TEXT) holds where the next run
 *   starts, readable: `{"updated_at": "2024-05-01 10:00:00+00", "@after:id": "1234", "@nullsAfter:id": "99"}`.
 *   The original plugin's `{"updated_at": "<text>"}` is accepted and read as "at or after".
 */
export const SOURCE_OFFSET_MAX = 191;

export type Phase = "nulls" | "values" | "keys";
const PHASE_CODES: Record<Phase, string> = { nulls: "n", values: "v", keys: "k" };

export interface WalkState {
  phase: Phase;
  /** rows imported so far in this run */
  done: number;
  /** last position of a full walk ("keys") */
  after?: string[];
}

export function encodeWalkState(state: WalkState): string {
  const out: Record<string, unknown> = { p: PHASE_CODES[state.phase], n: state.done };
  if (state.after) out.a = state.after;
  const text = JSON.stringify(out);
  if (text.length > SOURCE_OFFSET_MAX) {
    throw new Error(
      `the last key read (${JSON.stringify(state.after)}) is too long to be kept in the core's ${SOURCE_OFFSET_MAX}-character sourceOffset: ` +
        `use an incremental schedule (its position is kept in the high watermark) or a shorter mapping column`
    );
  }
  return text;
}

/** The state of the run in progress, or undefined at the first batch of a run (the core sends 0). */
export function decodeWalkState(sourceOffset: unknown): WalkState | undefined {
  if (typeof sourceOffset !== "string" || !sourceOffset.startsWith("{")) return undefined;
  try {
    const raw = JSON.parse(sourceOffset) as { p?: string; n?: number; a?: unknown };
    const phase = (Object.keys(PHASE_CODES) as Phase[]).find((p) => PHASE_CODES[p] === raw.p);
    if (!phase) return undefined;
    const after = Array.isArray(raw.a) ? raw.a.map(String) : undefined;
    return { phase, done: Number(raw.n) || 0, after };
  } catch (error) {
    return undefined;
  }
}

export interface IncrementalMark {
  /** text of the last watermark value imported */
  watermark?: string;
  /** text of the last key imported at that watermark; absent for the original plugin's marks */
  key?: string;
  /** text of the last key imported among rows whose watermark is NULL */
  nullsKey?: string;
}

const afterKey = (keyColumn: string) => `@after:${keyColumn}`;
const nullsAfterKey = (keyColumn: string) => `@nullsAfter:${keyColumn}`;

function textOf(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  return value instanceof Date ? value.toISOString() : String(value);
}

/** Reads a stored high watermark for this watermark column and key column; anything else is ignored. */
export function decodeMark(highWaterMark: HighWaterMark | undefined, watermarkColumn: string, keyColumn: string): IncrementalMark {
  const hwm = highWaterMark ?? {};
  const watermark = textOf(hwm[watermarkColumn]);
  return {
    watermark,
    key: watermark === undefined ? undefined : textOf(hwm[afterKey(keyColumn)]),
    nullsKey: textOf(hwm[nullsAfterKey(keyColumn)]),
  };
}

export function encodeMark(mark: IncrementalMark, watermarkColumn: string, keyColumn: string): HighWaterMark {
  const out: HighWaterMark = {};
  if (mark.watermark !== undefined) out[watermarkColumn] = mark.watermark;
  if (mark.key !== undefined) out[afterKey(keyColumn)] = mark.key;
  if (mark.nullsKey !== undefined) out[nullsAfterKey(keyColumn)] = mark.nullsKey;
  return out;
}
