import * as grpc from "@grpc/grpc-js";
import { discovery1, pluginV3 } from "@cloudquery/plugin-pb-javascript";
import { errorMessage, failureReason, PostgresConnection, redact } from "../postgres";
import { loadArrow } from "./esm";
import type { Logger } from "./logger";
import { parseSpec, Spec, SpecError, SPEC_SCHEMA } from "./spec";
import { FileCursorStore, NoCursorStore } from "./state";
import { runSync, SyncSession } from "./sync";
import { serializeSyncResponse, SyncResponse } from "./syncMessages";
import { arrowSchema, encodeSchema } from "./arrowSchema";
import { discoverTables, selectTables, TableSelectionError } from "./tableSelection";

/**
 * The CloudQuery source plugin `postgresql` as a gRPC server: plugin protocol v3 and discovery v1.
 * Unary calls are answered from `PostgresSourcePlugin`; `Sync` streams through `runSync` (never the
 * SDK's scheduler, which sends a message per row and buffers whole tables).
 */

export const PLUGIN_NAME = "postgresql";
export const PROTOCOL_VERSIONS = [3];
// eslint-disable-next-line @typescript-eslint/no-var-requires
const packageVersion = (require("../../package.json") as { version: string }).version;
export const PLUGIN_VERSION = `v${packageVersion}`;

const v3 = pluginV3.cloudquery.plugin.v3;
type Unary<Req, Res> = (call: grpc.ServerUnaryCall<Req, Res>, callback: grpc.sendUnaryData<Res>) => void;

/** An error with a gRPC status, so that the client reads what went wrong (and not "UNKNOWN"). */
export class StatusError extends Error {
  constructor(readonly code: grpc.status, message: string) {
    super(message);
  }
}

function toStatus(error: unknown): Partial<grpc.StatusObject> {
  if (error instanceof StatusError) return { code: error.code, details: error.message };
  if (error instanceof SpecError || error instanceof TableSelectionError) return { code: grpc.status.INVALID_ARGUMENT, details: error.message };
  return { code: grpc.status.INTERNAL, details: errorMessage(error) };
}

function unary<Req, Res>(logger: Logger, method: string, work: (request: Req) => Promise<Res>): Unary<Req, Res> {
  return (call, callback) => {
    work(call.request).then(
      (response) => callback(null, response),
      (error) => {
        const status = toStatus(error);
        logger.error(`${method} failed`, { error: status.details });
        callback(status as grpc.ServiceError, null);
      }
    );
  };
}

const NOT_INITIALIZED = "the plugin is not initialized: call Init with a spec first";

export class PostgresSourcePlugin {
  private session?: SyncSession;

  constructor(private readonly logger: Logger) {}

  private connect(spec: Spec): PostgresConnection {
    return new PostgresConnection(spec.settings, (message, level) => this.logger[level === "warning" ? "warn" : level](message));
  }

  private initialized(): SyncSession {
    if (!this.session) throw new StatusError(grpc.status.FAILED_PRECONDITION, NOT_INITIALIZED);
    return this.session;
  }

  async init(specJson: Uint8Array, noConnection: boolean): Promise<void> {
    const spec = parseSpec(specJson);
    // the Arrow library is loaded now: a missing SDK fails Init, and the first Sync starts at once
    await loadArrow();
    await this.close();
    const connection = this.connect(spec);
    if (!noConnection) {
      try {
        // connects, and checks the spec's table options against the catalog
        await discoverTables(connection, spec);
      } catch (error) {
        await connection.close().catch(() => {});
        throw error;
      }
    }
    this.session = {
      spec,
      connection,
      store: spec.stateFile === null ? new NoCursorStore() : new FileCursorStore(spec.stateFile),
      logger: this.logger,
    };
    this.logger.info("initialized", {
      database: `${spec.settings.host}:${spec.settings.port}/${spec.settings.database}`,
      schemas: spec.schemas.join(","),
      state: this.session.store.description,
    });
  }

  async tables(include: string[], skip: string[]): Promise<Uint8Array[]> {
    const { spec, connection } = this.initialized();
    const arrow = await loadArrow();
    const tables = selectTables(await discoverTables(connection, spec), include, skip);
    return tables.map((table) => encodeSchema(arrow, arrowSchema(arrow, table)));
  }

  async testConnection(specJson: Uint8Array): Promise<{ success: boolean; failure_code: string; failure_description: string }> {
    let spec: Spec;
    try {
      spec = parseSpec(specJson);
    } catch (error) {
      return { success: false, failure_code: "INVALID_SPEC", failure_description: errorMessage(error) };
    }
    const connection = this.connect(spec);
    try {
      await discoverTables(connection, spec);
      return { success: true, failure_code: "", failure_description: "" };
    } catch (error) {
      const reason = failureReason(error);
      const failureCode =
        error instanceof TableSelectionError ? "INVALID_SPEC" : reason === "auth" ? "INVALID_CREDENTIALS" : reason === "unreachable" ? "UNREACHABLE" : "CONNECTION_FAILED";
      return { success: false, failure_code: failureCode, failure_description: redact(errorMessage(error), spec.settings.password) };
    } finally {
      await connection.close().catch(() => {});
    }
  }

