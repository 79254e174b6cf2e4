import { randomBytes } from "crypto";
import { promises as fs } from "fs";
import * as path from "path";
import { errorMessage } from "../postgres";

/**
 * Incremental cursors, one per table, in a JSON file (the spec's `state_file`). The JS SDK keeps no
 * state and no destination runs beside this plugin to hold it, so the file is the store. Keys name
 * the database and the table (and the `Sync.backend.table_name` when the CLI sends one, so that two
 * CloudQuery sources reading the same database keep their own cursors).
 *
 * A cursor is saved when its table has been sent whole; the file is replaced atomically.
 */
export interface Cursor {
  /** the incremental column the cursor belongs to; another column starts over */
  column: string;
  /** the key columns of the walk; other keys start over */
  key: string[];
  /** the last (incremental value, key...) sent, as text */
  after?: string[];
  /** the last key sent among rows whose incremental column is NULL */
  nullsAfter?: string[];
  /** when the cursor was saved (for people reading the file) */
  savedAt?: string;
}

interface StateFile {
  version: 1;
  cursors: Record<string, Cursor>;
}

export interface CursorStore {
  get(key: string): Promise<Cursor | undefined>;
  set(key: string, cursor: Cursor): Promise<void>;
  readonly description: string;
}

export function cursorKey(parts: { namespace: string; host: string; port: number; database: string; schema: string; table: string }): string {
  return JSON.stringify([parts.namespace, `${parts.host}:${parts.port}/${parts.database}`, parts.schema, parts.table]);
}

export class FileCursorStore implements CursorStore {
  private readonly file: string;
  private writes: Promise<void> = Promise.resolve();

  constructor(file: string) {
    this.file = path.resolve(file);
  }

  get description(): string {
    return `state file ${this.file}`;
  }

  private async read(): Promise<StateFile> {
    let text: string;
    try {
      text = await fs.readFile(this.file, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return { version: 1, cursors: {} };
      throw new Error(`the state file ${this.file} cannot be read: ${errorMessage(error)}`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new Error(`the state file ${this.file} is not JSON (${errorMessage(error)}): move it away to start over`);
    }
    const problem = stateProblem(parsed);
    if (problem) throw new Error(`the state file ${this.file} is not this plugin's state (${problem}): move it away to start over`);
    return parsed as StateFile;
  }

  async get(key: string): Promise<Cursor | undefined> {
    await this.writes;
    const { cursors } = await this.read();
    return Object.prototype.hasOwnProperty.call(cursors, key) ? cursors[key] : undefined;
  }

  /** Saves one cursor; saves are serialized, and each replaces the file atomically (write, then rename). */
  set(key: string, cursor: Cursor): Promise<void> {
    const write = this.writes.then(async () => {
      const state = await this.read();
      state.cursors[key] = { ...cursor, savedAt: new Date().toISOString() };
      await fs.mkdir(path.dirname(this.file), { recursive: true });
      // a name no one can guess, created exclusively ("wx" never follows a planted link) and private
      const temporary = `${this.file}.${randomBytes(12).toString("hex")}.tmp`;
      const handle = await fs.open(temporary, "wx", 0o600);
      try {
        await handle.writeFile(JSON.stringify(state, null, 2) + "\n");
      } finally {
        await handle.close();
      }
      try {
        await fs.rename(temporary, this.file);
      } catch (error) {
        await fs.unlink(temporary).catch(() => {});
        throw error;
      }
    });
    this.writes = write.catch(() => {});
    return write;
  }
}

const isTextArray = (value: unknown) => Array.isArray(value) && value.every((v) => typeof v === "string");

/** What is wrong with a parsed state file, or undefined when it has this plugin's layout. */
function stateProblem(parsed: unknown): string | undefined {
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) return "it is not a JSON object";
  const state = parsed as Record<string, unknown>;
  if (state.version !== 1) return `"version" is ${JSON.stringify(state.version)}, not 1`;
  const cursors = state.cursors;
  if (cursors === null || typeof cursors !== "object" || Array.isArray(cursors)) return `"cursors" is not an object`;
  for (const [key, cursor] of Object.entries(cursors as Record<string, unknown>)) {
    const c = cursor as Record<string, unknown> | null;
    const where = `cursor ${JSON.stringify(key)}`;
    if (c === null || typeof c !== "object" || Array.isArray(c)) return `${where} is not an object`;
    if (typeof c.column !== "string") return `${where}: "column" is not text`;
    if (!isTextArray(c.key)) return `${where}: "key" is not a list of text`;
    if (c.after !== undefined && !isTextArray(c.after)) return `${where}: "after" is not a list of text`;
    if (c.nullsAfter !== undefined && !isTextArray(c.nullsAfter)) return `${where}: "nullsAfter" is not a list of text`;
  }
  return undefined;
}

/** `state_file: null`: no cursor is kept, incremental tables are read whole on every sync. */
export class NoCursorStore implements CursorStore {
  readonly description = "no state (state_file is null)";
  async get(): Promise<Cursor | undefined> {
    return undefined;
  }
  async set(): Promise<void> {}
}
