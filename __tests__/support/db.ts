import type { QueryResult } from "pg";
// eslint-disable-next-line @typescript-eslint/no-var-requires
const harness = require("../../scripts/postgres-server");
const { createDatabase, databaseUrl } = harness;

export function adminUrl(): string {
  const url = process.env.TEST_PG_URL;
  if (!url) throw new Error("TEST_PG_URL is not set: run the tests with `npm test` (jest's global setup starts Postgres)");
  return url;
}

/** A fresh database on the test server; returns its URL and the App options that reach it. */
export async function freshDatabase(name: string): Promise<{ url: string; appOptions: Record<string, string> }> {
  const url: string = await createDatabase(adminUrl(), name);
  const u = new URL(url);
  return {
    url,
    appOptions: {
      host: u.hostname,
      port: u.port || "5432",
      database: decodeURIComponent(u.pathname.slice(1)),
      user: decodeURIComponent(u.username),
      password: decodeURIComponent(u.password),
      sslmode: "disable",
    },
  };
}

export { databaseUrl };

/** Runs SQL as the admin user on a database (fixtures). */
export function sql(url: string, text: string, params: unknown[] = []): Promise<QueryResult> {
  return harness.sql(url, text, params);
}
