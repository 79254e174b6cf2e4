import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Worker } from "worker_threads";
import * as grpc from "@grpc/grpc-js";
import { discovery1, pluginV3 } from "@cloudquery/plugin-pb-javascript";
// eslint-disable-next-line @typescript-eslint/no-var-requires
const packageBuild = require("../../../scripts/lib/package-build");

/**
 * Drives the CloudQuery plugin as the CLI does: the package is built (every `src/**` file transpiled
 * into a private folder beside a copy of package.json, so that parallel builds of dist/ do not
 * matter), the plugin is started through its bin (`serve --address 127.0.0.1:0`), and a gRPC client
 * of `@cloudquery/plugin-pb-javascript` talks to it. Every call has a deadline.
 */

export const v3 = pluginV3.cloudquery.plugin.v3;

let built: string | undefined;

/** A private build of the package (scripts/lib/package-build.js), once per test file; returns its folder. */
export function buildPackage(): string {
  if (built) return built;
  const folder: string = packageBuild.buildPackage({ prefix: "cq-source-postgres-test-" });
  built = folder;
  temporaryFolders.push(folder);
  return folder;
}

/** The plugin's spec that reaches the database of these App options (plain TCP), with `extra` over it. */
export function specFor(appOptions: Record<string, string>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { host: appOptions.host, port: Number(appOptions.port), database: appOptions.database, user: appOptions.user, password: appOptions.password, sslmode: "disable", ...extra };
}

const temporaryFolders: string[] = [];

/** Removes the build and the plugins' working folders (call in afterAll). */
export function removeTemporaryFolders(): void {
  for (const folder of temporaryFolders.splice(0)) fs.rmSync(folder, { recursive: true, force: true });
  built = undefined;
}

export interface LogLine {
  level: string;
  message: string;
  [key: string]: unknown;
}

export interface RunningPlugin {
  port: number;
  client: InstanceType<typeof v3.PluginClient>;
  child: ChildProcess;
  logs: LogLine[];
  /** the folder the plugin runs in (where the default state file goes) */
  cwd: string;
  /** SIGTERM, then the exit code (or the signal that ended it) */
  stop(): Promise<number | string | null>;
}

/** Starts the plugin's bin in a fresh working folder and connects a client. */
export async function startPlugin(options: { logLevel?: string } = {}): Promise<RunningPlugin> {
  const folder = buildPackage();
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "cq-source-postgres-run-"));
  temporaryFolders.push(cwd);
  const bin = path.join(folder, require(path.join(folder, "package.json")).bin["cq-source-postgres"]);
  const child = spawn(process.execPath, [bin, "serve", "--address", "127.0.0.1:0", "--log-format", "json", "--log-level", options.logLevel ?? "debug"], {
    cwd,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: LogLine[] = [];
  let stderr = "";
  child.stderr!.on("data", (chunk) => (stderr += chunk));
  const port = await new Promise<number>((resolve, reject) => {
    let pending = "";
    const timer = setTimeout(() => reject(new Error(`the plugin did not start within 15 s: ${stderr}`)), 15000);
    child.on("exit", (code) => reject(new Error(`the plugin exited (${code}) before listening: ${stderr}`)));
    child.stdout!.on("data", (chunk: Buffer) => {
      pending += chunk.toString("utf8");
      const lines = pending.split("\n");
      pending = lines.pop() as string;
      for (const line of lines) {
        const entry = JSON.parse(line) as LogLine;
        logs.push(entry);
        if (entry.message === "plugin server listening") {
          clearTimeout(timer);
          resolve(Number(entry.port));
        }
      }
    });
  });
  const client = new v3.PluginClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { "grpc.max_receive_message_length": -1 });
  const exited = new Promise<number | string | null>((resolve) => child.on("exit", (code, signal) => resolve(code ?? signal)));
  return {
    port,
    client,
    child,
    logs,
    cwd,
    stop: async () => {
      client.close();
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      return exited;
    },
  };
}

type UnaryMethod = "GetName" | "GetVersion" | "GetSpecSchema" | "Init" | "GetTables" | "TestConnection" | "Close";

/** One unary call with a deadline. */
export function call<Res>(plugin: RunningPlugin, method: UnaryMethod, request: unknown, timeoutMs = 15000): Promise<Res> {
  return new Promise((resolve, reject) => {
    const fn = (plugin.client as unknown as Record<string, (req: unknown, options: grpc.CallOptions, cb: (error: grpc.ServiceError | null, res: Res) => void) => void>)[method];
    fn.call(plugin.client, request, { deadline: Date.now() + timeoutMs }, (error, response) => (error ? reject(error) : resolve(response)));
  });
}

/** `versions` (field 1, repeated int32, packed or not) of a discovery GetVersions response. */
function decodeVersions(bytes: Buffer): number[] {
  const versions: number[] = [];
  let at = 0;
  const varint = () => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = bytes[at++];
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
  };
  while (at < bytes.length) {
    const tag = varint();
    if (tag === (1 << 3) | 2) {
      const end = varint() + at;
      while (at < end) versions.push(varint());
    } else if (tag === (1 << 3) | 0) versions.push(varint());
    else throw new Error(`unexpected field ${tag >> 3} in GetVersions.Response`);
  }
  return versions;
}

