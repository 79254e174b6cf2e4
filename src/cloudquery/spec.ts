import { readFileSync } from "fs";
import { createRequire } from "module";
import { COMMIT_HORIZON_MODES, DEFAULTS, normalizePem, parseSettings, PostgresSettings, SSL_MODES } from "../postgres/settings";

/**
 * The plugin's spec: the `spec:` section of a CloudQuery source config, sent by the CLI as JSON in
 * `Init`. The connection settings are the Grouparoo App's (same keys, same parser); the rest says
 * how to sync. Validated with the JSON schema that `GetSpecSchema` returns.
 */

export const SPEC_FIELD = "spec field";

export const SPEC_DEFAULTS = {
  host: "localhost",
  port: 5432,
  schemas: ["public"],
  sslmode: "prefer",
  connect_timeout: 10,
  statement_timeout: 120,
  application_name: "cq-source-postgres",
  batch_size: 10000,
  batch_size_bytes: 8 * 1024 * 1024,
  concurrency: 4,
  state_file: "cq-source-postgres-state.json",
} as const;

export const SPEC_SCHEMA = {
  $schema: "http://json-schema.org/draft-07/schema#",
  title: "PostgreSQL source plugin spec",
  type: "object",
  additionalProperties: false,
  properties: {
    connection_string: {
      type: "string",
      minLength: 1,
      description:
        "libpq connection URI (postgresql://user:password@host:5432/database?sslmode=verify-full) or key=value string. Replaces host, port, database, user and password. sslrootcert, sslcert and sslkey name PEM files.",
    },
    host: { type: "string", minLength: 1, description: `The server's host name or IP address (default ${SPEC_DEFAULTS.host}).` },
    port: { type: "integer", minimum: 1, maximum: 65535, description: `The server's port (default ${SPEC_DEFAULTS.port}).` },
    database: { type: "string", minLength: 1, description: "The database to read from (required unless connection_string names it)." },
    user: { type: "string", description: "The user to connect as (a read-only role is enough)." },
    password: { type: "string", description: "The user's password. It never appears in an error or log line." },
    schemas: {
      type: "array",
      items: { type: "string", minLength: 1 },
      minItems: 1,
      uniqueItems: true,
      default: [...SPEC_DEFAULTS.schemas],
      description: "The schemas whose tables and views are offered. With one schema tables are named as in the database; with several, `schema.table`.",
    },
    sslmode: { type: "string", enum: [...SSL_MODES], description: "libpq's sslmode (default prefer): disable, prefer, require, verify-ca, verify-full." },
    ssl_ca: { type: "string", description: "PEM text of the certificate authority, for verify-ca and verify-full." },
    ssl_cert: { type: "string", description: "PEM text of a client certificate (with ssl_key)." },
    ssl_key: { type: "string", description: "PEM text of the client certificate's private key." },
    connect_timeout: { type: "integer", minimum: 1, maximum: 3600, description: `Seconds to wait for a connection (default ${SPEC_DEFAULTS.connect_timeout}).` },
    statement_timeout: {
      type: "integer",
      minimum: 0,
      maximum: 86400,
      default: SPEC_DEFAULTS.statement_timeout,
      description: "Seconds one statement (one page of rows) may run; 0 = no limit. A relation without a key is read in one statement.",
    },
    application_name: { type: "string", minLength: 1, description: `Shown in pg_stat_activity (default ${SPEC_DEFAULTS.application_name}).` },
    // the App's SSH tunnel options, read by the same parser (settings.ts)
    ssh_host: { type: "string", description: "An SSH bastion to reach the database through; host and port are then the database's as the bastion sees them." },
    ssh_port: { type: "integer", minimum: 1, maximum: 65535, description: "The bastion's SSH port (default 22)." },
    ssh_user: { type: "string", description: "The user to log in to the bastion as (required with ssh_host)." },
    ssh_private_key: { type: "string", description: "The private key's text (OpenSSH or PEM format) to log in with." },
    ssh_passphrase: { type: "string", description: "The passphrase of an encrypted ssh_private_key." },
    ssh_password: { type: "string", description: "The bastion user's password (instead of or besides a key)." },
    ssh_host_key: { type: "string", description: "The bastion's host key fingerprint (SHA256:..., as ssh-keygen -lf prints it): any other host key is refused." },
    commit_horizon: {
      type: "string",
      enum: [...COMMIT_HORIZON_MODES],
      default: DEFAULTS.commitHorizon,
      description:
        "How incremental tables wait for rows that open transactions may still commit with an older value: auto (exact from open transactions' start times when the role may see them, else settle_window), settle (always settle_window: values written by the application's clock), off (no wait).",
    },
    settle_window: {
      type: "integer",
      minimum: 0,
      maximum: 86400,
      default: DEFAULTS.settleWindowSeconds,
      description: `When the exact horizon is not available: rows stamped less than this many seconds ago are sent by a later sync (default ${DEFAULTS.settleWindowSeconds}).`,
    },
    table_options: {
      type: "object",
      default: {},
      description: "Per table (the CloudQuery table name): the incremental column, and key columns for a view or a table without a primary key.",
      additionalProperties: {
        type: "object",
        additionalProperties: false,
        properties: {
          incremental_column: {
            type: "string",
            minLength: 1,
            description: "A column that grows when a row changes (number, date or timestamp). Each sync sends the rows after the last one sent.",
          },
          key_columns: {
            type: "array",
            items: { type: "string", minLength: 1 },
            minItems: 1,
            uniqueItems: true,
            description: "Columns that identify a row (non-null, unique together): the keyset order of reads and the primary key sent to CloudQuery.",
          },
        },
      },
    },
    batch_size: {
      type: "integer",
      minimum: 1,
      maximum: 1000000,
      default: SPEC_DEFAULTS.batch_size,
      description: "Rows per Arrow record batch (one Sync message) and per keyset page read.",
    },
    batch_size_bytes: {
      type: "integer",
      minimum: 65536,
      maximum: 64 * 1024 * 1024,
      default: SPEC_DEFAULTS.batch_size_bytes,
      description: "A batch is sent earlier when its rows reach this many bytes (wide rows).",
    },
    concurrency: { type: "integer", minimum: 1, maximum: 64, default: SPEC_DEFAULTS.concurrency, description: "Tables synced at the same time (one connection each)." },
    state_file: {
      type: ["string", "null"],
      default: SPEC_DEFAULTS.state_file,
      description: "The JSON file where incremental cursors are kept (relative to the working directory). null: keep none (incremental tables are read whole).",
    },
  },
} as const;

