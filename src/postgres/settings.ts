import { isIP } from "net";
import type { ConnectionOptions as TlsOptions } from "tls";

/**
 * How to reach a PostgreSQL server, parsed from the App's options. The Grouparoo UI sends every
 * option as a string and blank ones as "", config files may send booleans and numbers: both are read
 * here, once, and every mistake names the option.
 */
export const SSL_MODES = ["disable", "prefer", "require", "verify-ca", "verify-full"] as const;
export type SslMode = (typeof SSL_MODES)[number];

export interface PostgresSettings {
  host: string;
  port: number;
  database: string;
  schema: string;
  user?: string;
  password?: string;
  sslMode: SslMode;
  /** true when the mode was derived from the legacy `ssl` key rather than given as `sslmode` */
  sslModeFromLegacyKey: boolean;
  ca?: string;
  cert?: string;
  key?: string;
  connectTimeoutMs: number;
  statementTimeoutMs: number;
  applicationName: string;
  poolSize: number;
  /** how the host calls a setting in messages ("App option" by default, "spec field" for CloudQuery) */
  optionLabel?: string;
}

export interface AppOptionDescription {
  key: string;
  displayName: string;
  required: boolean;
  description: string;
  defaultValue?: string;
  placeholder?: string;
}

export const DEFAULTS = {
  host: "localhost",
  port: 5432,
  schema: "public",
  connectTimeoutSeconds: 10,
  statementTimeoutSeconds: 120,
  applicationName: "grouparoo-plugin-postgres",
  poolSize: 5,
};

const PEM_HELP =
  "PEM text. A PEM pasted into a one-line field (line breaks lost or written as \\n) is accepted too.";

/** Every App option, in the order the UI shows them. Keys of the original plugin keep their meaning. */
export const APP_OPTIONS: AppOptionDescription[] = [
  { key: "host", displayName: "Host", required: false, defaultValue: DEFAULTS.host, placeholder: DEFAULTS.host, description: `The server's host name or IP address (default ${DEFAULTS.host}).` },
  { key: "port", displayName: "Port", required: false, defaultValue: String(DEFAULTS.port), placeholder: String(DEFAULTS.port), description: `The server's port (default ${DEFAULTS.port}).` },
  { key: "database", displayName: "Database", required: true, description: "The database to read from." },
  { key: "schema", displayName: "Schema", required: false, defaultValue: DEFAULTS.schema, placeholder: DEFAULTS.schema, description: `The schema whose tables and views are offered (default ${DEFAULTS.schema}). Query sources search it first, then public.` },
  { key: "user", displayName: "User", required: false, description: "The user to connect as (a read-only role is enough)." },
  { key: "password", displayName: "Password", required: false, description: "The user's password. It never appears in an error or log line." },
  { key: "sslmode", displayName: "TLS mode (sslmode)", required: false, defaultValue: "prefer", description: "libpq's sslmode: disable, prefer (TLS when the server offers it, unverified), require (TLS, certificate NOT verified), verify-ca (TLS, chain verified), verify-full (TLS, chain and host name verified). Blank: derived from `ssl`, else prefer." },
  { key: "ssl", displayName: "SSL (legacy)", required: false, description: "The original plugin's switch, still accepted when sslmode is blank: true = require (encrypted but NOT verified), true with ssl_ca = verify-full, false = disable." },
  { key: "ssl_ca", displayName: "CA certificate", required: false, description: `The certificate authority that signed the server's certificate, for verify-ca / verify-full. ${PEM_HELP}` },
  { key: "ssl_cert", displayName: "Client certificate", required: false, description: `A client certificate, when the server asks for one (with ssl_key). ${PEM_HELP}` },
  { key: "ssl_key", displayName: "Client key", required: false, description: `The client certificate's private key. ${PEM_HELP}` },
  { key: "connect_timeout", displayName: "Connect timeout (s)", required: false, defaultValue: String(DEFAULTS.connectTimeoutSeconds), placeholder: String(DEFAULTS.connectTimeoutSeconds), description: `Seconds to wait for a connection before failing (default ${DEFAULTS.connectTimeoutSeconds}).` },
  { key: "statement_timeout", displayName: "Statement timeout (s)", required: false, defaultValue: String(DEFAULTS.statementTimeoutSeconds), placeholder: String(DEFAULTS.statementTimeoutSeconds), description: `Seconds a statement may run before the server cancels it (default ${DEFAULTS.statementTimeoutSeconds}; 0 = no limit).` },
  { key: "application_name", displayName: "Application name", required: false, defaultValue: DEFAULTS.applicationName, placeholder: DEFAULTS.applicationName, description: `Shown in pg_stat_activity (default ${DEFAULTS.applicationName}).` },
  { key: "pool_size", displayName: "Pool size", required: false, placeholder: "WORKERS + 1", description: `Connections per App and process, opened as needed and closed after 30 s idle (default: the process's WORKERS + 1, at least ${DEFAULTS.poolSize}, so that every task of a worker process gets one).` },
];