/**
 * Discovery v1 `GetVersions`. plugin-pb-javascript 0.0.39 runs on its own google-protobuf 4, which
 * cannot read the packed `versions` field (readPackedInt32 is gone): the test reads the response bytes itself.
 */
export function getVersions(plugin: RunningPlugin): Promise<number[]> {
  const definition = discovery1.cloudquery.discovery.v1.UnimplementedDiscoveryService.definition.GetVersions;
  const Client = grpc.makeGenericClientConstructor(
    { GetVersions: { ...definition, responseDeserialize: decodeVersions } } as unknown as grpc.ServiceDefinition,
    "Discovery"
  );
  const client = new Client(`127.0.0.1:${plugin.port}`, grpc.credentials.createInsecure()) as unknown as {
    GetVersions(request: unknown, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, versions: number[]) => void): void;
    close(): void;
  };
  return new Promise((resolve, reject) =>
    client.GetVersions(new discovery1.cloudquery.discovery.v1.GetVersions.Request(), { deadline: Date.now() + 5000 }, (error, versions) => {
      client.close();
      if (error) reject(error);
      else resolve(versions);
    })
  );
}

export async function init(plugin: RunningPlugin, spec: unknown): Promise<void> {
  await call(plugin, "Init", new v3.Init.Request({ spec: Buffer.from(typeof spec === "string" ? spec : JSON.stringify(spec)) }));
}

export interface SyncResult {
  migrations: Uint8Array[];
  inserts: Uint8Array[];
  errors: { table: string; error: string }[];
  /** the order of the messages: "migrate_table", "insert", "error" */
  order: string[];
  /** the stream's final error, if it failed */
  failure?: grpc.ServiceError;
}

/** One Sync, read to its end (or its error) within the deadline. */
export function sync(
  plugin: RunningPlugin,
  request: { tables?: string[]; skip_tables?: string[]; withErrorMessages?: boolean; backendTableName?: string },
  timeoutMs = 30000
): Promise<SyncResult> {
  const result: SyncResult = { migrations: [], inserts: [], errors: [], order: [] };
  const stream = plugin.client.Sync(
    new v3.Sync.Request({
      tables: request.tables ?? ["*"],
      skip_tables: request.skip_tables ?? [],
      withErrorMessages: request.withErrorMessages ?? true,
      ...(request.backendTableName ? { backend: new v3.Sync.BackendOptions({ table_name: request.backendTableName }) } : {}),
    }),
    { deadline: Date.now() + timeoutMs }
  );
  return new Promise((resolve) => {
    stream.on("data", (response: InstanceType<typeof v3.Sync.Response>) => {
      result.order.push(response.message);
      if (response.has_migrate_table) result.migrations.push(response.migrate_table.table);
      if (response.has_insert) result.inserts.push(response.insert.record);
      if (response.has_error) result.errors.push({ table: response.error.table_name, error: response.error.error });
    });
    stream.on("error", (error: grpc.ServiceError) => {
      result.failure = error;
      resolve(result);
    });
    stream.on("end", () => resolve(result));
  });
}

export interface DecodedField {
  name: string;
  type: string;
  nullable: boolean;
  metadata: Record<string, string>;
  children: DecodedField[];
}

export interface DecodedTable {
  metadata: Record<string, string>;
  fields: DecodedField[];
  batches: number;
  rows: Record<string, unknown>[];
}

let worker: Worker | undefined;
let nextId = 0;

/** Decodes Arrow IPC streams with the SDK's `tableFromIPC` (in a worker thread: the library is ESM only). */
export function decodeArrow(buffers: Uint8Array[]): Promise<DecodedTable[]> {
  if (!worker) {
    worker = new Worker(path.join(__dirname, "arrowDecoder.mjs"));
    worker.unref();
  }
  const id = nextId++;
  const active = worker;
  return new Promise((resolve, reject) => {
    const onMessage = (message: { id: number; results?: DecodedTable[]; error?: string }) => {
      if (message.id !== id) return;
      active.off("message", onMessage);
      if (message.error) reject(new Error(message.error));
      else resolve(message.results as DecodedTable[]);
    };
    active.on("message", onMessage);
    active.postMessage({ id, buffers: buffers.map((b) => Uint8Array.from(b)) });
  });
}

export async function stopDecoder(): Promise<void> {
  await worker?.terminate();
  worker = undefined;
}

/** The rows of all inserts of one table, decoded. */
export async function rowsOf(result: SyncResult, table: string): Promise<Record<string, unknown>[]> {
  const decoded = await decodeArrow(result.inserts);
  return decoded.filter((t) => t.metadata["cq:table_name"] === table).flatMap((t) => t.rows);
}
