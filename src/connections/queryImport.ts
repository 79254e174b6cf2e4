import { buildQueryConnection } from "../templates/query";
import type { Host } from "../templates/host";
import { queryDialectFor } from "../postgres";
import { APP_NAME } from "../app/postgresApp";

/** `postgres-import-query`: the query template over the Postgres dialect. */
export function postgresQueryConnection(host: Host, name = "postgres-import-query") {
  return buildQueryConnection({
    name,
    displayName: "Postgres Query Import",
    description: "Import or update records with your own Postgres queries; record variables are bound as parameters.",
    apps: [APP_NAME],
    dialect: queryDialectFor,
    host,
  });
}
