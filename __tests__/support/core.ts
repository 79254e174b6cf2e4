// Boots the real @grouparoo/core 0.9.0 with this plugin injected. Import this module first in a test
// file: the environment must be set before the spec helper (and so the core) loads.
import path from "path";

const root = path.join(__dirname, "..", "..");
if (!process.env.TEST_CORE_DATABASE_URL) throw new Error("TEST_CORE_DATABASE_URL is not set: run the tests with `npm test`");
process.env.DATABASE_URL = process.env.TEST_CORE_DATABASE_URL;
process.env.REDIS_URL = "redis://mock";
process.env.GROUPAROO_CONFIG_DIR = "false";
process.env.GROUPAROO_DISABLE_EXPORTS = "true";
process.env.GROUPAROO_INJECTED_PLUGINS = JSON.stringify({ "grouparoo-plugin-postgres": { path: root } });
// small batches, so that a few hundred rows make several batches (ties larger than a batch, etc.)
if (!process.env.GROUPAROO_IMPORTS_BATCH_SIZE) process.env.GROUPAROO_IMPORTS_BATCH_SIZE = "50";
// the core's web server: a port of its own, not 18080 + worker id
if (!process.env.PORT) process.env.PORT = String(20000 + Math.floor(Math.random() * 20000));
require("@grouparoo/spec-helper/dist/lib/environment");

// eslint-disable-next-line @typescript-eslint/no-var-requires
const specHelper = require("@grouparoo/spec-helper");

/**
 * The spec helper's server, with the core's model caches given their production lifetime: under
 * NODE_ENV=test the core disables them, and each record property value then re-reads every property
 * (seconds per batch of a few hundred records). The caches are invalidated on every change, as in production.
 */
export const helper = {
  ...specHelper.helper,
  grouparooTestServer(options: Record<string, unknown>) {
    const server = specHelper.helper.grouparooTestServer(options);
    beforeAll(() => {
      const caches = ["appsCache", "modelsCache", "propertiesCache", "sourcesCache", "destinationsCache"];
      for (const name of caches) {
        const exported = require(`@grouparoo/core/dist/modules/caches/${name}`);
        for (const cache of Object.values(exported) as { TTL?: number }[]) if (cache && typeof cache.TTL === "number") cache.TTL = 30000;
      }
    });
    return server;
  },
};
