import { Pool, PoolClient, PoolConfig, types as pgTypes, FieldDef } from "pg";
import { PostgresSettings, tlsOptions } from "./settings";
import { describeError, errorMessage, isConnectionError, isReadTimeout, isTlsRefused, PoolFullError, redact } from "./errors";
import { ConnectBudget, withRetry } from "./retry";
import { DEFAULT_OPTION_LABEL } from "./settings";
import { quoteIdentifier } from "./quote";
import { BinaryCopyOut, BinaryCopySink } from "./copy";
import { Flight, FlightResult, FlightStatement, SessionStatements, sessionStatementsOf } from "./flight";
import { SshTunnel } from "./tunnel";

export type Row = Record<string, unknown>;
export interface QueryResult {
  rows: Row[];
  fields: { name: string; dataTypeID: number }[];
}
export type Logger = (message: string, level: "info" | "warning" | "error") => void;

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);

/** int8 as a number while it is exact, else as its decimal string (no silent rounding past 2^53). */
export function parseInt8(value: string): number | string {
  const big = BigInt(value);
  return big <= MAX_SAFE && big >= MIN_SAFE ? Number(value) : value;
}

/** numeric as a number when the number prints back to the same digits, else as its exact string. */
export function parseNumeric(value: string): number | string {
  if (!/^-?\d+(\.\d+)?$/.test(value)) return value; // NaN, Infinity
  const n = Number(value);
  const canonical = value.replace(/(\.\d*?)0+$/, "$1").replace(/\.$/, "");
  return String(n) === canonical || (canonical === "-0" && n === 0) ? n : value;
}

/** timestamp without time zone is read as UTC, so results do not depend on the host's TZ. */
function parseTimestampAsUtc(value: string): Date | string {
  const date = new Date(value.replace(" ", "T") + "Z");
  return isNaN(date.getTime()) ? value : date; // infinity, BC dates
}

const identity = (value: string) => value;

/** The value conventions of this plugin, applied to this plugin's connections only. */
const TYPE_OVERRIDES: Record<number, (value: string) => unknown> = {
  20: parseInt8, // int8
  1700: parseNumeric, // numeric
  1082: identity, // date: 'YYYY-MM-DD', never shifted by a time zone
  1114: parseTimestampAsUtc, // timestamp
  114: identity, // json as its text
  3802: identity, // jsonb as its text
  1186: identity, // interval as its text
  790: identity, // money as its text
};
const typeParsers = {
  getTypeParser(oid: number, format?: string) {
    if (format !== "binary" && TYPE_OVERRIDES[oid]) return TYPE_OVERRIDES[oid];
    return (pgTypes.getTypeParser as (oid: number, format?: string) => unknown)(oid, format);
  },
};

/** how much longer than statement_timeout the client waits before it gives a statement up (a dead network) */
const STATEMENT_MARGIN_MS = 5000;

/** A client checked out of the pool, and the connection error it saw while it was out, if any. */
interface Lease {
  client: PoolClient;
  guard: (error: Error) => void;
  /** set by the listener that guards the client while it is checked out */
  error?: Error;
}

/**
 * What outlives a rollback, found with it: session advisory locks (released here) and prepared
 * statements made by SQL inside a function (`from_sql`), plus the count of the plugin's own
 * protocol-level statements, checked against its registry (see SessionStatements). Temp tables,
 * SET, LISTEN and cursors end with the rollback (a read-only transaction cannot create). One scan
 * of pg_prepared_statements.
 */
const LEFTOVERS_SQL =
  "SELECT pg_catalog.pg_advisory_unlock_all() AS unlocked, p.leaked, p.kept FROM (SELECT " +
  "COALESCE(pg_catalog.array_agg(name) FILTER (WHERE from_sql), '{}') AS leaked, pg_catalog.count(*) FILTER (WHERE NOT from_sql) AS kept " +
  "FROM pg_catalog.pg_prepared_statements) AS p";
