import { buildTableConnection } from "../templates/table";
import type { Host } from "../templates/host";
import { tableDialectFor } from "../postgres";
import { APP_NAME } from "../app/postgresApp";

/** `postgres-import-table`: the table template over the Postgres dialect. */
export function postgresTableConnection(host: Host, name = "postgres-import-table") {
  return buildTableConnection({
    name,
    displayName: "Postgres Table Import",
    description: "Import or update records from a Postgres table or view, with keyset paging.",
    apps: [APP_NAME],
    dialect: tableDialectFor,
    host,
  });
}
