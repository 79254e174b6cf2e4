/**
 * The CloudQuery host of this package's Postgres dialect (`grouparoo-plugin-postgres/cloudquery`):
 * the source plugin `postgresql`, served over CloudQuery's gRPC plugin protocol v3. It loads the
 * CloudQuery packages (optional dependencies); the Grouparoo side never imports this module.
 */
export { startServer, PostgresSourcePlugin, PLUGIN_NAME, PLUGIN_VERSION, PROTOCOL_VERSIONS } from "./server";
export type { RunningServer } from "./server";
export { main, parseServeArguments } from "./cli";
export { parseSpec, SPEC_SCHEMA, SPEC_DEFAULTS, SpecError } from "./spec";
export type { Spec, TableOptions } from "./spec";
export { columnMapping, describeKind } from "./arrowMapping";
export type { ArrowKind, ColumnMapping } from "./arrowMapping";
export { createLogger } from "./logger";
export type { Logger, LogLevel, LogFormat } from "./logger";
