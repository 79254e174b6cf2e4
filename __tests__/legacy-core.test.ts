import { execFile } from "child_process";
import path from "path";
import { freshDatabase, sql, usersAndPurchasesSql } from "./support/db";
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { prepareLegacyApp } = require("../scripts/legacy-core");
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { createDatabase } = require("../scripts/postgres-server");

// The same package inside a profile-era app: the real @grouparoo/core 0.5.1 with spec-helper 0.3.3,
// installed by the test itself in a folder of its own (cached per machine).
describe("a profile-era Grouparoo app (core 0.5.1)", () => {
  let result: Record<string, any>;
  let sourceUrl: string;
  const USERS = 130;

  beforeAll(async () => {
    const legacyDir = prepareLegacyApp();
    const db = await freshDatabase("gpp_legacy_source");
    sourceUrl = db.url;
    await sql(sourceUrl, usersAndPurchasesSql({ users: USERS, nullUntil: 4, tiedUntil: 104, firstName: false, purchases: 200, buyers: 20 }));
    // spec-helper 0.3.3 cannot truncate a 0.5 core: a fresh core database every run
    const coreUrl: string = await createDatabase(process.env.TEST_PG_URL, "gpp_legacy_core");
    const output = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        [path.join(__dirname, "legacy", "profile-era.run.js")],
        {
          cwd: legacyDir,
          timeout: 300000,
          maxBuffer: 50 * 1024 * 1024,
          env: {
            ...process.env,
            LEGACY_DIR: legacyDir,
            DATABASE_URL: coreUrl,
            LEGACY_SOURCE_URL: sourceUrl,
            LEGACY_APP_OPTIONS: JSON.stringify(db.appOptions),
            PORT: String(20000 + Math.floor(Math.random() * 20000)),
            JEST_WORKER_ID: "",
          },
        },
        (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stdout}\n${stderr}`)) : resolve(stdout))
      );
    });
    const line = output.split("\n").find((l) => l.startsWith("LEGACY_RESULT "));
    if (!line) throw new Error(`no result from the profile-era run:\n${output}`);
    result = JSON.parse(line.slice("LEGACY_RESULT ".length));
  }, 600000);

  test("the connections carry the 0.5 names, `app`, and the profile-era methods", () => {
    expect(result.connections.map((c: { name: string }) => c.name)).toEqual(["postgres-table-import", "postgres-query-import"]);
    expect(result.connections[0]).toMatchObject({ app: "postgres" });
    expect(result.connections[0].methods).toEqual(expect.arrayContaining(["profiles", "profileProperty", "profileProperties", "sourceFilters"]));
    expect(result.connections[1].methods).toEqual(expect.arrayContaining(["profiles", "profileProperty"]));
  });

  test("the App tests ok; the table source lists and previews", () => {
    expect(result.appTest).toMatchObject({ success: true });
    expect(result.appTest.message).toMatch(/^PostgreSQL \d+/);
    expect(result.tables.options).toEqual(["purchases", "users"]);
    expect(result.preview).toHaveLength(10);
    expect(Object.keys(result.preview[0])).toEqual(["id", "email", "updated_at"]);
  });

  test("a watermark schedule with ties larger than a batch and NULL watermarks makes every row exactly one Profile", () => {
    expect(result.run1).toMatchObject({ error: null, state: "complete", imports: USERS });
    // batches of 40 (the core's runs-profile-batch-size): the 100 tied rows took several
    expect(result.run1.batches).toBeGreaterThan(4);
    expect(Object.keys(result.profiles)).toHaveLength(USERS);
  });

  test("properties (exact, sum, most recent, a filtered one) and a query property get the right values", async () => {
    const { rows } = await sql(
      sourceUrl,
      `SELECT user_id, sum(amount)::float8 AS ltv, (array_agg(state ORDER BY created_at DESC))[1] AS last_state,
              coalesce(sum(amount) FILTER (WHERE state = 'refunded'), 0)::float8 AS refunded,
              sum(amount) FILTER (WHERE state = 'paid')::float8 AS paid
         FROM purchases GROUP BY user_id`
    );
    expect(rows).toHaveLength(20);
    for (const row of rows) {
      expect(result.profiles[row.user_id]).toMatchObject({ email: `u${row.user_id}@example.com`, ltv: row.ltv, lastState: row.last_state, refunded: row.refunded, paidTotal: row.paid });
    }
    expect(result.profiles["100"]).toMatchObject({ ltv: 0, refunded: 0 });
  });

  test("an unchanged second run imports nothing; a change is picked up; no profile is duplicated", () => {
    expect(result.run2).toMatchObject({ error: null, imports: 0 });
    expect(result.run3).toMatchObject({ error: null, imports: 1 });
    expect(result.changed.email).toBe("changed@example.com");
    expect(result.profileCountAfter).toBe(USERS);
  });
});
