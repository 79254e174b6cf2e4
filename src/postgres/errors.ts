import { DEFAULT_OPTION_LABEL, type PostgresSettings } from "./settings";

/** Error codes and messages that mean "the connection broke", not "the statement was wrong". */
const CONNECTION_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
  "57P01", // admin_shutdown (pg_terminate_backend, server stopping)
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now (server starting up)
  "08000",
  "08003",
  "08006",
  "08001",
  "08004",
  "SSH_UNREACHABLE", // the bastion is down or the tunnel dropped (tunnel.ts): retried like a server restart
]);
const CONNECTION_MESSAGES = [
  /Connection terminated/i,
  /timeout exceeded when trying to connect/i,
  /Client has encountered a connection error/i,
  /the database system is (starting up|shutting down|in recovery mode)/i,
  /terminating connection/i,
  /read ECONNRESET/i,
  /Client was closed and is not queryable/i,
];

/** What kind of failure a database error is, for a host that answers by kind (CloudQuery's failure codes). */
export type FailureReason = "auth" | "no_database" | "unreachable" | "timeout" | "tls" | "pool_full" | "connection_lost" | "statement";

/**
 * A driver or server error turned into one sentence, with the facts a caller reads instead of the
 * prose: `reason`, the SQLSTATE or system `code`, and where in the statement the server found the
 * problem (`position`, 1-based).
 */
export class DatabaseError extends Error {
  constructor(message: string, readonly reason: FailureReason, readonly code?: string, public position?: number) {
    super(message);
    this.name = "DatabaseError";
  }
}

/** The message of anything thrown. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  const message = (error as { message?: unknown })?.message;
  return typeof message === "string" ? message : String(error);
}

/**
 * The failure class of anything thrown, read from the typed errors (`DatabaseError`, `PoolFullError`),
 * never from their text; undefined for anything else (a spec or selection error, a bug).
 */
export function failureReason(error: unknown): FailureReason | undefined {
  return error instanceof DatabaseError || error instanceof PoolFullError ? error.reason : undefined;
}

// The driver's failures that carry no code, known by their text here only (pg's own messages).
/** The server answered the TLS request with "no" (sslmode=prefer then connects without TLS). */
const TLS_REFUSED = /does not support SSL/i;
/** pg_hba.conf refuses a connection without TLS (SQLSTATE 28000, like a refused password). */
const TLS_REQUIRED = /pg_hba\.conf.*(no encryption|SSL off)/i;
/** pg's `query_timeout` fired: the statement may still be running on that connection. */
const READ_TIMEOUT = /Query read timeout/i;
const CONNECT_TIMEOUT = /timeout exceeded when trying to connect|Connection terminated due to connection timeout/i;
const CERTIFICATE_REJECTED = /self[- ]signed|unable to verify|certificate|Hostname\/IP does not match|altnames/i;
/** SQLSTATE 57014 is any cancel; the server's message says whether statement_timeout was the cause. */
const STATEMENT_TIMEOUT = /statement timeout/i;

export function isTlsRefused(error: unknown): boolean {
  return TLS_REFUSED.test(errorMessage(error));
}

export function isReadTimeout(error: unknown): boolean {
  return READ_TIMEOUT.test(errorMessage(error));
}

export function isConnectionError(error: unknown): boolean {
  const e = error as { code?: string; message?: string };
  if (e?.code && CONNECTION_CODES.has(e.code)) return true;
  return CONNECTION_MESSAGES.some((re) => re.test(e?.message ?? ""));
}

/**
 * Every connection of the pool was busy with other reads for the whole wait: a full pool, not a
 * network fault (the server answers fine), so it is not retried and says which option to raise.
 */
export class PoolFullError extends Error {
  readonly code = "POOL_FULL";
  readonly reason: FailureReason = "pool_full";

  constructor(readonly poolSize: number, readonly busy: number, readonly othersWaiting: number, waitedMs: number, optionLabel: string) {
    super(
      `all ${poolSize} connections of the pool were busy with other reads for ${(waitedMs / 1000).toFixed(1)} s (connect_timeout), ` +
        `${othersWaiting} other read${othersWaiting === 1 ? " was" : "s were"} waiting too: raise the ${optionLabel} \`pool_size\` (now ${poolSize}) ` +
        `to the number of tasks this process runs at once (its WORKERS, plus one), or lower WORKERS`
    );
    this.name = "PoolFullError";
  }
}

