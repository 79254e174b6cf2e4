import type { PostgresConnection } from "./pool";

/**
 * The commit horizon of an incremental walk over a time watermark: the value below which no open
 * transaction can still commit a row. A row is read only when its watermark is strictly below the
 * horizon; rows above wait for a later run. So a transaction that stamps `updated_at = now()` (its
 * start time) and commits after the walk has passed that time is never left behind the high watermark.
 *
 * - exact: every value a transaction stamps with the database's clock (`now()`, `current_timestamp`,
 *   `statement_timestamp()`, `clock_timestamp()`, triggers) is at or after the transaction's start.
 *   So the horizon is the earliest `xact_start` of the other open transactions of this database, less
 *   SKEW_MS (which covers a column that rounds, e.g. `timestamp(0)`, and the instant between a
 *   transaction's start and its showing in pg_stat_activity), capped at now() - SKEW_MS.
 *   It needs the role to see every session's `xact_start` (superuser, pg_read_all_stats, pg_monitor,
 *   or membership in the roles that run the sessions).
 * - settle: when some session is hidden from the role (or on a read replica, whose primary's
 *   transactions are not in its pg_stat_activity, or when the App says the values come from the
 *   application's clock): now() - settle window, and no later than the visible transactions allow.
 *   A transaction open longer than the window can still commit below it: such transactions are
 *   reported (visible ones by xact_start; hidden ones, by the `backend_xid` / `backend_xmin` every
 *   role may see, once they have been seen open for longer than the window).
 *
 * The horizon is the text of a timestamptz in the session's time zone: compared with a `date` or a
 * `timestamp` column it is read as that type (a date truncates, a timestamp takes the local time), so
 * the comparison is strict in the column's own type.
 */
export const SKEW_MS = 1000;

/**
 * A horizon stays safe once computed (a transaction that starts later stamps later values), it only
 * grows stale: so the pages of one run reuse one for up to this long (one query a second instead of
 * one a page), which delays a row by at most as much as the skew margin does. Each run asks afresh.
 */
export const REUSE_MS = 1000;

export type HorizonLog = (message: string, level: "info" | "warning") => void;

export interface CommitHorizon {
  /** read only rows whose watermark is strictly below this (timestamptz text) */
  below: string;
  exact: boolean;
}

interface HorizonRow {
  role: string;
  database: string;
  replica: boolean;
  hidden: number;
  exact_below: string;
  settle_below: string;
  /** JSON (this plugin reads json as text) of the visible transactions open longer than the settle window */
  long_open: string | null;
  /** JSON of the open transactions whose start the role cannot see */
  hidden_open: string | null;
}

interface OpenTransaction {
  pid: number;
  application_name: string | null;
  xact_start?: string;
  xid?: string;
}

const openTransactions = (json: string | null): OpenTransaction[] => (json ? (JSON.parse(json) as OpenTransaction[]) : []);

// one cheap statement per page: pg_stat_activity is read from shared memory, no table is touched
const HORIZON_SQL = `
  WITH others AS (
    SELECT pid, application_name, xact_start, backend_xid, backend_xmin,
           query IS DISTINCT FROM '<insufficient privilege>' AS visible
      FROM pg_catalog.pg_stat_activity
     WHERE datname = pg_catalog.current_database() AND pid <> pg_catalog.pg_backend_pid()
       AND (backend_type IS NULL OR backend_type NOT IN ('autovacuum worker', 'autovacuum launcher', 'parallel worker', 'walsender'))
  ), oldest AS (
    SELECT pg_catalog.min(xact_start) AS xact_start FROM others WHERE visible
  )
  SELECT current_user AS role, pg_catalog.current_database() AS database, pg_catalog.pg_is_in_recovery() AS replica,
         (SELECT pg_catalog.count(*)::int FROM others WHERE NOT visible) AS hidden,
         LEAST(now() - $1::interval, (SELECT xact_start FROM oldest) - $1::interval)::text AS exact_below,
         LEAST(now() - $2::interval, (SELECT xact_start FROM oldest) - $1::interval)::text AS settle_below,
         (SELECT pg_catalog.json_agg(pg_catalog.json_build_object('pid', pid, 'application_name', application_name, 'xact_start', xact_start) ORDER BY xact_start)
            FROM others WHERE visible AND xact_start < now() - $2::interval) AS long_open,
         (SELECT pg_catalog.json_agg(pg_catalog.json_build_object('pid', pid, 'application_name', application_name, 'xid', COALESCE(backend_xid, backend_xmin)::text))
            FROM others WHERE NOT visible AND (backend_xid IS NOT NULL OR backend_xmin IS NOT NULL)) AS hidden_open`;

/** What one connection remembers between pages and runs: what it said in which run, when it first saw hidden transactions. */
interface HorizonMemory {
  said: Map<string, Set<string>>;
  hiddenFirstSeen: Map<string, number>;
  last?: { at: number; runKey: string; row: HorizonRow };
}

const memories = new WeakMap<PostgresConnection, HorizonMemory>();
const RUNS_REMEMBERED = 32;

