import { createRequire } from "module";
import {
  APP_OPTIONS,
  COMMIT_HORIZON_MODES,
  ConnectionStringError,
  connectionStringOptions,
  DEFAULTS,
  errorMessage,
  INTEGER_RANGES,
  parseSettings,
  PostgresSettings,
  SSL_MODES,
} from "../postgres";

/**
 * The plugin's spec: the `spec:` section of a CloudQuery source config, sent by the CLI as JSON in
 * `Init`. The connection settings are the Grouparoo App's (same keys, same parser, same defaults,
 * bounds and descriptions, read from settings.ts); the rest says how to sync. Validated with the JSON
 * schema that `GetSpecSchema` returns.
 */

export const SPEC_FIELD = "spec field";

/** The defaults of the spec's fields: the App's, except where the CloudQuery host differs (application_name). */
export const SPEC_DEFAULTS = {
  host: DEFAULTS.host,
  port: DEFAULTS.port,
  schemas: [DEFAULTS.schema],
  sslmode: DEFAULTS.sslMode,
  connect_timeout: DEFAULTS.connectTimeoutSeconds,
  statement_timeout: DEFAULTS.statementTimeoutSeconds,
  application_name: "cq-source-postgres",
  batch_size: 10000,
  batch_size_bytes: 8 * 1024 * 1024,
  concurrency: 4,
  state_file: "cq-source-postgres-state.json",
} as const;

/** The App option's description, for a spec field of the same key and meaning. */
function described(key: string): { description: string } {
  const option = APP_OPTIONS.find((o) => o.key === key);
  if (!option) throw new Error(`no App option \`${key}\` to describe the spec field of that name`);
  return { description: option.description };
}

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
    host: { type: "string", minLength: 1, ...described("host") },
    port: { type: "integer", ...INTEGER_RANGES.port, ...described("port") },
    database: { type: "string", minLength: 1, description: `${described("database").description.replace(/\.$/, "")} (required unless connection_string names it).` },
    user: { type: "string", ...described("user") },
    password: { type: "string", ...described("password") },
    schemas: {
      type: "array",
      items: { type: "string", minLength: 1 },
      minItems: 1,
      uniqueItems: true,
      default: [...SPEC_DEFAULTS.schemas],
      description: "The schemas whose tables and views are offered. With one schema tables are named as in the database; with several, `schema.table`.",
    },
    // the App's text also explains its legacy `ssl` key, which the spec does not have
    sslmode: { type: "string", enum: [...SSL_MODES], description: `libpq's sslmode (default ${SPEC_DEFAULTS.sslmode}): ${SSL_MODES.join(", ")}.` },
    ssl_ca: { type: "string", ...described("ssl_ca") },
    ssl_cert: { type: "string", ...described("ssl_cert") },
    ssl_key: { type: "string", ...described("ssl_key") },
    connect_timeout: { type: "integer", ...INTEGER_RANGES.connect_timeout, ...described("connect_timeout") },
    statement_timeout: {
      type: "integer",
      ...INTEGER_RANGES.statement_timeout,
      default: SPEC_DEFAULTS.statement_timeout,
      description: `${described("statement_timeout").description} One statement reads one page of rows; a relation without a key is read in one statement.`,
    },
    application_name: { type: "string", minLength: 1, description: `Shown in pg_stat_activity (default ${SPEC_DEFAULTS.application_name}).` },
    // the App's SSH tunnel options, read by the same parser (settings.ts)
    ssh_host: { type: "string", ...described("ssh_host") },
    ssh_port: { type: "integer", ...INTEGER_RANGES.ssh_port, ...described("ssh_port") },
    ssh_user: { type: "string", ...described("ssh_user") },
    ssh_private_key: { type: "string", ...described("ssh_private_key") },
    ssh_passphrase: { type: "string", ...described("ssh_passphrase") },
    ssh_password: { type: "string", ...described("ssh_password") },
    // the App's text also speaks of its Test button
    ssh_host_key: { type: "string", description: "The bastion's host key fingerprint (SHA256:..., as ssh-keygen -lf prints it): any other host key is refused." },
    commit_horizon: {
      type: "string",
      enum: [...COMMIT_HORIZON_MODES],
      default: DEFAULTS.commitHorizon,
      ...described("commit_horizon"),
    },
    settle_window: {
      type: "integer",
      ...INTEGER_RANGES.settle_window,
      default: DEFAULTS.settleWindowSeconds,
      ...described("settle_window"),
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

/** Reads the spec JSON sent with `Init` (or `TestConnection`); every mistake names the field. */
export function parseSpec(specJson: string | Uint8Array): Spec {
  const text = typeof specJson === "string" ? specJson : Buffer.from(specJson).toString("utf8");
  let raw: unknown;
  try {
    raw = text.trim() === "" ? {} : JSON.parse(text);
  } catch (error) {
    // the parser's message may quote the text, and the text may hold a password: only its position is kept
    const position = /at position (\d+)/.exec(errorMessage(error))?.[1];
    throw new SpecError(`the spec is not valid JSON${position === undefined ? "" : ` (at character ${Number(position) + 1})`}`);
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
    try {
      options = { ...connectionStringOptions(spec.connection_string, { optionLabel: SPEC_FIELD }) };
    } catch (error) {
      if (error instanceof ConnectionStringError) throw new SpecError(error.message);
      throw error;
    }
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
  options.statement_timeout = spec.statement_timeout;
  const concurrency = Number(spec.concurrency ?? SPEC_DEFAULTS.concurrency);
  // one connection per table being read, and one for the catalog
  options.pool_size = concurrency + 1;

  let settings: PostgresSettings;
  try {
    settings = parseSettings(options, { optionLabel: SPEC_FIELD });
  } catch (error) {
    throw new SpecError(`invalid spec: ${errorMessage(error)}`);
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
