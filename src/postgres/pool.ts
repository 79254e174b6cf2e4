import { createHash } from "crypto";
import { Pool, PoolClient, PoolConfig, types as pgTypes, FieldDef } from "pg";
import { PostgresSettings, tlsOptions } from "./settings";
import { describeError, isConnectionError, redact } from "./errors";
import { quoteIdentifier } from "./quote";
import { BinaryCopyOut, BinaryCopySink } from "./copy";

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

/** libpq's startup `options` treat spaces and backslashes specially: escape them. */
function escapeStartupOption(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/ /g, "\\ ");
}

const RETRY_DELAYS_MS = [200, 500, 1000, 2000, 4000];

/**
 * A pool of connections to one database with the plugin's rules: every statement bounded by the
 * statement timeout (server side) and a client-side timeout a little longer (a dead network never
 * hangs a call), read-only sessions, the App's schema searched first, a pool error listener (a
 * server dropping an idle connection never crashes the host), and reads retried when the connection
 * broke under them (server restart, pg_terminate_backend).
 */
export class PostgresConnection {
  readonly settings: PostgresSettings;
  private readonly log: Logger;
  private poolPromise?: Promise<Pool>;
  private pool?: Pool;
  private closed = false;
  /** whether the connections are encrypted (known after the first connection) */
  encrypted = false;

  constructor(settings: PostgresSettings, log: Logger = () => {}) {
    this.settings = settings;
    this.log = log;
  }

  private poolConfig(ssl: PoolConfig["ssl"]): PoolConfig {
    const s = this.settings;
    const searchPath = s.schema === "public" ? quoteIdentifier("public") : `${quoteIdentifier(s.schema)},${quoteIdentifier("public")}`;
    return {
      host: s.host,
      port: s.port,
      database: s.database,
      user: s.user,
      password: s.password ?? "",
      // false, never undefined: node-postgres reads an undefined ssl from PGSSLMODE, overriding sslmode=disable
      ssl: ssl ?? false,
      max: s.poolSize,
      idleTimeoutMillis: 30000,
      connectionTimeoutMillis: s.connectTimeoutMs,
      keepAlive: true,
      application_name: s.applicationName,
      statement_timeout: s.statementTimeoutMs || undefined,
      // the server cancels at statement_timeout; the client gives up a little later if the network is gone
      query_timeout: s.statementTimeoutMs ? s.statementTimeoutMs + 5000 : undefined,
      idle_in_transaction_session_timeout: Math.max(s.statementTimeoutMs, 60000),
      options: `-c default_transaction_read_only=on -c search_path=${escapeStartupOption(searchPath)}`,
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

  private async probe(pool: Pool): Promise<void> {
    const client = await pool.connect();
    client.release();
  }

  private async getPool(): Promise<Pool> {
    if (this.closed) throw new Error("this Postgres connection was closed (disconnect was called)");
    if (!this.poolPromise) {
      this.poolPromise = (async () => {
        const ssl = tlsOptions(this.settings);
        let pool = this.makePool(ssl);
        if (this.settings.sslMode === "prefer") {
          try {
            await this.probe(pool);
          } catch (error) {
            if (!/does not support SSL/i.test((error as Error).message)) throw error;
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
      this.poolPromise.catch(async () => {
        this.poolPromise = undefined;
      });
    }
    return this.poolPromise;
  }

  /** Runs `work` with a pooled client; a broken connection is retried with back-off, a bad statement is not. */
  private async withClient<T>(work: (client: PoolClient) => Promise<T>, retry = true): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      let client: PoolClient | undefined;
      try {
        const pool = await this.getPool();
        client = await pool.connect();
        const result = await work(client);
        client.release();
        return result;
      } catch (error) {
        // a session that lost its prepared statements (a user query ran DEALLOCATE ALL) is replaced
        const staleSession = (error as { code?: string })?.code === "26000";
        const broken = isConnectionError(error) || (staleSession && attempt === 0);
        // a client whose connection broke, or that timed out mid-statement, is destroyed, not pooled again
        const destroy = broken || staleSession || /Query read timeout/i.test((error as Error)?.message ?? "");
        client?.release(destroy ? (error as Error) : undefined);
        if (!retry || !broken || this.closed || attempt >= RETRY_DELAYS_MS.length) {
          throw describeError(error, this.settings);
        }
        this.log(`postgres: connection lost (${redact((error as Error).message, this.settings.password)}), retrying the read (attempt ${attempt + 2})`, "warning");
        await new Promise((resolve) => setTimeout(resolve, RETRY_DELAYS_MS[attempt]));
      }
    }
  }

  /** One statement with bound parameters (`$1`...). Reads only: the session is read-only. */
  async query(sql: string, params: unknown[] = [], options: { retry?: boolean } = {}): Promise<QueryResult> {
    return this.withClient(async (client) => {
      const result = await client.query({ text: sql, values: params });
      return { rows: result.rows, fields: result.fields.map((f: FieldDef) => ({ name: f.name, dataTypeID: f.dataTypeID })) };
    }, options.retry ?? true);
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
   * back, so that not even a SET outlives it. It runs as a named prepared statement: the extended
   * protocol refuses several statements in one ("cannot insert multiple commands into a prepared
   * statement"), and the same property query is parsed once per connection.
   */
  async queryUserSql(sql: string, params: unknown[] = []): Promise<QueryResult> {
    const name = "gpp_" + createHash("sha256").update(sql).digest("hex").slice(0, 40);
    return this.withClient(async (client) => {
      await client.query("BEGIN TRANSACTION READ ONLY");
      try {
        const r = await client.query({ name, text: sql, values: params });
        return { rows: r.rows, fields: r.fields.map((f: FieldDef) => ({ name: f.name, dataTypeID: f.dataTypeID })) };
      } finally {
        await client.query("ROLLBACK").catch(() => {});
      }
    });
  }

  /**
   * Runs a `COPY (...) TO STDOUT (FORMAT binary)` and hands each row to `sink` as it arrives; returns
   * the number of rows. Not retried here: rows already handed over cannot be taken back, so a reader
   * that wants a retry starts again from the last row it kept (see `isConnectionError`).
   */
  async copyOut(sql: string, sink: BinaryCopySink): Promise<number> {
    return this.withClient(
      (client) =>
        new Promise<number>((resolve, reject) => {
          const copy = new BinaryCopyOut(sql, sink, (error, rows) => (error ? reject(error) : resolve(rows ?? 0)));
          (client as unknown as { query(submittable: BinaryCopyOut): void }).query(copy);
        }),
      false
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    const pool = this.pool;
    this.pool = undefined;
    this.poolPromise = undefined;
    if (pool) await pool.end();
  }
}
