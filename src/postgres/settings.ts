import { isIP } from "net";
import type { ConnectionOptions as TlsOptions } from "tls";
import { utils as sshUtils } from "ssh2";
import { withHiddenSecrets } from "./secrets";

/**
 * How to reach a PostgreSQL server, parsed from the App's options. The Grouparoo UI sends every
 * option as a string and blank ones as "", config files may send booleans and numbers: both are read
 * here, once, and every mistake names the option.
 */
export const SSL_MODES = ["disable", "prefer", "require", "verify-ca", "verify-full"] as const;
export type SslMode = (typeof SSL_MODES)[number];

/** How incremental walks bound what they read by the commits still to come (see horizon.ts). */
export const COMMIT_HORIZON_MODES = ["auto", "settle", "off"] as const;
export type CommitHorizonMode = (typeof COMMIT_HORIZON_MODES)[number];

/**
 * The secrets (`password`, the TLS client `key`, the SSH key, passphrase and password) are
 * non-enumerable (secrets.ts): logging, serializing or spreading the settings, or a connection holding
 * them, shows none; whatever needs one reads it by name.
 */
export interface PostgresSettings {
  host: string;
  port: number;
  database: string;
  schema: string;
  user?: string;
  readonly password?: string;
  sslMode: SslMode;
  /** true when the mode was derived from the legacy `ssl` key rather than given as `sslmode` */
  sslModeFromLegacyKey: boolean;
  ca?: string;
  cert?: string;
  /** the client certificate's private key (a secret: non-enumerable) */
  readonly key?: string;
  connectTimeoutMs: number;
  statementTimeoutMs: number;
  applicationName: string;
  poolSize: number;
  /** the SSH bastion to reach the database through (`ssh_host` set), see tunnel.ts */
  ssh?: SshSettings;
  /** auto: exact from open transactions' start times where the role may see them, else the settle window; settle: always the window (watermarks stamped by the application's clock); off: none */
  commitHorizon: CommitHorizonMode;
  /** rows stamped less than this long ago are left for a later run when the exact horizon is not available */
  settleWindowMs: number;
  /** how the host calls a setting in messages ("App option" by default, "spec field" for CloudQuery) */
  optionLabel?: string;
}

/**
 * An SSH bastion. `host`/`port` of the settings stay the database's as the bastion sees them (and as
 * TLS verifies them). The secrets are non-enumerable, as in PostgresSettings.
 */
export interface SshSettings {
  host: string;
  port: number;
  user: string;
  /** `SHA256:...` as `ssh-keygen -lf` prints it; any other host key is refused. Unset: any (the App's Test shows the one seen) */
  hostKeyFingerprint?: string;
  readonly privateKey?: string;
  readonly passphrase?: string;
  readonly password?: string;
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
  sshPort: 22,
  commitHorizon: "auto" as CommitHorizonMode,
  settleWindowSeconds: 60,
  /** with neither `sslmode` nor the legacy `ssl` */
  sslMode: "prefer" as SslMode,
};

