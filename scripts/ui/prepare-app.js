#!/usr/bin/env node
// Prepares a Grouparoo app folder the way a user installs this plugin: build and `npm pack` the plugin
// (scripts/lib/package-build.js: compiled as `npm run build` does, into a private folder that no
// concurrent build of this checkout can change), then `npm install --ignore-scripts` the .tgz with
// @grouparoo/core, @grouparoo/ui-config and the `grouparoo` CLI into an app whose package.json lists
// the plugin in `grouparoo.plugins`.
//
// The app folder (~800 packages, about a minute to install) is cached in the OS temp dir under a
// name that hashes the versions it depends on; the plugin itself is built, packed and re-installed on
// every call, and the installed copy is checked against that build, so the caller always runs the
// current sources.
//
//   node scripts/ui/prepare-app.js      # prints the app folder
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const crypto = require("crypto");
const { spawnSync } = require("child_process");
const { isAlive } = require("../postgres-server");
const { buildPackage, packPackage } = require("../lib/package-build");

const PLUGIN_ROOT = path.join(__dirname, "..", "..");
const GROUPAROO_VERSION = "0.9.0";
const APP_DEPENDENCIES = {
  "@grouparoo/core": GROUPAROO_VERSION,
  "@grouparoo/ui-config": GROUPAROO_VERSION,
  grouparoo: GROUPAROO_VERSION,
};
const NODE16_SHIM = 'Object.defineProperty(process, "version", { value: "v16.20.2" });\n';

/** The environment for npm without what `npm test` exported (npm_config_*, INIT_CWD): npm must act on the app folder only. */
function cleanEnv(extra = {}) {
  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^npm_/i.test(key) || key === "INIT_CWD") continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

