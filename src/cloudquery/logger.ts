/**
 * The plugin's log, on stdout as CloudQuery plugins do (the CLI reads it): one line per entry,
 * JSON (`{"level":"info","time":...,"message":...}`) or text.
 */
export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ["text", "json"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

let stdoutClosed = false;

/** stdout may be closed by the reader (the CLI stopping the plugin): the log then goes nowhere, and nothing crashes. */
function writeStdout(line: string): void {
  if (stdoutClosed) return;
  if (process.stdout.listenerCount("error") === 0) {
    process.stdout.on("error", () => {
      stdoutClosed = true;
    });
  }
  process.stdout.write(line + "\n");
}

export function createLogger(options: { level?: LogLevel; format?: LogFormat; write?: (line: string) => void } = {}): Logger {
  const threshold = LOG_LEVELS.indexOf(options.level ?? "info");
  const format = options.format ?? "text";
  const write = options.write ?? writeStdout;
  const log = (level: LogLevel) => (message: string, fields: LogFields = {}) => {
    if (LOG_LEVELS.indexOf(level) < threshold) return;
    const time = new Date().toISOString();
    if (format === "json") {
      write(JSON.stringify({ level, time, message, ...fields }));
    } else {
      const extra = Object.entries(fields)
        .map(([key, value]) => `${key}=${typeof value === "string" && !/\s/.test(value) ? value : JSON.stringify(value)}`)
        .join(" ");
      write(`${time} ${level.toUpperCase().padEnd(5)} ${message}${extra ? " " + extra : ""}`);
    }
  };
  return { debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") };
}
