// Serves the real Grouparoo Config UI (`grouparoo config`) from an app folder made by prepare-app.js,
// and runs `grouparoo validate` on a config folder. See ../../README.md ("Configure it in the Config
// UI") for doing the same by hand.
"use strict";

const fs = require("fs");
const path = require("path");
const http = require("http");
const { spawn } = require("child_process");
const { cleanEnv } = require("./prepare-app");
const { freePort } = require("../postgres-server");


/** The environment of the `grouparoo` CLI: the Node-16 shim (preloaded in every process it starts), no injected plugin. */
function cliEnv({ appDir, shim, configDir, extra }) {
  const env = cleanEnv({
    NODE_OPTIONS: `--require ${shim}`,
    NODE_ENV: "development",
    INIT_CWD: appDir,
    GROUPAROO_CONFIG_DIR: configDir,
    GROUPAROO_PLUGIN_MANIFEST_URL: "http://127.0.0.1:9/x", // else it fetches a manifest from the internet
    GROUPAROO_TELEMETRY_ENABLED: "false",
    BROWSER: "true", // else it runs xdg-open
    SERVER_TOKEN: "gpp-ui-test-token",
    ...extra,
  });
  // the plugin must come from the app's package.json, as for a user; nothing of jest's own set-up
  for (const key of ["GROUPAROO_INJECTED_PLUGINS", "DATABASE_URL", "REDIS_URL", "JEST_WORKER_ID", "TS_JEST", "ACTIONHERO_CONFIG"]) {
    if (!(extra && key in extra)) delete env[key];
  }
  return env;
}

function httpStatus(url) {
  return new Promise((resolve) => {
    const request = http.get(url, (response) => {
      response.resume();
      resolve(response.statusCode);
    });
    request.on("error", () => resolve(0));
    request.setTimeout(2000, () => {
      request.destroy();
      resolve(0);
    });
  });
}

function tail(file, lines = 40) {
  try {
    return fs.readFileSync(file, "utf8").split("\n").slice(-lines).join("\n");
  } catch (error) {
    return `(no log: ${error.message})`;
  }
}

/** Waits for a child to exit; SIGKILL after `graceMs`. */
function stopChild(child, graceMs = 10000) {
  return new Promise((resolve) => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch (error) {
        // already gone
      }
    }, graceMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    try {
      child.kill("SIGTERM");
    } catch (error) {
      clearTimeout(timer);
      resolve();
    }
  });
}

/**
 * Starts `grouparoo config` (the Config UI and its API, one process) and resolves once
 * `/api/v1/status/public` answers 200. Returns `{ url, port, pid, logFile, log(), stop() }`.
 */
async function startConfigServer({ appDir, shim, configDir, coreDatabaseUrl, logFile, port, timeoutMs = 120000 }) {
  port = port || (await freePort());
  const url = `http://127.0.0.1:${port}`;
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const out = fs.openSync(logFile, "w");
  const child = spawn(process.execPath, [path.join(appDir, "node_modules", "grouparoo", "dist", "grouparoo.js"), "config"], {
    cwd: appDir,
    env: cliEnv({
      appDir,
      shim,
      configDir,
      extra: { PORT: String(port), WEB_URL: url, CONFIG_DATABASE_URL: coreDatabaseUrl, GROUPAROO_LOG_LEVEL: "info" },
    }),
    stdio: ["ignore", out, out],
  });
  fs.closeSync(out);
  let exited = null;
  child.once("exit", (code, signal) => (exited = { code, signal }));
  const stop = () => stopChild(child);
  // never leave it running, whatever happens to the caller
  const onExit = () => {
    try {
      child.kill("SIGKILL");
    } catch (error) {
      // already gone
    }
  };
  process.once("exit", onExit);

  const started = Date.now();
  for (;;) {
    if (exited) throw new Error(`\`grouparoo config\` exited (${JSON.stringify(exited)}) before it served ${url}:\n${tail(logFile)}`);
    if ((await httpStatus(`${url}/api/v1/status/public`)) === 200) break;
    if (Date.now() - started > timeoutMs) {
      await stop();
      throw new Error(`\`grouparoo config\` did not answer on ${url} within ${timeoutMs / 1000} s:\n${tail(logFile)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return {
    url,
    port,
    pid: child.pid,
    logFile,
    bootSeconds: (Date.now() - started) / 1000,
    log: () => fs.readFileSync(logFile, "utf8"),
    async stop() {
      await stop();
      process.removeListener("exit", onExit);
    },
  };
}

/** `grouparoo validate` on a config folder, with its own (empty) core database. Resolves `{ code, output, seconds }`. */
function validateConfig({ appDir, shim, configDir, coreDatabaseUrl, timeoutMs = 120000 }) {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(appDir, "node_modules", "grouparoo", "dist", "grouparoo.js"), "validate"], {
      cwd: appDir,
      env: cliEnv({
        appDir,
        shim,
        configDir,
        extra: { DATABASE_URL: coreDatabaseUrl, REDIS_URL: "redis://mock", PORT: "1", GROUPAROO_LOG_LEVEL: "info" },
      }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, signal, output, seconds: (Date.now() - started) / 1000 });
    });
  });
}

module.exports = { startConfigServer, validateConfig, freePort, stopChild };
