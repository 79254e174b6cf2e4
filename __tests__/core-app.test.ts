import { helper } from "./support/core";
import { freshDatabase } from "./support/db";

// the real @grouparoo/core 0.9.0, booted by its spec helper with this plugin injected (from dist/)
helper.grouparooTestServer({ truncate: true, enableTestPlugin: false });

describe("the plugin inside the real core 0.9.0", () => {
  let appOptions: Record<string, string>;
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const core = () => require("@grouparoo/core");

  beforeAll(async () => {
    ({ appOptions } = await freshDatabase("gpp_core_app"));
  });

  test("the core lists the plugin with its App and connections", () => {
    const { api } = require("actionhero");
    const plugin = api.plugins.plugins.find((p: { name: string }) => p.name === "grouparoo-plugin-postgres");
    expect(plugin).toBeTruthy();
    expect(plugin.apps.map((a: { name: string }) => a.name)).toEqual(["postgres"]);
    expect(plugin.connections.map((c: { name: string }) => c.name)).toContain("postgres-import-table");
    expect(plugin.icon).toBe("/public/grouparoo-plugin-postgres/postgres.svg");
  });

  test("an App of type postgres, created through the core's models, passes the core's own test", async () => {
    const { App } = core();
    const app = await App.create({ name: "warehouse", type: "postgres" });
    await app.setOptions(appOptions);
    const result = await app.test();
    expect(result.error).toBeUndefined();
    expect(result.success).toBe(true);
    expect(result.message).toMatch(/^PostgreSQL \d+/);
    await app.update({ state: "ready" });
    expect(app.state).toBe("ready");
  });

  test("with a wrong password the core reports the failure, without the password", async () => {
    const { App } = core();
    const app = await App.create({ name: "wrong password", type: "postgres" });
    await app.setOptions({ ...appOptions, password: "definitely-wrong" });
    const result = await app.test();
    expect(result.success).toBe(false);
    expect(result.error).toMatch(/authentication failed for user/);
    expect(result.error).not.toContain("definitely-wrong");
  });
});
