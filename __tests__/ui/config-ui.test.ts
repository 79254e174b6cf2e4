/**
 * The plugin in the real Grouparoo Config UI (@grouparoo/ui-config 0.9.0), driven in headless Chromium.
 *
 * The plugin is `npm pack`ed and installed into a Grouparoo app folder as a user installs it
 * (scripts/ui/prepare-app.js; the folder is cached in the OS temp dir, the plugin re-installed on
 * every run). `grouparoo config` serves the UI against a fresh core database and config folder; the
 * test then sets up an App, a primary and a secondary table Source, Properties, a Schedule and a query
 * Source with a query Property, checking what each page shows, and runs the config the UI wrote
 * through `grouparoo validate` and through the real core, comparing the imported records with SQL.
 *
 * Screenshots of every step: screenshots/ui/ (a failing step leaves FAILED-<step>.png there too).
 */
import fs from "fs";
import net from "net";
import os from "os";
import path from "path";
import { ChildProcess, execFile, spawnSync } from "child_process";
import type { Browser, Page } from "playwright-core";
import { adminUrl, freshDatabase, sql } from "../support/db";
import { Certificates } from "../support/certificates";
import { ROOT, SCREENSHOTS, VIEWPORT, arrive, docsScreenshot, eventually, launchChromium, resetScreenshots, screenshot, tableRows } from "./support/ui";
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { ensureChromium } = require("../../scripts/ui/ensure-chromium");
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { prepareApp } = require("../../scripts/ui/prepare-app");
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { startConfigServer, validateConfig, freePort } = require("../../scripts/ui/config-ui");
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { createDatabase } = require("../../scripts/postgres-server");

const PLUGIN = "grouparoo-plugin-postgres";
const SCHEDULE_MAX_ID = 18; // the schedule's filter (id <= 18): users 19 and 20 are not imported

interface Prepared {
  appDir: string;
  shim: string;
  installedBase: boolean;
  seconds: number;
  release(): void;
}
interface Server {
  url: string;
  pid: number;
  logFile: string;
  bootSeconds: number;
  log(): string;
  stop(): Promise<void>;
}
interface RunResult {
  runs: { schedule: string; imports: number; error: string | null; state: string }[];
  properties: { key: string; type: string; state: string }[];
  records: { state: string; properties: Record<string, unknown[]> }[];
}

let prepared: Prepared;
let server: Server | undefined;
let browser: Browser | undefined;
let page: Page;
let source: { url: string; appOptions: Record<string, string> };
let configDir: string;
let workDir: string;
let silentServer: net.Server | undefined;
const silentSockets: net.Socket[] = [];
const serverErrors: string[] = [];
const pageErrors: string[] = [];
let modelId = "";
let failedStep: string | undefined;
let runChild: ChildProcess | undefined;
const timings: Record<string, number> = {};

async function fixtures(url: string) {
  await sql(
    url,
    `CREATE TABLE users (id integer PRIMARY KEY, email text NOT NULL, first_name text, updated_at timestamptz NOT NULL);
     CREATE TABLE purchases (id integer PRIMARY KEY, user_id integer NOT NULL REFERENCES users (id),
                             amount numeric(10, 2) NOT NULL, created_at timestamptz NOT NULL);
     INSERT INTO users
       SELECT i, 'user' || i || '@example.com', (ARRAY['Ann', 'Bob', 'Cy', 'Dee', 'Eve'])[1 + i % 5],
              timestamptz '2024-01-01 00:00:00+00' + i * interval '1 hour'
         FROM generate_series(1, 20) i;
     -- user 7 has no purchase; amounts from 0.50 to 49.50
     INSERT INTO purchases
       SELECT i, 1 + i % 20, (i * 7 % 50) + 0.5, timestamptz '2024-02-01 00:00:00+00' + i * interval '1 day'
         FROM generate_series(1, 60) i WHERE 1 + i % 20 <> 7;
     CREATE VIEW big_purchases AS SELECT * FROM purchases WHERE amount > 20;`
  );
}

/** What the properties set up in the UI must hold for a user, computed with SQL. */
async function expectedValues(userIds: number[]) {
  const { rows } = await sql(
    source.url,
    `SELECT u.id, u.email,
            (SELECT p.amount FROM purchases p WHERE p.user_id = u.id AND p.amount >= 10
              ORDER BY p.created_at DESC LIMIT 1)::float8 AS last_purchase_amount,
            (SELECT count(p.id) FROM purchases p WHERE p.user_id = u.id)::int AS purchase_count,
            (SELECT sum(p.amount) FROM purchases p WHERE p.user_id = u.id)::float8 AS total_spent
       FROM users u WHERE u.id = ANY($1::int[]) ORDER BY u.id`,
    [userIds]
  );
  return rows as { id: number; email: string; last_purchase_amount: number | null; purchase_count: number; total_spent: number | null }[];
}

/**
 * One step of the user's flow: a screenshot on failure, and the steps after a failed one fail at once
 * (they depend on what it should have made).
 */
async function step(name: string, body: () => Promise<void>) {
  if (failedStep) throw new Error(`not run: the earlier step "${failedStep}" failed`);
  const started = Date.now();
  try {
    await body();
    expect(serverErrors).toEqual([]);
  } catch (error) {
    failedStep = name;
    if (page) await screenshot(page, `FAILED-${name}`).catch(() => undefined);
    throw error;
  } finally {
    timings[name] = (Date.now() - started) / 1000;
  }
}

