import { pluginV3 } from "@cloudquery/plugin-pb-javascript";
import type { IpcStream } from "./batch";
import { encodeInsert, SyncCall, SyncResponse } from "./syncMessages";
import type { InsertOutput } from "./tableSync";

const v3 = pluginV3.cloudquery.plugin.v3;

/**
 * The Sync stream as the tables see it: messages are written as they come. A table waits
 * (`ready`) before its next read while the client is behind: grpc's own signal (`write` returned
 * false, until `drain`), or more than `softLimitBytes` handed to grpc and not yet written to the
 * connection. A read in progress is not held up for that (a statement paused for long would meet
 * the statement timeout); it is paused only past `4 × softLimitBytes` (rows far wider than usual).
 */
export class SyncOutput implements InsertOutput {
  cancelled = false;
  private inFlight = 0;
  private waitingForDrain = false;
  private waiters: { resolve: () => void; reject: (error: Error) => void }[] = [];

  constructor(private readonly call: SyncCall, private readonly softLimitBytes: number) {
    call.on("drain", () => {
      this.waitingForDrain = false;
      this.wake();
    });
    call.on("cancelled", () => this.cancel());
    call.on("close", () => this.cancel());
  }

  private get behind(): boolean {
    return this.waitingForDrain || this.inFlight > this.softLimitBytes;
  }

  private get overloaded(): boolean {
    return this.inFlight > 4 * this.softLimitBytes;
  }

  private send(message: SyncResponse, size: number): boolean {
    if (this.cancelled) return false;
    this.inFlight += size;
    const accepted = this.call.write(message, () => {
      this.inFlight -= size;
      this.wake();
    });
    if (!accepted) this.waitingForDrain = true;
    return !this.overloaded;
  }

  insert(record: IpcStream): boolean {
    return this.send(encodeInsert(record), record.length);
  }

  migrateTable(table: Uint8Array): boolean {
    return this.send(new v3.Sync.Response({ migrate_table: new v3.Sync.MessageMigrateTable({ table }) }), table.byteLength);
  }

  error(tableName: string, message: string): boolean {
    return this.send(new v3.Sync.Response({ error: new v3.Sync.MessageError({ table_name: tableName, error: message }) }), message.length);
  }

  ready(): Promise<void> {
    if (this.cancelled) return Promise.reject(new Error("the sync was cancelled"));
    if (!this.behind) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  private wake(): void {
    if (this.behind || this.waiters.length === 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter.resolve();
  }

  private cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter.reject(new Error("the sync was cancelled"));
  }
}