/** The whole numbers a setting may take; a host's own schema (CloudQuery's spec) states the same bounds. */
export const INTEGER_RANGES = {
  port: { minimum: 1, maximum: 65535 },
  connect_timeout: { minimum: 1, maximum: 3600 },
  statement_timeout: { minimum: 0, maximum: 86400 },
  pool_size: { minimum: 1, maximum: 100 },
  ssh_port: { minimum: 1, maximum: 65535 },
  settle_window: { minimum: 0, maximum: 86400 },
} as const;
export type IntegerOption = keyof typeof INTEGER_RANGES;

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
  { key: "sslmode", displayName: "TLS mode (sslmode)", required: false, defaultValue: DEFAULTS.sslMode, description: "libpq's sslmode: disable, prefer (TLS when the server offers it, unverified), require (TLS, certificate NOT verified unless ssl_ca is given), verify-ca (TLS, chain verified against ssl_ca), verify-full (TLS, chain and host name verified). Blank: derived from `ssl`, else prefer." },
  { key: "ssl", displayName: "SSL (legacy)", required: false, description: "The original plugin's switch, still accepted when sslmode is blank: true = require (encrypted but NOT verified), true with ssl_ca = verify-full, false = disable." },
  { key: "ssl_ca", displayName: "CA certificate", required: false, description: `The certificate authority that signed the server's certificate: required for verify-ca, and with it prefer and require verify the chain too (as libpq). ${PEM_HELP}` },
  { key: "ssl_cert", displayName: "Client certificate", required: false, description: `A client certificate, when the server asks for one (with ssl_key). ${PEM_HELP}` },
  { key: "ssl_key", displayName: "Client key", required: false, description: `The client certificate's private key. ${PEM_HELP}` },
  { key: "connect_timeout", displayName: "Connect timeout (s)", required: false, defaultValue: String(DEFAULTS.connectTimeoutSeconds), placeholder: String(DEFAULTS.connectTimeoutSeconds), description: `Seconds to wait for a connection before failing (default ${DEFAULTS.connectTimeoutSeconds}).` },
  { key: "statement_timeout", displayName: "Statement timeout (s)", required: false, defaultValue: String(DEFAULTS.statementTimeoutSeconds), placeholder: String(DEFAULTS.statementTimeoutSeconds), description: `Seconds a statement may run before the server cancels it (default ${DEFAULTS.statementTimeoutSeconds}; 0 = no limit).` },
  { key: "application_name", displayName: "Application name", required: false, defaultValue: DEFAULTS.applicationName, placeholder: DEFAULTS.applicationName, description: `Shown in pg_stat_activity (default ${DEFAULTS.applicationName}).` },
  { key: "ssh_host", displayName: "SSH bastion host", required: false, description: "An SSH bastion (jump host) to reach the database through; blank: connect directly. `host` and `port` are then the database's as the bastion sees them." },
  { key: "ssh_port", displayName: "SSH port", required: false, defaultValue: String(DEFAULTS.sshPort), placeholder: String(DEFAULTS.sshPort), description: `The bastion's SSH port (default ${DEFAULTS.sshPort}).` },
  { key: "ssh_user", displayName: "SSH user", required: false, description: "The user to log in to the bastion as (required with ssh_host)." },
  { key: "ssh_private_key", displayName: "SSH private key", required: false, description: "The private key to log in with: OpenSSH (-----BEGIN OPENSSH PRIVATE KEY-----) or PEM (-----BEGIN RSA PRIVATE KEY-----) text, pasted on one line or several. Its public key goes in the bastion's authorized_keys." },
  { key: "ssh_passphrase", displayName: "SSH key passphrase", required: false, description: "The passphrase of an encrypted ssh_private_key." },
  { key: "ssh_password", displayName: "SSH password", required: false, description: "The bastion user's password, when the bastion allows password logins (instead of or besides a key)." },
  { key: "ssh_host_key", displayName: "SSH host key fingerprint", required: false, placeholder: "SHA256:...", description: "The bastion's host key fingerprint as `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` prints it (SHA256:...): any other host key is refused. Blank: any host key is accepted and the App's Test shows the one it saw, to pin it here." },
  { key: "pool_size", displayName: "Pool size", required: false, placeholder: "WORKERS + 1", description: `Connections per App and process, opened as needed and closed after 30 s idle (default: the process's WORKERS + 1, at least ${DEFAULTS.poolSize}, so that every task of a worker process gets one).` },
  { key: "commit_horizon", displayName: "Commit horizon", required: false, defaultValue: DEFAULTS.commitHorizon, placeholder: DEFAULTS.commitHorizon, description: `How incremental runs wait for rows that open transactions may still commit with an older timestamp: auto (exact from the start times of open transactions when the role may see them, else the settle window), settle (always the settle window: timestamps written by the application's clock), off (no wait: rows of long transactions can be missed); default ${DEFAULTS.commitHorizon}.` },
  { key: "settle_window", displayName: "Settle window (s)", required: false, defaultValue: String(DEFAULTS.settleWindowSeconds), placeholder: String(DEFAULTS.settleWindowSeconds), description: `When the exact horizon is not available: rows stamped less than this many seconds ago are read by a later run (default ${DEFAULTS.settleWindowSeconds}).` },
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

/** An own property only: `toString` or `constructor` are no options, whatever Object.prototype holds. */
function own(options: RawOptions, key: string): unknown {
  return Object.prototype.hasOwnProperty.call(options, key) ? options[key] : undefined;
}

function text(options: RawOptions, key: string): string | undefined {
  const value = own(options, key);
  if (value === undefined || value === null) return undefined;
  const s = String(value).trim();
  // a NUL cannot travel in the protocol's strings: the driver would cut the value or fail obscurely
  if (s.includes("\u0000")) throw new SettingsError(key, "contains a NUL character (\\0), which PostgreSQL cannot take");
  return s === "" ? undefined : s;
}

