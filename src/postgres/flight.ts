/**
 * Several statements in one flight of the extended protocol: Parse, Bind, Describe and Execute for
 * each, then one Sync, so that the server answers them all in one round trip (node-postgres waits
 * for each statement's answer before it sends the next, and sends a prepared statement's Sync only
 * after its CommandComplete: a bound statement alone costs two round trips there).
 *
 * A statement is parsed as the unnamed statement, or as a named one of the caller's (`name`), which
 * a later flight binds without parsing it again (`parsed`); either way it is one statement only (the
 * server refuses several in one Parse). A statement that returns no rows can skip its Describe
 * (`rows: false`). `close` names statements to drop first (Close messages). When one statement fails
 * the server skips the rest up to the Sync; the flight then fails with that error, and the session is
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
  /** a named statement of the session's (the unnamed statement when absent) */
  name?: string;
  /** the named statement is on the session already: Bind and Execute only */
  parsed?: boolean;
  /** false for a statement that returns no rows: no Describe, so no RowDescription to read */
  rows?: boolean;
  /**
   * The row description an earlier flight got for this named statement: no Describe then. Safe
   * because the server refuses to run a named statement whose result columns changed ("cached plan
   * must not change result type") rather than send other columns.
   */
  fields?: unknown[];
}

export interface FlightResult {
  rows: Record<string, unknown>[];
  fields: { name: string; dataTypeID: number }[];
  /** the row description as the protocol gave it, for a later flight's `fields` */
  described: unknown[];
}

interface ProtocolConnection {
  parse(query: { text: string; name: string; types: number[] }): void;
  close(message: { type: "S"; name: string }): void;
  bind(config: { portal: string; statement: string; values: unknown[] }): void;
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

  constructor(
    private readonly statements: FlightStatement[],
    types: TypeParsers,
    public callback: (error: Error | null, results?: FlightResult[]) => void,
    private readonly close: string[] = []
  ) {
    this.results = statements.map(() => new Result(undefined, types) as PgResult);
    this.described = statements.map((statement) => statement.fields ?? []);
    statements.forEach((statement, i) => statement.fields && this.results[i].addFields(statement.fields));
  }

  private readonly described: unknown[][];

  submit(connection: ProtocolConnection): Error | null {
    let values: unknown[][];
    try {
      // before anything is written: a value that cannot be serialized fails the flight unsent
      values = this.statements.map((statement) => (statement.values ?? []).map((value) => prepareValue(value)));
    } catch (error) {
      return error as Error;
    }
    // one write for the whole flight where the socket allows it
    connection.stream.cork();
    try {
      for (const name of this.close) connection.close({ type: "S", name });
      this.statements.forEach((statement, i) => {
        const name = statement.name ?? "";
        if (!(statement.parsed && name)) connection.parse({ text: statement.text, name, types: [] });
        connection.bind({ portal: "", statement: name, values: values[i] });
        if (statement.rows !== false && !statement.fields) connection.describe({ type: "P", name: "" });
        connection.execute({ portal: "", rows: 0 });
      });
      connection.sync();
    } finally {
      process.nextTick(() => connection.stream.uncork());
    }
    return null;
  }

  handleRowDescription(message: { fields: unknown[] }): void {
    this.results[this.current]?.addFields(message.fields);
    if (this.current < this.described.length) this.described[this.current] = message.fields;
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
    else this.callback(null, this.results.map((r, i) => ({ rows: r.rows, fields: r.fields.map((f) => ({ name: f.name, dataTypeID: f.dataTypeID })), described: this.described[i] })));
  }
}

/** How many statements a session keeps prepared at most; the least recently used is closed first. */
export const SESSION_STATEMENT_LIMIT = 50;

