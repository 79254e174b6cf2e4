import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { buildPackage, removeTemporaryFolders } from "./support/plugin";

afterAll(() => removeTemporaryFolders());

/**
 * The CloudQuery host lives beside the Grouparoo plugin without disturbing it: the core finds no
 * `main`, and nothing the core loads pulls in a CloudQuery package.
 */

const ROOT = path.join(__dirname, "..", "..");
const CLOUDQUERY_PACKAGES = ["@cloudquery/", "@grpc/", "@apache-arrow/", "google-protobuf", "ajv"];

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sourceFiles(path.join(dir, e.name)) : e.name.endsWith(".ts") ? [path.join(dir, e.name)] : []));
}

test("package.json: no resolvable main, the CloudQuery entry on a subpath and a bin", () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));
  expect(pkg.main).toBeUndefined();
  expect(pkg.exports["."]).toBeUndefined();
  expect(pkg.exports["./cloudquery"]).toEqual({ types: "./dist/cloudquery/index.d.ts", default: "./dist/cloudquery/index.js" });
  // the bin ships inside dist/ (package.json's `files`)
  expect(pkg.bin).toEqual({ "cq-source-postgres": "dist/cloudquery/bin.js" });
  expect(pkg.files).toContain("dist");
  expect(fs.readFileSync(path.join(ROOT, "src/cloudquery/bin.ts"), "utf8").startsWith("#!/usr/bin/env node\n")).toBe(true);
});

test("no module outside src/cloudquery imports a CloudQuery package or the CloudQuery host", () => {
  const offenders = sourceFiles(path.join(ROOT, "src"))
    .filter((file) => !file.startsWith(path.join(ROOT, "src", "cloudquery") + path.sep))
    .filter((file) => {
      const text = fs.readFileSync(file, "utf8");
      const imports = [...text.matchAll(/(?:from\s+|require\(|import\()\s*["']([^"']+)["']/g)].map((m) => m[1]);
      return imports.some((name) => CLOUDQUERY_PACKAGES.some((p) => name.startsWith(p)) || /(^|\/)cloudquery(\/|$)/.test(name));
    });
  expect(offenders).toEqual([]);
});

test("the CloudQuery host uses src/postgres through its index only (the facade both hosts share)", () => {
  const deepImports = sourceFiles(path.join(ROOT, "src", "cloudquery")).flatMap((file) => {
    const text = fs.readFileSync(file, "utf8");
    return [...text.matchAll(/(?:from\s+|require\(|import\()\s*["']([^"']+)["']/g)]
      .map((m) => m[1])
      .filter((name) => /^\.\.\/postgres\/./.test(name))
      .map((name) => `${path.basename(file)}: ${name}`);
  });
  expect(deepImports).toEqual([]);
});

test("loading the Grouparoo side (app, connections, templates, dialect) loads no CloudQuery package", () => {
  const dist = path.join(buildPackage(), "dist");
  const script = `
    for (const file of ["postgres/index.js", "templates/index.js", "app/postgresApp.js", "connections/tableImport.js", "connections/queryImport.js"]) {
      require(${JSON.stringify(dist)} + "/" + file);
    }
    console.log(JSON.stringify(Object.keys(require.cache)));
  `;
  const loaded = JSON.parse(execFileSync(process.execPath, ["-e", script], { encoding: "utf8" })) as string[];
  expect(loaded.some((file) => file.includes(`${path.sep}pg${path.sep}`))).toBe(true);
  expect(loaded.filter((file) => CLOUDQUERY_PACKAGES.some((p) => file.includes(`node_modules${path.sep}${p}`)) || file.includes(`${path.sep}cloudquery${path.sep}`))).toEqual([]);
});
