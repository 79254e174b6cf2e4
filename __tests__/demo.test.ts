import { execFile } from "child_process";
import path from "path";
import { freshDatabase, sql } from "./support/db";
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { createDataset } = require("../scripts/demo");
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { timePluginMethods } = require("../scripts/lib/plugin-time");

const USERS = 120;
const CHANGES = 7;

function runDemo(args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [path.join(__dirname, "..", "scripts", "demo.js"), ...args], {
      env: { ...process.env, DATABASE_URL: "", PGHOST: "" },
      maxBuffer: 20 * 1024 * 1024,
      timeout: 600000, // the core boots in 10 s on an idle machine, in minutes on a loaded one
    });
    let output = "";
    child.stdout?.on("data", (d) => (output += d));
    child.stderr?.on("data", (d) => (output += d));
    child.on("exit", (code) => resolve({ code: code ?? -1, output }));
  });
}

describe("npm run demo", () => {
  let output: string;
  interface RunSummary {
    imports: number;
    seconds: number;
    pluginSeconds: number;
    coreSeconds: number;
    pluginCalls: Record<string, number>;
  }
  let summary: { records: number; properties: number; runs: RunSummary[]; sample: Record<string, unknown>[] };

  beforeAll(async () => {
    const result = await runDemo(["--users", String(USERS), "--changes", String(CHANGES)]);
    output = result.output;
    if (result.code !== 0) throw new Error(`the demo failed (${result.code}):\n${output}`);
    summary = JSON.parse(output.split("\n").find((l) => l.startsWith("SUMMARY "))!.slice("SUMMARY ".length));
  }, 660000);

  test("imports every user as a record with its properties, and prints them", () => {
    expect(summary.records).toBe(USERS);
    expect(summary.properties).toBe(8);
    expect(summary.runs[0].imports).toBe(USERS);
    expect(output).toMatch(/Run 1: 120 imports, 120 records, 8 properties each/);
    expect(output).toMatch(/run 1: importing \[#+\] 100%/);
    expect(output).toContain("user_id  country  email");
  });

  test("the printed values match SQL over the same dataset", async () => {
    // the dataset is deterministic: build it again and recompute with SQL
    const { url } = await freshDatabase("gpp_demo_check");
    await createDataset(url, USERS, USERS * 10);
    for (const record of summary.sample) {
      const { rows } = await sql(
        url,
        `SELECT u.email, sum(p.amount)::float8 AS ltv, count(p.id)::int AS n,
                count(p.id) FILTER (WHERE p.amount >= 100)::int AS large
           FROM users u LEFT JOIN purchases p ON p.user_id = u.id WHERE u.id = $1 GROUP BY u.email`,
        [record.user_id]
      );
      expect(record).toMatchObject({ email: rows[0].email, lifetime_value: rows[0].ltv, purchase_count: rows[0].n, large_purchases: rows[0].large });
    }
    expect(summary.sample.length).toBeGreaterThan(0);
  });

  test("the second run imports only the changed users, and everything is stopped", () => {
    expect(summary.runs[1].imports).toBe(CHANGES);
    expect(output).toContain("Done: nothing left running.");
  });

  test("each run's time is split into the plugin's reads and the core's work, which add up to the run", () => {
    expect(summary.runs).toHaveLength(2);
    for (const [i, run] of summary.runs.entries()) {
      // each figure is rounded to 0.01 s
      expect(Math.abs(run.pluginSeconds + run.coreSeconds - run.seconds)).toBeLessThanOrEqual(0.015);
      expect(run.pluginSeconds).toBeGreaterThan(0);
      expect(run.coreSeconds).toBeGreaterThan(0);
      // the plugin was asked for the rows and for the properties
      expect(run.pluginCalls.importRecords).toBeGreaterThanOrEqual(1);
      expect(run.pluginCalls.recordProperties).toBeGreaterThanOrEqual(1);
      const label = `run ${i + 1}`;
      const block = new RegExp(
        `Where the ([0-9.]+) s of ${label} went:\\n +the plugin's reads +([0-9.]+) s +([0-9.]+) % +\\(inside its methods: ([^)]*)\\)\\n +the core's own work +([0-9.]+) s +([0-9.]+) %`
      ).exec(output);
      expect(block).not.toBeNull();
      const [, seconds, plugin, pluginPercent, methods, core, corePercent] = block!;
      expect(Number(plugin)).toBeCloseTo(run.pluginSeconds, 1);
      expect(Number(core)).toBeCloseTo(run.coreSeconds, 1);
      expect(Number(seconds)).toBeCloseTo(run.seconds, 0);
      expect(Math.abs(Number(pluginPercent) + Number(corePercent) - 100)).toBeLessThanOrEqual(0.15);
      expect(methods).toMatch(new RegExp(`recordProperties ${run.pluginCalls.recordProperties}x [0-9.]+ s`));
    }
    // every property of the first run in batches (the query source is mapped): no one-record call
    expect(summary.runs[0].pluginCalls.recordProperty).toBeUndefined();
    expect(summary.runs[0].pluginCalls.recordProperties).toBeGreaterThanOrEqual(summary.properties);
  });

  test("the closing line gives the demo's total and its steps, which add up to it", () => {
    const line = /The demo took ([0-9.]+) s: (.*)\.$/m.exec(output);
    expect(line).not.toBeNull();
    const steps = line![2].split(", ").map((step) => {
      const parts = /^(.+) ([0-9.]+) s$/.exec(step);
      expect(parts).not.toBeNull();
      return { name: parts![1], seconds: Number(parts![2]) };
    });
    expect(steps.map((s) => s.name)).toEqual(
      expect.arrayContaining(["start PostgreSQL", "create the dataset", "boot the core (its migrations and the config)", "run 1 and the records shown", "the change and run 2", "stop everything"])
    );
    const sum = steps.reduce((n, s) => n + s.seconds, 0);
    // each step is rounded to 0.1 s; what lies between the steps is a few milliseconds
    expect(Math.abs(sum - Number(line![1]))).toBeLessThanOrEqual(0.05 * steps.length + 0.2);
  });
});

describe("the plugin's clock (scripts/lib/plugin-time.js)", () => {
  // a clock moved by hand, so that the figures are exact
  let now = 0;
  const clock = () => now;
  const advance = (seconds: number) => (now += seconds);

  function harness() {
    const calls: string[] = [];
    const corePlugin = {
      async createImports(rows: number) {
        advance(5); // the core's work, inside the plugin's importRecords
        calls.push(`createImports ${rows}`);
        return rows;
      },
    };
    const connection = {
      methods: {
        async importRecords() {
          advance(1);
          await corePlugin.createImports(3);
          advance(2);
          return { importsCount: 3 };
        },
        recordProperties() {
          advance(0.5);
          return {};
        },
        async failing() {
          advance(0.25);
          throw new Error("boom");
        },
      },
    };
    const app = { methods: { connect: async () => (advance(0.125), "pool") } };
    const api = { plugins: { plugins: [{ name: "other" }, { name: "the-plugin", apps: [app], connections: [connection] }] } };
    const timer = timePluginMethods({ api, corePlugin, pluginName: "the-plugin", clock });
    return { timer, connection, app, corePlugin, calls };
  }

  test("counts the time inside the plugin's methods, not the core's callback or the time between calls", async () => {
    const { timer, connection, app, calls } = harness();
    advance(100); // before any call: the core's
    expect(await app.methods.connect()).toBe("pool");
    expect(await connection.methods.importRecords()).toEqual({ importsCount: 3 });
    advance(7); // between calls: the core's
    expect(connection.methods.recordProperties()).toEqual({}); // a method that returns at once is timed too
    await expect(connection.methods.failing()).rejects.toThrow("boom"); // and one that fails
    const read = timer.read();
    expect(calls).toEqual(["createImports 3"]);
    expect(read.seconds).toBeCloseTo(0.125 + 3 + 0.5 + 0.25, 9);
    expect(read.methods).toEqual({
      connect: { calls: 1, seconds: 0.125 },
      importRecords: { calls: 1, seconds: 3 },
      recordProperties: { calls: 1, seconds: 0.5 },
      failing: { calls: 1, seconds: 0.25 },
    });
  });

  test("overlapping calls count once", async () => {
    let open: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const connection = {
      methods: {
        async read() {
          advance(1);
          await gate; // both calls wait here at once, as two reads in flight would
          advance(2);
        },
      },
    };
    const api = { plugins: { plugins: [{ name: "the-plugin", connections: [connection] }] } };
    const timer = timePluginMethods({ api, corePlugin: { createImports: async () => undefined }, pluginName: "the-plugin", clock });
    const both = Promise.all([connection.methods.read(), connection.methods.read()]);
    open();
    await both;
    advance(10); // after both: the core's
    // 6 s from the first call's start to the last one's end; the sum of the calls' own spans would be more
    expect(timer.read().seconds).toBeCloseTo(6, 9);
    expect(timer.read().methods.read).toEqual({ calls: 2, seconds: 6 });
  });

  test("refuses a plugin the core has not registered", () => {
    expect(() => timePluginMethods({ api: { plugins: { plugins: [] } }, corePlugin: {}, pluginName: "missing", clock })).toThrow(
      "plugin missing is not registered with the core"
    );
  });
});