/** What a host calls a setting in messages, unless it says otherwise. */
export const DEFAULT_OPTION_LABEL = "App option";

export class SettingsError extends Error {
  constructor(readonly option: string, readonly problem: string, optionLabel: string = DEFAULT_OPTION_LABEL) {
    super(`${optionLabel} \`${option}\` ${problem}`);
    this.name = "SettingsError";
  }
}

type RawOptions = Record<string, unknown>;

function text(options: RawOptions, key: string): string | undefined {
  const value = options[key];
  if (value === undefined || value === null) return undefined;
  const s = String(value).trim();
  return s === "" ? undefined : s;
}

function integer(options: RawOptions, key: string, fallback: number, min: number, max: number): number {
  const s = text(options, key);
  if (s === undefined) return fallback;
  if (!/^\d+$/.test(s) || Number(s) < min || Number(s) > max) {
    throw new SettingsError(key, `must be a whole number from ${min} to ${max}, got ${JSON.stringify(s)}`);
  }
  return Number(s);
}

function bool(options: RawOptions, key: string): boolean | undefined {
  const s = text(options, key);
  if (s === undefined) return undefined;
  const lower = s.toLowerCase();
  if (["true", "1", "yes", "on"].includes(lower)) return true;
  if (["false", "0", "no", "off"].includes(lower)) return false;
  throw new SettingsError(key, `must be true or false, got ${JSON.stringify(s)}`);
}

/**
 * Restores a PEM block whose line breaks were lost (a one-line UI field) or typed as `\n`.
 * Several blocks (a chain) are kept in order.
 */
export function normalizePem(option: string, value: string): string {
  const unescaped = value.replace(/\\r\\n|\\n|\\r/g, "\n").replace(/\r\n/g, "\n");
  const blocks = [...unescaped.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g)];
  if (blocks.length === 0) {
    throw new SettingsError(option, "must be PEM text starting with -----BEGIN ...----- (a file path is not read)");
  }
  return blocks
    .map(([, label, body]) => {
      const lines = body.trim().split(/\s+/);
      // header lines such as "Proc-Type: 4,ENCRYPTED" contain a colon and stay as they are
      const headers = lines.filter((l) => l.includes(":"));
      const base64 = lines.filter((l) => !l.includes(":")).join("");
      if (!/^[A-Za-z0-9+/=]*$/.test(base64)) {
        throw new SettingsError(option, `holds a ${label} block that is not valid base64`);
      }
      const wrapped = base64.match(/.{1,64}/g) || [];
      return [`-----BEGIN ${label}-----`, ...headers, ...(headers.length ? [""] : []), ...wrapped, `-----END ${label}-----`].join("\n");
    })
    .join("\n") + "\n";
}

function sslMode(options: RawOptions, ca: string | undefined): { mode: SslMode; legacy: boolean } {
  const explicit = text(options, "sslmode");
  if (explicit !== undefined) {
    const lower = explicit.toLowerCase();
    if (!(SSL_MODES as readonly string[]).includes(lower)) {
      throw new SettingsError("sslmode", `must be one of ${SSL_MODES.join(", ")}, got ${JSON.stringify(explicit)}`);
    }
    return { mode: lower as SslMode, legacy: false };
  }
  const legacy = bool(options, "ssl");
  if (legacy === true) return { mode: ca ? "verify-full" : "require", legacy: true };
  if (legacy === false) return { mode: "disable", legacy: true };
  return { mode: "prefer", legacy: false };
}

/**
 * One connection for each task a Grouparoo process runs at once (its `WORKERS` task processors) and
 * one for the web process's calls, as the core sizes its own database pool; never fewer than 5.
 */
export function defaultPoolSize(env: NodeJS.ProcessEnv = process.env): number {
  const workers = Number.parseInt(env.WORKERS ?? "", 10);
  return Math.min(100, Math.max(DEFAULTS.poolSize, Number.isFinite(workers) ? workers + 1 : 0));
}