function npm(args, cwd) {
  const result = spawnSync("npm", args, { cwd, env: cleanEnv(), encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) {
    throw new Error(`\`npm ${args.join(" ")}\` failed in ${cwd} (exit ${result.status}):\n${(result.stderr || "").slice(-4000)}${(result.stdout || "").slice(-2000)}`);
  }
  return result.stdout;
}

function sha256(data) {
  return crypto.createHash("sha256").update(data).digest("hex");
}

function pluginPackage(root = PLUGIN_ROOT) {
  return JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
}

/** The cache key: everything that changes what the app folder's node_modules hold, but the plugin's own files. */
function cacheKey(pkg) {
  const npmVersion = spawnSync("npm", ["--version"], { env: cleanEnv(), encoding: "utf8" }).stdout.trim();
  return sha256(
    JSON.stringify({
      app: APP_DEPENDENCIES,
      node: process.versions.node.split(".")[0],
      npm: npmVersion,
      plugin: { dependencies: pkg.dependencies, optionalDependencies: pkg.optionalDependencies, peerDependencies: pkg.peerDependencies },
    })
  ).slice(0, 12);
}

/**
 * A lock folder beside the app folder, so that two runs never install into it at once (nor reinstall
 * the plugin under a server that another run serves from it). Returns the function that releases it.
 */
async function acquireLock(lockDir, timeoutMs = 10 * 60 * 1000) {
  const started = Date.now();
  for (;;) {
    try {
      fs.mkdirSync(lockDir);
      fs.writeFileSync(path.join(lockDir, "pid"), String(process.pid));
      break;
    } catch (error) {
      if (error.code !== "EEXIST") throw error;
      let owner = 0;
      try {
        owner = Number(fs.readFileSync(path.join(lockDir, "pid"), "utf8"));
      } catch (readError) {
        owner = 0; // the owner has not written its pid yet, or is gone
      }
      const stat = fs.statSync(lockDir, { throwIfNoEntry: false });
      const age = stat ? Date.now() - stat.mtimeMs : 0;
      if (owner === process.pid) throw new Error(`${lockDir} is already held by this process`);
      if ((owner && !isAlive(owner)) || (!owner && age > 30000)) {
        fs.rmSync(lockDir, { recursive: true, force: true });
        continue;
      }
      if (Date.now() - started > timeoutMs) throw new Error(`${lockDir} is held by process ${owner} for too long`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
  let released = false;
  return () => {
    if (released) return;
    released = true;
    fs.rmSync(lockDir, { recursive: true, force: true });
  };
}

function listFiles(dir, base = dir) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listFiles(full, base));
    else out.push(path.relative(base, full));
  }
  return out.sort();
}

/** Throws unless the installed plugin is a real folder holding exactly the build in `buildFolder`. */
function checkInstalledCopy(appDir, buildFolder, name) {
  const installed = path.join(appDir, "node_modules", name);
  const stat = fs.lstatSync(installed);
  if (stat.isSymbolicLink()) throw new Error(`${installed} is a symlink: the app must hold a packed install`);
  if (fs.existsSync(path.join(installed, "node_modules", "@grouparoo", "core"))) {
    throw new Error(`${installed} has its own @grouparoo/core: the core would refuse two copies of itself`);
  }
  const builtDist = path.join(buildFolder, "dist");
  const want = listFiles(builtDist).filter((f) => !f.endsWith(".tsbuildinfo"));
  const have = listFiles(path.join(installed, "dist"));
  const differs = want.filter((f) => !have.includes(f) || sha256(fs.readFileSync(path.join(builtDist, f))) !== sha256(fs.readFileSync(path.join(installed, "dist", f))));
  if (differs.length) throw new Error(`the installed plugin differs from ${builtDist} in ${differs.slice(0, 5).join(", ")}`);
  return installed;
}

/**
 * Returns `{ appDir, tgz, installedBase, seconds, shim, release }`: `installedBase` is true when the
 * app's node_modules were installed from scratch (first run for these versions), `shim` the file to
 * preload through NODE_OPTIONS so that the `grouparoo` CLI runs on Node > 16. With `hold: true` the
 * app folder stays locked until `release()` is called (a test that serves from it holds it, so that a
 * parallel run waits instead of reinstalling the plugin under it); otherwise `release` does nothing.
 */
async function prepareApp({ log = () => {}, hold = false } = {}) {
  const started = Date.now();
  const pkg = pluginPackage();
  const appDir = path.join(os.tmpdir(), `gpp-ui-app-${cacheKey(pkg)}`);
  const release = await acquireLock(`${appDir}.lock`);
  process.once("exit", release);
  try {
    const installed = packAndInstall(pkg, appDir, log);
    const shim = path.join(appDir, "fake-node16.js");
    fs.writeFileSync(shim, NODE16_SHIM);
    if (!hold) release();
    return { ...installed, appDir, seconds: (Date.now() - started) / 1000, shim, pluginName: pkg.name, release };
  } catch (error) {
    release();
    throw error;
  }
}

function packAndInstall(pkg, appDir, log) {
  // 1. build and pack the plugin as it would be published
  const build = buildPackage({ prefix: "gpp-ui-pack-", published: true });
  try {
    const packedFile = packPackage(build, build, cleanEnv());
    const tgzName = `plugin-${sha256(fs.readFileSync(packedFile)).slice(0, 16)}.tgz`;
    if (!fs.existsSync(path.join(appDir, ".base-ready"))) fs.rmSync(appDir, { recursive: true, force: true });
    fs.mkdirSync(appDir, { recursive: true });
    fs.copyFileSync(packedFile, path.join(appDir, tgzName));
    return installPacked(pkg, appDir, tgzName, build, log);
  } finally {
    fs.rmSync(build, { recursive: true, force: true });
  }
}

function installPacked(pkg, appDir, tgzName, build, log) {
  // 2. install: everything the first time, then only the freshly packed plugin
  let installedBase = false;
  if (!fs.existsSync(path.join(appDir, ".base-ready"))) {
    log(`installing a Grouparoo ${GROUPAROO_VERSION} app in ${appDir} (about a minute, once)`);
    fs.writeFileSync(
      path.join(appDir, "package.json"),
      JSON.stringify(
        {
          name: "gpp-ui-app",
          version: "0.0.0",
          private: true,
          description: "A Grouparoo app for the Config UI test of grouparoo-plugin-postgres (made by scripts/ui/prepare-app.js)",
          dependencies: { ...APP_DEPENDENCIES, [pkg.name]: `file:${tgzName}` },
          grouparoo: { plugins: ["@grouparoo/ui-config", pkg.name] },
        },
        null,
        2
      ) + "\n"
    );
    npm(["install", "--ignore-scripts", "--no-audit", "--no-fund"], appDir);
    fs.writeFileSync(path.join(appDir, ".base-ready"), new Date().toISOString() + "\n");
    installedBase = true;
  } else {
    // remove the installed copy so npm extracts the new .tgz even when its contents did not change
    fs.rmSync(path.join(appDir, "node_modules", pkg.name), { recursive: true, force: true });
    npm(["install", "--ignore-scripts", "--no-audit", "--no-fund", `./${tgzName}`], appDir);
  }
  for (const file of fs.readdirSync(appDir)) {
    if (/^plugin-[0-9a-f]+\.tgz$/.test(file) && file !== tgzName) fs.rmSync(path.join(appDir, file));
  }
  checkInstalledCopy(appDir, build, pkg.name);
  return { tgz: path.join(appDir, tgzName), installedBase };
}

module.exports = { prepareApp, cleanEnv, PLUGIN_ROOT, GROUPAROO_VERSION };

if (require.main === module) {
  prepareApp({ log: (m) => console.error(m) }).then(
    (result) => console.log(JSON.stringify(result, null, 2)),
    (error) => {
      console.error(error.message);
      process.exit(1);
    }
  );
}