/** Removes the password from any text that leaves the plugin. */
export function redact(textValue: string, password: string | undefined): string {
  // masked up to the LAST "@" of the word: a password may hold "@" (or a mistyped "/"); masking a
  // little more than the password is the safe side
  let out = textValue.replace(/(postgres(?:ql)?:\/\/[^:/@\s]*:)\S*@/gi, "$1*****@");
  // short passwords would mangle ordinary words; they are also not echoed by the server
  if (password && password.length >= 3) out = out.split(password).join("*****");
  return out;
}

/**
 * Turns a driver or server error into one sentence that says what went wrong and where, e.g.
 * "password authentication failed for user "reader" (postgres at db.example.com:5432/shop)".
 */
export function describeError(error: unknown, settings: Pick<PostgresSettings, "host" | "port" | "database" | "user" | "password" | "connectTimeoutMs" | "sslMode" | "optionLabel">): Error {
  const label = settings.optionLabel ?? DEFAULT_OPTION_LABEL;
  const e = error as { code?: string; message?: string; position?: string; detail?: string; hint?: string };
  const where = `${settings.host}:${settings.port}/${settings.database}`;
  const raw = e?.message || String(error);
  let message: string;
  let reason: FailureReason = isConnectionError(error) ? "connection_lost" : "statement";
  switch (e?.code) {
    case "28P01":
    case "28000":
      // pg_hba.conf refusing a connection without TLS is 28000 too: that is no password problem
      if (TLS_REQUIRED.test(raw)) {
        message = `the server requires TLS but sslmode is ${settings.sslMode}: set sslmode to require or verify-full (${raw})`;
        reason = "tls";
        break;
      }
      reason = "auth";
      message = `authentication failed for user "${settings.user ?? "(default)"}": check the ${label}s \`user\` and \`password\` (${raw})`;
      break;
    case "3D000":
      reason = "no_database";
      message = `database "${settings.database}" does not exist: check the ${label} \`database\``;
      break;
    case "ECONNREFUSED":
      reason = "unreachable";
      message = `nothing accepts connections at ${settings.host}:${settings.port}: check the ${label}s \`host\` and \`port\``;
      break;
    // the SSH tunnel's failures (tunnel.ts) say which side failed already
    case "SSH_AUTH":
      reason = "auth";
      message = raw;
      break;
    case "SSH_UNREACHABLE":
      reason = "unreachable";
      message = raw;
      break;
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      reason = "unreachable";
      message = `${settings.host}:${settings.port} cannot be reached from here: check the ${label}s \`host\` and \`port\` and the network (${raw})`;
      break;
    case "ENOTFOUND":
    case "EAI_AGAIN":
      reason = "unreachable";
      message = `the host name "${settings.host}" cannot be resolved: check the ${label} \`host\``;
      break;
    case "57014":
      reason = STATEMENT_TIMEOUT.test(raw) ? "timeout" : "statement";
      message = reason === "timeout" ? `the statement ran longer than the App's statement_timeout and was cancelled (${raw})` : raw;
      break;
    default:
      if (CONNECT_TIMEOUT.test(raw)) {
        reason = "unreachable";
        message = `no answer from ${settings.host}:${settings.port} within connect_timeout (${settings.connectTimeoutMs / 1000} s): check \`host\`, \`port\` and firewalls`;
      } else if (TLS_REFUSED.test(raw)) {
        reason = "tls";
        message = `the server does not accept TLS connections but sslmode is ${settings.sslMode}: set sslmode to disable or prefer, or enable ssl on the server (${raw})`;
      } else if (TLS_REQUIRED.test(raw)) {
        reason = "tls";
        message = `the server requires TLS but sslmode is ${settings.sslMode}: set sslmode to require or verify-full (${raw})`;
      } else if (CERTIFICATE_REJECTED.test(raw)) {
        reason = "tls";
        message = `the server's TLS certificate was rejected (sslmode=${settings.sslMode}): ${raw}. Check the ${label} \`ssl_ca\` and that \`host\` matches the certificate`;
      } else {
        message = raw;
      }
  }
  const details = [e?.detail, e?.hint ? `hint: ${e.hint}` : undefined].filter(Boolean).join("; ");
  // where in the statement the server found the problem (1-based), for messages that point into a user's query
  const position = e?.position !== undefined && Number.isInteger(Number(e.position)) ? Number(e.position) : undefined;
  const out = new DatabaseError(redact(`${message}${details ? ` (${details})` : ""} [postgres ${where}]`, settings.password), reason, e?.code, position);
  return out;
}
