import { PostgresConnection, Logger } from "./pool";
import { parseSettings, PostgresSettings } from "./settings";
import { PostgresTableDialect } from "./tableDialect";
import { PostgresQueryDialect } from "./queryDialect";

export { PostgresConnection, parseInt8, parseNumeric } from "./pool";
export type { Logger, QueryResult } from "./pool";
export { parseSettings, normalizePem, tlsOptions, describeTls, APP_OPTIONS, SSL_MODES, DEFAULTS } from "./settings";
export type { PostgresSettings, SslMode } from "./settings";
export { quoteIdentifier, qualifiedName } from "./quote";
export { describeError, redact, isConnectionError, errorMessage, DatabaseError, PoolFullError } from "./errors";
export type { FailureReason } from "./errors";
export { PostgresTableDialect } from "./tableDialect";
export { PostgresQueryDialect } from "./queryDialect";
export { typeInfo } from "./types";

/** Opens a (lazy) pool for the App's options; nothing connects until the first statement. */
export function openConnection(appOptions: Record<string, unknown>, log?: Logger): PostgresConnection {
  return new PostgresConnection(parseSettings(appOptions), log);
}

/**
 * What a host hands to the dialect: the connection it opened with `openConnection`. Typed by shape,
 * so that the dialect knows no host (the Grouparoo core's method arguments fit it, and so does any other).
 */
export interface WithConnection {
  connection: unknown;
}

function asConnection(args: WithConnection): PostgresConnection {
  if (!(args.connection instanceof PostgresConnection)) {
    throw new Error("no Postgres connection was given: the App's connect method did not run");
  }
  return args.connection;
}

// one dialect per connection, so that its column cache is shared by the calls of a run
const tableDialects = new WeakMap<PostgresConnection, PostgresTableDialect>();
const queryDialects = new WeakMap<PostgresConnection, PostgresQueryDialect>();

export function tableDialectFor(args: WithConnection): PostgresTableDialect {
  const connection = asConnection(args);
  let dialect = tableDialects.get(connection);
  if (!dialect) {
    dialect = new PostgresTableDialect(connection, connection.settings.schema);
    tableDialects.set(connection, dialect);
  }
  return dialect;
}

export function queryDialectFor(args: WithConnection): PostgresQueryDialect {
  const connection = asConnection(args);
  let dialect = queryDialects.get(connection);
  if (!dialect) {
    dialect = new PostgresQueryDialect(connection);
    queryDialects.set(connection, dialect);
  }
  return dialect;
}

export type { PostgresSettings as Settings };
