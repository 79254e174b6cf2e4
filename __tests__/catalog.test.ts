import { buildPostgresApp } from "../src/app/postgresApp";
import { postgresTableConnection } from "../src/connections/tableImport";
import { describeRelations, openConnection, PostgresConnection } from "../src/postgres";
import { testApp } from "./support/app";
import { freshDatabase, sql } from "./support/db";
import { FakeHost } from "./support/fakeHost";

/**
 * One catalog for every host: the App's Test, the table source's dropdown and the CloudQuery catalog
 * agree on which relations of a schema are there, for the role the App connects as.
 */

const app = buildPostgresApp(() => {});
const table = postgresTableConnection(new FakeHost());
let ownerOptions: Record<string, string>;
let readerOptions: Record<string, string>;
let reader: PostgresConnection;
let owner: PostgresConnection;

beforeAll(async () => {
  let url: string;
  ({ url, appOptions: ownerOptions } = await freshDatabase("gpp_catalog"));
  await sql(
    url,
    `CREATE TABLE customers (id int PRIMARY KEY, email text);
     INSERT INTO customers VALUES (1, 'ann@example.com');
     CREATE TABLE payroll (id int PRIMARY KEY, salary numeric);
     CREATE VIEW customer_emails AS SELECT id, email FROM customers;
     CREATE TABLE events (id int, at date NOT NULL, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
     CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
     CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
     INSERT INTO events VALUES (1, '2024-05-01'), (2, '2025-05-01'), (3, '2025-06-01');
     CREATE SCHEMA bare;
     CREATE TABLE bare.no_columns ();
     CREATE TABLE bare.one_column (id int);
     CREATE ROLE catalog_reader LOGIN PASSWORD 'catalog-reader-pw';
     GRANT SELECT ON customers, customer_emails, events, events_2024, events_2025 TO catalog_reader;`
  );
  readerOptions = { ...ownerOptions, user: "catalog_reader", password: "catalog-reader-pw" };
  reader = openConnection(readerOptions);
  owner = openConnection(ownerOptions);
});

afterAll(async () => {
  await reader?.close();
  await owner?.close();
});

describe("one catalog", () => {
  test("the App's Test counts what the source dropdown offers: not a table the role cannot SELECT, not a partition", async () => {
    const offered = await table.methods.sourceOptions({ connection: reader, appOptions: readerOptions });
    expect(offered.table.options).toEqual(["customer_emails", "customers", "events"]);

    const result = await testApp(app, readerOptions);
    expect(result.message).toContain(`schema "public" has 3 tables and views: customer_emails, customers, events;`);

    const cloudQuery = await describeRelations(reader, ["public"]);
    expect(cloudQuery.map((r) => r.name)).toEqual(["customer_emails", "customers", "events"]);
  });

  test("the owner sees every table (the privilege check is the role's, not a fixed list)", async () => {
    const result = await testApp(app, ownerOptions);
    expect(result.message).toContain(`schema "public" has 4 tables and views: customer_emails, customers, events, payroll;`);
  });

  test("a partition named in a Source is read, though the dropdown offers only its parent", async () => {
    const rows = await table.methods.sourcePreview({ connection: reader, appOptions: readerOptions, sourceOptions: { table: "events_2025" } });
    expect(rows.map((r) => r.id).sort()).toEqual([2, 3]);
    const parent = await table.methods.sourcePreview({ connection: reader, appOptions: readerOptions, sourceOptions: { table: "events" } });
    expect(parent).toHaveLength(3);
  });

  test("a table the role cannot SELECT, named in a Source, fails with the server's reason, not as missing", async () => {
    await expect(table.methods.sourcePreview({ connection: reader, appOptions: readerOptions, sourceOptions: { table: "payroll" } })).rejects.toThrow(
      /permission denied for table payroll/
    );
  });

  test("CloudQuery's catalog reads columns, types and keys of the relations it lists", async () => {
    const [customers] = (await describeRelations(reader, ["public"])).filter((r) => r.name === "customers");
    expect(customers).toMatchObject({ schema: "public", kind: "table", primaryKey: ["id"], primaryKeyConstraint: "customers_pkey", uniqueColumns: [] });
    expect(customers.columns.map((c) => [c.name, c.position, c.databaseType, c.type.typname, c.notNull])).toEqual([
      ["id", 1, "integer", "int4", true],
      ["email", 2, "text", "text", false],
    ]);
    const events = (await describeRelations(reader, ["public"])).find((r) => r.name === "events");
    expect(events).toMatchObject({ kind: "partitioned table", primaryKey: ["id", "at"] });
  });

  test("a table without columns: a Source may name it (no columns to offer), CloudQuery has nothing to copy from it", async () => {
    const bareOptions = { ...ownerOptions, schema: "bare" };
    const bare = openConnection(bareOptions);
    try {
      expect((await table.methods.sourceOptions({ connection: bare, appOptions: bareOptions })).table.options).toEqual(["no_columns", "one_column"]);
      expect(await table.methods.sourcePreview({ connection: bare, appOptions: bareOptions, sourceOptions: { table: "no_columns" } })).toEqual([{}]);
    } finally {
      await bare.close();
    }
    expect((await describeRelations(owner, ["bare"])).map((r) => r.name)).toEqual(["one_column"]);
  });
});
