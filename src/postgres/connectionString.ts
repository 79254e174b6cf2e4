import { readFileSync } from "fs";
import { DEFAULT_OPTION_LABEL, normalizePem } from "./settings";

/**
 * A libpq connection string, as a URI (`postgresql://user:password@host:5432/db?sslmode=verify-full`)
 * or as `key=value` words, read into the App options it stands for; sslrootcert, sslcert and sslkey
 * name PEM files, which are read. The text may hold the password: no error quotes it, errors name the
 * parameter and the character position instead.
 */

/** A connection string that cannot be read; the message names the setting as the host calls it. */
export class ConnectionStringError extends Error {
  /**
   * @param detail what follows the setting's name in the message (" cannot be read: ...", ": the parameter ...")
   */
  constructor(readonly detail: string, optionLabel: string = DEFAULT_OPTION_LABEL) {
    super(`${optionLabel} \`connection_string\`${detail}`);
    this.name = "ConnectionStringError";
  }
}

/** libpq's keywords this plugin does not take: named in errors (any other word is not: it may be a password's fragment). */
const OTHER_LIBPQ_PARAMETERS = new Set([
  "hostaddr", "passfile", "require_auth", "channel_binding", "client_encoding", "options", "fallback_application_name",
  "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout", "replication",
  "gssencmode", "sslnegotiation", "sslcompression", "sslpassword", "sslcertmode", "sslcrl", "sslcrldir", "sslsni",
  "requirepeer", "ssl_min_protocol_version", "ssl_max_protocol_version", "krbsrvname", "gsslib", "gssdelegation",
  "service", "target_session_attrs", "load_balance_hosts", "max_protocol_version", "min_protocol_version",
]);

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
      throw new ConnectionStringError(` cannot be read: a word without "=" at character ${keyStart + 1}${after()} (a value holding spaces must be quoted: key='a value')`);
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
          throw new ConnectionStringError(` cannot be read: the quoted value${named ? ` of \`${key}\`` : ""} that starts at character ${quoteAt + 1} is not closed`);
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
      throw new ConnectionStringError(`: the parameter at character ${keyStart + 1} is not one this plugin knows (supported: ${[...CONNECTION_PARAMETERS.keys(), ...PEM_FILE_PARAMETERS.keys()].join(", ")})`
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
    throw new ConnectionStringError(`: the ${part} is not valid percent-encoding (write a "%" as %25, an "@" as %40)`);
  }
}

/** The App options a connection string stands for (host, port, database, user, password, sslmode, ...). */
function readConnectionString(connectionString: string): Record<string, string> {
  let parameters: Map<string, string>;
  if (/^postgres(ql)?:\/\//i.test(connectionString)) {
    let url: URL;
    try {
      url = new URL(connectionString);
    } catch (error) {
      throw new ConnectionStringError(` is not a valid URI`);
    }
    if (url.host.includes(",")) throw new ConnectionStringError(` names several hosts, which this plugin does not support`);
    parameters = new Map();
    if (url.hostname) parameters.set("host", decodeUriPart(url.hostname.replace(/^\[(.*)\]$/, "$1"), "host"));
    if (url.port) parameters.set("port", url.port);
    if (url.username) parameters.set("user", decodeUriPart(url.username, "user name"));
    if (url.password) parameters.set("password", decodeUriPart(url.password, "password"));
    if (url.pathname.length > 1) parameters.set("dbname", decodeUriPart(url.pathname.slice(1), "database name"));
    for (const [key, value] of url.searchParams) {
      if (!CONNECTION_PARAMETERS.has(key) && !PEM_FILE_PARAMETERS.has(key)) {
        const what = OTHER_LIBPQ_PARAMETERS.has(key) ? `the parameter \`${key}\`` : "a query parameter this plugin does not know";
        throw new ConnectionStringError(`: ${what} is not supported (supported: ${[...CONNECTION_PARAMETERS.keys(), ...PEM_FILE_PARAMETERS.keys()].join(", ")})`);
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
        throw new ConnectionStringError(`: ${key} names a file that cannot be read (${(error as NodeJS.ErrnoException).code ?? "unreadable"})`);
      }
      try {
        options[pemOption] = normalizePem(pemOption, pem);
      } catch (error) {
        // the file is the connection string's parameter, not the spec field of the same meaning
        throw new ConnectionStringError(`: ${key} names a file that is not PEM text (it must start with -----BEGIN ...-----)`);
      }
    }
  }
  return options;
}

/**
 * @param wording.optionLabel how the host calls a setting in messages (default "App option"), as
 *   parseSettings takes it
 */
export function connectionStringOptions(connectionString: string, wording: { optionLabel?: string } = {}): Record<string, string> {
  const optionLabel = wording.optionLabel ?? DEFAULT_OPTION_LABEL;
  try {
    return readConnectionString(connectionString);
  } catch (error) {
    if (error instanceof ConnectionStringError && optionLabel !== DEFAULT_OPTION_LABEL) throw new ConnectionStringError(error.detail, optionLabel);
    throw error;
  }
}