/**
 * A file of the config folder, once it exists and `ok` accepts it: the UI's server rewrites the
 * files after it answers, so a file may lag behind the page for a moment.
 */
async function configFile(relative: string, ok: (content: any) => boolean = () => true): Promise<any> {
  const read = async () => {
    try {
      return JSON.parse(fs.readFileSync(path.join(configDir, relative), "utf8"));
    } catch (error) {
      return undefined; // not written yet, or being written
    }
  };
  const content = await eventually(read, (c) => c !== undefined && ok(c), 15000);
  if (content === undefined) throw new Error(`the UI wrote no ${relative} in ${configDir}`);
  return content;
}

/** A source's file: the Source, then its Schedule once there is one. */
async function sourceConfig(relative: string, entries = 1): Promise<any[]> {
  return configFile(relative, (c) => [].concat(c).length >= entries).then((c) => [].concat(c));
}

/** The sample record card of a property page: its rows as {key: value} (a row: `th` key and badges, `td` value). */
async function sampleRecord(): Promise<Record<string, string>> {
  const card = page.locator(".card", { has: page.locator("h5#sample-record") });
  const rows: [string, string][] = await card.locator("table tbody tr").evaluateAll((trs: any[]) =>
    trs.map((tr) => [String(tr.querySelector("th")?.firstChild?.textContent ?? "").trim(), String(tr.querySelector("td")?.innerText ?? "").trim()])
  );
  return Object.fromEntries(rows);
}

/**
 * The edited property's value in the sample record card, once it matches what SQL says for the
 * record shown (the card reloads a second after each change: earlier values may show first).
 * Throws the plugin's error when the card shows one.
 */
async function expectSampleValue(key: string, expectedFor: (userId: number) => Promise<unknown>) {
  const row = page.locator("tr.table-success, tr.table-danger", { hasText: key }).first();
  let last: { value: string; userId: number; error?: string; expected?: unknown } = { value: "", userId: NaN };
  await eventually(
    async () => {
      if ((await row.count()) === 0) return false;
      const text = String(await row.locator("td").first().innerText()).trim();
      if (await row.evaluate((el: any) => el.classList.contains("table-danger"))) {
        last = { value: "", userId: NaN, error: text };
        return false;
      }
      const userId = Number((await sampleRecord()).users_id);
      const expected = await expectedFor(userId);
      last = { value: text, userId, expected };
      return text === String(expected ?? "");
    },
    (ok) => ok,
    30000
  );
  if (last.error !== undefined) throw new Error(`the sample record shows an error for ${key}: ${last.error}`);
  expect({ key, userId: last.userId, value: last.value }).toEqual({ key, userId: last.userId, value: String(last.expected ?? "") });
  return last;
}

async function chooseTypeahead(placeholderOrSelector: string, typed: string, value: string) {
  const input = page.locator(placeholderOrSelector);
  await input.click();
  await input.fill(typed);
  await page.locator(`a.dropdown-item[aria-label="${value}"]`).click();
}

async function typeaheadChoices(selector: string): Promise<{ key: string; text: string }[]> {
  await page.locator(selector).click();
  await page.locator("a.dropdown-item").first().waitFor();
  const items = await page
    .locator("a.dropdown-item")
    .evaluateAll((els: any[]) => els.map((e) => ({ key: e.getAttribute("aria-label"), text: String(e.innerText) })));
  await page.keyboard.press("Escape");
  return items;
}

async function gotoModelOverview() {
  await page.goto(`${server!.url}/model/${modelId}/overview`, { waitUntil: "networkidle" });
}

async function addSource(connection: "Postgres Import Table" | "Postgres Import Query") {
  await gotoModelOverview();
  await page.getByText("Add new Source").click();
  await arrive(page, "**/source/new");
  await page.locator(".selector-list", { hasText: "Shop DB" }).click();
  await arrive(page, /\/source\/new\/app_/);
  // a secondary source may use either connection
  expect(await page.locator(".card-title").allInnerTexts()).toEqual(["Postgres Import Table", "Postgres Import Query"]);
  await page.locator(".card", { hasText: connection }).getByRole("button", { name: "Create Source" }).click();
  await arrive(page, /\/source\/src_[^/]+\/edit$/);
}

async function addProperty(key: string, type: string) {
  await page.getByRole("button", { name: "Add Property" }).click();
  await arrive(page, /\/property\/[^/]+\/edit/);
  await page.locator("input#key").first().fill(key);
  await page.selectOption("select#type", type);
}

async function saveProperty() {
  await page.getByRole("button", { name: "Update" }).click();
  await arrive(page, /\/source\/[^/]+\/overview$/);
}

