import { PostgresConnection, Logger } from "./pool";
import { parseSettings } from "./settings";
import { PostgresTableDialect } from "./tableDialect";
import { PostgresQueryDialect } from "./queryDialect";

/**
 * The Postgres dialect as its hosts use it: the Grouparoo side (the App, the connections) through
 * `openConnection` and the dialects, the CloudQuery host through the catalog, COPY, the keyset and the
 * commit horizon. Hosts import from here, never from a module of this folder (a test checks it for
 * src/cloudquery), so what the dialect offers a host is listed in one place.
 */

export { PostgresConnection, parseInt8, parseNumeric } from "./pool";
export type { Logger, QueryResult } from "./pool";
export {
  parseSettings,
  normalizePem,
  tlsOptions,
  describeTls,
  APP_OPTIONS,
  SSL_MODES,
  COMMIT_HORIZON_MODES,
  DEFAULTS,
  INTEGER_RANGES,
} from "./settings";
export type { PostgresSettings, SslMode } from "./settings";
export { connectionStringOptions, ConnectionStringError } from "./connectionString";
export { quoteIdentifier, qualifiedName, quoteLiteral } from "./quote";
export { describeError, redact, isConnectionError, errorMessage, failureReason, DatabaseError, PoolFullError } from "./errors";
export type { FailureReason } from "./errors";
export { withRetry } from "./retry";
export { PostgresTableDialect } from "./tableDialect";
export { PostgresQueryDialect } from "./queryDialect";
export { typeInfo } from "./propertyTypes";
export { describeRelations, listRelations, numericPrecision } from "./catalog";
export type { CatalogColumn, CatalogRelation, CatalogType } from "./catalog";
export { keysetSql } from "./keyset";
export { watermarkHorizon } from "./horizon";
export type { BinaryCopySink, CopyFlow } from "./copy";

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

