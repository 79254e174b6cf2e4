import type { HostProperty, OptionChoice, PluginOption } from "../host";
import { PROPERTY_ID, QUERY } from "./context";

/** The one option of a query property: the SQL, with the record's variables. */
export async function propertyOptions(): Promise<PluginOption[]> {
  return [
    {
      key: QUERY,
      displayName: "Query",
      required: true,
      primary: true,
      description:
        "A SELECT whose first column is the value (every row's first column for an array property), e.g. " +
        "SELECT SUM(amount) FROM purchases WHERE user_id = {{{ userId }}}. Variables of the record ({{ email }}, " +
        "'{{{ email }}}', {{ createdAt.sql }}, {{ now.date }}) are bound as parameters, never pasted into the SQL, " +
        "so quotes around them are optional. A record without one of them gets no value.",
      type: "textarea",
      options: async () => [],
    },
  ];
}

/** The options of a schedule: the query listing the records, and the property its first column fills. */
export async function scheduleOptions(): Promise<PluginOption[]> {
  return [
    {
      key: QUERY,
      displayName: "Query",
      required: true,
      description:
        "A SELECT whose first column identifies the records to import (e.g. SELECT id FROM users WHERE active). " +
        "It is read in pages ordered by that column; its own ORDER BY, LIMIT and WITH are allowed. No variables.",
      type: "textarea",
      options: async () => [],
    },
    {
      key: PROPERTY_ID,
      displayName: "Property",
      required: true,
      description: "The unique property that the query's first column fills",
      type: "list",
      options: async ({ properties }) =>
        (properties ?? []).map((property: HostProperty): OptionChoice => ({ key: property.id, description: `${property.key} (${property.type})` })),
    },
  ];
}
