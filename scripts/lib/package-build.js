// The one way a test, a benchmark or a script builds this package: into a private folder laid out as
// the published package (dist/, package.json and the other `files`), with a link to this checkout's
// node_modules. Private, because a concurrent `npm run build` empties the checkout's dist/ under
// whoever reads it. Plain CommonJS, no build step.
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const { spawnSync } = require("child_process");
const { parseArgs } = require("./args");

const PLUGIN_ROOT = path.join(__dirname, "..", "..");
const BUILD_CONFIG = path.join(PLUGIN_ROOT, "tsconfig.build.json");

/** Every src/ file transpiled alone (seconds, no type check, no .d.ts): enough to run the package. */
function transpileInto(dist) {
  const ts = require("typescript");
  const parsed = ts.getParsedCommandLineOfConfigFile(BUILD_CONFIG, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => { throw new Error(ts.flattenDiagnosticMessageText(d.messageText, "\n")); } });
  const src = path.join(PLUGIN_ROOT, "src");
  for (const file of parsed.fileNames) {
    const out = path.join(dist, path.relative(src, file)).replace(/\.ts$/, ".js");
    const { outputText } = ts.transpileModule(fs.readFileSync(file, "utf8"), { compilerOptions: { ...parsed.options, declaration: false }, fileName: file });
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, outputText);
  }
}

/** `npm run build`'s compile (type-checked, with the .d.ts files the package publishes), into `dist`. */
function compileInto(dist) {
  const result = spawnSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", BUILD_CONFIG, "--outDir", dist], { cwd: PLUGIN_ROOT, encoding: "utf8" });
  if (result.status !== 0) throw new Error(`tsc -p tsconfig.build.json failed (exit ${result.status}):\n${result.stdout}${result.stderr}`);
}

/**
 * Builds the package into a fresh folder named `<prefix>XXXXXX` in the OS temp dir and returns it;
 * the caller removes it. `published: true` compiles as `npm run build` does (what `npm pack` must
 * hold); otherwise the sources are only transpiled, which is all a process that runs them needs.
 */
function buildPackage({ prefix = "grouparoo-plugin-postgres-build-", published = false } = {}) {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  try {
    const dist = path.join(folder, "dist");
    if (published) compileInto(dist);
    else transpileInto(dist);
    const pkg = JSON.parse(fs.readFileSync(path.join(PLUGIN_ROOT, "package.json"), "utf8"));
    for (const entry of ["package.json", ...pkg.files.filter((f) => f !== "dist")]) {
      fs.cpSync(path.join(PLUGIN_ROOT, entry), path.join(folder, entry), { recursive: true });
    }
    fs.symlinkSync(path.join(PLUGIN_ROOT, "node_modules"), path.join(folder, "node_modules"), "dir");
    return folder;
  } catch (error) {
    fs.rmSync(folder, { recursive: true, force: true });
    throw error;
  }
}

/**
 * `npm pack` of a folder made by buildPackage({ published: true }) into `destination`; returns the
 * .tgz's path. `env` is the environment npm runs in (the caller strips what `npm test` exported).
 */
function packPackage(folder, destination, env = process.env) {
  const result = spawnSync("npm", ["pack", "--json", "--pack-destination", destination], { cwd: folder, env, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`\`npm pack\` failed in ${folder} (exit ${result.status}):\n${(result.stderr || "").slice(-4000)}`);
  return path.join(destination, JSON.parse(result.stdout)[0].filename);
}

module.exports = { buildPackage, packPackage, PLUGIN_ROOT };

if (require.main === module) {
  // node scripts/lib/package-build.js [--published]: prints the folder
  console.log(buildPackage(parseArgs(process.argv.slice(2), { published: false })));
}