function memoryOf(connection: PostgresConnection): HorizonMemory {
  let memory = memories.get(connection);
  if (!memory) {
    memory = { said: new Map(), hiddenFirstSeen: new Map() };
    memories.set(connection, memory);
  }
  return memory;
}

/** Logs `message` once per run (keyed by `topic`). */
function once(memory: HorizonMemory, runKey: string, topic: string, log: HorizonLog, message: string, level: "info" | "warning"): void {
  let topics = memory.said.get(runKey);
  if (!topics) {
    topics = new Set();
    memory.said.set(runKey, topics);
    if (memory.said.size > RUNS_REMEMBERED) memory.said.delete(memory.said.keys().next().value as string);
  }
  if (topics.has(topic)) return;
  topics.add(topic);
  log(message, level);
}

const who = (pid: number, applicationName: string | null) => `pid ${pid}${applicationName ? ` (${JSON.stringify(applicationName)})` : ""}`;

/**
 * The horizon before a page of an incremental walk over a time watermark, or undefined when the App
 * turned it off. `runKey` names the run, so that each warning is given once per run.
 */
export async function commitHorizon(connection: PostgresConnection, runKey: string, log: HorizonLog): Promise<CommitHorizon | undefined> {
  const { commitHorizon: mode, settleWindowMs } = connection.settings;
  if (mode === "off") return undefined;
  const memory = memoryOf(connection);
  let row: HorizonRow;
  if (memory.last && memory.last.runKey === runKey && Date.now() - memory.last.at < REUSE_MS) {
    row = memory.last.row;
  } else {
    const at = Date.now();
    const { rows } = await connection.query(HORIZON_SQL, [`${SKEW_MS} milliseconds`, `${settleWindowMs} milliseconds`]);
    row = rows[0] as unknown as HorizonRow;
    memory.last = { at, runKey, row };
  }
  const windowText = `${settleWindowMs / 1000} s`;
  const exact = mode === "auto" && !row.replica && row.hidden === 0;

  if (mode === "auto" && row.replica) {
    once(memory, runKey, "replica", log, `commit horizon: this server is a read replica, where the primary's open transactions cannot be seen: rows stamped in the last ${windowText} (App option settle_window) are left for the next run; a transaction open longer than that can still commit a row that is missed. Read from the primary for an exact horizon.`, "warning");
  } else if (mode === "auto" && row.hidden > 0) {
    once(
      memory,
      runKey,
      "hidden",
      log,
      `commit horizon: role "${row.role}" cannot see when the transactions of ${row.hidden} other session(s) of database "${row.database}" started: rows stamped in the last ${windowText} (App option settle_window) are left for the next run, and a transaction open longer than that can still commit a row that is missed. \`GRANT pg_read_all_stats TO "${row.role}"\` makes the horizon exact.`,
      "warning"
    );
  }

  for (const open of openTransactions(row.long_open)) {
    const text = `${who(open.pid, open.application_name)}, open since ${open.xact_start}`;
    if (exact) once(memory, runKey, `long:${open.pid}`, log, `commit horizon: rows stamped after ${open.xact_start} wait until the transaction of ${text} ends`, "info");
    else once(memory, runKey, `long:${open.pid}`, log, `commit horizon: a transaction has been open longer than the settle window (${windowText}): ${text}; rows it commits with an older stamp can be missed`, "warning");
  }

  // hidden transactions: their start cannot be read, so their age is counted from when this process first saw them
  const now = Date.now();
  const seen = new Set<string>();
  for (const open of openTransactions(row.hidden_open)) {
    const key = `${open.pid}:${open.xid}`;
    seen.add(key);
    const first = memory.hiddenFirstSeen.get(key) ?? now;
    memory.hiddenFirstSeen.set(key, first);
    if (!exact && now - first > settleWindowMs) {
      once(memory, runKey, `hidden:${key}`, log, `commit horizon: a transaction that role "${row.role}" cannot see has been open longer than the settle window (${windowText}): ${who(open.pid, open.application_name)}, transaction ${open.xid}; rows it commits with an older stamp can be missed. \`GRANT pg_read_all_stats TO "${row.role}"\` makes the horizon exact.`, "warning");
    }
  }
  for (const key of [...memory.hiddenFirstSeen.keys()]) if (!seen.has(key)) memory.hiddenFirstSeen.delete(key);

  return { below: exact ? row.exact_below : row.settle_below, exact };
}

/**
 * The horizon of a page over this watermark column, the one way both walks ask for it: only a time
 * watermark (date, timestamp, timestamptz) has one: no transaction's start bounds the numbers it writes.
 */
export async function watermarkHorizon(
  connection: PostgresConnection,
  watermark: { propertyType: string | null; isArray?: boolean },
  runKey: string,
  log: HorizonLog
): Promise<string | undefined> {
  if (watermark.propertyType !== "date" || watermark.isArray) return undefined;
  return (await commitHorizon(connection, runKey, log))?.below;
}
