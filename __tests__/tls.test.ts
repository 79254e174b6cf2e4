import fs from "fs";
import { testApp } from "./support/app";
import path from "path";
import { Client } from "pg";
import { buildPostgresApp } from "../src/app/postgresApp";
import { PostgresConnection, normalizePem, openConnection, parseSettings } from "../src/postgres";
import { Authority, Certificates } from "./support/certificates";
import { PostgresServer as Server, startPostgres, startTlsPostgres } from "./support/servers";

/**
 * The App's TLS modes against real PostgreSQL servers: one that REQUIRES TLS, with a certificate for
 * DNS:localhost signed by a CA made here, and one without TLS. Connecting to `localhost` matches the
 * certificate, connecting to `127.0.0.1` (the same server) does not.
 */
const logged: string[] = [];
const errors: string[] = [];
const app = buildPostgresApp((message) => logged.push(message));

let certificates: Certificates;
let ca: Authority;
let otherCa: Authority;
let tlsServer: Server;
let plainServer: Server;
let otherNameServer: Server;

beforeAll(async () => {
  certificates = new Certificates();
  ca = certificates.authority("gpp test CA");
  otherCa = certificates.authority("gpp other CA"); // same kind of CA, but it did not sign the server
  const server = certificates.server(ca, { dns: ["localhost"] });
  const otherName = certificates.server(ca, { dns: ["db.example.test"], ip: ["127.0.0.1"] });
  [tlsServer, plainServer, otherNameServer] = await Promise.all([
    startTlsPostgres(server),
    startPostgres({ settings: { ssl: "off" } }),
    // a certificate for another name and for the IP address 127.0.0.1 (TLS offered, not required)
    startTlsPostgres(otherName),
  ]);
  await requireTls(tlsServer);
});

/**
 * Makes the server refuse connections without TLS. Done after the start: the harness checks that a
 * server is up with a plain connection, which a server requiring TLS from the start would refuse.
 */
async function requireTls(server: Server): Promise<void> {
  const hba = ["local all all trust", "hostssl all all 127.0.0.1/32 scram-sha-256", "hostnossl all all 127.0.0.1/32 reject"];
  fs.writeFileSync(path.join(server.dataDir, "pg_hba.conf"), hba.join("\n") + "\n"); // keeps the file's owner
  const admin = new Client({ connectionString: server.url, ssl: false });
  await admin.connect();
  try {
    await admin.query("SELECT pg_reload_conf()");
  } finally {
    await admin.end();
  }
  // the reload is asynchronous: wait until a connection without TLS is refused
  const deadline = Date.now() + 10000;
  for (;;) {
    const probe = new Client({ connectionString: server.url, ssl: false, connectionTimeoutMillis: 2000 });
    try {
      await probe.connect();
      await probe.end();
    } catch (error) {
      if (/rejects connection.*no encryption/.test((error as Error).message)) return;
      throw error;
    }
    if (Date.now() > deadline) throw new Error("the TLS server still accepts connections without TLS after reloading pg_hba.conf");
    await new Promise((r) => setTimeout(r, 50));
  }
}

afterAll(async () => {
  await Promise.all([tlsServer?.stop(), plainServer?.stop(), otherNameServer?.stop()]);
  certificates?.cleanup();
});

/** App options as the UI sends them (all strings) for a server; `localhost` matches the certificate. */
function optionsFor(server: Server, extra: Record<string, string>): Record<string, string> {
  return {
    host: "localhost",
    port: String(server.port),
    database: "postgres",
    user: server.user,
    password: server.password,
    connect_timeout: "5",
    ...extra,
  };
}
const tls = (extra: Record<string, string>) => optionsFor(tlsServer, extra);

const testWith = (appOptions: Record<string, string>) => testApp(app, appOptions);

