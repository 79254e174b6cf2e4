// Every test file talks to a real PostgreSQL: the global setup starts the embedded server (or uses
// DATABASE_URL / PG* when set) and hands its admin URL to the tests as TEST_PG_URL.
module.exports = {
  preset: "ts-jest",
  testEnvironment: "node",
  roots: ["<rootDir>/__tests__"],
  testMatch: ["**/*.test.ts"],
  globalSetup: "<rootDir>/__tests__/support/globalSetup.js",
  globalTeardown: "<rootDir>/__tests__/support/globalTeardown.js",
  testTimeout: 120000,
  maxWorkers: 1,
  transform: { "^.+\\.ts$": ["ts-jest", { tsconfig: "tsconfig.json", isolatedModules: true }] },
};
