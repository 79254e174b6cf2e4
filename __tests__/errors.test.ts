import net from "net";
import { PostgresSourcePlugin } from "../src/cloudquery/server";
import { createLogger } from "../src/cloudquery/logger";
import { DatabaseError, errorMessage, failureReason, openConnection, PoolFullError } from "../src/postgres";
import { freshDatabase } from "./support/db";
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { freePort } = require("../scripts/postgres-server") as { freePort: () => Promise<number> };

/**
 * One typed database error: a failure's class (`reason`) and where a statement went wrong
 * (`position`, a number) are fields that callers read, never re-derived from the message.
 */

let appOptions: Record<string, string>;

beforeAll(async () => {
  ({ appOptions } = await freshDatabase("gpp_errors"));
});

async function failureOf(options: Record<string, string>, statement = "SELECT 1"): Promise<unknown> {
  const connection = openConnection(options);
  try {
    await connection.query(statement);
  } catch (error) {
    return error;
  } finally {
    await connection.close();
  }
  throw new Error("the statement succeeded, a failure was expected");
}

/** A listener that takes TCP connections and never answers. */
async function silentServer(): Promise<{ port: number; close: () => void }> {
  const server = net.createServer(() => {});
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
}

describe("database errors", () => {
  test("a statement error says where the server found it, as a number", async () => {
    const error = await failureOf(appOptions, "SELECT 1 + nope");
    expect(error).toBeInstanceOf(DatabaseError);
    expect(error).toMatchObject({ reason: "statement", code: "42703", position: 12 });
    expect(failureReason(error)).toBe("statement");
  });

  test("each failure class is a reason: auth, no_database, unreachable (refused or silent), timeout, tls", async () => {
    expect(failureReason(await failureOf({ ...appOptions, password: "not-the-password" }))).toBe("auth");
    expect(failureReason(await failureOf({ ...appOptions, database: "gpp_no_such_db" }))).toBe("no_database");
    // nothing listens on a free port; a refused connection is retried within connect_timeout
    expect(failureReason(await failureOf({ ...appOptions, port: String(await freePort()), connect_timeout: "1" }))).toBe("unreachable");
    const silent = await silentServer();
    try {
      const error = await failureOf({ ...appOptions, port: String(silent.port), connect_timeout: "1" });
      expect(failureReason(error)).toBe("unreachable");
      expect(errorMessage(error)).toMatch(/within connect_timeout \(1 s\)/);
    } finally {
      silent.close();
    }
    expect(failureReason(await failureOf({ ...appOptions, statement_timeout: "1" }, "SELECT pg_sleep(3)"))).toBe("timeout");
    expect(failureReason(await failureOf({ ...appOptions, sslmode: "require" }))).toBe("tls");
  });

  test("a full pool is a reason too; anything else has none", () => {
    expect(failureReason(new PoolFullError(2, 2, 1, 1000, "App option"))).toBe("pool_full");
    expect(failureReason(new Error("no Postgres connection was given"))).toBeUndefined();
    expect(failureReason("a string")).toBeUndefined();
  });

  test("errorMessage: the message of anything thrown", () => {
    expect(errorMessage(new Error("boom"))).toBe("boom");
    expect(errorMessage({ message: "from an object" })).toBe("from an object");
    expect(errorMessage("plain text")).toBe("plain text");
    expect(errorMessage(undefined)).toBe("undefined");
  });

  test("CloudQuery's TestConnection answers with the failure code of the reason", async () => {
    const plugin = new PostgresSourcePlugin(createLogger({ write: () => {} }));
    const spec = (extra: Record<string, unknown>) =>
      Buffer.from(JSON.stringify({ host: appOptions.host, port: Number(appOptions.port), database: appOptions.database, user: appOptions.user, password: appOptions.password, sslmode: "disable", ...extra }));
    expect(await plugin.testConnection(spec({}))).toMatchObject({ success: true });
    expect(await plugin.testConnection(spec({ password: "wrong-secret" }))).toMatchObject({ success: false, failure_code: "INVALID_CREDENTIALS" });
    expect(await plugin.testConnection(spec({ port: await freePort(), connect_timeout: 1 }))).toMatchObject({ success: false, failure_code: "UNREACHABLE" });
    const silent = await silentServer();
    try {
      const answer = await plugin.testConnection(spec({ port: silent.port, connect_timeout: 1 }));
      expect(answer).toMatchObject({ success: false, failure_code: "UNREACHABLE" });
      expect(answer.failure_description).toMatch(/within connect_timeout/);
    } finally {
      silent.close();
    }
    expect(await plugin.testConnection(spec({ database: "gpp_no_such_db" }))).toMatchObject({ success: false, failure_code: "CONNECTION_FAILED" });
  });
});