  sync(call: grpc.ServerWritableStream<InstanceType<typeof v3.Sync.Request>, SyncResponse>): void {
    const fail = (error: unknown) => {
      const status = toStatus(error);
      this.logger.error("Sync failed", { error: status.details });
      call.emit("error", status);
    };
    let session: SyncSession;
    try {
      session = this.initialized();
    } catch (error) {
      return fail(error);
    }
    const request = call.request;
    runSync(
      session,
      {
        tables: request.tables,
        skipTables: request.skip_tables,
        shard: request.has_shard ? { num: request.shard.num, total: request.shard.total } : undefined,
        withErrorMessages: request.withErrorMessages,
        backendTableName: request.has_backend ? request.backend.table_name : "",
      },
      call
    ).then(() => call.end(), fail);
  }

  async close(): Promise<void> {
    const session = this.session;
    this.session = undefined;
    if (session) await session.connection.close();
  }
}

export interface RunningServer {
  /** the bound port (when `address` asked for port 0, the one chosen) */
  port: number;
  plugin: PostgresSourcePlugin;
  /** stops accepting calls, ends those in progress (after `graceMs`), closes the database pool */
  shutdown(graceMs?: number): Promise<void>;
}

/** Serves the plugin on `address` (`host:port`, or `unix:/path`). */
export async function startServer(options: { address: string; logger: Logger }): Promise<RunningServer> {
  const { logger } = options;
  const plugin = new PostgresSourcePlugin(logger);
  const server = new grpc.Server({ "grpc.max_send_message_length": -1, "grpc.max_receive_message_length": 64 * 1024 * 1024 });

  const handlers: Record<string, grpc.UntypedHandleCall> = {
    GetName: unary(logger, "GetName", async () => new v3.GetName.Response({ name: PLUGIN_NAME })),
    GetVersion: unary(logger, "GetVersion", async () => new v3.GetVersion.Response({ version: PLUGIN_VERSION })),
    GetSpecSchema: unary(logger, "GetSpecSchema", async () => new v3.GetSpecSchema.Response({ json_schema: JSON.stringify(SPEC_SCHEMA) })),
    Init: unary(logger, "Init", async (request: InstanceType<typeof v3.Init.Request>) => {
      await plugin.init(request.spec, request.no_connection);
      return new v3.Init.Response();
    }),
    GetTables: unary(logger, "GetTables", async (request: InstanceType<typeof v3.GetTables.Request>) => {
      return new v3.GetTables.Response({ tables: await plugin.tables(request.tables, request.skip_tables) });
    }),
    Sync: (call: grpc.ServerWritableStream<InstanceType<typeof v3.Sync.Request>, SyncResponse>) => plugin.sync(call),
    TestConnection: unary(logger, "TestConnection", async (request: InstanceType<typeof v3.TestConnection.Request>) => {
      return new v3.TestConnection.Response(await plugin.testConnection(request.spec));
    }),
    Close: unary(logger, "Close", async () => {
      await plugin.close();
      return new v3.Close.Response();
    }),
  };
  const unimplemented = (name: string) => (call: { emit(event: "error", status: Partial<grpc.StatusObject>): void }, callback?: grpc.sendUnaryData<unknown>) => {
    const status = { code: grpc.status.UNIMPLEMENTED, details: `${name} is not implemented: postgresql is a source plugin` };
    if (callback) callback(status as grpc.ServiceError, null);
    else call.emit("error", status);
  };
  for (const name of ["Read", "Write", "Transform", "TransformSchema"]) handlers[name] = unimplemented(name) as grpc.UntypedHandleCall;

  // Sync's inserts arrive encoded already (see encodeInsert)
  const definition = { ...v3.UnimplementedPluginService.definition, Sync: { ...v3.UnimplementedPluginService.definition.Sync, responseSerialize: serializeSyncResponse } };
  server.addService(definition as unknown as grpc.ServiceDefinition, handlers);
  server.addService(discovery1.cloudquery.discovery.v1.UnimplementedDiscoveryService.definition, {
    GetVersions: unary(logger, "GetVersions", async () => new discovery1.cloudquery.discovery.v1.GetVersions.Response({ versions: PROTOCOL_VERSIONS })),
  });

  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(options.address, grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound)))
  );

  let stopping: Promise<void> | undefined;
  const shutdown = (graceMs = 5000) => {
    stopping ??= (async () => {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      await plugin.close().catch(() => {});
    })();
    return stopping;
  };
  return { port, plugin, shutdown };
}