/**
 * The named statements this plugin holds on one session (one pooled client), so that a user query's
 * flight parses a statement text once per session and then only binds it: the server then skips
 * parse analysis and, once its plan cache settles on a generic plan, planning too.
 *
 * Only the plugin can create a protocol-level statement on its session (a user's SQL can make and
 * drop SQL-level ones: PREPARE, DEALLOCATE), so the session's statements that are not `from_sql`
 * are exactly the registry's after a successful flight, unless a user's SQL ran DEALLOCATE. The
 * flight's leftovers look counts them; a count that differs (or any failed flight) reconciles the
 * registry against `pg_prepared_statements` by name. A lost session is a new client and so a new,
 * empty registry (see `sessionStatementsOf`). Names are never reused on a session, so a statement
 * the registry lost track of cannot collide with a new one; the next reconcile drops it.
 */
export class SessionStatements {
  /** statement text -> name, least recently used first */
  private readonly byText = new Map<string, string>();
  private readonly textByName = new Map<string, string>();
  private readonly closing = new Set<string>();
  /** each statement's row description, once a flight described it */
  private readonly fieldsByName = new Map<string, unknown[]>();
  private counter = 0;

  get size(): number {
    return this.textByName.size;
  }

  /** The statement for `text`: bound only when the session holds it, else parsed under a new name. */
  statement(text: string, values?: unknown[], rows?: boolean): FlightStatement {
    const known = this.byText.get(text);
    if (known !== undefined) {
      this.byText.delete(text);
      this.byText.set(text, known);
      return { name: known, text, values, parsed: true, rows, fields: this.fieldsByName.get(known) };
    }
    const name = `gpp_s${++this.counter}`;
    this.byText.set(text, name);
    this.textByName.set(name, text);
    while (this.byText.size > SESSION_STATEMENT_LIMIT) {
      const [oldestText, oldestName] = this.byText.entries().next().value as [string, string];
      this.byText.delete(oldestText);
      this.textByName.delete(oldestName);
      this.fieldsByName.delete(oldestName);
      this.closing.add(oldestName);
    }
    return { name, text, values, parsed: false, rows };
  }

  /** Keeps the row descriptions a successful flight got for its named statements. */
  described(statements: FlightStatement[], results: FlightResult[]): void {
    statements.forEach((statement, i) => {
      if (statement.name && statement.rows !== false && !statement.fields && this.textByName.has(statement.name)) this.fieldsByName.set(statement.name, results[i].described);
    });
  }

  /** Statements to close at the start of the next flight (evicted, or stale). */
  takeClosing(): string[] {
    const names = [...this.closing];
    this.closing.clear();
    return names;
  }

  /** Closes the statement for `text` in the next flight, so that it is parsed afresh. */
  forget(text: string): void {
    const name = this.byText.get(text);
    if (name === undefined) return;
    this.byText.delete(text);
    this.textByName.delete(name);
    this.fieldsByName.delete(name);
    this.closing.add(name);
  }

  /**
   * The registry made to match the session's protocol-level statements (`pg_prepared_statements`
   * where not `from_sql`): a name the session lost is forgotten; one the registry does not know is
   * returned, for the caller to deallocate.
   */
  reconcile(onSession: string[]): string[] {
    const present = new Set(onSession);
    for (const [name, text] of [...this.textByName]) {
      if (present.has(name)) continue;
      this.textByName.delete(name);
      this.fieldsByName.delete(name);
      if (this.byText.get(text) === name) this.byText.delete(text);
    }
    return onSession.filter((name) => !this.textByName.has(name) && !this.closing.has(name));
  }

  /** Nothing known any more (the reconcile itself failed): statements are parsed afresh under new names. */
  clear(): void {
    this.byText.clear();
    this.textByName.clear();
    this.fieldsByName.clear();
  }
}

const sessions = new WeakMap<object, SessionStatements>();

/** The registry of one client; a new client (a lost session replaced) starts with an empty one. */
export function sessionStatementsOf(client: object): SessionStatements {
  let statements = sessions.get(client);
  if (!statements) {
    statements = new SessionStatements();
    sessions.set(client, statements);
  }
  return statements;
}
