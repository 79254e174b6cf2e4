// Prepares a profile-era Grouparoo app folder (core 0.5.1 + spec-helper 0.3.3) for the tests: installed
// once per machine (cached by its dependency list), with this plugin's current build staged into it
// the way npm would install it (dist, public, package.json; pg, mustache and ssh2 from the app).
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const crypto = require("crypto");
const { execFileSync } = require("child_process");

const ROOT = path.join(__dirname, "..");
const DEPENDENCIES = {
  "@grouparoo/core": "0.5.1",
  "@grouparoo/spec-helper": "0.3.3",
  pg: "8.6.0", // the core's own version: one pg in the app
  mustache: "4.2.0",
  // the plugin's other runtime dependency, at the version it pins
  ssh2: require("../package.json").dependencies.ssh2,
};

function legacyAppDir() {
  const hash = crypto.createHash("sha256").update(JSON.stringify(DEPENDENCIES)).digest("hex").slice(0, 12);
  return path.join(os.tmpdir(), `gpp-legacy-core-${hash}`);
}

function prepareLegacyApp() {
  const dir = legacyAppDir();
  const marker = path.join(dir, ".installed");
  if (!fs.existsSync(marker)) {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "profile-era-app", private: true, dependencies: DEPENDENCIES }, null, 2));
    // --ignore-scripts: sqlite3's native build is not needed with a Postgres DATABASE_URL
    execFileSync("npm", ["install", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"], { cwd: dir, stdio: "inherit" });
    fs.writeFileSync(marker, new Date().toISOString());
  }
  const staged = path.join(dir, "node_modules", "grouparoo-plugin-postgres");
  fs.rmSync(staged, { recursive: true, force: true });
  fs.mkdirSync(staged, { recursive: true });
  for (const entry of ["dist", "public", "package.json"]) fs.cpSync(path.join(ROOT, entry), path.join(staged, entry), { recursive: true });
  return dir;
}

module.exports = { prepareLegacyApp, legacyAppDir };

if (require.main === module) console.log(prepareLegacyApp());
