// The production layout of a Grouparoo app, for the topology test and bench: the same app folder
// (made by ../ui/prepare-app.js: the packed plugin installed beside @grouparoo/core 0.9.0) started
// several times with `node_modules/@grouparoo/core/bin/start`, each process with its own server id
// (ACTIONHERO_TITLE), its own number of task workers (WORKERS) and web server or not (WEB_SERVER), all
// sharing one Redis (REDIS_URL) and one core database (DATABASE_URL). See README "Running in production".
"use strict";

const fs = require("fs");
const path = require("path");
const http = require("http");
const { spawn } = require("child_process");
const { cleanEnv } = require("../ui/prepare-app");
const { stopChild } = require("../ui/config-ui");
const { sql } = require("../postgres-server");

/** What every process of one cluster shares. */
function clusterEnv({ coreDatabaseUrl, redisUrl, serverToken, importsBatchSize, extra = {} }) {
  const env = cleanEnv({
    NODE_ENV: "production",
    DATABASE_URL: coreDatabaseUrl,
    REDIS_URL: redisUrl,
    SERVER_TOKEN: serverToken,
    GROUPAROO_LOG_LEVEL: "info",
    GROUPAROO_LOGS_STDOUT_DISABLE_COLOR: "true",
    GROUPAROO_TELEMETRY_ENABLED: "false",
    GROUPAROO_PLUGIN_MANIFEST_URL: "http://127.0.0.1:9/none", // else it fetches a manifest from the internet
    ...(importsBatchSize ? { GROUPAROO_IMPORTS_BATCH_SIZE: String(importsBatchSize) } : {}),
    ...extra,
  });
  // the plugin comes from the app's package.json, as for a user; nothing of a test runner's set-up
  for (const key of ["GROUPAROO_INJECTED_PLUGINS", "GROUPAROO_CONFIG_DIR", "JEST_WORKER_ID", "TS_JEST", "ACTIONHERO_CONFIG", "NODE_OPTIONS"]) {
    if (!(key in extra)) delete env[key];
  }
  return env;
}

function httpGet(url, timeoutMs = 3000) {
  return new Promise((resolve) => {
    const request = http.get(url, (response) => {
      let body = "";
      response.on("data", (d) => (body += d));
      response.on("end", () => resolve({ status: response.statusCode, body }));
    });
    request.on("error", () => resolve({ status: 0, body: "" }));
    request.setTimeout(timeoutMs, () => {
      request.destroy();
      resolve({ status: 0, body: "" });
    });
  });
}

function httpPost(url, params, timeoutMs = 30000) {
  const body = JSON.stringify(params);
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method: "POST", headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } }, (response) => {
      let text = "";
      response.on("data", (d) => (text += d));
      response.on("end", () => resolve({ status: response.statusCode, body: text }));
    });
    request.on("error", reject);
    request.setTimeout(timeoutMs, () => request.destroy(new Error(`POST ${url} timed out`)));
    request.end(body);
  });
}

function tail(file, lines = 60) {
  try {
    return fs.readFileSync(file, "utf8").split("\n").slice(-lines).join("\n");
  } catch (error) {
    return `(no log: ${error.message})`;
  }
}

/**
 * Starts one core process the way the README says: `node_modules/@grouparoo/core/bin/start` in the
 * app folder. `webPort` set = WEB_SERVER=true on that port. Resolves once the process says it started
 * (and, for a web process, once the API answers). Returns `{ title, pid, logFile, log(), stop(), kill(signal), exited }`.
 */
