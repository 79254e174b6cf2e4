import { execFile } from "child_process";
import path from "path";
import { freshDatabase, sql } from "./support/db";
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { createDataset } = require("../scripts/demo");

const USERS = 120;
const CHANGES = 7;

function runDemo(args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [path.join(__dirname, "..", "scripts", "demo.js"), ...args], {
      env: { ...process.env, DATABASE_URL: "", PGHOST: "" },
      maxBuffer: 20 * 1024 * 1024,
      timeout: 240000,
    });
    let output = "";
    child.stdout?.on("data", (d) => (output += d));
    child.stderr?.on("data", (d) => (output += d));
    child.on("exit", (code) => resolve({ code: code ?? -1, output }));
  });
}

describe("npm run demo", () => {
  let output: string;
  let summary: { records: number; properties: number; runs: { imports: number }[]; sample: Record<string, unknown>[] };

  beforeAll(async () => {
    const result = await runDemo(["--users", String(USERS), "--changes", String(CHANGES)]);
    output = result.output;
    if (result.code !== 0) throw new Error(`the demo failed (${result.code}):\n${output}`);
    summary = JSON.parse(output.split("\n").find((l) => l.startsWith("SUMMARY "))!.slice("SUMMARY ".length));
  }, 300000);

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
});
