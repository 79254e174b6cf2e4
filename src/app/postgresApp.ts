import { APP_OPTIONS, SSL_MODES, describeTls, listRelations, openConnection, PostgresConnection, Logger } from "../postgres";
import { quoteIdentifier } from "../postgres/quote";

export const APP_NAME = "postgres";

/** Options the UI renders as password fields (never shown back). */
const SECRET_OPTIONS = ["password", "ssh_private_key", "ssh_passphrase", "ssh_password"];

interface AppArgs {
  appOptions: Record<string, unknown>;
  connection?: unknown;
}

/** Predefined roles whose members can reach the server's files or programs from inside a SELECT. */
const SERVER_SIDE_ROLES = ["pg_execute_server_program", "pg_write_server_files", "pg_read_server_files"];

/**
 * A warning when the App's role can act on the database host: read-only sessions and the query
 * source's statement check refuse writes and COPY, but a function called inside a SELECT
 * (lo_export, pg_read_file, COPY-like extensions) is refused only by the role's privileges. A
 * warning and not a refusal: many setups connect as the owner, and it is the user's call.
 */
async function privilegeWarning(pg: PostgresConnection): Promise<string | undefined> {
  const { rows } = await pg.query(
    `SELECT r.rolsuper AS superuser,
            ARRAY(SELECT g.rolname::text FROM pg_catalog.pg_roles g
                   WHERE g.rolname = ANY($1::text[]) AND pg_catalog.pg_has_role(current_user, g.oid, 'MEMBER')
                   ORDER BY g.rolname) AS roles
       FROM pg_catalog.pg_roles r WHERE r.rolname = current_user`,
    [SERVER_SIDE_ROLES],
    { retry: false }
  );
  const superuser = rows[0]?.superuser === true;
  const roles = (rows[0]?.roles as string[] | undefined) ?? [];
  if (!superuser && roles.length === 0) return undefined;
  // a superuser is a member of every role: saying so is enough
  const what = superuser ? "a superuser" : `a member of ${roles.join(", ")}`;
  return (
    `WARNING: this role is ${what}, so a query source's SQL can read or write files or run programs on the database host ` +
    `(functions such as lo_export or pg_read_file inside a SELECT are refused only by the role, not by the read-only session). ` +
    `Connect as a role with only CONNECT on the database, USAGE on the schema and SELECT on its tables (or membership of pg_read_all_data)`
  );
}

/**
 * The `postgres` App: the original plugin's option keys, plus TLS modes, timeouts, application name
 * and pool size. `connect` builds a lazy pool (the core caches it per App and process).
 */
export function buildPostgresApp(log: Logger) {
  return {
    name: APP_NAME,
    displayName: "Postgres",
    options: APP_OPTIONS.map(({ key, displayName, required, description, defaultValue, placeholder }) => ({
      key,
      displayName,
      required,
      description,
      defaultValue,
      placeholder,
      type: SECRET_OPTIONS.includes(key) ? "password" : key === "sslmode" ? "list" : undefined,
    })),
    methods: {
      async appOptions() {
        return {
          ...Object.fromEntries(SECRET_OPTIONS.map((key) => [key, { type: "password" as const }])),
          sslmode: {
            type: "list" as const,
            options: [...SSL_MODES],
            descriptions: [
              "no TLS",
              "TLS when the server offers it, not verified (default)",
              "TLS always, certificate NOT verified",
              "TLS, certificate chain verified against ssl_ca",
              "TLS, certificate chain and host name verified",
            ],
          },
        };
      },

      async connect({ appOptions }: AppArgs): Promise<PostgresConnection> {
        return openConnection(appOptions, log);
      },

      async disconnect({ connection }: AppArgs): Promise<void> {
        if (connection instanceof PostgresConnection) await connection.close();
      },

      async test({ appOptions, connection }: AppArgs): Promise<{ success: boolean; message: string }> {
        const owned = !(connection instanceof PostgresConnection);
        const pg = connection instanceof PostgresConnection ? connection : openConnection(appOptions, log);
        try {
          const { rows } = await pg.query(
            `SELECT current_setting('server_version') AS version, current_user AS "user",
                    EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1) AS schema_exists`,
            [pg.settings.schema],
            { retry: false }
          );
          const { version, user, schema_exists } = rows[0];
          if (!schema_exists) {
            throw new Error(`App option \`schema\` is wrong: schema "${pg.settings.schema}" does not exist in database "${pg.settings.database}"`);
          }
          // what the table source's dropdown offers, by the same catalog read
          const names = (await listRelations(pg, pg.settings.schema)).map((relation) => relation.name);
          const warning = await privilegeWarning(pg);
          const shown = names.slice(0, 10).join(", ") + (names.length > 10 ? `, ... (${names.length - 10} more)` : "");
          return {
            success: true,
            message: `PostgreSQL ${version} as ${user}; schema ${quoteIdentifier(pg.settings.schema)} has ${names.length} tables and views${names.length ? `: ${shown}` : ""}; ${describeTls(pg.settings, pg.encrypted)}${describeTunnel(pg)}${warning ? `; ${warning}` : ""}`,
          };
        } finally {
          if (owned) await pg.close();
        }
      },
    },
  };
}

/** What `test` says about the SSH tunnel: the bastion, and its host key so that the user can pin it. */
function describeTunnel(pg: PostgresConnection): string {
  const ssh = pg.settings.ssh;
  if (!ssh || !pg.tunnel) return "";
  const through = `; through the SSH bastion ${ssh.user}@${ssh.host}:${ssh.port}`;
  return ssh.hostKeyFingerprint
    ? `${through}, host key ${pg.tunnel.hostKeySeen} (pinned in ssh_host_key)`
    : `${through}, host key ${pg.tunnel.hostKeySeen} NOT pinned: set ssh_host_key to ${pg.tunnel.hostKeySeen} to refuse any other host`;
}
