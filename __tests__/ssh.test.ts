import net from "net";
import { buildPostgresApp } from "../src/app/postgresApp";
import { postgresTableConnection } from "../src/connections/tableImport";
import { openConnection, parseSettings, PostgresConnection } from "../src/postgres";
import { testApp } from "./support/app";
import { Authority, Certificates } from "./support/certificates";
import { freshDatabase, sql } from "./support/db";
import { FakeHost } from "./support/fakeHost";
import { runSchedule } from "./support/runs";
import { PostgresServer, startTlsPostgres } from "./support/servers";
import { Bastion, KeyPair, SshWorkspace } from "./support/sshd";
import { call, init, removeTemporaryFolders, RunningPlugin, rowsOf, startPlugin, stopDecoder, sync, v3 } from "./cloudquery/support/plugin";
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { freePort } = require("../scripts/postgres-server");

/**
 * SSH tunnels through a real OpenSSH bastion (Debian's sshd on a loopback port, its own config, host
 * key and authorized_keys) in front of the test Postgres: the App, an import run, TLS and the CloudQuery
 * host reach the database only through it. The database's `host` is given as the bastion sees it.
 */

const CONNECT_TIMEOUT_S = 10;
const PASSPHRASE = "correct horse battery staple";
const SSH_PASSWORD = "not-the-root-password-42";
const ROWS = 3000;

const logs: string[] = [];
const messages: string[] = [];
const app = buildPostgresApp((message) => logs.push(message));

let workspace: SshWorkspace;
let rsaPem: KeyPair;
let ed25519: KeyPair;
let encrypted: KeyPair;
let encryptedPem: KeyPair;
let stranger: KeyPair;
let bastion: Bastion;
let noForwarding: Bastion;
let permitOpenNone: Bastion;
let database: { url: string; appOptions: Record<string, string> };

beforeAll(async () => {
  workspace = new SshWorkspace();
  rsaPem = workspace.key("rsa", { format: "PEM" });
  ed25519 = workspace.key("ed25519");
  encrypted = workspace.key("ed25519", { passphrase: PASSPHRASE });
  encryptedPem = workspace.key("rsa", { format: "PEM", passphrase: PASSPHRASE });
  stranger = workspace.key("ed25519"); // in no authorized_keys
  const authorizedKeys = [rsaPem, ed25519, encrypted, encryptedPem].map((k) => k.publicKey);
  [bastion, noForwarding, permitOpenNone] = await Promise.all([
    workspace.bastion({ authorizedKeys }),
    workspace.bastion({ authorizedKeys, config: ["AllowTcpForwarding no"] }),
    workspace.bastion({ authorizedKeys, config: ["PermitOpen none"] }),
  ]);
  database = await freshDatabase("gpp_ssh");
  await sql(
    database.url,
    `CREATE TABLE events (id int PRIMARY KEY, seen_at timestamptz);
     INSERT INTO events SELECT i, timestamptz '2024-01-01' + (i / 7) * interval '1 minute' FROM generate_series(1, ${ROWS}) i;`
  );
});

afterAll(async () => {
  await Promise.all([bastion?.stop(), noForwarding?.stop(), permitOpenNone?.stop()]);
  workspace?.cleanup();
});

/** App options that reach the test database through `through` (the database's address as the bastion sees it). */
function viaBastion(through: Bastion, ssh: Record<string, string>, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...database.appOptions,
    connect_timeout: String(CONNECT_TIMEOUT_S),
    ssh_host: "127.0.0.1",
    ssh_port: String(through.port),
    ssh_user: require("os").userInfo().username,
    ...ssh,
    ...extra,
  };
}

/** `test` must fail within connect_timeout with every pattern; returns the message (kept for the secrets check). */
async function expectTestFailure(appOptions: Record<string, string>, ...patterns: RegExp[]): Promise<string> {
  const started = Date.now();
  let message: string | undefined;
  try {
    await testApp(app, appOptions);
  } catch (error) {
    message = (error as Error).message;
  }
  const elapsedMs = Date.now() - started;
  if (message === undefined) throw new Error("expected the App's test to fail, but it succeeded");
  messages.push(message);
  for (const pattern of patterns) expect(message).toMatch(pattern);
  expect(elapsedMs).toBeLessThan(CONNECT_TIMEOUT_S * 1000);
  return message;
}