function integer(options: RawOptions, key: IntegerOption, fallback: number): number {
  const { minimum: min, maximum: max } = INTEGER_RANGES[key];
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
      const tokens = body.trim().split(/\s+/);
      // the headers of an encrypted legacy key ("Proc-Type: 4,ENCRYPTED", "DEK-Info: AES-128-CBC,...")
      // are "Name: value" pairs: split on whitespace above, rejoined here
      const headers: string[] = [];
      const base64Parts: string[] = [];
      for (let i = 0; i < tokens.length; i++) {
        if (tokens[i].endsWith(":") && i + 1 < tokens.length) headers.push(`${tokens[i]} ${tokens[++i]}`);
        else if (tokens[i].includes(":")) headers.push(tokens[i]);
        else base64Parts.push(tokens[i]);
      }
      const base64 = base64Parts.join("");
      if (!/^[A-Za-z0-9+/=]*$/.test(base64)) {
        throw new SettingsError(option, `holds a ${label} block that is not valid base64`);
      }
      const wrapped = base64.match(/.{1,64}/g) || [];
      return [`-----BEGIN ${label}-----`, ...headers, ...(headers.length ? [""] : []), ...wrapped, `-----END ${label}-----`].join("\n");
    })
    .join("\n") + "\n";
}

function commitHorizon(options: RawOptions): CommitHorizonMode {
  const value = text(options, "commit_horizon");
  if (value === undefined) return DEFAULTS.commitHorizon;
  const lower = value.toLowerCase();
  if (!(COMMIT_HORIZON_MODES as readonly string[]).includes(lower)) {
    throw new SettingsError("commit_horizon", `must be one of ${COMMIT_HORIZON_MODES.join(", ")}, got ${JSON.stringify(value)}`);
  }
  return lower as CommitHorizonMode;
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
  return { mode: DEFAULTS.sslMode, legacy: false };
}

/**
 * One connection for each task a Grouparoo process runs at once (its `WORKERS` task processors) and
 * one for the web process's calls, as the core sizes its own database pool; never fewer than 5.
 */
export function defaultPoolSize(env: NodeJS.ProcessEnv = process.env): number {
  const workers = Number.parseInt(env.WORKERS ?? "", 10);
  return Math.min(INTEGER_RANGES.pool_size.maximum, Math.max(DEFAULTS.poolSize, Number.isFinite(workers) ? workers + 1 : 0));
}

/**
 * @param wording.optionLabel how the host calls a setting in messages (default "App option"): a
 *   second host (CloudQuery's spec) reads the same keys under its own name
 */
export function parseSettings(options: RawOptions, wording: { optionLabel?: string } = {}): PostgresSettings {
  const optionLabel = wording.optionLabel ?? DEFAULT_OPTION_LABEL;
  try {
    const settings = readSettings(options);
    // set on the object read, not on a spread copy: a spread would drop the non-enumerable secrets
    if (optionLabel !== DEFAULT_OPTION_LABEL) settings.optionLabel = optionLabel;
    return settings;
  } catch (error) {
    if (error instanceof SettingsError && optionLabel !== DEFAULT_OPTION_LABEL) throw new SettingsError(error.option, error.problem, optionLabel);
    throw error;
  }
}

/** A password is taken as typed (spaces may be part of it); its text never appears in the error. */
function password(options: RawOptions): string | undefined {
  const value = own(options, "password");
  if (value === undefined || value === null || value === "") return undefined;
  const s = String(value);
  if (s.includes("\u0000")) throw new SettingsError("password", "contains a NUL character (\\0), which PostgreSQL cannot take");
  return s;
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
  if (mode === "verify-ca" && !ca) {
    // libpq refuses the system's CAs with anything weaker than verify-full: with no host-name check,
    // any publicly issued certificate would pass for any server
    throw new SettingsError(
      "ssl_ca",
      "is required with sslmode=verify-ca: without it only the system's CAs could be trusted, and with no host-name check any publicly issued certificate would pass for this server (libpq refuses this too). Give the CA that signed the server's certificate, or use sslmode=verify-full"
    );
  }
  const settings: PostgresSettings = {
    host: text(options, "host") ?? DEFAULTS.host,
    port: integer(options, "port", DEFAULTS.port),
    database,
    schema: text(options, "schema") ?? DEFAULTS.schema,
    user: text(options, "user"),
    sslMode: mode,
    sslModeFromLegacyKey: legacy,
    ca,
    cert,
    connectTimeoutMs: integer(options, "connect_timeout", DEFAULTS.connectTimeoutSeconds) * 1000,
    statementTimeoutMs: integer(options, "statement_timeout", DEFAULTS.statementTimeoutSeconds) * 1000,
    applicationName: text(options, "application_name") ?? DEFAULTS.applicationName,
    poolSize: integer(options, "pool_size", defaultPoolSize()),
    ssh: readSshSettings(options),
    commitHorizon: commitHorizon(options),
    settleWindowMs: integer(options, "settle_window", DEFAULTS.settleWindowSeconds) * 1000,
  };
  return withHiddenSecrets(settings, { password: password(options), key });
}


