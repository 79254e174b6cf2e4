/**
 * Several statements in one flight of the extended protocol: Parse, Bind, Describe and Execute for
 * each, then one Sync, so that the server answers them all in one round trip (node-postgres waits
 * for each statement's answer before it sends the next, and sends a prepared statement's Sync only
 * after its CommandComplete: a bound statement alone costs two round trips there).
 *
 * Each statement is parsed as the unnamed statement, so it is one statement only (the server
 * refuses several in one Parse) and nothing named outlives the flight. When one statement fails the
 * server skips the rest up to the Sync; the flight then fails with that error, and the session is
 * left in whatever transaction state that error left it (the caller cleans up).
 *
 * A node-postgres "submittable", like `BinaryCopyOut` beside it: the client hands it the protocol
 * messages of its turn.
 */
// eslint-disable-next-line @typescript-eslint/no-var-requires
const Result = require("pg/lib/result");
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { prepareValue } = require("pg/lib/utils");

export interface FlightStatement {
  text: string;
  values?: unknown[];
}

export interface FlightResult {
  rows: Record<string, unknown>[];
  fields: { name: string; dataTypeID: number }[];
}

interface ProtocolConnection {
  parse(query: { text: string; name: string; types: number[] }): void;
  bind(config: { portal: string; statement: string; values: unknown[]; valueMapper: (value: unknown) => unknown }): void;
  describe(message: { type: "P"; name: string }): void;
  execute(config: { portal: string; rows: number }): void;
  sync(): void;
  stream: { cork(): void; uncork(): void };
}

interface PgResult {
  rows: Record<string, unknown>[];
  fields: { name: string; dataTypeID: number }[];
  addFields(fields: unknown[]): void;
  parseRow(fields: unknown[]): Record<string, unknown>;
  addRow(row: Record<string, unknown>): void;
}

export interface TypeParsers {
  getTypeParser(oid: number, format?: string): unknown;
}

export class Flight {
  private readonly results: PgResult[];
  private current = 0;
  private failure?: Error;
  private done = false;

  constructor(private readonly statements: FlightStatement[], types: TypeParsers, public callback: (error: Error | null, results?: FlightResult[]) => void) {
    this.results = statements.map(() => new Result(undefined, types) as PgResult);
  }

  submit(connection: ProtocolConnection): Error | null {
    // one write for the whole flight where the socket allows it
    connection.stream.cork();
    try {
      for (const statement of this.statements) {
        connection.parse({ text: statement.text, name: "", types: [] });
        connection.bind({ portal: "", statement: "", values: statement.values ?? [], valueMapper: prepareValue });
        connection.describe({ type: "P", name: "" });
        connection.execute({ portal: "", rows: 0 });
      }
      connection.sync();
    } catch (error) {
      // a value that cannot be serialized: nothing was sent yet that the server would run
      return error as Error;
    } finally {
      process.nextTick(() => connection.stream.uncork());
    }
    return null;
  }

  handleRowDescription(message: { fields: unknown[] }): void {
    this.results[this.current]?.addFields(message.fields);
  }

  handleDataRow(message: { fields: unknown[] }): void {
    const result = this.results[this.current];
    if (!result || this.failure) return;
    try {
      result.addRow(result.parseRow(message.fields));
    } catch (error) {
      // a value the type parser refused: reported once the flight has ended
      this.failure = error as Error;
    }
  }

  handleCommandComplete(): void {
    this.current++;
  }

  handleEmptyQuery(): void {
    this.current++;
  }

  handlePortalSuspended(): void {}

  handleCopyInResponse(): void {
    this.failure = new Error("COPY is not run in a flight");
  }

  handleCopyData(): void {}

  /** A server error (the rest of the flight was skipped) or the connection's end. */
  handleError(error: Error): void {
    this.finish(error);
  }

  handleReadyForQuery(): void {
    this.finish(this.failure ?? null);
  }

  private finish(error: Error | null): void {
    if (this.done) return;
    this.done = true;
    if (error) this.callback(error);
    else this.callback(null, this.results.map((r) => ({ rows: r.rows, fields: r.fields.map((f) => ({ name: f.name, dataTypeID: f.dataTypeID })) })));
  }
}
