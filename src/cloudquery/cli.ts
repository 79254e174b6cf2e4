import { errorMessage } from "../postgres";
import { createLogger, LOG_FORMATS, LOG_LEVELS, LogFormat, LogLevel } from "./logger";
import { PLUGIN_NAME, PLUGIN_VERSION, startServer } from "./server";

/**
 * CloudQuery's plugin command line: `serve --address 127.0.0.1:7777 [--network tcp|unix]
 * [--log-level info] [--log-format text|json]`, plus the flags the CLI may pass that mean nothing
 * here (`--license`, `--no-sentry`, `--otel-endpoint`, ...), which are accepted and ignored.
 */

const USAGE = `Usage: cq-source-postgres serve [options]

CloudQuery source plugin "${PLUGIN_NAME}" ${PLUGIN_VERSION} (gRPC plugin protocol v3)

Options:
  -a, --address <host:port>   address to serve on (default localhost:7777; port 0 picks a free one)
  -n, --network <tcp|unix>    network to bind to (default tcp; with unix, --address is a socket path)
  -l, --log-level <level>     ${LOG_LEVELS.join(", ")} (default info)
  -f, --log-format <format>   ${LOG_FORMATS.join(", ")} (default text)
  -h, --help                  this text
  -v, --version               the plugin's version`;

const IGNORED_WITH_VALUE = new Set(["license", "otel-endpoint", "tracing"]);
const IGNORED_FLAGS = new Set(["sentry", "no-sentry", "otel-endpoint-insecure", "disable-sentry"]);
const ALIASES: Record<string, string> = { a: "address", n: "network", l: "log-level", f: "log-format", h: "help", v: "version" };

export interface ServeOptions {
  address: string;
  network: "tcp" | "unix";
  logLevel: LogLevel;
  logFormat: LogFormat;
}

export class UsageError extends Error {}

export function parseServeArguments(args: string[]): ServeOptions | "help" | "version" {
  const options: ServeOptions = { address: "localhost:7777", network: "tcp", logLevel: "info", logFormat: "text" };
  const rest = [...args];
  const command = rest.shift();
  if (command === undefined || command === "help" || command === "--help" || command === "-h") return "help";
  if (command === "--version" || command === "-v" || command === "version") return "version";
  if (command !== "serve") throw new UsageError(`unknown command "${command}" (only serve is supported)`);
  while (rest.length) {
    const arg = rest.shift() as string;
    const match = /^--?([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!match) throw new UsageError(`unexpected argument "${arg}"`);
    const name = ALIASES[match[1]] ?? match[1];
    const value = () => {
      const v = match[2] ?? rest.shift();
      if (v === undefined) throw new UsageError(`--${name} needs a value`);
      return v;
    };
    switch (name) {
      case "help":
        return "help";
      case "version":
        return "version";
      case "address":
        options.address = value();
        break;
      case "network": {
        const network = value();
        if (network !== "tcp" && network !== "unix") throw new UsageError(`--network must be tcp or unix, got "${network}"`);
        options.network = network;
        break;
      }
      case "log-level": {
        const level = value().toLowerCase();
        if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(", ")}, got "${level}"`);
        options.logLevel = level as LogLevel;
        break;
      }
      case "log-format": {
        const format = value().toLowerCase();
        if (!(LOG_FORMATS as readonly string[]).includes(format)) throw new UsageError(`--log-format must be one of ${LOG_FORMATS.join(", ")}, got "${format}"`);
        options.logFormat = format as LogFormat;
        break;
      }
      default:
        if (IGNORED_WITH_VALUE.has(name)) {
          if (match[2] === undefined) rest.shift();
        } else if (!IGNORED_FLAGS.has(name)) {
          throw new UsageError(`unknown option --${name}`);
        }
    }
  }
  return options;
}

/** Runs the command line; resolves once the server is listening. SIGTERM / SIGINT stop it cleanly. */
export async function main(args: string[]): Promise<void> {
  let parsed: ReturnType<typeof parseServeArguments>;
  try {
    parsed = parseServeArguments(args);
  } catch (error) {
    process.stderr.write(`${errorMessage(error)}\n\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  if (parsed === "help") {
    process.stdout.write(USAGE + "\n");
    return;
  }
  if (parsed === "version") {
    process.stdout.write(PLUGIN_VERSION + "\n");
    return;
  }
  const logger = createLogger({ level: parsed.logLevel, format: parsed.logFormat });
  const address = parsed.network === "unix" && !parsed.address.startsWith("unix:") ? `unix:${parsed.address}` : parsed.address;
  const server = await startServer({ address, logger });
  const host = address.startsWith("unix:") ? address : address.replace(/:\d+$/, `:${server.port}`);
  logger.info("plugin server listening", { address: host, port: server.port, plugin: PLUGIN_NAME, version: PLUGIN_VERSION });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info("stopping", { signal });
    server.shutdown().then(
      () => {
        logger.info("stopped");
        process.exit(0);
      },
      (error: Error) => {
        logger.error("shutdown failed", { error: error.message });
        process.exit(1);
      }
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}