describe("importing through the tunnel", () => {
  const host = new FakeHost();
  const { importedRecords: imports, messages: runLogs } = host;
  const table = postgresTableConnection(host);

  beforeEach(() => imports.splice(0));

  async function importAll(appOptions: Record<string, string>) {
    const connection = openConnection(appOptions, (message) => runLogs.push(message));
    try {
      await runSchedule(table.methods.importRecords, { connection, appOptions, sourceOptions: { table: "events" }, sourceMapping: { id: "eventId" } }, { incremental: false, limit: 1000 });
      return connection;
    } finally {
      await connection.close();
    }
  }

  test.each([
    ["an RSA key in PEM format", () => ({ ssh_private_key: rsaPem.privateKey })],
    ["an ed25519 key in OpenSSH format", () => ({ ssh_private_key: ed25519.privateKey })],
    ["an OpenSSH key with a passphrase", () => ({ ssh_private_key: encrypted.privateKey, ssh_passphrase: PASSPHRASE })],
    ["a PEM key with a passphrase, pasted on one line", () => ({ ssh_private_key: encryptedPem.privateKey.trim().replace(/\n/g, " "), ssh_passphrase: PASSPHRASE })],
  ])("%s: every row arrives once", async (_, ssh) => {
    const logins = bastion.acceptedLogins();
    await importAll(viaBastion(bastion, ssh()));
    const ids = imports.map((r) => r.eventId);
    expect(ids).toHaveLength(ROWS);
    expect(new Set(ids).size).toBe(ROWS);
    // the rows came through the bastion: it accepted exactly one login for the run
    expect(bastion.acceptedLogins()).toBe(logins + 1);
  });

  test("the App's Test says it went through the bastion and shows the host key to pin", async () => {
    const result = await testApp(app, viaBastion(bastion, { ssh_private_key: ed25519.privateKey }));
    expect(result.success).toBe(true);
    expect(result.message).toContain(`through the SSH bastion ${require("os").userInfo().username}@127.0.0.1:${bastion.port}`);
    expect(result.message).toContain(`host key ${bastion.hostKey.fingerprint} NOT pinned: set ssh_host_key to ${bastion.hostKey.fingerprint}`);
  });

  test("the pinned fingerprint (the whole line ssh-keygen -lf prints) is accepted, and Test says it is pinned", async () => {
    const result = await testApp(app, viaBastion(bastion, { ssh_private_key: ed25519.privateKey, ssh_host_key: bastion.hostKey.fingerprintLine }));
    expect(result.message).toContain(`host key ${bastion.hostKey.fingerprint} (pinned in ssh_host_key)`);
  });

  test("one SSH connection per pool: five database connections at once, one login on the bastion", async () => {
    const logins = bastion.acceptedLogins();
    const connection = openConnection(viaBastion(bastion, { ssh_private_key: ed25519.privateKey }, { pool_size: "5", application_name: "gpp-ssh-pool" }));
    try {
      const results = await Promise.all(
        Array.from({ length: 5 }, () => connection.query("SELECT pg_backend_pid() AS pid, pg_sleep(0.5)::text, inet_client_addr()::text AS client"))
      );
      expect(new Set(results.map((r) => r.rows[0].pid)).size).toBe(5);
      expect(bastion.acceptedLogins()).toBe(logins + 1);
    } finally {
      await connection.close();
    }
  });
});

