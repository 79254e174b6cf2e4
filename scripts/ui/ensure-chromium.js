#!/usr/bin/env node
// Makes sure Debian's Chromium is at /usr/bin/chromium for the Config UI test (Playwright cannot
// download its own browsers here). When it is missing: `apt-get update && apt-get install -y chromium`
// (as root, or through sudo). When that is impossible, exits non-zero with a clear message: the UI
// test must fail, never be skipped.
"use strict";

const fs = require("fs");
const { spawnSync } = require("child_process");

const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";

function run(command, args) {
  const result = spawnSync(command, args, {
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
  return result.status === 0;
}

function works() {
  if (!fs.existsSync(CHROMIUM)) return false;
  const result = spawnSync(CHROMIUM, ["--version"], { encoding: "utf8", timeout: 30000 });
  return result.status === 0;
}

function ensureChromium() {
  if (works()) return CHROMIUM;
  if (process.env.CHROMIUM_PATH) {
    throw new Error(`CHROMIUM_PATH=${CHROMIUM} is not a working Chromium`);
  }
  const root = process.getuid && process.getuid() === 0;
  const hasSudo = !root && spawnSync("sudo", ["-n", "true"]).status === 0;
  const aptGet = fs.existsSync("/usr/bin/apt-get");
  if (!aptGet || (!root && !hasSudo)) {
    throw new Error(
      `Chromium is missing at ${CHROMIUM} and cannot be installed here (${aptGet ? "not root and no password-less sudo" : "no apt-get"}). ` +
        "Install Debian's `chromium` package (apt-get install -y chromium) or set CHROMIUM_PATH to a Chromium binary: the Config UI test needs it."
    );
  }
  const prefix = root ? [] : ["sudo", "-n"];
  const cmd = (args) => (prefix.length ? run(prefix[0], [...prefix.slice(1), ...args]) : run(args[0], args.slice(1)));
  console.error(`Chromium is missing at ${CHROMIUM}: installing Debian's chromium package (about a minute)...`);
  // another run may hold apt's lock (installing the same package): wait for it rather than fail
  const lockWait = ["-o", "DPkg::Lock::Timeout=300"];
  const installed = cmd(["apt-get", ...lockWait, "update"]) && cmd(["apt-get", ...lockWait, "install", "-y", "--no-install-recommends", "chromium"]);
  if (!works()) {
    throw new Error(
      `Installing Debian's chromium package ${installed ? "did not give a working browser" : "failed"} (apt-get update && apt-get install -y chromium): ${CHROMIUM} is still missing. ` +
        "The Config UI test needs it; install it by hand or set CHROMIUM_PATH."
    );
  }
  return CHROMIUM;
}

module.exports = { ensureChromium, CHROMIUM };

if (require.main === module) {
  try {
    console.log(`chromium: ${ensureChromium()}`);
  } catch (error) {
    console.error(`ensure-chromium: ${error.message}`);
    process.exit(1);
  }
}
