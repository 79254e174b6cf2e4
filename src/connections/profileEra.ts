import type { FilterOperation } from "../templates/dialect";
import type { HostFilter, HostProperty, HostRecord, Options, PropertyValues } from "../templates/host";
import { LEGACY_FILTER_OPERATIONS } from "../templates/table";

/**
 * The profile-era core (0.5.1) calls the same work by other names and shapes. This adapter turns a
 * connection built for core 0.9 into one that core 0.5.1 accepts, without copying a method:
 * - the connection names that 0.5 databases store (`postgres-table-import`, `postgres-query-import`);
 * - `app` beside `apps`;
 * - `profiles` = `importRecords` (same arguments and answer);
 * - `profileProperty` = `recordProperty`, with the profile as the record;
 * - `profileProperties` is called once per property, with flat options and a filter array, and answers
 *   `{profileId: values}`: it calls `recordProperties` with one property and unwraps the answer. Not for
 *   a connection that skips the source mapping (the query source): it batches only for a mapped source,
 *   0.5 query sources have no mapping, and 0.5 would send every property through `profileProperties`;
 *   so there it keeps `profileProperty`, one query per profile;
 * - filter operations offered under their 0.5 names (`greater than`, `contains`, ...); both names are
 *   read back (see toColumnFilters).
 * Schedules of 0.5 have no `incremental` flag: the builders read a missing flag as incremental.
 */
export const PROFILE_ERA_NAMES: Record<string, string> = {
  "postgres-import-table": "postgres-table-import",
  "postgres-import-query": "postgres-query-import",
};

const PROFILE_ERA_OPERATION: Record<string, string> = Object.fromEntries(
  Object.entries(LEGACY_FILTER_OPERATIONS).map(([legacy, modern]) => [modern, legacy])
);

/** A 0.5 Profile as the builders' record: its `properties()` is 0.9's `getProperties()`. */
interface Profile {
  id: string;
  createdAt?: Date | null;
  updatedAt?: Date | null;
  properties(): Promise<Record<string, { values: unknown[] } | undefined>>;
}

function asRecord(profile: Profile): HostRecord {
  return { id: profile.id, createdAt: profile.createdAt, updatedAt: profile.updatedAt, getProperties: () => profile.properties() };
}

type Method = (args: never) => Promise<unknown>;
interface Connection {
  name: string;
  apps: string[];
  skipSourceMapping?: boolean;
  methods: Record<string, Method | undefined>;
}

export function forProfileEra<C extends Connection>(connection: C) {
  const m = connection.methods as Record<string, ((args: Record<string, unknown>) => Promise<unknown>) | undefined>;
  const methods: Record<string, unknown> = { ...m };
  if (m.importRecords) methods.profiles = m.importRecords;
  if (m.sourceFilters) {
    const sourceFilters = m.sourceFilters;
    methods.sourceFilters = async (args: Record<string, unknown>) =>
      ((await sourceFilters(args)) as { key: string; ops: FilterOperation[] }[]).map((f) => ({
        ...f,
        ops: f.ops.map((op) => PROFILE_ERA_OPERATION[op] ?? op),
      }));
  }
  if (m.recordProperty) {
    const recordProperty = m.recordProperty;
    methods.profileProperty = (args: Record<string, unknown> & { profile: Profile }) =>
      recordProperty({ ...args, record: asRecord(args.profile), recordId: args.profile.id });
  }
  if (connection.skipSourceMapping) delete methods.recordProperties;
  else if (m.recordProperties) {
    const recordProperties = m.recordProperties;
    methods.profileProperties = async (
      args: Record<string, unknown> & { property: HostProperty; propertyOptions: Options; propertyFilters?: HostFilter[]; profiles: Profile[] }
    ) => {
      const id = args.property.id;
      const answer = (await recordProperties({
        ...args,
        properties: [args.property],
        propertyOptions: { [id]: args.propertyOptions },
        propertyFilters: { [id]: args.propertyFilters ?? [] },
        records: args.profiles.map(asRecord),
      })) as Record<string, Record<string, PropertyValues>>;
      const out: Record<string, PropertyValues> = {};
      for (const [profileId, values] of Object.entries(answer)) if (values[id] !== undefined) out[profileId] = values[id];
      return out;
    };
  }
  return {
    ...connection,
    name: PROFILE_ERA_NAMES[connection.name] ?? connection.name,
    app: connection.apps[0],
    methods,
  };
}

/** Which contract the loading core speaks: 0.9 exports GrouparooRecord, 0.5 exports Profile. */
export function coreEra(core: Record<string, unknown>): "records" | "profiles" {
  return "GrouparooRecord" in core ? "records" : "profiles";
}
