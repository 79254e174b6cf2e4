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

/**
 * The users and purchases of the core tests: users(id, email, [first_name], updated_at) whose ids up to
 * `nullUntil` have a NULL watermark and up to `tiedUntil` share one (ties larger than a batch), the
 * rest one a minute; purchases(id, user_id, amount, state, created_at) over `buyers` users, every
 * fourth refunded.
 */
export function usersAndPurchasesSql(shape: { users: number; nullUntil: number; tiedUntil: number; firstName: boolean; purchases: number; buyers: number }): string {
  const { users, nullUntil, tiedUntil, firstName, purchases, buyers } = shape;
  return `CREATE TABLE users (id int PRIMARY KEY, email text, ${firstName ? "first_name text, " : ""}updated_at timestamptz);
     INSERT INTO users SELECT i, 'u' || i || '@example.com', ${firstName ? "'Name' || i, " : ""}
       CASE WHEN i <= ${nullUntil} THEN NULL WHEN i <= ${tiedUntil} THEN timestamptz '2024-02-01' ELSE timestamptz '2024-01-01' + i * interval '1 minute' END
       FROM generate_series(1, ${users}) i;
     CREATE TABLE purchases (id serial PRIMARY KEY, user_id int, amount numeric(10,2), state text, created_at timestamptz);
     INSERT INTO purchases (user_id, amount, state, created_at)
       SELECT 1 + (i % ${buyers}), i, CASE WHEN i % 4 = 0 THEN 'refunded' ELSE 'paid' END, timestamptz '2024-01-01' + i * interval '1 hour'
       FROM generate_series(1, ${purchases}) i;`;
}