export interface TableOptions {
  incremental_column?: string;
  key_columns?: string[];
}

export interface Spec {
  settings: PostgresSettings;
  schemas: string[];
  tableOptions: Record<string, TableOptions>;
  batchSize: number;
  batchSizeBytes: number;
  concurrency: number;
  stateFile: string | null;
}

export class SpecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SpecError";
  }
}

interface AjvError {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}
type Validate = ((data: unknown) => boolean) & { errors?: AjvError[] | null };

let validator: Validate | undefined;

/** ajv comes with the CloudQuery SDK: it is resolved from there, so only the CloudQuery host loads it. */
function validate(): Validate {
  if (!validator) {
    const fromSdk = createRequire(require.resolve("@cloudquery/plugin-sdk-javascript/arrow"));
    const ajvModule = fromSdk("ajv") as { default?: unknown };
    const Ajv = (ajvModule.default ?? ajvModule) as new (options: object) => { compile(schema: object): Validate };
    validator = new Ajv({ allErrors: true, useDefaults: true, strict: false }).compile(SPEC_SCHEMA);
  }
  return validator;
}

function describeSchemaError(error: AjvError): string {
  const path = error.instancePath.replace(/^\//, "").split("/").filter(Boolean).join(".");
  const where = path ? `${SPEC_FIELD} \`${path}\`` : "the spec";
  switch (error.keyword) {
    case "additionalProperties": {
      const known = path === "" ? Object.keys(SPEC_SCHEMA.properties).join(", ") : path.startsWith("table_options.") ? "incremental_column, key_columns" : "";
      return `${where} has an unknown field \`${String(error.params.additionalProperty)}\`${known ? ` (known fields: ${known})` : ""}`;
    }
    case "enum":
      return `${where} must be one of ${(error.params.allowedValues as string[]).join(", ")}`;
    default:
      return `${where} ${error.message ?? "is invalid"}`;
  }
}

const CONNECTION_FIELDS = ["host", "port", "database", "user", "password"] as const;
const SSH_FIELDS = ["ssh_host", "ssh_port", "ssh_user", "ssh_private_key", "ssh_passphrase", "ssh_password", "ssh_host_key"] as const;

/** libpq's keywords this plugin does not take: named in errors (any other word is not: it may be a password's fragment). */
const OTHER_LIBPQ_PARAMETERS = new Set([
  "hostaddr", "passfile", "require_auth", "channel_binding", "client_encoding", "options", "fallback_application_name",
  "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout", "replication",
  "gssencmode", "sslnegotiation", "sslcompression", "sslpassword", "sslcertmode", "sslcrl", "sslcrldir", "sslsni",
  "requirepeer", "ssl_min_protocol_version", "ssl_max_protocol_version", "krbsrvname", "gsslib", "gssdelegation",
  "service", "target_session_attrs", "load_balance_hosts", "max_protocol_version", "min_protocol_version",
]);

const CONNECTION_STRING = `${SPEC_FIELD} \`connection_string\``;

/**
 * libpq's key=value connection string (`host=db port=5432 dbname='my db'`), read as libpq's
 * conninfo_parse does: a value is quoted ('...', where \\ escapes) or runs to the next whitespace
 * (where \\ escapes too and a ' is an ordinary character). No error quotes the text: it may hold the
 * password; errors name the parameter and the character position instead.
 */
function parseKeywordString(text: string): Map<string, string> {
  const out = new Map<string, string>();
  const isSpace = (c: string | undefined) => c !== undefined && /\s/.test(c);
  let i = 0;
  let previous: string | undefined;
  const after = () => (previous ? ` after the parameter \`${previous}\`` : "");
  for (;;) {
    while (isSpace(text[i])) i++;
    if (i >= text.length) return out;
    const keyStart = i;
    while (i < text.length && text[i] !== "=" && !isSpace(text[i])) i++;
    const key = text.slice(keyStart, i);
    while (isSpace(text[i])) i++;
    if (text[i] !== "=") {
      throw new SpecError(`${CONNECTION_STRING} cannot be read: a word without "=" at character ${keyStart + 1}${after()} (a value holding spaces must be quoted: key='a value')`);
    }
    i++;
    while (isSpace(text[i])) i++;
    const named = /^[a-z_]+$/.test(key) && (CONNECTION_PARAMETERS.has(key) || PEM_FILE_PARAMETERS.has(key) || OTHER_LIBPQ_PARAMETERS.has(key));
    let value = "";
    if (text[i] === "'") {
      const quoteAt = i;
      i++;
      for (;;) {
        if (i >= text.length) {
          throw new SpecError(`${CONNECTION_STRING} cannot be read: the quoted value${named ? ` of \`${key}\`` : ""} that starts at character ${quoteAt + 1} is not closed`);
        }
        if (text[i] === "\\" && i + 1 < text.length) {
          value += text[i + 1];
          i += 2;
        } else if (text[i] === "'") {
          i++;
          break;
        } else value += text[i++];
      }
    } else {
      while (i < text.length && !isSpace(text[i])) {
        if (text[i] === "\\" && i + 1 < text.length) {
          value += text[i + 1];
          i += 2;
        } else value += text[i++];
      }
    }
    if (!named) {
      throw new SpecError(
        `${CONNECTION_STRING}: the parameter at character ${keyStart + 1} is not one this plugin knows (supported: ${[...CONNECTION_PARAMETERS.keys(), ...PEM_FILE_PARAMETERS.keys()].join(", ")})`
      );
    }
    out.set(key, value);
    previous = key;
  }
}

const CONNECTION_PARAMETERS = new Map<string, string>([
  ["host", "host"],
  ["port", "port"],
  ["dbname", "database"],
  ["user", "user"],
  ["password", "password"],
  ["sslmode", "sslmode"],
  ["application_name", "application_name"],
  ["connect_timeout", "connect_timeout"],
]);
const PEM_FILE_PARAMETERS = new Map<string, string>([
  ["sslrootcert", "ssl_ca"],
  ["sslcert", "ssl_cert"],
  ["sslkey", "ssl_key"],
]);

/** A percent-encoded part of a URI; a malformed one (a raw "%") names the part, never its text. */
function decodeUriPart(value: string, part: string): string {
  try {
    return decodeURIComponent(value);
  } catch (error) {
    throw new SpecError(`${CONNECTION_STRING}: the ${part} is not valid percent-encoding (write a "%" as %25, an "@" as %40)`);
  }
}

/** The App options a connection string stands for (same keys as the spec's own fields). */
export function connectionStringOptions(connectionString: string): Record<string, string> {
  let parameters: Map<string, string>;
  if (/^postgres(ql)?:\/\//i.test(connectionString)) {
    let url: URL;
    try {
      url = new URL(connectionString);
    } catch (error) {
      throw new SpecError(`${CONNECTION_STRING} is not a valid URI`);
    }
    if (url.host.includes(",")) throw new SpecError(`${CONNECTION_STRING} names several hosts, which this plugin does not support`);
    parameters = new Map();
    if (url.hostname) parameters.set("host", decodeUriPart(url.hostname.replace(/^\[(.*)\]$/, "$1"), "host"));
    if (url.port) parameters.set("port", url.port);
    if (url.username) parameters.set("user", decodeUriPart(url.username, "user name"));
    if (url.password) parameters.set("password", decodeUriPart(url.password, "password"));
    if (url.pathname.length > 1) parameters.set("dbname", decodeUriPart(url.pathname.slice(1), "database name"));
    for (const [key, value] of url.searchParams) {
      if (!CONNECTION_PARAMETERS.has(key) && !PEM_FILE_PARAMETERS.has(key)) {
        const what = OTHER_LIBPQ_PARAMETERS.has(key) ? `the parameter \`${key}\`` : "a query parameter this plugin does not know";
        throw new SpecError(`${CONNECTION_STRING}: ${what} is not supported (supported: ${[...CONNECTION_PARAMETERS.keys(), ...PEM_FILE_PARAMETERS.keys()].join(", ")})`);
      }
      parameters.set(key, value);
    }
  } else {
    parameters = parseKeywordString(connectionString);
  }
  const options: Record<string, string> = {};
  for (const [key, value] of parameters) {
    const option = CONNECTION_PARAMETERS.get(key);
    const pemOption = PEM_FILE_PARAMETERS.get(key);
    if (option) options[option] = value;
    else if (pemOption) {
      let pem: string;
      try {
        pem = readFileSync(value, "utf8");
      } catch (error) {
        throw new SpecError(`${CONNECTION_STRING}: ${key} names a file that cannot be read (${(error as NodeJS.ErrnoException).code ?? "unreadable"})`);
      }
      try {
        options[pemOption] = normalizePem(pemOption, pem);
      } catch (error) {
        // the file is the connection string's parameter, not the spec field of the same meaning
        throw new SpecError(`${CONNECTION_STRING}: ${key} names a file that is not PEM text (it must start with -----BEGIN ...-----)`);
      }
    }
  }
  return options;
}

/** Reads the spec JSON sent with `Init` (or `TestConnection`); every mistake names the field. */
export function parseSpec(specJson: string | Uint8Array): Spec {
  const text = typeof specJson === "string" ? specJson : Buffer.from(specJson).toString("utf8");
  let raw: unknown;
  try {
    raw = text.trim() === "" ? {} : JSON.parse(text);
  } catch (error) {
    throw new SpecError(`the spec is not valid JSON: ${(error as Error).message}`);
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw new SpecError("the spec must be a JSON object");
  const check = validate();
  if (!check(raw)) {
    const messages = (check.errors ?? []).map(describeSchemaError);
    throw new SpecError(`invalid spec: ${[...new Set(messages)].join("; ")}`);
  }
  const spec = raw as Record<string, unknown>;

  let options: Record<string, unknown>;
  if (typeof spec.connection_string === "string") {
    const both = CONNECTION_FIELDS.filter((field) => spec[field] !== undefined);
    if (both.length) {
      throw new SpecError(`invalid spec: give either \`connection_string\` or ${both.map((f) => `\`${f}\``).join(", ")}, not both`);
    }
    options = { ...connectionStringOptions(spec.connection_string) };
  } else {
    options = Object.fromEntries(CONNECTION_FIELDS.filter((f) => spec[f] !== undefined).map((f) => [f, spec[f]]));
  }
  // the spec's own fields win over the connection string's parameters
  for (const key of ["sslmode", "ssl_ca", "ssl_cert", "ssl_key", "application_name", "connect_timeout", "commit_horizon", "settle_window"]) {
    if (spec[key] !== undefined) options[key] = spec[key];
  }
  for (const key of SSH_FIELDS) if (spec[key] !== undefined) options[key] = spec[key];
  if (options.database === undefined) {
    throw new SpecError(`invalid spec: ${SPEC_FIELD} \`database\` is required (or a \`connection_string\` that names the database)`);
  }
  options.application_name ??= SPEC_DEFAULTS.application_name;
  options.connect_timeout ??= SPEC_DEFAULTS.connect_timeout;
  options.statement_timeout = spec.statement_timeout;
  const concurrency = Number(spec.concurrency ?? SPEC_DEFAULTS.concurrency);
  // one connection per table being read, and one for the catalog
  options.pool_size = concurrency + 1;

  let settings: PostgresSettings;
  try {
    settings = parseSettings(options, { optionLabel: SPEC_FIELD });
  } catch (error) {
    throw new SpecError(`invalid spec: ${(error as Error).message}`);
  }
  const tableOptions = (spec.table_options ?? {}) as Record<string, TableOptions>;
  return {
    settings,
    schemas: (spec.schemas as string[]) ?? [...SPEC_DEFAULTS.schemas],
    tableOptions,
    batchSize: Number(spec.batch_size ?? SPEC_DEFAULTS.batch_size),
    batchSizeBytes: Number(spec.batch_size_bytes ?? SPEC_DEFAULTS.batch_size_bytes),
    concurrency,
    stateFile: spec.state_file === undefined ? SPEC_DEFAULTS.state_file : (spec.state_file as string | null),
  };
}