/** Secrets are taken as typed (spaces may be part of them); blank means not given. */
function secret(options: RawOptions, key: string): string | undefined {
  const value = options[key];
  return value === undefined || value === null || value === "" ? undefined : String(value);
}

const FINGERPRINT = /SHA256:[A-Za-z0-9+/]{43}/;

function readSshSettings(options: RawOptions): SshSettings | undefined {
  const host = text(options, "ssh_host");
  if (host === undefined) return undefined;
  const user = text(options, "ssh_user");
  if (!user) throw new SettingsError("ssh_user", "is required with ssh_host (the user to log in to the bastion as)");
  const password = secret(options, "ssh_password");
  const passphrase = secret(options, "ssh_passphrase");
  const keyText = text(options, "ssh_private_key");
  if (!keyText && !password) throw new SettingsError("ssh_private_key", "or `ssh_password` is required with ssh_host (how to log in to the bastion)");
  let privateKey: string | undefined;
  if (keyText) {
    if (!keyText.includes("-----BEGIN ")) {
      throw new SettingsError("ssh_private_key", "must be the key's text (-----BEGIN OPENSSH PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY----- ...), a file path is not read");
    }
    privateKey = normalizePem("ssh_private_key", keyText);
    checkPrivateKey(privateKey, passphrase);
  } else if (passphrase) {
    throw new SettingsError("ssh_passphrase", "is given but `ssh_private_key` is blank");
  }
  const pinned = text(options, "ssh_host_key");
  // the whole line that `ssh-keygen -lf` prints ("256 SHA256:... comment (ED25519)") is accepted too
  const fingerprint = pinned === undefined ? undefined : FINGERPRINT.exec(pinned)?.[0];
  if (pinned !== undefined && !fingerprint) {
    throw new SettingsError("ssh_host_key", "must be a SHA256 fingerprint as `ssh-keygen -lf` prints it (SHA256: and 43 base64 characters)");
  }
  const ssh: SshSettings = { host, port: integer(options, "ssh_port", DEFAULTS.sshPort), user, hostKeyFingerprint: fingerprint };
  return withHiddenSecrets(ssh, { privateKey, passphrase, password });
}

/** Reads the key with ssh2 now, so that a bad key or passphrase is reported as an option, not as a refused login. */
function checkPrivateKey(privateKey: string, passphrase: string | undefined): void {
  const parsed = sshUtils.parseKey(privateKey, passphrase);
  if (!(parsed instanceof Error)) return;
  // ssh2's messages name the problem only ("... no passphrase given", "integrity check failed -- bad passphrase?")
  const encrypted = /ENCRYPTED/.test(privateKey) || /passphrase|decrypt/i.test(parsed.message);
  if (encrypted && !passphrase) throw new SettingsError("ssh_private_key", "is encrypted: set `ssh_passphrase`");
  if (encrypted) throw new SettingsError("ssh_passphrase", "does not decrypt `ssh_private_key` (wrong passphrase?)");
  throw new SettingsError("ssh_private_key", `cannot be read as an SSH private key (${parsed.message})`);
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
      // as libpq when a root certificate is given: the chain is verified (the host name is not)
      if (settings.ca) return { ...material, rejectUnauthorized: true, checkServerIdentity: () => undefined };
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
      if (settings.ca) return `TLS, certificate chain verified against ssl_ca (host name not checked: sslmode=${settings.sslMode}; use verify-full to check it)`;
      return `TLS, certificate NOT verified (sslmode=${settings.sslMode}${settings.sslModeFromLegacyKey ? " from ssl=true" : ""}; set sslmode=verify-full and ssl_ca to verify it)`;
  }
}