/** Expects `test` to fail with a message matching every pattern; the message is kept for the password check. */
async function expectFailure(appOptions: Record<string, string>, ...patterns: RegExp[]): Promise<string> {
  let message: string | undefined;
  try {
    await testWith(appOptions);
  } catch (error) {
    expect(error).toBeInstanceOf(Error);
    message = (error as Error).message;
  }
  if (message === undefined) throw new Error(`expected test() to fail for sslmode=${appOptions.sslmode}, but it succeeded`);
  errors.push(message);
  for (const pattern of patterns) expect(message).toMatch(pattern);
  for (const server of [tlsServer, plainServer, otherNameServer]) expect(message).not.toContain(server.password);
  return message;
}

/** Whether the server sees this session as encrypted (pg_stat_ssl), over the App's own connection. */
async function serverSeesTls(appOptions: Record<string, string>): Promise<boolean> {
  const connection = (await app.methods.connect({ appOptions })) as PostgresConnection;
  try {
    const { rows } = await connection.query("SELECT ssl FROM pg_catalog.pg_stat_ssl WHERE pid = pg_backend_pid()");
    expect(connection.encrypted).toBe(rows[0].ssl);
    return rows[0].ssl as boolean;
  } finally {
    await app.methods.disconnect({ appOptions, connection });
  }
}