describe("failures say which side failed, within connect_timeout", () => {
  test("a key the bastion does not know: refused login, naming ssh_user and the key", async () => {
    await expectTestFailure(viaBastion(bastion, { ssh_private_key: stranger.privateKey }), /the SSH bastion 127\.0\.0\.1:\d+ refused user ".*" with the key in `ssh_private_key`/, /authorized_keys/);
  });

  test("a password the bastion refuses: naming ssh_password, never the password", async () => {
    const message = await expectTestFailure(viaBastion(bastion, { ssh_password: SSH_PASSWORD }), /refused user ".*" with the password in `ssh_password`/);
    expect(message).not.toContain(SSH_PASSWORD);
  });

  test("a host key other than the pinned one: refused, naming both fingerprints and ssh_host_key", async () => {
    await expectTestFailure(
      viaBastion(bastion, { ssh_private_key: ed25519.privateKey, ssh_host_key: stranger.fingerprint }),
      new RegExp(`has the host key ${escape(bastion.hostKey.fingerprint)}, not the one pinned in \`ssh_host_key\` \\(${escape(stranger.fingerprint)}\\)`)
    );
  });

  test("forwarding refused by the bastion (AllowTcpForwarding no): naming the sshd_config settings", async () => {
    await expectTestFailure(viaBastion(noForwarding, { ssh_private_key: ed25519.privateKey }), /refused to forward to the database at 127\.0\.0\.1:\d+ \(administratively prohibited\).*AllowTcpForwarding/);
  });

  test("forwarding refused by the bastion (PermitOpen none): naming PermitOpen", async () => {
    await expectTestFailure(viaBastion(permitOpenNone, { ssh_private_key: ed25519.privateKey }), /refused to forward.*PermitOpen 127\.0\.0\.1:\d+/);
  });

  test("a bastion that is not there: unreachable, naming ssh_host and ssh_port", async () => {
    const closedPort = await freePort();
    await expectTestFailure(viaBastion(bastion, { ssh_private_key: ed25519.privateKey }, { ssh_port: String(closedPort) }), /the SSH bastion 127\.0\.0\.1:\d+ cannot be reached \(ECONNREFUSED\): check `ssh_host` and `ssh_port`/);
  });

  test("a bastion that accepts TCP but never speaks SSH: fails at connect_timeout, saying so", async () => {
    const silent = net.createServer((socket) => socket.on("error", () => {}));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    try {
      const port = (silent.address() as net.AddressInfo).port;
      await expectTestFailure(viaBastion(bastion, { ssh_private_key: ed25519.privateKey }, { ssh_port: String(port), connect_timeout: "2" }), /no SSH answer from the bastion 127\.0\.0\.1:\d+ within connect_timeout \(2 s\)/);
    } finally {
      silent.close();
    }
  });

  test("the bastion is fine but nothing listens at the database's address: the database's error, as without a tunnel", async () => {
    const closedPort = await freePort();
    await expectTestFailure(viaBastion(bastion, { ssh_private_key: ed25519.privateKey }, { port: String(closedPort) }), new RegExp(`nothing accepts connections at 127\\.0\\.0\\.1:${closedPort}`));
  });

  test("the database's own errors come through as today (a wrong database password)", async () => {
    await expectTestFailure(viaBastion(bastion, { ssh_private_key: ed25519.privateKey }, { password: "wrong-db-password" }), /authentication failed for user/);
  });

  test("an encrypted key without its passphrase, or with a wrong one: the option is named at connect", async () => {
    await expect(app.methods.connect({ appOptions: viaBastion(bastion, { ssh_private_key: encrypted.privateKey }) })).rejects.toThrow(/App option `ssh_private_key` is encrypted: set `ssh_passphrase`/);
    await expect(app.methods.connect({ appOptions: viaBastion(bastion, { ssh_private_key: encrypted.privateKey, ssh_passphrase: "wrong" }) })).rejects.toThrow(/App option `ssh_passphrase` does not decrypt `ssh_private_key`/);
    await expect(app.methods.connect({ appOptions: viaBastion(bastion, { ssh_private_key: encryptedPem.privateKey }) })).rejects.toThrow(/`ssh_private_key` is encrypted: set `ssh_passphrase`/);
    await expect(app.methods.connect({ appOptions: viaBastion(bastion, { ssh_private_key: "/home/me/.ssh/id_ed25519" }) })).rejects.toThrow(/`ssh_private_key` must be the key's text/);
    await expect(app.methods.connect({ appOptions: viaBastion(bastion, { ssh_host_key: "MD5:aa:bb", ssh_private_key: ed25519.privateKey }) })).rejects.toThrow(/`ssh_host_key` must be a SHA256 fingerprint/);
    await expect(app.methods.connect({ appOptions: viaBastion(bastion, { ssh_user: "" , ssh_private_key: ed25519.privateKey }) })).rejects.toThrow(/`ssh_user` is required with ssh_host/);
  });
});

describe("a bastion restarted in the middle of a run", () => {
  const host = new FakeHost();
  const { importedRecords: imports, messages: runLogs } = host;
  const table = postgresTableConnection(host);

  test.each([
    ["incremental", true],
    ["full walk", false],
  ])("%s: no row lost, none imported twice; the tunnel is rebuilt", async (_, incremental) => {
    imports.splice(0);
    const appOptions = viaBastion(bastion, { ssh_private_key: ed25519.privateKey });
    const connection = openConnection(appOptions, (message) => runLogs.push(message));
    const logins = bastion.acceptedLogins();
    let batch = 0;
    let restart: Promise<void> | undefined;
    try {
      const importRecords: typeof table.methods.importRecords = async (args) => {
        // the bastion goes down (with every session) while this batch reads: the read is retried through a new tunnel
        if (++batch === 4) restart = bastion.restart();
        return table.methods.importRecords(args);
      };
      await runSchedule(importRecords, { connection, appOptions, sourceOptions: { table: "events" }, sourceMapping: { id: "eventId" } }, { incremental, column: "seen_at", limit: 200 });
      await restart;
    } finally {
      await connection.close();
    }
    const ids = imports.map((r) => r.eventId);
    expect(ids).toHaveLength(ROWS);
    expect(new Set(ids).size).toBe(ROWS);
    expect(restart).toBeDefined();
    // a second login: the tunnel was rebuilt after the restart
    expect(bastion.acceptedLogins()).toBe(logins + 2);
    expect(runLogs.some((l) => /ssh: the connection to the bastion .* closed; it is rebuilt/.test(l))).toBe(true);
  });
});

describe("verify-full TLS through the tunnel checks the database's real host name, not the local forwarder's", () => {
  let certificates: Certificates;
  let ca: Authority;
  let tlsServer: PostgresServer;

  beforeAll(async () => {
    certificates = new Certificates();
    ca = certificates.authority("gpp ssh test CA");
    const server = certificates.server(ca, { dns: ["localhost"] });
    tlsServer = await startTlsPostgres(server);
  });

  afterAll(async () => {
    await tlsServer?.stop();
    certificates?.cleanup();
  });

  const tlsOptions = (host: string) =>
    viaBastion(bastion, { ssh_private_key: ed25519.privateKey }, { host, port: String(tlsServer.port), database: "postgres", user: tlsServer.user, password: tlsServer.password, sslmode: "verify-full", ssl_ca: ca.cert });

  test("host `localhost` matches the certificate: verified, and the server sees TLS", async () => {
    const result = await testApp(app, tlsOptions("localhost"));
    expect(result.message).toContain("TLS, certificate and host name verified");
    expect(result.message).toContain("through the SSH bastion");
    const connection = (await app.methods.connect({ appOptions: tlsOptions("localhost") })) as PostgresConnection;
    try {
      const { rows } = await connection.query("SELECT ssl FROM pg_catalog.pg_stat_ssl WHERE pid = pg_backend_pid()");
      expect(rows[0].ssl).toBe(true);
    } finally {
      await connection.close();
    }
  });

  test("host `127.0.0.1` (the forwarder's address too) is not in the certificate: rejected, naming 127.0.0.1", async () => {
    await expectTestFailure(tlsOptions("127.0.0.1"), /TLS certificate was rejected \(sslmode=verify-full\)/, /127\.0\.0\.1/, /altnames|does not match/i);
  });
});

describe("the CloudQuery host through the tunnel", () => {
  let plugin: RunningPlugin;

  beforeAll(async () => {
    plugin = await startPlugin();
  });

  afterAll(async () => {
    await plugin?.stop();
    await stopDecoder();
    removeTemporaryFolders();
  });

  const spec = (ssh: Record<string, unknown>) => ({
    host: "127.0.0.1",
    port: Number(database.appOptions.port),
    database: database.appOptions.database,
    user: database.appOptions.user,
    password: database.appOptions.password,
    sslmode: "disable",
    connect_timeout: CONNECT_TIMEOUT_S,
    ssh_host: "127.0.0.1",
    ssh_port: bastion.port,
    ssh_user: require("os").userInfo().username,
    ...ssh,
  });

  test("Init and Sync through the bastion with an encrypted key: every row, once", async () => {
    const logins = bastion.acceptedLogins();
    await init(plugin, spec({ ssh_private_key: encrypted.privateKey, ssh_passphrase: PASSPHRASE, ssh_host_key: bastion.hostKey.fingerprint }));
    const result = await sync(plugin, { tables: ["events"] }, 60000);
    expect(result.failure).toBeUndefined();
    const ids = (await rowsOf(result, "events")).map((row) => Number(row.id));
    expect(ids).toHaveLength(ROWS);
    expect(new Set(ids).size).toBe(ROWS);
    expect(bastion.acceptedLogins()).toBeGreaterThan(logins);
    expect(JSON.stringify(plugin.logs)).not.toContain(PASSPHRASE);
  });

  test("TestConnection with a wrong pinned host key fails, naming ssh_host_key", async () => {
    const response = await call<{ success: boolean; failure_code: string; failure_description: string }>(
      plugin,
      "TestConnection",
      new v3.TestConnection.Request({ spec: Buffer.from(JSON.stringify(spec({ ssh_private_key: ed25519.privateKey, ssh_host_key: stranger.fingerprint }))) })
    );
    expect(response.success).toBe(false);
    expect(response.failure_description).toMatch(/not the one pinned in `ssh_host_key`/);
  });
});

describe("secrets", () => {
  test("the key, passphrase and SSH password are not enumerable on the settings (logs and JSON show none)", () => {
    const settings = parseSettings(viaBastion(bastion, { ssh_private_key: encrypted.privateKey, ssh_passphrase: PASSPHRASE, ssh_password: SSH_PASSWORD }));
    expect(settings.ssh?.privateKey).toContain("OPENSSH PRIVATE KEY");
    expect(settings.ssh?.passphrase).toBe(PASSPHRASE);
    expect(settings.ssh?.password).toBe(SSH_PASSWORD);
    const shown = JSON.stringify(settings) + require("util").inspect(settings, { depth: 5 }) + Object.keys(settings.ssh ?? {}).join();
    for (const secret of [PASSPHRASE, SSH_PASSWORD, "PRIVATE KEY"]) expect(shown).not.toContain(secret);
  });

  test("a connection that went through the tunnel, logged or inspected at any depth, shows no key, passphrase or password", async () => {
    const connection = openConnection(viaBastion(bastion, { ssh_private_key: encrypted.privateKey, ssh_passphrase: PASSPHRASE, ssh_password: SSH_PASSWORD }));
    try {
      const result = await connection.query("SELECT 1 AS one");
      expect(result.rows[0].one).toBe(1);
      const keyBody = encrypted.privateKey.split("\n").filter((l) => /^[A-Za-z0-9+/=]{40,}$/.test(l))[1];
      const { format, inspect } = require("util");
      const shown = format(connection) + inspect(connection, { depth: Infinity });
      for (const secret of [PASSPHRASE, SSH_PASSWORD, database.appOptions.password, keyBody, "PRIVATE KEY"]) expect(shown).not.toContain(secret);
    } finally {
      await connection.close();
    }
  });

  test("the App declares them as password fields", async () => {
    const options = await app.methods.appOptions();
    for (const key of ["password", "ssh_private_key", "ssh_passphrase", "ssh_password"]) expect(options).toHaveProperty([key, "type"], "password");
  });

  test("no error or log line of this file holds a key, a passphrase or a password", () => {
    expect(messages.length).toBeGreaterThanOrEqual(9);
    const keyBodies = [rsaPem, ed25519, encrypted, encryptedPem, stranger].map((k) => k.privateKey.split("\n").filter((l) => /^[A-Za-z0-9+/=]{40,}$/.test(l))[1]);
    for (const line of [...messages, ...logs]) {
      for (const secret of [PASSPHRASE, SSH_PASSWORD, database.appOptions.password, ...keyBodies]) expect(line).not.toContain(secret);
    }
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