/** The same look after a failed flight, with the protocol-level statements by name (the registry is reconciled). */
const LEFTOVERS_BY_NAME_SQL =
  "SELECT pg_catalog.pg_advisory_unlock_all() AS unlocked, " +
  "ARRAY(SELECT name FROM pg_catalog.pg_prepared_statements WHERE from_sql) AS leaked, " +
  "ARRAY(SELECT name FROM pg_catalog.pg_prepared_statements WHERE NOT from_sql) AS kept";

async function deallocate(client: PoolClient, names: string[]): Promise<void> {
  for (const name of names) await client.query(`DEALLOCATE ${quoteIdentifier(name)}`);
}

/** After a flight: SQL-made statements dropped; the registry checked by count, reconciled by name when it differs. */
async function clearLeftovers(client: PoolClient, statements: SessionStatements, leftovers: Row | undefined): Promise<void> {
  await deallocate(client, (leftovers?.leaked as string[] | undefined) ?? []);
  if (Number(leftovers?.kept) === statements.size) return;
  const { rows } = await client.query("SELECT ARRAY(SELECT name FROM pg_catalog.pg_prepared_statements WHERE NOT from_sql) AS kept");
  await deallocate(client, statements.reconcile(rows[0].kept as string[]));
}

/** Ends a user query's transaction after a failure, when the flight was cut short, and clears what outlives it. */
async function endUserTransaction(client: PoolClient, statements: SessionStatements): Promise<void> {
  try {
    const results = (await client.query(`ROLLBACK; ${LEFTOVERS_BY_NAME_SQL}`)) as unknown as { rows: Row[] }[];
    const leftovers = results[1]?.rows[0];
    await deallocate(client, (leftovers?.leaked as string[] | undefined) ?? []);
    await deallocate(client, statements.reconcile((leftovers?.kept as string[] | undefined) ?? []));
  } catch (error) {
    // the registry no longer known: new names from here; the next flight's count finds the rest
    statements.clear();
    throw error;
  }
}

/**
 * A failure of the session's named statements rather than of the user's SQL, after which the flight
 * is run once more (the query reads only): the user's table changed its columns' types since the
 * statement was parsed, or the user's SQL ran DEALLOCATE (ALL) and the flight then bound a
 * statement it had dropped.
 */
function isStaleStatement(error: unknown): boolean {
  // the server's routine, like the code, is never translated (the message is, by lc_messages)
  const { code, routine } = (error ?? {}) as { code?: string; routine?: string };
  return (code === "0A000" && routine === "RevalidateCachedQuery") || (code === "26000" && routine === "FetchPreparedStatement");
}

/** Runs a flight (see flight.ts) on a checked-out client. */
function runFlight(client: PoolClient, statements: FlightStatement[], close: string[] = []): Promise<FlightResult[]> {
  return new Promise((resolve, reject) => {
    const flight = new Flight(statements, typeParsers, (error, results) => (error ? reject(error) : resolve(results as FlightResult[])), close);
    (client as unknown as { query(submittable: Flight): void }).query(flight);
  });
}

/**
 * A pool of connections to one database with the plugin's rules: every statement bounded by the
 * statement timeout (server side) and a client-side timeout a little longer (a dead network never
 * hangs a call), read-only sessions whose own SQL resolves names in pg_catalog only, error listeners
 * on idle and checked-out clients alike (a server dropping a connection never crashes the host), and
 * reads retried when the connection broke under them (server restart, pg_terminate_backend), all
 * within `connect_timeout` (see retry.ts).
 */
export class PostgresConnection {
  readonly settings: PostgresSettings;
  private readonly log: Logger;
  private poolPromise?: Promise<Pool>;
  private pool?: Pool;
  /** clients checked out of the current pool (pg-pool counts connecting clients as busy too) */
  private checkedOut = new Map<Pool, number>();
  private closed = false;
  /** whether the connections are encrypted (known after the first connection) */
  encrypted = false;
  /** the tunnel through the bastion when `ssh_host` is set (one SSH connection per pool) */
  readonly tunnel?: SshTunnel;

  constructor(settings: PostgresSettings, log: Logger = () => {}) {
    this.settings = settings;
    this.log = log;
    if (settings.ssh) this.tunnel = new SshTunnel(settings.ssh, settings, settings.connectTimeoutMs, log);
  }

