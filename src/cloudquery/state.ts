import { promises as fs } from "fs";
import * as path from "path";

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
      throw new Error(`the state file ${this.file} cannot be read: ${(error as Error).message}`);
    }
    try {
      const parsed = JSON.parse(text) as StateFile;
      if (parsed?.version !== 1 || typeof parsed.cursors !== "object") throw new Error("unknown layout");
      return parsed;
    } catch (error) {
      throw new Error(`the state file ${this.file} is not this plugin's state (${(error as Error).message}): move it away to start over`);
    }
  }

  async get(key: string): Promise<Cursor | undefined> {
    await this.writes;
    return (await this.read()).cursors[key];
  }

  /** Saves one cursor; saves are serialized, and each replaces the file atomically (write, then rename). */
  set(key: string, cursor: Cursor): Promise<void> {
    const write = this.writes.then(async () => {
      const state = await this.read();
      state.cursors[key] = { ...cursor, savedAt: new Date().toISOString() };
      await fs.mkdir(path.dirname(this.file), { recursive: true });
      const temporary = `${this.file}.${process.pid}.tmp`;
      await fs.writeFile(temporary, JSON.stringify(state, null, 2) + "\n");
      await fs.rename(temporary, this.file);
    });
    this.writes = write.catch(() => {});
    return write;
  }
}

/** `state_file: null`: no cursor is kept, incremental tables are read whole on every sync. */
export class NoCursorStore implements CursorStore {
  readonly description = "no state (state_file is null)";
  async get(): Promise<Cursor | undefined> {
    return undefined;
  }
  async set(): Promise<void> {}
}