/**
 * @param wording.optionLabel how the host calls a setting in messages (default "App option"): a
 *   second host (CloudQuery's spec) reads the same keys under its own name
 */
export function parseSettings(options: RawOptions, wording: { optionLabel?: string } = {}): PostgresSettings {
  const optionLabel = wording.optionLabel ?? DEFAULT_OPTION_LABEL;
  try {
    const settings = readSettings(options);
    return optionLabel === DEFAULT_OPTION_LABEL ? settings : { ...settings, optionLabel };
  } catch (error) {
    if (error instanceof SettingsError && optionLabel !== DEFAULT_OPTION_LABEL) throw new SettingsError(error.option, error.problem, optionLabel);
    throw error;
  }
}

function readSettings(options: RawOptions): PostgresSettings {
  const database = text(options, "database");
  if (!database) throw new SettingsError("database", "is required (the name of the database to read from)");
  const pem = (key: string) => {
    const value = text(options, key);
    return value === undefined ? undefined : normalizePem(key, value);
  };
  const ca = pem("ssl_ca");
  const cert = pem("ssl_cert");
  const key = pem("ssl_key");
  if (Boolean(cert) !== Boolean(key)) {
    throw new SettingsError(cert ? "ssl_key" : "ssl_cert", "is required when the other half of the client certificate is given");
  }
  const { mode, legacy } = sslMode(options, ca);
  return {
    host: text(options, "host") ?? DEFAULTS.host,
    port: integer(options, "port", DEFAULTS.port, 1, 65535),
    database,
    schema: text(options, "schema") ?? DEFAULTS.schema,
    user: text(options, "user"),
    // a password is taken as typed: spaces may be part of it
    password: options.password === undefined || options.password === null || options.password === "" ? undefined : String(options.password),
    sslMode: mode,
    sslModeFromLegacyKey: legacy,
    ca,
    cert,
    key,
    connectTimeoutMs: integer(options, "connect_timeout", DEFAULTS.connectTimeoutSeconds, 1, 3600) * 1000,
    statementTimeoutMs: integer(options, "statement_timeout", DEFAULTS.statementTimeoutSeconds, 0, 86400) * 1000,
    applicationName: text(options, "application_name") ?? DEFAULTS.applicationName,
    poolSize: integer(options, "pool_size", defaultPoolSize(), 1, 100),
  };
}

/**
 * node-postgres' `ssl` setting for a mode; `undefined` for no TLS. `prefer` is tried with TLS first
 * (see pool.ts), so it maps like `require`.
 */
export function tlsOptions(settings: PostgresSettings): TlsOptions | undefined {
  const material: TlsOptions = {};
  if (settings.ca) material.ca = settings.ca;
  if (settings.cert) material.cert = settings.cert;
  if (settings.key) material.key = settings.key;
  switch (settings.sslMode) {
    case "disable":
      return undefined;
    case "prefer":
    case "require":
      return { ...material, rejectUnauthorized: false };
    case "verify-ca":
      // the chain is checked, the host name is not (libpq's verify-ca)
      return { ...material, rejectUnauthorized: true, checkServerIdentity: () => undefined };
    case "verify-full":
      // the certificate is checked against `servername`, else `host`. An IP address is no TLS server name
      // (RFC 6066, node warns DEP0123 and will ignore it), so an IP goes in `host`: without either, node
      // would check the certificate against "localhost"
      return { ...material, rejectUnauthorized: true, ...(isIP(settings.host) ? { host: settings.host } : { servername: settings.host }) };
  }
}

/** What `test` says about the TLS in use, so that an unverified connection is never mistaken for a safe one. */
export function describeTls(settings: PostgresSettings, encrypted: boolean): string {
  if (!encrypted) return settings.sslMode === "prefer" ? "not encrypted (the server offers no TLS)" : "not encrypted (sslmode=disable)";
  switch (settings.sslMode) {
    case "verify-full":
      return "TLS, certificate and host name verified";
    case "verify-ca":
      return "TLS, certificate chain verified (host name not checked)";
    default:
      return `TLS, certificate NOT verified (sslmode=${settings.sslMode}${settings.sslModeFromLegacyKey ? " from ssl=true" : ""}; set sslmode=verify-full and ssl_ca to verify it)`;
  }
}