  private poolConfig(ssl: PoolConfig["ssl"]): PoolConfig {
    const s = this.settings;
    return {
      // through the tunnel's local forwarder; TLS still names s.host (tlsOptions)
      host: this.tunnel ? this.tunnel.localHost : s.host,
      port: this.tunnel ? this.tunnel.localPort : s.port,
      database: s.database,
      user: s.user,
      password: s.password ?? "",
      // false, never undefined: node-postgres reads an undefined ssl from PGSSLMODE, overriding sslmode=disable
      ssl: ssl ?? false,
      max: s.poolSize,
      idleTimeoutMillis: 30000,
      // a backstop only: checkOut gives up first, at what is left of the call's connect budget, and
      // can then tell a full pool from a silent server
      connectionTimeoutMillis: s.connectTimeoutMs + 1000,
      keepAlive: true,
      application_name: s.applicationName,
      statement_timeout: s.statementTimeoutMs || undefined,
      // the server cancels at statement_timeout; the client gives up a little later if the network is gone
      query_timeout: s.statementTimeoutMs ? s.statementTimeoutMs + STATEMENT_MARGIN_MS : undefined,
      idle_in_transaction_session_timeout: Math.max(s.statementTimeoutMs, 60000),
      // the plugin's own SQL resolves functions, operators and types in pg_catalog only (CVE-2018-1058:
      // a role that can create in the user's schemas cannot hijack them); user SQL gets the App's
      // schema and public, for its own transaction only (queryUserSql)
      options: "-c default_transaction_read_only=on -c search_path=pg_catalog,pg_temp",
      types: typeParsers,
    } as PoolConfig;
  }

  private makePool(ssl: PoolConfig["ssl"]): Pool {
    const pool = new Pool(this.poolConfig(ssl));
    pool.on("error", (error) => {
      // an idle connection was closed by the server or the network: the pool drops it and opens a new one
      this.log(`postgres: an idle connection was lost and will be replaced: ${redact(error.message, this.settings.password)}`, "warning");
    });
    return pool;
  }

  private async getPool(budget: ConnectBudget): Promise<Pool> {
    // the tunnel before every attempt, so that a dropped tunnel is rebuilt and a failure names the bastion
    const tunnel = this.tunnel;
    if (tunnel) await budget.charge(() => tunnel.ready());
    if (!this.poolPromise) {
      this.poolPromise = (async () => {
        const ssl = tlsOptions(this.settings);
        let pool = this.makePool(ssl);
        if (this.settings.sslMode === "prefer") {
          try {
            const lease = await this.checkOut(pool, budget);
            this.checkIn(pool, lease);
          } catch (error) {
            if (!isTlsRefused(error)) {
              pool.end().catch(() => {});
              throw error;
            }
            await pool.end().catch(() => {});
            pool = this.makePool(undefined);
            this.pool = pool;
            this.encrypted = false;
            return pool;
          }
        }
        this.encrypted = Boolean(ssl);
        this.pool = pool;
        return pool;
      })();
      // a failed first connection is not cached: the next call tries again
      const attempt = this.poolPromise;
      attempt.catch(() => {
        if (this.poolPromise === attempt) this.poolPromise = undefined;
      });
    }
    return budget.charge(() => this.poolPromise as Promise<Pool>);
  }