async function startCoreProcess({ appDir, title, workers, webPort, env, logFile, timeoutMs = 240000 }) {
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const out = fs.openSync(logFile, "a");
  const webUrl = webPort ? `http://127.0.0.1:${webPort}` : undefined;
  const child = spawn(path.join(appDir, "node_modules", "@grouparoo", "core", "bin", "start"), [], {
    cwd: appDir,
    env: {
      ...env,
      ACTIONHERO_TITLE: title,
      WORKERS: String(workers),
      WEB_SERVER: webPort ? "true" : "false",
      // core 0.9 wants PORT even with WEB_SERVER=false: its environment check reads the text "false" as set
      PORT: String(webPort || env.PORT || 8080),
      WEB_URL: webUrl || env.WEB_URL || "http://127.0.0.1:8080",
    },
    stdio: ["ignore", out, out],
  });
  fs.closeSync(out);
  let exitStatus = null;
  const exited = new Promise((resolve) =>
    child.once("exit", (code, signal) => {
      exitStatus = { code, signal };
      resolve(exitStatus);
    })
  );
  const killOnExit = () => {
    try {
      child.kill("SIGKILL");
    } catch (error) {
      // already gone
    }
  };
  process.once("exit", killOnExit);
  const started = Date.now();
  const handle = {
    title,
    pid: child.pid,
    logFile,
    webUrl,
    exited,
    log: () => fs.readFileSync(logFile, "utf8"),
    /** SIGTERM, as a process manager stops a process: Actionhero lets the tasks in progress finish. */
    async stop(graceMs = 60000) {
      await stopChild(child, graceMs);
      process.removeListener("exit", killOnExit);
    },
    kill(signal) {
      child.kill(signal);
    },
    get exitStatus() {
      return exitStatus;
    },
  };
  for (;;) {
    if (exitStatus) throw new Error(`core process ${title} exited (${JSON.stringify(exitStatus)}) at boot:\n${tail(logFile)}`);
    const text = fs.readFileSync(logFile, "utf8");
    const booted = /\*\*\* .* Started \*\*\*/.test(text);
    if (booted && (!webUrl || (await httpGet(`${webUrl}/api/v1/status/public`)).status === 200)) break;
    if (Date.now() - started > timeoutMs) {
      await handle.stop(5000);
      throw new Error(`core process ${title} did not start within ${timeoutMs / 1000} s:\n${tail(logFile)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  handle.bootSeconds = (Date.now() - started) / 1000;
  return handle;
}

/**
 * `grouparoo apply`: applies the app folder's config files to the running cluster (the CLI of 0.9 runs
 * on Node > 16 only with the Node-16 shim of prepare-app.js preloaded). Resolves `{ code, seconds, output }`.
 */
function applyConfig({ appDir, shim, env, logFile, onOutput = () => {}, timeoutMs = 180000 }) {
  const started = Date.now();
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const child = spawn(process.execPath, [path.join(appDir, "node_modules", "grouparoo", "dist", "grouparoo.js"), "apply"], {
    cwd: appDir,
    env: { ...env, NODE_OPTIONS: `--require ${shim}`, WORKERS: "0", WEB_SERVER: "false", PORT: env.PORT || "8080", ACTIONHERO_TITLE: env.ACTIONHERO_TITLE || "grouparoo-apply" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const collect = (chunk) => {
    const text = chunk.toString("utf8");
    output += text;
    fs.appendFileSync(logFile, text);
    onOutput(text, output);
  };
  child.stdout.on("data", collect);
  child.stderr.on("data", collect);
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, signal, seconds: (Date.now() - started) / 1000, output });
    });
  });
}

/**
 * The tasks a process's log reports as done, one `{ at, class, args, result, duration }` per
 * "[ worker ] task success" line (Actionhero logs one per task at level info).
 */
function taskSuccesses(logText) {
  const tasks = [];
  for (const line of logText.split("\n")) {
    if (!line.includes("[ worker ] task success")) continue;
    const klass = /class=(\S+)/.exec(line);
    if (!klass) continue;
    const args = /args=(\{.*?\}) (?:result|duration)=/.exec(line);
    const result = /result=(\S+)/.exec(line);
    const duration = /duration=(\d+)/.exec(line);
    let parsedArgs = {};
    try {
      parsedArgs = args ? JSON.parse(args[1]) : {};
    } catch (error) {
      parsedArgs = {}; // arguments the logger shortened
    }
    tasks.push({
      at: new Date(line.slice(0, 24)),
      class: klass[1],
      args: parsedArgs,
      result: result ? result[1] : undefined,
      duration: duration ? Number(duration[1]) : 0,
    });
  }
  return tasks;
}

/**
 * The production recipe's source table: `rows` customers, 20 sharing each updated_at (so that batch
 * boundaries fall inside ties), indexed for the incremental schedule's keyset walk.
 */
async function createCustomers(url, rows) {
  await sql(
    url,
    `CREATE TABLE customers (id integer PRIMARY KEY, email text NOT NULL, first_name text, score float8,
                             signed_up_on date, updated_at timestamptz NOT NULL);
     CREATE INDEX customers_updated_at ON customers (updated_at, id);`
  );
  await sql(
    url,
    `INSERT INTO customers
       SELECT i, 'customer' || i || '@example.com', (ARRAY['Ada', 'Grace', 'Linus', 'Radia'])[1 + i % 4],
              (i * 37 % 1000) / 10.0, date '2020-01-01' + i % 1500,
              timestamptz '2024-01-01 00:00:00+00' + (i / 20) * interval '1 minute'
         FROM generate_series(1, $1::int) i`,
    [rows]
  );
  await sql(url, `ANALYZE customers`);
}

module.exports = { createCustomers, clusterEnv, startCoreProcess, applyConfig, httpGet, httpPost, taskSuccesses, tail };
