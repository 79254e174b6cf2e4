import type { FilterOperation } from "../templates/dialect";
import type { HostFilter, HostProperty, HostRecord, HostSchedule, Options, PropertyValues } from "../templates/host";

/**
 * The profile-era core (0.5.1) calls the same work by other names and shapes. This adapter turns a
 * connection built for core 0.9 into one that core 0.5.1 accepts, without copying a method; what
 * 0.5 sends is translated here on the way in, so the builders know only 0.9's contract:
 * - the connection names that 0.5 databases store (`postgres-table-import`, `postgres-query-import`);
 * - `app` beside `apps`;
 * - `profiles` = `importRecords` (same arguments and answer);
 * - `profileProperty` = `recordProperty`, with the profile as the record;
 * - `profileProperties` is called once per property, with flat options and a filter array, and answers
 *   `{profileId: values}`: it calls `recordProperties` with one property and unwraps the answer. Not for
 *   a connection that skips the source mapping (the query source): it batches only for a mapped source,
 *   0.5 query sources have no mapping, and 0.5 would send every property through `profileProperties`;
 *   so there it keeps `profileProperty`, one query per profile;
 * - filter operations offered under their 0.5 names (`greater than`, `contains`, ...), which 0.5
 *   stores and sends back: the filters of schedules and properties are read back in 0.9's names;
 * - schedules of 0.5 have no `incremental` flag, and every run there continues from the previous
 *   run's high watermark: they reach the builders as incremental.
 */
const PROFILE_ERA_NAMES: Record<string, string> = {
  "postgres-import-table": "postgres-table-import",
  "postgres-import-query": "postgres-query-import",
};

/** The filter names stored by profile-era cores for 0.9's operations (0.9's migration 94 renamed them). */
const PROFILE_ERA_FILTER_OPERATIONS = new Map<string, FilterOperation>([
  ["equals", "eq"],
  ["does not equal", "ne"],
  ["greater than", "gt"],
  ["greater than or equal to", "gte"],
  ["less than", "lt"],
  ["less than or equal to", "lte"],
  ["contains", "substring"],
  ["does not contain", "notSubstring"],
  ["in", "in"],
  ["exists", "exists"],
  ["does not exist", "notExists"],
]);

const OFFERED_OPERATION = new Map<string, string>([...PROFILE_ERA_FILTER_OPERATIONS].map(([profileEra, modern]) => [modern, profileEra]));

/** 0.5 filters in 0.9's operation names; a name of neither era goes on as it is, for the builder to refuse. */
function modernFilters(filters: HostFilter[] | undefined): HostFilter[] | undefined {
  return filters?.map((filter) => ({ ...filter, op: PROFILE_ERA_FILTER_OPERATIONS.get(filter.op) ?? filter.op }));
}

/** What 0.5 passes to the schedule methods (`profiles`, `sourceRunPercentComplete`): its Schedule has no `incremental`. */
interface ScheduleCall {
  schedule?: { id?: string };
  scheduleFilters?: HostFilter[];
}

function scheduleArgs<A extends ScheduleCall>(args: A): A & { schedule: HostSchedule } {
  return { ...args, schedule: { id: args.schedule?.id, incremental: true }, scheduleFilters: modernFilters(args.scheduleFilters) };
}

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
  const { importRecords, sourceRunPercentComplete, sourceFilters, recordProperty, recordProperties } = m;
  if (importRecords) methods.profiles = (args: Record<string, unknown> & ScheduleCall) => importRecords(scheduleArgs(args));
  if (sourceRunPercentComplete) {
    methods.sourceRunPercentComplete = (args: Record<string, unknown> & ScheduleCall) => sourceRunPercentComplete(scheduleArgs(args));
  }
  if (sourceFilters) {
    methods.sourceFilters = async (args: Record<string, unknown>) =>
      ((await sourceFilters(args)) as { key: string; ops: FilterOperation[] }[]).map((f) => ({
        ...f,
        ops: f.ops.map((op) => OFFERED_OPERATION.get(op) ?? op),
      }));
  }
  if (recordProperty) {
    methods.profileProperty = (args: Record<string, unknown> & { profile: Profile; propertyFilters?: HostFilter[] }) =>
      recordProperty({ ...args, record: asRecord(args.profile), recordId: args.profile.id, propertyFilters: modernFilters(args.propertyFilters) });
  }
  if (connection.skipSourceMapping) delete methods.recordProperties;
  else if (recordProperties) {
    methods.profileProperties = async (
      args: Record<string, unknown> & { property: HostProperty; propertyOptions: Options; propertyFilters?: HostFilter[]; profiles: Profile[] }
    ) => {
      const id = args.property.id;
      const answer = (await recordProperties({
        ...args,
        properties: [args.property],
        propertyOptions: { [id]: args.propertyOptions },
        propertyFilters: { [id]: modernFilters(args.propertyFilters) ?? [] },
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