  /**
   * Takes a client from the pool within what is left of the budget. A client is guarded by an error
   * listener for the whole time it is out: pg-pool listens only while a client is idle, and a
   * connection that drops while a client is checked out (between BEGIN and the statement, during a
   * COPY, between the last row and the release) otherwise emits an 'error' nobody handles, which
   * kills the host process.
   */
  private async checkOut(pool: Pool, budget: ConnectBudget): Promise<Lease> {
    const waitMs = budget.remainingMs();
    const waiting = pool.connect();
    let timer: NodeJS.Timeout | undefined;
    const client = await budget.charge(() =>
      Promise.race([
        waiting,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            // a client that comes after we gave up goes straight back
            waiting.then((late) => late.release(), () => {});
            reject(this.noConnectionIn(pool, waitMs));
          }, waitMs);
        }),
      ]).finally(() => clearTimeout(timer))
    );
    const lease: Lease = { client, guard: (error: Error) => (lease.error = error) };
    client.on("error", lease.guard);
    this.checkedOut.set(pool, (this.checkedOut.get(pool) ?? 0) + 1);
    return lease;
  }

  /** Returns a client to its pool; a client whose connection broke, or that timed out mid-statement, is destroyed. */
  private checkIn(pool: Pool, lease: Lease, failure?: unknown): void {
    lease.client.removeListener("error", lease.guard);
    this.checkedOut.set(pool, (this.checkedOut.get(pool) ?? 1) - 1);
    const broken = lease.error ?? (failure !== undefined && mustDestroy(failure) ? (failure as Error) : undefined);
    lease.client.release(broken);
    this.retireIfDrained(pool);
  }

  /**
   * Why no client came within `waitMs`: every connection of the pool busy with other reads (a full
   * pool: not a network fault, not retried), or the server not answering.
   */
  private noConnectionIn(pool: Pool, waitMs: number): Error {
    const busy = this.checkedOut.get(pool) ?? 0;
    if (busy >= this.settings.poolSize) {
      return new PoolFullError(this.settings.poolSize, busy, Math.max(0, pool.waitingCount - 1), waitMs, this.settings.optionLabel ?? DEFAULT_OPTION_LABEL);
    }
    return Object.assign(new Error("timeout exceeded when trying to connect"), { code: "ETIMEDOUT" });
  }

  /**
   * Runs `work` with a pooled client. A read whose connection broke is retried with back-off within
   * the connect budget; a bad statement or a full pool is not retried.
   */
  private async withClient<T>(work: (client: PoolClient) => Promise<T>, options: { retry?: boolean; budget?: ConnectBudget } = {}): Promise<T> {
    const budget = options.budget ?? this.connectBudget();
    try {
      return await withRetry(
        async () => {
          let pool = await this.getPool(budget);
          // close() ran between getting the pool and asking it for a client: take the new one
          if ((pool as Pool & { ending?: boolean }).ending) pool = await this.getPool(budget);
          const lease = await this.checkOut(pool, budget);
          let result: T;
          try {
            result = await work(lease.client);
          } catch (error) {
            this.checkIn(pool, lease, error);
            throw error;
          }
          this.checkIn(pool, lease);
          return result;
        },
        {
          budget,
          retryable: (error) => (options.retry ?? true) && isConnectionError(error) && !(error instanceof PoolFullError),
          onRetry: (error, attempt) =>
            this.log(`postgres: connection lost (${redact(errorMessage(error), this.settings.password)}), retrying the read (attempt ${attempt})`, "warning"),
        }
      );
    } catch (error) {
      if (error instanceof PoolFullError) throw error;
      throw describeError(error, this.settings);
    }
  }

  /** The time a call may spend getting a working connection, all its attempts together. */
  connectBudget(): ConnectBudget {
    return new ConnectBudget(this.settings.connectTimeoutMs);
  }

  /** One statement with bound parameters (`$1`...). Reads only: the session is read-only. */
  async query(sql: string, params: unknown[] = [], options: { retry?: boolean } = {}): Promise<QueryResult> {
    return this.withClient(async (client) => {
      const result = await client.query({ text: sql, values: params });
      return { rows: result.rows, fields: result.fields.map((f: FieldDef) => ({ name: f.name, dataTypeID: f.dataTypeID })) };
    }, { retry: options.retry ?? true });
  }

  /** Like `query`, with each row as an array in column order: no object per row for the pages of a walk. */
  async queryArrays(sql: string, params: unknown[] = []): Promise<unknown[][]> {
    return this.withClient(async (client) => {
      const result = await client.query({ text: sql, values: params, rowMode: "array" });
      return result.rows as unknown[][];
    });
  }

  /**
   * A user's SQL: one statement only, parameters bound, run in a READ ONLY transaction that is rolled
   * back, so that not even a SET outlives it, with the App's schema and public as its search path for
   * that transaction only. A prepared statement holds one statement only: the server refuses several
   * ("cannot insert multiple commands into a prepared statement").
   *
   * All of it goes in one flight and one round trip (issue 18): BEGIN READ ONLY, SET LOCAL, the
   * statement, ROLLBACK, and the look for what a rollback does not undo (session advisory locks are
   * released, prepared statements made by SQL deallocated). Each is a named statement of the session,
   * parsed the first time the session runs that text and only bound after (see SessionStatements):
   * the parsing and planning of five statements was most of a query's cost. When the statement fails,
   * the server skips the rest of the flight: the rollback and the look then follow in a second round
   * trip. A statement whose result columns changed type since it was parsed (an ALTER TABLE) is
   * parsed again and run once more.
   */
  async queryUserSql(sql: string, params: unknown[] = []): Promise<QueryResult> {
    const searchPath = [...new Set([this.settings.schema, "public"])].map(quoteIdentifier).join(", ");
    return this.withClient(async (client) => {
      const statements = sessionStatementsOf(client);
      for (let attempt = 1; ; attempt++) {
        // the run after a stale statement parses what follows the user's statement afresh (unnamed),
        // so that a user's DEALLOCATE ALL cannot fail it again
        const after = (text: string, rows?: boolean): FlightStatement => (attempt === 1 ? statements.statement(text, [], rows) : { text, rows });
        const flight = [
          statements.statement("BEGIN TRANSACTION READ ONLY", [], false),
          statements.statement(`SET LOCAL search_path = ${searchPath}`, [], false),
          statements.statement(sql, params),
          after("ROLLBACK", false),
          after(LEFTOVERS_SQL),
        ];
        let results: FlightResult[];
        try {
          results = await runFlight(client, flight, statements.takeClosing());
        } catch (error) {
          if (isConnectionError(error)) throw error;
          await endUserTransaction(client, statements).catch(() => {});
          if (attempt === 1 && isStaleStatement(error)) {
            statements.forget(sql);
            continue;
          }
          throw error;
        }
        statements.described(flight, results);
        await clearLeftovers(client, statements, results[4].rows[0]);
        return { rows: results[2].rows, fields: results[2].fields };
      }
    });
  }

  /**
   * Runs a `COPY (...) TO STDOUT (FORMAT binary)` and hands each row to `sink` as it arrives; returns
   * the number of rows. Not retried here: rows already handed over cannot be taken back, so a reader
   * that wants a retry starts again from the last row it kept, with `withRetry` and the same `budget`
   * for all its attempts.
   */
  async copyOut(sql: string, sink: BinaryCopySink, budget: ConnectBudget = this.connectBudget()): Promise<number> {
    return this.withClient(
      (client) =>
        new Promise<number>((resolve, reject) => {
          const copy = new BinaryCopyOut(sql, sink, (error, rows) => (error ? reject(error) : resolve(rows ?? 0)));
          (client as unknown as { query(submittable: BinaryCopyOut): void }).query(copy);
        }),
      { retry: false, budget }
    );
  }

  /**
   * Ends the pool without failing work in flight. The core calls this when an App's options change
   * and keeps handing this connection to tasks until it returns: reads already running finish on the
   * old pool, which ends once its clients are back; a read that starts meanwhile gets a pool of its
   * own, which ends as soon as it is idle (see retireIfDrained).
   */
  async close(): Promise<void> {
    this.closed = true;
    const pool = this.pool;
    this.pool = undefined;
    this.poolPromise = undefined;
    if (pool) await pool.end();
    await this.tunnel?.close();
  }

  /** After close(), a pool opened for late work is ended as soon as no client is out or awaited. */
  private retireIfDrained(pool: Pool): void {
    if (!this.closed || pool !== this.pool) return;
    if ((this.checkedOut.get(pool) ?? 0) > 0 || pool.waitingCount > 0) return;
    this.pool = undefined;
    this.poolPromise = undefined;
    this.checkedOut.delete(pool);
    // the pool, then the tunnel it used
    pool.end().then(() => this.tunnel?.close()).catch(() => {});
  }
}

/** Whether a client must be destroyed after this failure rather than pooled again. */
function mustDestroy(error: unknown): boolean {
  // a client that timed out mid-statement is not reused: its answer may still arrive
  return isConnectionError(error) || isReadTimeout(error);
}
