const { serverFromEnvironmentOrEmbedded, createDatabase } = require("../../scripts/postgres-server");

module.exports = async function globalSetup() {
  const server = await serverFromEnvironmentOrEmbedded();
  globalThis.__POSTGRES_SERVER__ = server;
  process.env.TEST_PG_URL = server.url;
  // the core's own database (spec helper tests), separate from the databases the plugin reads
  process.env.TEST_CORE_DATABASE_URL = await createDatabase(server.url, "gpp_test_core");
  delete process.env.DATABASE_URL;
  delete process.env.PGHOST;
};