/** A TCP server that accepts connections and never answers: a Postgres that hangs. */
async function startSilentServer(): Promise<number> {
  silentServer = net.createServer((socket) => {
    silentSockets.push(socket);
    socket.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => silentServer!.listen(0, "127.0.0.1", resolve));
  return (silentServer.address() as net.AddressInfo).port;
}

function runConfigThroughCore(coreDatabaseUrl: string): Promise<{ code: number; output: string; seconds: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const env: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: "development" };
    delete env.GROUPAROO_INJECTED_PLUGINS;
    delete env.DATABASE_URL;
    runChild = execFile(
      process.execPath,
      [path.join(ROOT, "scripts", "ui", "run-config.js"), configDir, coreDatabaseUrl],
      { env, maxBuffer: 32 * 1024 * 1024, timeout: 120000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : -1) : 0;
        resolve({ code, output: `${stdout}${stderr}`, seconds: (Date.now() - started) / 1000 });
      }
    );
  });
}

async function stopUi() {
  if (browser) await browser.close().catch(() => undefined);
  browser = undefined;
  if (server) await server.stop();
  server = undefined;
}

describe("the Config UI (@grouparoo/ui-config 0.9.0) with the packed plugin, in headless Chromium", () => {
  beforeAll(async () => {
    const started = Date.now();
    // 1. the browser: Debian's chromium, installed when missing (a clear error when it cannot be)
    const chromiumPath: string = ensureChromium();
    // 2. the app folder, with the freshly packed plugin
    // held until afterAll: a parallel run waits rather than reinstall the plugin under this one's server
    prepared = await prepareApp({ hold: true, log: (m: string) => console.log(`[ui test] ${m}`) });
    resetScreenshots(); // under the app folder's lock: a parallel run waits above, it does not wipe ours
    timings.prepareApp = prepared.seconds;
    // 3. databases and a fresh config folder
    source = await freshDatabase("gpp_ui_source");
    await fixtures(source.url);
    const coreDatabaseUrl: string = await createDatabase(adminUrl(), "gpp_ui_core");
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), "gpp-ui-config-"));
    configDir = path.join(workDir, "config");
    fs.mkdirSync(configDir);
    // 4. the Config UI, then the browser
    server = (await startConfigServer({
      appDir: prepared.appDir,
      shim: prepared.shim,
      configDir,
      coreDatabaseUrl,
      logFile: path.join(SCREENSHOTS, "logs", "config-server.log"),
    })) as Server;
    timings.serverBoot = server.bootSeconds;
    browser = await launchChromium(chromiumPath);
    const context = await browser.newContext({ viewport: VIEWPORT });
    page = await context.newPage();
    page.setDefaultTimeout(30000);
    page.on("pageerror", (error) => pageErrors.push(error.message));
    page.on("response", (response) => {
      if (response.url().startsWith(server?.url ?? "-") && response.status() >= 500) {
        serverErrors.push(`${response.status()} ${response.request().method()} ${response.url()}`);
      }
    });
    timings.beforeAll = (Date.now() - started) / 1000;
  }, 15 * 60 * 1000);

  afterAll(async () => {
    await stopUi();
    if (runChild && runChild.exitCode === null && runChild.signalCode === null) runChild.kill("SIGKILL");
    for (const socket of silentSockets) socket.destroy();
    if (silentServer) await new Promise((resolve) => silentServer!.close(resolve));
    fs.mkdirSync(path.join(SCREENSHOTS, "logs"), { recursive: true });
    if (configDir && fs.existsSync(configDir)) {
      // keep what the UI wrote beside the screenshots, for a reviewer
      fs.cpSync(configDir, path.join(SCREENSHOTS, "written-config"), { recursive: true });
    }
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
    if (prepared) prepared.release();
    fs.writeFileSync(path.join(SCREENSHOTS, "logs", "timings.json"), JSON.stringify(timings, null, 2) + "\n");
    // uncaught errors of the UI's own scripts, for a reviewer (not failures: the UI is not ours)
    fs.writeFileSync(path.join(SCREENSHOTS, "logs", "page-errors.json"), JSON.stringify(pageErrors, null, 2) + "\n");
  }, 60000);

  test("the packed plugin, installed into the app and listed in its grouparoo.plugins, is an active plugin of the core", () => {
    const installed = path.join(prepared.appDir, "node_modules", PLUGIN);
    expect(fs.lstatSync(installed).isSymbolicLink()).toBe(false);
    const app = JSON.parse(fs.readFileSync(path.join(prepared.appDir, "package.json"), "utf8"));
    expect(app.grouparoo.plugins).toEqual(["@grouparoo/ui-config", PLUGIN]);
    expect(app.dependencies[PLUGIN]).toMatch(/^file:plugin-[0-9a-f]+\.tgz$/);
    // a resolvable main would make the core drop the plugin silently: Node itself, from the app, must fail to resolve it
    const resolved = spawnSync(
      process.execPath,
      ["-e", `try { require.resolve(${JSON.stringify(PLUGIN)}); console.log("RESOLVED") } catch (e) { console.log(e.code) }`],
      { cwd: prepared.appDir, encoding: "utf8" }
    );
    expect(resolved.stdout.trim()).toMatch(/^(ERR_PACKAGE_PATH_NOT_EXPORTED|MODULE_NOT_FOUND)$/);
    const line = server!.log().split("\n").find((l) => l.includes("active plugins:"));
    expect(line).toBeDefined();
    const active = line!.replace(/.*active plugins:/, "").split(",").map((s) => s.trim());
    expect(active).toEqual(expect.arrayContaining(["@grouparoo/core", "@grouparoo/ui-config", PLUGIN]));
  });

  test("step 1: a postgres App: labels, descriptions and defaults, a password field, the TLS mode list, and Test Connection's answers", async () => {
    await step("1-app", async () => {
      // register (no plugin call)
      await page.goto(`${server!.url}/`, { waitUntil: "networkidle" });
      await page.getByText("Register", { exact: true }).first().click();
      await page.locator("input[name=company]").waitFor();
      await page.fill("input[name=company]", "Test Co");
      await page.fill("input[name=email]", "ui-test@example.com");
      await screenshot(page, "01-register");
      await page.getByRole("button", { name: "Register" }).click();
      await arrive(page, "**/setup");

      // the plugin's card, with its icon
      await page.goto(`${server!.url}/apps`, { waitUntil: "networkidle" });
      await page.getByText("Add App").first().click();
      await arrive(page, "**/app/new");
      const card = page.locator(".selector-list", { hasText: PLUGIN });
      await expect(card.count()).resolves.toBe(1);
      await screenshot(page, "02-app-choose-plugin");
      await card.click();
      await arrive(page, /\/app\/[^/]+\/edit$/);

      // every option: a label, a description, its default in the field; "Database" is required
      const expected: [string, string, string][] = [
        ["host", "Host", "localhost"],
        ["port", "Port", "5432"],
        ["database", "Database", ""],
        ["schema", "Schema", "public"],
        ["user", "User", ""],
        ["password", "Password", ""],
        ["sslmode", "TLS mode (sslmode)", "prefer"],
        ["ssl", "SSL (legacy)", ""],
        ["ssl_ca", "CA certificate", ""],
        ["ssl_cert", "Client certificate", ""],
        ["ssl_key", "Client key", ""],
        ["connect_timeout", "Connect timeout (s)", "10"],
        ["statement_timeout", "Statement timeout (s)", "120"],
        ["application_name", "Application name", "grouparoo-plugin-postgres"],
        ["ssh_host", "SSH bastion host", ""],
        ["ssh_port", "SSH port", "22"],
        ["ssh_user", "SSH user", ""],
        ["ssh_private_key", "SSH private key", ""],
        ["ssh_passphrase", "SSH key passphrase", ""],
        ["ssh_password", "SSH password", ""],
        ["ssh_host_key", "SSH host key fingerprint", ""],
        // blank: sized from the process's WORKERS at connect time, so the field is not prefilled
        ["pool_size", "Pool size", ""],
        ["commit_horizon", "Commit horizon", "auto"],
        ["settle_window", "Settle window (s)", "60"],
      ];
      const shown = await page.locator("[name^='options.']").evaluateAll((els: any[]) => els.map((e) => e.getAttribute("name")));
      expect(shown).toEqual(expected.map(([key]) => `options.${key}`));
      for (const [key, label, defaultValue] of expected) {
        const group = page.locator(".form-group", { has: page.locator(`[name="options.${key}"]`) });
        expect(await group.locator("label code").innerText()).toBe(label);
        expect(await group.locator("label .badge", { hasText: "required" }).count()).toBe(key === "database" ? 1 : 0);
        const description = await group.locator("small.form-text").innerText();
        expect(description.length).toBeGreaterThan(10);
        expect(await page.locator(`[name="options.${key}"]`).inputValue()).toBe(defaultValue);
        if (defaultValue && key !== "sslmode") expect(description).toContain(`default ${defaultValue}`);
        if (key === "pool_size") expect(description).toContain("WORKERS + 1");
      }
      // the password is a password field; the TLS mode a list of libpq's modes; a one-line PEM is explained
      for (const secret of ["password", "ssh_private_key", "ssh_passphrase", "ssh_password"]) expect(await page.locator(`[name='options.${secret}']`).getAttribute("type")).toBe("password");
      const sslmode = page.locator("select[name='options.sslmode']");
      const modes = await sslmode.locator("option").evaluateAll((os: any[]) => os.map((o) => ({ value: o.value, text: String(o.innerText) })));
      expect(modes.map((m) => m.value)).toEqual(["", "disable", "prefer", "require", "verify-ca", "verify-full"]);
      expect(modes.find((m) => m.value === "prefer")!.text).toMatch(/\(default\)/);
      expect(modes.find((m) => m.value === "require")!.text).toMatch(/NOT verified/);
      const caHelp = await page.locator(".form-group", { has: page.locator("[name='options.ssl_ca']") }).locator("small.form-text").innerText();
      expect(caHelp).toMatch(/line breaks lost/);
      await screenshot(page, "03-app-options");

      const { appOptions } = source;
      const testButton = page.getByRole("button", { name: "Test Connection" });
      expect(await testButton.isDisabled()).toBe(true); // until the required database is filled
      const testConnection = async (variant: "success" | "warning", text: string | RegExp) => {
        const previous = await page.$(".alert-success, .alert-warning");
        const started = Date.now();
        await testButton.click();
        // the previous answer goes as soon as the button is clicked
        if (previous) await previous.waitForElementState("hidden");
        const alert = page.locator(`.alert-${variant}`, { hasText: text });
        await alert.waitFor({ timeout: 30000 });
        return { message: await alert.innerText(), seconds: (Date.now() - started) / 1000 };
      };

      // wrong password
      await page.fill("[name='options.host']", appOptions.host);
      await page.fill("[name='options.port']", appOptions.port);
      await page.fill("[name='options.database']", appOptions.database);
      await page.fill("[name='options.user']", appOptions.user);
      await page.fill("[name='options.password']", "not-the-password");
      await page.selectOption("select[name='options.sslmode']", "disable");
      let result = await testConnection("warning", "authentication failed");
      expect(result.message).toMatch(/^Test Failed/);
      expect(result.message).toMatch(/check the App options `user` and `password`/);
      expect(result.message).not.toContain("not-the-password");
      await screenshot(page, "04-app-test-failed-password");

      // unknown database
      await page.fill("[name='options.password']", appOptions.password);
      await page.fill("[name='options.database']", "no_such_database");
      result = await testConnection("warning", "does not exist");
      expect(result.message).toMatch(/database "no_such_database" does not exist: check the App option `database`/);
      await screenshot(page, "05-app-test-failed-database");

      // unreachable: nothing listens on the port
      await page.fill("[name='options.database']", appOptions.database);
      const closedPort = String(await freePort());
      await page.fill("[name='options.port']", closedPort);
      result = await testConnection("warning", "nothing accepts connections");
      expect(result.message).toContain(`127.0.0.1:${closedPort}`);
      await screenshot(page, "06-app-test-failed-unreachable");

      // a server that never answers: fails within connect_timeout
      await page.fill("[name='options.port']", String(await startSilentServer()));
      await page.fill("[name='options.connect_timeout']", "2");
      result = await testConnection("warning", "within connect_timeout");
      expect(result.message).toMatch(/no answer from 127\.0\.0\.1:\d+ within connect_timeout \(2 s\)/);
      expect(result.seconds).toBeLessThan(8);
      await screenshot(page, "07-app-test-failed-timeout");

      // a CA pasted into the one-line field: garbage is refused by name, a PEM on one line is accepted
      await page.fill("[name='options.port']", appOptions.port);
      await page.fill("[name='options.connect_timeout']", "10");
      await page.fill("[name='options.ssl_ca']", "not a certificate");
      result = await testConnection("warning", "ssl_ca");
      expect(result.message).toMatch(/App option `ssl_ca` must be PEM text/);
      const certificates = new Certificates();
      const onePem = certificates.authority("UI test CA").cert.replace(/\s*\n\s*/g, " ").trim();
      certificates.cleanup();
      expect(onePem).not.toContain("\n");
      await page.fill("[name='options.ssl_ca']", onePem);
      const { rows: version } = await sql(source.url, "SELECT current_setting('server_version') AS v");
      result = await testConnection("success", "Test Passed");
      await page.fill("[name='options.ssl_ca']", "");

      // blank options arrive as "", the port as a string: read right
      result = await testConnection("success", "Test Passed");
      expect(result.message).toContain(`PostgreSQL ${version[0].v} as ${appOptions.user}`);
      expect(result.message).toMatch(/schema "public" has 3 tables and views: big_purchases, purchases, users/);
      expect(result.message).toMatch(/not encrypted \(sslmode=disable\)/);
      await screenshot(page, "08-app-test-passed");
      await docsScreenshot(page, "app-test-connection", page.locator(".alert-success"));

      await page.fill("input[name=name]", "Shop DB");
      await page.getByRole("button", { name: "Update" }).click();
      await arrive(page, "**/apps");
      const row = page.locator("tr", { hasText: "Shop DB" });
      expect(await row.innerText()).toMatch(/Postgres\s+ready/);
      await screenshot(page, "09-apps");

      const app = await configFile("apps/shop_db.json", (c) => c.name === "Shop DB");
      expect(app).toMatchObject({ class: "App", type: "postgres", name: "Shop DB" });
      expect(app.options).toMatchObject({ host: appOptions.host, port: appOptions.port, database: appOptions.database, sslmode: "disable" });
      expect(app.options).not.toHaveProperty("ssl");
    });
  });

  test("the App's card shows the plugin's icon", async () => {
    // the icon URL that the plugin registers must be served from its public/ folder
    const { status, ok } = await page.evaluate(async (url: string) => {
      const response = await fetch(url);
      return { status: response.status, ok: response.ok };
    }, `/public/${PLUGIN}/postgres.svg`);
    expect({ icon: `/public/${PLUGIN}/postgres.svg`, status, ok }).toEqual({ icon: `/public/${PLUGIN}/postgres.svg`, status: 200, ok: true });
  });

  test("step 2: a primary postgres-import-table Source: the schema's tables and views, a preview with column names, the key column offered", async () => {
    await step("2-primary-source", async () => {
      await page.goto(`${server!.url}/model/new`, { waitUntil: "networkidle" });
      await page.fill("input[name=name]", "Users");
      await page.selectOption("select[name=type]", "profile");
      await page.getByRole("button", { name: "Submit" }).click();
      await arrive(page, /\/model\/[^/]+\/overview$/);
      modelId = new URL(page.url()).pathname.split("/")[2];

      await page.getByText("Create Primary Source").click();
      await arrive(page, "**/source/new");
      // the App can make a primary source (the table connection defines uniquePropertyBootstrapOptions)
      const appCard = page.locator(".selector-list", { hasText: "Shop DB" });
      expect(await appCard.getAttribute("class")).not.toContain("text-muted");
      await appCard.click();
      // only the table connection qualifies, so the UI creates it at once
      await arrive(page, /\/source\/src_[^/]+\/edit$/);
      expect(await page.locator("#form").innerText()).toContain("Options for a Postgres Table Import source");

      const tables = await typeaheadChoices("input.rbt-input-main");
      expect(tables.map((t) => t.key)).toEqual(["big_purchases", "purchases", "users"]);
      expect(tables.map((t) => t.text.replace(/\s+/g, " ").trim())).toEqual([
        "big_purchases Description: view",
        "purchases Description: table",
        "users Description: table",
      ]);
      await page.locator("input.rbt-input-main").fill("us");
      await page.locator("a.dropdown-item").first().waitFor();
      expect(await page.locator("a.dropdown-item").evaluateAll((els: any[]) => els.map((e) => e.getAttribute("aria-label")))).toEqual(["users"]);
      await screenshot(page, "10-primary-source-tables");
      await page.locator('a.dropdown-item[aria-label="users"]').click();

      // the preview: column names and sample rows, as in the table
      const preview = page.locator(".card", { has: page.locator("h5#example-data") });
      await preview.locator("td", { hasText: "user1@example.com" }).waitFor();
      expect(await preview.locator("thead th").allInnerTexts()).toEqual(["email", "first_name", "id", "updated_at"]);
      const rows = await tableRows(preview.locator("table"));
      expect(rows.length).toBe(10);
      const { rows: users } = await sql(source.url, "SELECT id, email, first_name, updated_at FROM users");
      for (const [email, firstName, id, updatedAt] of rows) {
        const user = users.find((u) => u.id === Number(id));
        expect(user).toBeDefined();
        expect([email, firstName, new Date(updatedAt).getTime()]).toEqual([user.email, user.first_name, user.updated_at.getTime()]);
      }

      // the key column is offered for the model's unique property
      const mapping = page.locator("select#mapping_source_column");
      await mapping.locator("option[value=id]").waitFor({ state: "attached" });
      expect(await mapping.locator("option").allInnerTexts()).toEqual(["Select an option", "email", "first_name", "id", "updated_at"]);
      await mapping.selectOption("id");
      expect(await page.locator("#form").innerText()).toMatch(/Example Data: \d+, \d+, \d+/);
      await page.fill("input[name='source.name']", "Users Table");
      await screenshot(page, "11-primary-source-preview");
      await docsScreenshot(page, "primary-source-preview", page.locator("h5#example-data"));
      await page.getByRole("button", { name: "Update" }).click();
      // with no schedule yet, the UI goes on to the schedule
      await arrive(page, /\/schedule$/, 60000);

      const [usersSource] = await sourceConfig("sources/users_table.json");
      expect(usersSource).toMatchObject({ type: "postgres-import-table", options: { table: "users" }, mapping: { id: "users_id" } });
      expect(await configFile("properties/users_id.json")).toMatchObject({ unique: true, type: "integer", options: { column: "id", aggregationMethod: "exact" } });
    });
  });

  test("step 5: the Schedule offers the high-watermark columns that can serve, filters that fit each column's type, and a recurring frequency", async () => {
    await step("5-schedule", async () => {
      expect(await page.locator("#form").innerText()).toContain("Options for a Postgres Table Import Schedule");
      const column = page.locator("select", { has: page.locator("option[value=updated_at]") });
      const choices = await column.locator("option").evaluateAll((os: any[]) => os.map((o) => `${o.value}=${String(o.innerText).replace(/\s+/g, " ").trim()}`));
      // integers and timestamps: not the text columns
      expect(choices).toEqual(["=Select an option", "id=id | integer", "updated_at=updated_at | timestamp with time zone"]);
      await column.selectOption("updated_at");
      expect(await page.locator("#incremental").isChecked()).toBe(true);
      expect(await page.locator("#incremental").isDisabled()).toBe(false);
      await page.locator("#recurring").check();
      await page.fill("#recurringFrequencyMinutes", "60");

      await page.getByRole("button", { name: "Add Filter" }).click();
      const filterRow = page.locator("table tbody tr").filter({ has: page.locator("select") }).first();
      const key = filterRow.locator("select").nth(0);
      const op = filterRow.locator("select").nth(1);
      expect(await key.locator("option").allInnerTexts()).toEqual(["id", "email", "first_name", "updated_at"]);
      const ops: Record<string, string[]> = {};
      for (const k of ["email", "id", "updated_at"]) {
        await key.selectOption(k);
        ops[k] = await op.locator("option").evaluateAll((os: any[]) => os.map((o) => o.value));
      }
      expect(ops.email).toEqual(expect.arrayContaining(["eq", "ne", "substring", "notSubstring", "exists", "notExists"]));
      expect(ops.id).toEqual(expect.arrayContaining(["eq", "gt", "gte", "lt", "lte"]));
      expect(ops.id).not.toContain("substring");
      expect(ops.updated_at).toEqual(expect.arrayContaining(["gt", "lt"]));
      expect(ops.updated_at).not.toContain("substring");
      await key.selectOption("id");
      await op.selectOption("lte");
      await filterRow.locator("input[type=text]").fill(String(SCHEDULE_MAX_ID));
      await screenshot(page, "12-schedule");
      await page.getByRole("button", { name: "Update" }).click();
      await arrive(page, (u) => !u.pathname.endsWith("/schedule"), 60000);

      const [, schedule] = await sourceConfig("sources/users_table.json", 2);
      expect(schedule).toMatchObject({
        class: "Schedule",
        incremental: true,
        recurring: true,
        recurringFrequency: 60 * 60 * 1000,
        options: { column: "updated_at" },
        filters: [{ key: "id", op: "lte", match: String(SCHEDULE_MAX_ID) }],
      });
    });
  });

  test("step 4a: a Property on the primary Source: the column list with examples, the eight aggregation methods, a sample value", async () => {
    await step("4a-property-email", async () => {
      await page.goto(page.url().replace(/\/[^/]+$/, "/overview"), { waitUntil: "networkidle" });
      await addProperty("email", "email");
      const columns = await typeaheadChoices("input[placeholder='Select column']");
      expect(columns.map((c) => c.key)).toEqual(["id", "email", "first_name", "updated_at"]);
      expect(columns.find((c) => c.key === "email")!.text).toMatch(/Examples: user\d+@example\.com/);
      await chooseTypeahead("input[placeholder='Select column']", "ema", "email");
      const methods = page.locator("input[type=radio][name=aggregationMethod]");
      await methods.first().waitFor();
      const table = page.locator("table", { has: methods.first() });
      expect((await tableRows(table)).map((r) => r[1])).toEqual([
        "exact",
        "average",
        "count",
        "sum",
        "min",
        "max",
        "most recent value",
        "least recent value",
      ]);
      await page.locator("tr", { hasText: "exact" }).locator("input[type=radio]").first().check();
      // with "exact", the sort column is offered but optional
      const sortLabel = page.locator("p", { has: page.locator("code", { hasText: "Sort Column" }) });
      await sortLabel.waitFor();
      expect(await sortLabel.locator(".badge", { hasText: "required" }).count()).toBe(0);
      await expectSampleValue("email", async (id) => (await expectedValues([id]))[0]?.email);
      await screenshot(page, "13-property-email");
      await saveProperty();
      expect(await configFile("properties/email.json")).toMatchObject({ type: "email", sourceId: "users_table", options: { column: "email", aggregationMethod: "exact" } });
    });
  });

  test("step 3: a secondary Source on a second table, mapped to the primary's key property", async () => {
    await step("3-secondary-source", async () => {
      await addSource("Postgres Import Table");
      await page.fill("input[name='source.name']", "Purchases");
      await chooseTypeahead("input.rbt-input-main", "purch", "purchases");
      const preview = page.locator(".card", { has: page.locator("h5#example-data") });
      await preview.locator("th", { hasText: "user_id" }).waitFor();
      expect(await preview.locator("thead th").allInnerTexts()).toEqual(["amount", "created_at", "id", "user_id"]);
      const column = page.locator("select#mapping_source_column");
      await column.locator("option[value=user_id]").waitFor({ state: "attached" });
      await column.selectOption("user_id");
      const properties = await page.locator("select#mapping_property option").allInnerTexts();
      expect(properties.map((p) => p.trim())).toEqual(["Select an option", "email", "users_id (unique)"]);
      await page.selectOption("select#mapping_property", "users_id");
      await screenshot(page, "14-secondary-source");
      await page.getByRole("button", { name: "Update" }).click();
      await arrive(page, /\/source\/[^/]+\/overview$/, 60000);
      expect(await page.locator("body").innerText()).toContain("Mapping: user_id → users_id");
      expect((await sourceConfig("sources/purchases.json"))[0]).toMatchObject({ type: "postgres-import-table", options: { table: "purchases" }, mapping: { user_id: "users_id" } });
    });
  });

  test("step 4b: Properties on the secondary Source: most recent value with its required sort column and a filter, and a count", async () => {
    await step("4b-properties-purchases", async () => {
      await addProperty("last_purchase_amount", "float");
      await chooseTypeahead("input[placeholder='Select column']", "amo", "amount");
      await page.locator("tr", { hasText: "most recent value" }).locator("input[type=radio]").first().check();
      const sortLabel = page.locator("p", { has: page.locator("code", { hasText: "Sort Column" }) });
      await sortLabel.locator(".badge", { hasText: "required" }).waitFor();
      const sortColumns = await typeaheadChoices("input[placeholder='Select sortColumn']");
      expect(sortColumns.map((c) => c.key)).toEqual(expect.arrayContaining(["created_at", "id"]));
      await chooseTypeahead("input[placeholder='Select sortColumn']", "creat", "created_at");

      await page.getByRole("button", { name: "Add Filter" }).click();
      const filterRow = page.locator("table tbody tr").filter({ has: page.locator("select") }).first();
      const key = filterRow.locator("select").nth(0);
      const op = filterRow.locator("select").nth(1);
      expect(await key.locator("option").allInnerTexts()).toEqual(["id", "user_id", "amount", "created_at"]);
      await key.selectOption("created_at");
      const timestampOps = await op.locator("option").evaluateAll((os: any[]) => os.map((o) => o.value));
      expect(timestampOps).not.toContain("substring");
      await key.selectOption("amount");
      await op.selectOption("gte");
      await filterRow.locator("input[type=text]").fill("10");
      await expectSampleValue("last_purchase_amount", async (id) => (await expectedValues([id]))[0]?.last_purchase_amount);
      await screenshot(page, "15-property-most-recent");
      await saveProperty();
      expect(await configFile("properties/last_purchase_amount.json")).toMatchObject({
        options: { column: "amount", aggregationMethod: "most recent value", sortColumn: "created_at" },
        filters: [{ key: "amount", op: "gte", match: "10" }],
      });

      await addProperty("purchase_count", "integer");
      await chooseTypeahead("input[placeholder='Select column']", "id", "id");
      await page.locator("tr", { hasText: "how many values" }).locator("input[type=radio]").first().check();
      await expectSampleValue("purchase_count", async (id) => (await expectedValues([id]))[0]?.purchase_count);
      // no sort column for a count
      expect(await page.locator("input[placeholder='Select sortColumn']").count()).toBe(0);
      await screenshot(page, "16-property-count");
      await saveProperty();
    });
  });

  test("step 6: a postgres-import-query Source and a query Property with a record variable", async () => {
    await step("6-query", async () => {
      await addSource("Postgres Import Query");
      await page.locator("text=No options for this type of source").waitFor();
      await page.fill("input[name='source.name']", "Purchase Queries");
      await screenshot(page, "17-query-source");
      await page.getByRole("button", { name: "Update" }).click();
      await arrive(page, /\/source\/[^/]+\/overview$/, 60000);

      await addProperty("total_spent", "float");
      const query = page.locator("textarea");
      await query.waitFor();
      const help = await page.locator("#form").innerText();
      expect(help).toMatch(/are bound as parameters/);
      for (const variable of ["{{{ users_id }}}", "{{{ email }}}", "{{{ now }}}"]) expect(help).toContain(variable);
      await query.fill("SELECT sum(amount) FROM purchases WHERE user_id = {{ users_id }}");
      await expectSampleValue("total_spent", async (id) => (await expectedValues([id]))[0]?.total_spent);
      await screenshot(page, "18-query-property");
      await docsScreenshot(page, "query-property", query);
      await saveProperty();
      expect(await configFile("properties/total_spent.json")).toMatchObject({ sourceId: "purchase_queries", options: { query: expect.stringMatching(/user_id = \{\{\{? ?users_id ?\}?\}\}/) } });
    });
  });

  let runResult: Promise<{ code: number; output: string; seconds: number }> | undefined;

  test("the config that the UI wrote passes `grouparoo validate`", async () => {
    if (failedStep) throw new Error(`not run: the step "${failedStep}" failed`);
    await stopUi(); // the files are written; free the CPU for the core
    const validateDb: string = await createDatabase(adminUrl(), "gpp_ui_validate");
    const runDb: string = await createDatabase(adminUrl(), "gpp_ui_run");
    runResult = runConfigThroughCore(runDb); // in parallel
    const validation = await validateConfig({ appDir: prepared.appDir, shim: prepared.shim, configDir, coreDatabaseUrl: validateDb });
    timings.validate = validation.seconds;
    fs.writeFileSync(path.join(SCREENSHOTS, "logs", "validate.log"), validation.output);
    expect(validation.output).toMatch(/active plugins:.*grouparoo-plugin-postgres/);
    expect(validation.output).toMatch(/Validation succeeded/);
    expect(validation.code).toBe(0);
  }, 150000);

  test("a run of that config through the real core imports the expected records and property values", async () => {
    if (!runResult) throw new Error("not run: the validation step did not start it");
    const { code, output, seconds } = await runResult;
    timings.run = seconds;
    fs.writeFileSync(path.join(SCREENSHOTS, "logs", "run.log"), output);
    const line = output.split("\n").find((l) => l.startsWith("RESULT "));
    if (code !== 0 || !line) throw new Error(`the run failed (${code}):\n${output.slice(-4000)}`);
    const result: RunResult = JSON.parse(line.slice("RESULT ".length));
    expect(result.runs).toEqual([expect.objectContaining({ schedule: "Users Table schedule", imports: SCHEDULE_MAX_ID, error: null, state: "complete" })]);
    expect(result.properties.map((p) => `${p.key}:${p.type}:${p.state}`).sort()).toEqual([
      "email:email:ready",
      "last_purchase_amount:float:ready",
      "purchase_count:integer:ready",
      "total_spent:float:ready",
      "users_id:integer:ready",
    ]);
    const ids = Array.from({ length: SCHEDULE_MAX_ID }, (_, i) => i + 1);
    const expected = await expectedValues(ids);
    const got = result.records
      .map((r) => ({ state: r.state, ...Object.fromEntries(Object.entries(r.properties).map(([k, v]) => [k, v.length === 1 ? v[0] : v])) }))
      .sort((a: any, b: any) => a.users_id - b.users_id);
    expect(got).toEqual(
      expected.map((e) => ({
        state: "ready",
        users_id: e.id,
        email: e.email,
        last_purchase_amount: e.last_purchase_amount,
        purchase_count: e.purchase_count,
        total_spent: e.total_spent,
      }))
    );
    // the fixture has a user without purchases: a count of 0 and no sum
    expect(got.find((r: any) => r.users_id === 7)).toMatchObject({ purchase_count: 0, total_spent: null, last_purchase_amount: null });
  }, 150000);
});
