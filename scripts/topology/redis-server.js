// Starts and stops a throw-away Redis for the production-topology test and bench: Debian's
// `redis-server` (installed with apt-get when missing, as root or through password-less sudo; a
// test that needs it fails with the reason when that is impossible, it is never skipped), on a free
// loopback port, with its own config file and folder under the OS temp dir, no persistence.
"use strict";

const fs = require("fs");
const os = require("os");
const net = require("net");
const path = require("path");
const { spawn, spawnSync } = require("child_process");
const { freePort, isAlive } = require("../postgres-server");

const REDIS_SERVER = process.env.REDIS_SERVER_PATH || "/usr/bin/redis-server";
const DIR_PREFIX = "gpp-redis-";

function works() {
  if (!fs.existsSync(REDIS_SERVER)) return false;
  return spawnSync(REDIS_SERVER, ["--version"], { encoding: "utf8", timeout: 30000 }).status === 0;
}

/** Installs Debian's redis-server when it is missing; returns the binary or throws saying why it cannot. */
function ensureRedisServer() {
  if (works()) return REDIS_SERVER;
  if (process.env.REDIS_SERVER_PATH) throw new Error(`REDIS_SERVER_PATH=${REDIS_SERVER} is not a working redis-server`);
  const root = process.getuid && process.getuid() === 0;
  const hasSudo = !root && spawnSync("sudo", ["-n", "true"]).status === 0;
  const aptGet = fs.existsSync("/usr/bin/apt-get");
  if (!aptGet || (!root && !hasSudo)) {
    throw new Error(
      `redis-server is missing at ${REDIS_SERVER} and cannot be installed here (${aptGet ? "not root and no password-less sudo" : "no apt-get"}). ` +
        "Install Debian's `redis-server` package (apt-get install -y redis-server) or set REDIS_SERVER_PATH: the production-topology test needs a real Redis."
    );
  }
  const run = (args) => {
    const [command, ...rest] = root ? args : ["sudo", "-n", ...args];
    return spawnSync(command, rest, { stdio: ["ignore", "inherit", "inherit"], env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } }).status === 0;
  };
  // another run may hold apt's lock: wait for it rather than fail
  const lockWait = ["-o", "DPkg::Lock::Timeout=300"];
  const install = () => run(["apt-get", ...lockWait, "install", "-y", "--no-install-recommends", "redis-server"]);
  console.error(`redis-server is missing at ${REDIS_SERVER}: installing Debian's redis-server package...`);
  // the package lists may be missing or stale: update them when the first install fails
  const installed = install() || (run(["apt-get", ...lockWait, "update"]) && install());
  if (!works()) {
    throw new Error(`Installing Debian's redis-server ${installed ? "did not give a working binary" : "failed"} (apt-get install -y redis-server): ${REDIS_SERVER} is still missing.`);
  }
  return REDIS_SERVER;
}

/** Sends one inline command and resolves the first reply line (enough for PING and SHUTDOWN). */
function redisCommand(port, command, timeoutMs = 2000) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    let reply = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`redis on 127.0.0.1:${port} did not answer ${command} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on("connect", () => socket.write(`${command}\r\n`));
    socket.on("data", (data) => {
      reply += data.toString("utf8");
      if (reply.includes("\r\n")) {
        clearTimeout(timer);
        socket.end();
        resolve(reply.split("\r\n")[0]);
      }
    });
    socket.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(reply.split("\r\n")[0]);
    });
  });
}

/** Removes folders of earlier runs whose owner died, and stops the Redis left running in them. */
function removeStaleDirectories() {
  for (const name of fs.readdirSync(os.tmpdir())) {
    if (!name.startsWith(DIR_PREFIX)) continue;
    const dir = path.join(os.tmpdir(), name);
    const owner = Number(fs.existsSync(path.join(dir, "owner.pid")) ? fs.readFileSync(path.join(dir, "owner.pid"), "utf8") : 0);
    if (owner && isAlive(owner)) continue;
    const server = Number(fs.existsSync(path.join(dir, "redis.pid")) ? fs.readFileSync(path.join(dir, "redis.pid"), "utf8") : 0);
    if (server && isAlive(server)) {
      try {
        process.kill(server, "SIGKILL");
      } catch (error) {
        // already gone
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Starts redis-server on a free port of 127.0.0.1. Returns `{ url, port, dir, logFile, pid, stop() }`;
 * `stop()` shuts it down and removes its folder.
 */
async function startRedis({ timeoutMs = 20000 } = {}) {
  const binary = ensureRedisServer();
  removeStaleDirectories();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), DIR_PREFIX));
  fs.writeFileSync(path.join(dir, "owner.pid"), String(process.pid));
  const port = await freePort();
  const logFile = path.join(dir, "redis.log");
  const configFile = path.join(dir, "redis.conf");
  fs.writeFileSync(
    configFile,
    [
      "bind 127.0.0.1",
      `port ${port}`,
      `dir ${dir}`,
      `logfile ${logFile}`,
      `pidfile ${path.join(dir, "redis.pid")}`,
      "daemonize no",
      "protected-mode yes",
      // a throw-away server: nothing is written to disk
      'save ""',
      "appendonly no",
      "databases 4",
    ].join("\n") + "\n"
  );
  const child = spawn(binary, [configFile], { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  child.unref();
  const killOnExit = () => child.exitCode === null && child.kill("SIGKILL");
  process.once("exit", killOnExit);

  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null) {
      const log = fs.existsSync(logFile) ? fs.readFileSync(logFile, "utf8") : "";
      throw new Error(`redis-server exited (${child.exitCode}) at start: ${stderr}${log.slice(-2000)}`);
    }
    const reply = await redisCommand(port, "PING").catch(() => "");
    if (reply === "+PONG") break;
    if (Date.now() - started > timeoutMs) {
      child.kill("SIGKILL");
      throw new Error(`redis-server did not answer PING on 127.0.0.1:${port} within ${timeoutMs / 1000} s`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  return {
    url: `redis://127.0.0.1:${port}/0`,
    port,
    dir,
    logFile,
    pid: child.pid,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        await redisCommand(port, "SHUTDOWN NOSAVE").catch(() => child.kill("SIGKILL"));
        const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(timer);
      }
      process.removeListener("exit", killOnExit);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

module.exports = { ensureRedisServer, startRedis, redisCommand };
