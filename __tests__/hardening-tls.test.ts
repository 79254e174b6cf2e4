import { Client } from "pg";
import { buildPostgresApp } from "../src/app/postgresApp";
import { parseSpec } from "../src/cloudquery/spec";
import { PostgresConnection } from "../src/postgres";
import { testApp } from "./support/app";
import { Authority, Certificates } from "./support/certificates";
import { PostgresServer, startTlsPostgres } from "./support/servers";

/**
 * TLS modes as libpq has them, against a real server offering TLS with a certificate for
 * DNS:localhost signed by a CA made here: verify-ca never trusts the system's CAs (no ssl_ca, no
 * verify-ca), and prefer / require verify the chain when ssl_ca is given.
 */

const app = buildPostgresApp(() => {});
let certificates: Certificates;
let ca: Authority;
let otherCa: Authority;
let server: PostgresServer;

beforeAll(async () => {
  certificates = new Certificates();
  ca = certificates.authority("gpp hardening CA");
  otherCa = certificates.authority("gpp hardening other CA");
  const certificate = certificates.server(ca, { dns: ["localhost"] });
  server = await startTlsPostgres(certificate);
});

afterAll(async () => {
  await server?.stop();
  certificates?.cleanup();
});

const options = (extra: Record<string, string>) => ({
  host: "127.0.0.1", // not the certificate's name: only the chain can be checked
  port: String(server.port),
  database: "postgres",
  user: server.user,
  password: server.password,
  connect_timeout: "5",
  ...extra,
});

async function failure(appOptions: Record<string, string>): Promise<string> {
  try {
    await testApp(app, appOptions);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error(`expected sslmode=${appOptions.sslmode} to fail`);
}

async function sessionIsEncrypted(appOptions: Record<string, string>): Promise<boolean> {
  const connection = (await app.methods.connect({ appOptions })) as PostgresConnection;
  try {
    const { rows } = await connection.query("SELECT ssl FROM pg_catalog.pg_stat_ssl WHERE pid = pg_backend_pid()");
    return rows[0].ssl as boolean;
  } finally {
    await app.methods.disconnect({ appOptions, connection });
  }
}

describe("verify-ca needs ssl_ca (libpq refuses the system's CAs below verify-full)", () => {
  test("without ssl_ca: refused before connecting, naming ssl_ca and why", async () => {
    const message = await failure(options({ sslmode: "verify-ca" }));
    expect(message).toMatch(/App option `ssl_ca` is required with sslmode=verify-ca: without it only the system's CAs could be trusted/);
    expect(message).toMatch(/or use sslmode=verify-full/);
    expect(() => parseSpec(JSON.stringify({ database: "x", sslmode: "verify-ca" }))).toThrow(/spec field `ssl_ca` is required with sslmode=verify-ca/);
  });

  test("with ssl_ca: connects, the chain verified", async () => {
    const result = await testApp(app, options({ sslmode: "verify-ca", ssl_ca: ca.cert }));
    expect(result.message).toContain("TLS, certificate chain verified (host name not checked)");
  });
});

describe.each(["require", "prefer"])("%s with ssl_ca verifies the chain (as libpq with a root certificate)", (sslmode) => {
  test("the CA that signed the server's certificate: connects encrypted, and test says the chain was verified", async () => {
    const appOptions = options({ sslmode, ssl_ca: ca.cert });
    const result = await testApp(app, appOptions);
    expect(result.message).toContain(`TLS, certificate chain verified against ssl_ca (host name not checked: sslmode=${sslmode}; use verify-full to check it)`);
    expect(await sessionIsEncrypted(appOptions)).toBe(true);
  });

  test("a CA that did not sign it: rejected, naming ssl_ca (it is not ignored)", async () => {
    const message = await failure(options({ sslmode, ssl_ca: otherCa.cert }));
    expect(message).toMatch(new RegExp(`the server's TLS certificate was rejected \\(sslmode=${sslmode}\\).*ssl_ca`));
    expect(message).not.toContain(server.password);
  });

  test("without ssl_ca: still encrypted and unverified, and test says so", async () => {
    const result = await testApp(app, options({ sslmode }));
    expect(result.message).toContain(`TLS, certificate NOT verified (sslmode=${sslmode};`);
  });
});

test("the server really offers TLS to a plain client (the harness is what the tests think)", async () => {
  const client = new Client({ connectionString: server.url, ssl: { rejectUnauthorized: false } });
  await client.connect();
  try {
    expect((await client.query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")).rows[0].ssl).toBe(true);
  } finally {
    await client.end();
  }
});
