import type { ServerCertificate } from "./certificates";
// eslint-disable-next-line @typescript-eslint/no-var-requires
const harness = require("../../scripts/postgres-server");

/** A throw-away PostgreSQL server of the harness (scripts/postgres-server.js). */
export interface PostgresServer {
  url: string;
  dataDir: string;
  host: string;
  port: number;
  user: string;
  password: string;
  /** the same server again on the same port and data (fault tests) */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts a server with these postgresql.conf settings and files in its data folder. */
export function startPostgres(options: { settings?: Record<string, string>; files?: Record<string, string> } = {}): Promise<PostgresServer> {
  return harness.startPostgres(options);
}

/** A server that offers TLS with `certificate` (and still accepts plain connections). */
export function startTlsPostgres(certificate: ServerCertificate): Promise<PostgresServer> {
  return startPostgres({
    settings: { ssl: "on", ssl_cert_file: "server.crt", ssl_key_file: "server.key" },
    files: { "server.crt": certificate.cert, "server.key": certificate.key },
  });
}