describe("TLS against a server that requires it", () => {
  describe("verify-full", () => {
    test("the right CA and a host name in the certificate: connects, and test says both were verified", async () => {
      const options = tls({ sslmode: "verify-full", ssl_ca: ca.cert });
      const result = await testWith(options);
      expect(result.success).toBe(true);
      expect(result.message).toMatch(/^PostgreSQL 18/);
      expect(result.message).toContain("TLS, certificate and host name verified");
      expect(await serverSeesTls(options)).toBe(true);
    });

    test("a CA that did not sign the server's certificate: fails, naming the certificate and ssl_ca", async () => {
      await expectFailure(
        tls({ sslmode: "verify-full", ssl_ca: otherCa.cert }),
        /the server's TLS certificate was rejected \(sslmode=verify-full\)/,
        /self[- ]signed|unable to (get|verify)/i,
        /`ssl_ca`/
      );
    });

    test("no CA at all: the system CAs do not know a private CA, so it fails", async () => {
      await expectFailure(tls({ sslmode: "verify-full" }), /TLS certificate was rejected \(sslmode=verify-full\)/);
    });

    test("a host name that the certificate does not name: fails, naming the mismatch and `host`", async () => {
      // same server, reached by its IP address; the certificate names DNS:localhost only
      await expectFailure(
        tls({ sslmode: "verify-full", ssl_ca: ca.cert, host: "127.0.0.1" }),
        /TLS certificate was rejected \(sslmode=verify-full\)/,
        /127\.0\.0\.1/,
        /altnames|does not match/i,
        /`host` matches the certificate/
      );
    });
  });

  describe("verify-full and certificates for other names", () => {
    test("a certificate made for another host name: fails, naming the mismatch", async () => {
      await expectFailure(
        optionsFor(otherNameServer, { sslmode: "verify-full", ssl_ca: ca.cert }),
        /TLS certificate was rejected \(sslmode=verify-full\)/,
        /localhost/,
        /DNS:db\.example\.test/
      );
    });

    test("a certificate for the IP address: verify-full to that IP connects (the IP itself is checked)", async () => {
      const options = optionsFor(otherNameServer, { sslmode: "verify-full", ssl_ca: ca.cert, host: "127.0.0.1" });
      const result = await testWith(options);
      expect(result.message).toContain("TLS, certificate and host name verified");
      expect(await serverSeesTls(options)).toBe(true);
    });
  });

  describe("verify-ca", () => {
    test("the right CA with a host name the certificate does not name: connects (chain verified, host not checked)", async () => {
      const options = tls({ sslmode: "verify-ca", ssl_ca: ca.cert, host: "127.0.0.1" });
      const result = await testWith(options);
      expect(result.success).toBe(true);
      expect(result.message).toContain("TLS, certificate chain verified (host name not checked)");
      expect(await serverSeesTls(options)).toBe(true);
    });

    test("a wrong CA still fails: the chain is checked", async () => {
      await expectFailure(tls({ sslmode: "verify-ca", ssl_ca: otherCa.cert, host: "127.0.0.1" }), /TLS certificate was rejected \(sslmode=verify-ca\)/);
    });
  });

  describe("require", () => {
    test("connects without a CA, encrypted, and test says the certificate is NOT verified", async () => {
      const options = tls({ sslmode: "require", host: "127.0.0.1" });
      const result = await testWith(options);
      expect(result.success).toBe(true);
      expect(result.message).toContain("TLS, certificate NOT verified (sslmode=require;");
      expect(result.message).toContain("set sslmode=verify-full and ssl_ca");
      expect(await serverSeesTls(options)).toBe(true);
    });
  });

  describe("the legacy `ssl` key (sslmode blank)", () => {
    test('ssl: "true" alone behaves as require: encrypted, not verified, and says so', async () => {
      const options = tls({ sslmode: "", ssl: "true", host: "127.0.0.1" });
      expect(parseSettings(options)).toMatchObject({ sslMode: "require", sslModeFromLegacyKey: true });
      const result = await testWith(options);
      expect(result.success).toBe(true);
      expect(result.message).toContain("TLS, certificate NOT verified (sslmode=require from ssl=true;");
      expect(await serverSeesTls(options)).toBe(true);
    });

    test('ssl: "true" with ssl_ca behaves as verify-full: verified with the right CA ...', async () => {
      const options = tls({ sslmode: "", ssl: "true", ssl_ca: ca.cert });
      expect(parseSettings(options)).toMatchObject({ sslMode: "verify-full", sslModeFromLegacyKey: true });
      const result = await testWith(options);
      expect(result.success).toBe(true);
      expect(result.message).toContain("TLS, certificate and host name verified");
    });

    test("... and rejected with a wrong CA or a wrong host name (the original plugin verified nothing)", async () => {
      await expectFailure(tls({ ssl: "true", ssl_ca: otherCa.cert }), /TLS certificate was rejected \(sslmode=verify-full\)/);
      await expectFailure(tls({ ssl: "true", ssl_ca: ca.cert, host: "127.0.0.1" }), /TLS certificate was rejected \(sslmode=verify-full\).*altnames|does not match/i);
    });

    test('ssl: "false" behaves as disable', async () => {
      expect(parseSettings(tls({ ssl: "false" }))).toMatchObject({ sslMode: "disable", sslModeFromLegacyKey: true });
      await expectFailure(tls({ ssl: "false" }), /the server requires TLS but sslmode is disable/);
    });
  });

  describe("disable", () => {
    test("fails with a message telling the user to turn TLS on (sslmode), not to check the password", async () => {
      const message = await expectFailure(tls({ sslmode: "disable" }), /the server requires TLS but sslmode is disable: set sslmode to require or verify-full/);
      expect(message).not.toMatch(/check the App options `user` and `password`/);
    });
  });

  describe("prefer", () => {
    test("against the TLS server: connects encrypted (not verified) and says so", async () => {
      const options = tls({ sslmode: "prefer" });
      const result = await testWith(options);
      expect(result.success).toBe(true);
      expect(result.message).toContain("TLS, certificate NOT verified (sslmode=prefer;");
      expect(await serverSeesTls(options)).toBe(true);
    });

    test("blank sslmode and ssl mean prefer", async () => {
      const options = tls({ sslmode: "", ssl: "" });
      expect(parseSettings(options)).toMatchObject({ sslMode: "prefer", sslModeFromLegacyKey: false });
      expect(await serverSeesTls(options)).toBe(true);
    });

    test("against a server without TLS: falls back and connects unencrypted, and says so", async () => {
      const options = optionsFor(plainServer, { sslmode: "prefer" });
      const result = await testWith(options);
      expect(result.success).toBe(true);
      expect(result.message).toContain("not encrypted (the server offers no TLS)");
      expect(await serverSeesTls(options)).toBe(false);
    });

    test("a server without TLS fails require and verify-full, saying TLS is not offered", async () => {
      await expectFailure(optionsFor(plainServer, { sslmode: "require" }), /does not accept TLS connections but sslmode is require/);
      await expectFailure(optionsFor(plainServer, { sslmode: "verify-full", ssl_ca: ca.cert }), /does not accept TLS connections but sslmode is verify-full/);
    });
  });

  describe("the environment", () => {
    test("PGSSLMODE in the host's environment does not override the App's sslmode (disable and prefer's fallback)", async () => {
      const saved = process.env.PGSSLMODE;
      process.env.PGSSLMODE = "require";
      try {
        const disabled = await testWith(optionsFor(plainServer, { sslmode: "disable" }));
        expect(disabled.message).toContain("not encrypted (sslmode=disable)");
        const preferred = await testWith(optionsFor(plainServer, { sslmode: "prefer" }));
        expect(preferred.message).toContain("not encrypted (the server offers no TLS)");
        await expectFailure(tls({ sslmode: "disable" }), /the server requires TLS but sslmode is disable/);
      } finally {
        if (saved === undefined) delete process.env.PGSSLMODE;
        else process.env.PGSSLMODE = saved;
      }
    });
  });

  describe("a CA pasted into a one-line field", () => {
    test("line breaks replaced by spaces: normalizePem restores the PEM and verify-full connects", async () => {
      const oneLine = ca.cert.trim().replace(/\n/g, " ");
      expect(oneLine).not.toContain("\n");
      expect(normalizePem("ssl_ca", oneLine)).toBe(ca.cert);
      const result = await testWith(tls({ sslmode: "verify-full", ssl_ca: oneLine }));
      expect(result.message).toContain("TLS, certificate and host name verified");
    });

    test("line breaks typed as literal \\n: normalizePem restores the PEM and verify-full connects", async () => {
      const escaped = ca.cert.trim().replace(/\n/g, "\\n");
      expect(escaped).not.toContain("\n");
      expect(escaped).toContain("\\n");
      expect(normalizePem("ssl_ca", escaped)).toBe(ca.cert);
      const result = await testWith(tls({ sslmode: "verify-full", ssl_ca: escaped }));
      expect(result.message).toContain("TLS, certificate and host name verified");
    });

    test("a bundle of two CAs in one line (the wrong one first) still verifies", async () => {
      const bundle = (otherCa.cert + ca.cert).replace(/\n/g, " ");
      const result = await testWith(tls({ sslmode: "verify-full", ssl_ca: bundle }));
      expect(result.message).toContain("TLS, certificate and host name verified");
    });

    test("a file path instead of PEM text is refused with the option named", async () => {
      await expect(app.methods.connect({ appOptions: tls({ sslmode: "verify-full", ssl_ca: ca.certFile }) })).rejects.toThrow(
        /App option `ssl_ca` must be PEM text/
      );
    });
  });

  describe("the password", () => {
    test("a wrong password over verified TLS fails as an authentication error, without the password", async () => {
      const password = "wrong-password-over-tls-42";
      const message = await expectFailure(tls({ sslmode: "verify-full", ssl_ca: ca.cert, password }), /authentication failed for user "postgres"/);
      expect(message).not.toContain(password);
    });

    test("never appears in any error message or log line of this file", () => {
      expect(errors.length).toBeGreaterThanOrEqual(10);
      for (const message of [...errors, ...logged]) {
        expect(message).not.toContain(tlsServer.password);
        expect(message).not.toContain(plainServer.password);
        expect(message).not.toContain(otherNameServer.password);
        expect(message).not.toContain("wrong-password-over-tls-42");
      }
    });
  });

  test("a connection opened with a rejected certificate is not cached: the next call tries again", async () => {
    const connection = openConnection(tls({ sslmode: "verify-full", ssl_ca: otherCa.cert }));
    try {
      await expect(connection.query("SELECT 1", [], { retry: false })).rejects.toThrow(/TLS certificate was rejected/);
      await expect(connection.query("SELECT 1", [], { retry: false })).rejects.toThrow(/TLS certificate was rejected/);
    } finally {
      await connection.close();
    }
  });
});
