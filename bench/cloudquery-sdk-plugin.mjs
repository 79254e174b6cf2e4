// The comparison point of bench/cloudquery.js: the same 6-column table served by the published JS SDK's
// own path (newPlugin + createTable + the SDK scheduler + the SDK's gRPC server), the way the SDK's
// examples build a source plugin. The table resolver reads the rows with pg keyset pages and hands
// them to the scheduler one by one, as the SDK expects.
//
//   node bench/cloudquery-sdk-plugin.mjs serve --address 127.0.0.1:PORT
import pg from "pg";
import { newPlugin } from "@cloudquery/plugin-sdk-javascript/plugin/plugin";
import { createServeCommand } from "@cloudquery/plugin-sdk-javascript/plugin/serve";
import { sync } from "@cloudquery/plugin-sdk-javascript/scheduler";
import { createTable, filterTables } from "@cloudquery/plugin-sdk-javascript/schema/table";
import { createColumn } from "@cloudquery/plugin-sdk-javascript/schema/column";
import { pathResolver } from "@cloudquery/plugin-sdk-javascript/schema/resolvers";
import { Int64, Float64, Utf8, Bool, TimestampMicrosecond } from "@cloudquery/plugin-sdk-javascript/arrow";

const newClient = async (logger, specJson) => {
  const spec = JSON.parse(specJson);
  const pool = new pg.Pool({ connectionString: spec.connection_string, max: 2 });
  const tables = [
    createTable({
      name: spec.table,
      resolver: async (clientMeta, parent, stream) => {
        let after = 0;
        for (;;) {
          const { rows } = await pool.query(
            `SELECT id, amount, score, name, created_at, active FROM ${spec.table} WHERE id > $1 ORDER BY id LIMIT 10000`,
            [after]
          );
          // node-pg reads int8 and numeric as strings, which the SDK's Int64 / Float64 scalars refuse
          for (const row of rows) stream.write({ ...row, id: BigInt(row.id), amount: Number(row.amount) });
          if (rows.length < 10000) break;
          after = rows[rows.length - 1].id;
        }
      },
      columns: [
        createColumn({ name: "id", type: new Int64(), primaryKey: true, notNull: true, resolver: pathResolver("id") }),
        // the SDK's scalars have no decimal: numeric goes as float64 (its own mapping)
        createColumn({ name: "amount", type: new Float64(), resolver: pathResolver("amount") }),
        createColumn({ name: "score", type: new Float64(), resolver: pathResolver("score") }),
        createColumn({ name: "name", type: new Utf8(), resolver: pathResolver("name") }),
        createColumn({ name: "created_at", type: new TimestampMicrosecond("UTC"), resolver: pathResolver("created_at") }),
        createColumn({ name: "active", type: new Bool(), resolver: pathResolver("active") }),
      ],
    }),
  ];
  return {
    tables: async ({ tables: include, skipTables, skipDependentTables }) => filterTables(tables, include, skipTables, skipDependentTables),
    sync: async ({ stream, tables: include, skipTables, skipDependentTables, deterministicCQId }) =>
      sync({ logger, client: {}, stream, tables: filterTables(tables, include, skipTables, skipDependentTables), deterministicCQId, concurrency: 1 }),
    close: () => pool.end(),
  };
};

createServeCommand(newPlugin("postgresql-sdk", "0.0.1", newClient, { kind: "source", team: "bench" })).parse();
