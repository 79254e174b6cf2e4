import { AGGREGATION_METHODS, AggregationMethod, ColumnInfo, Row } from "../dialect";
import { MethodArgs, OptionChoice, Options, PluginOption, optionText } from "../host";
import { AGGREGATION, COLUMN, DialectFactory, SORT_COLUMN, TABLE, naming, sourceTable } from "./context";

const PREVIEW_ROWS = 10;

const AGGREGATION_DESCRIPTIONS: Record<AggregationMethod, string> = {
  exact: "the value itself (with a sort column: the first row's, in that order)",
  average: "the average of the values",
  count: "how many values there are (0 when none)",
  sum: "the sum of the values (0 when none)",
  min: "the smallest value",
  max: "the largest value",
  "most recent value": "the value of the row with the greatest sort column",
  "least recent value": "the value of the row with the smallest sort column",
};

async function previewRows(dialectFor: DialectFactory, args: MethodArgs, table: string): Promise<{ rows: Row[]; columns: ColumnInfo[] }> {
  const dialect = dialectFor(args);
  const columns = await naming("Source", TABLE, () => dialect.listColumns(table));
  let rows = await dialect.sampleRows(table, PREVIEW_ROWS);
  // an empty table still shows its columns
  if (rows.length === 0) rows = [Object.fromEntries(columns.map((c) => [c.name, null]))];
  return { rows, columns };
}

async function columnChoices(dialectFor: DialectFactory, args: MethodArgs, keep: (c: ColumnInfo) => boolean = () => true): Promise<OptionChoice[]> {
  const { rows, columns } = await previewRows(dialectFor, args, sourceTable(args));
  return columns.filter(keep).map((c) => ({
    key: c.name,
    description: c.databaseType,
    examples: rows.map((r) => r[c.name]).filter((v) => v !== null && v !== undefined).slice(0, 3),
  }));
}

// The methods that let the UI describe a table: tables, preview, filters and option choices.

export async function sourceOptions(dialectFor: DialectFactory, args: MethodArgs) {
  const tables = await dialectFor(args).listTables();
  return {
    [TABLE]: {
      type: "typeahead" as const,
      options: tables.map((t) => t.name),
      descriptions: tables.map((t) => t.kind),
    },
  };
}

export async function sourcePreview(dialectFor: DialectFactory, args: MethodArgs): Promise<Row[]> {
  if (!optionText(args.sourceOptions, TABLE)) return [];
  return (await previewRows(dialectFor, args, sourceTable(args))).rows;
}

export async function sourceFilters(dialectFor: DialectFactory, args: MethodArgs) {
  const columns = await naming("Source", TABLE, () => dialectFor(args).listColumns(sourceTable(args)));
  return columns.map((c) => ({ key: c.name, ops: c.filterOperations, canHaveRelativeMatch: false }));
}

export async function uniquePropertyBootstrapOptions({ mappedColumn }: { mappedColumn: string }) {
  return { [COLUMN]: mappedColumn, [AGGREGATION]: "exact" };
}

export async function propertyOptions(dialectFor: DialectFactory, { propertyOptions }: { propertyOptions?: Options }): Promise<PluginOption[]> {
  const aggregation = optionText(propertyOptions, AGGREGATION) as AggregationMethod | undefined;
  const options: PluginOption[] = [
    {
      key: COLUMN,
      displayName: "Column",
      required: true,
      primary: true,
      description: "the column the value comes from",
      type: "typeahead",
      options: (args) => columnChoices(dialectFor, args),
    },
    {
      key: AGGREGATION,
      displayName: "Aggregation Method",
      required: true,
      description: "how the rows of a record make one value",
      type: "list",
      options: async () => AGGREGATION_METHODS.map((key) => ({ key, description: AGGREGATION_DESCRIPTIONS[key], default: key === "exact" })),
    },
  ];
  const needsSort = aggregation === "most recent value" || aggregation === "least recent value";
  if (needsSort || aggregation === "exact") {
    options.push({
      key: SORT_COLUMN,
      displayName: "Sort Column",
      required: needsSort,
      description: needsSort
        ? "the column that orders the rows (e.g. a timestamp)"
        : "optional: when several rows share a key, the one first in this column's order gives the value",
      type: "typeahead",
      options: (args) => columnChoices(dialectFor, args, (c) => c.canBeWatermark || c.propertyType === "string"),
    });
  }
  return options;
}

export async function scheduleOptions(dialectFor: DialectFactory): Promise<PluginOption[]> {
  return [
    {
      key: COLUMN,
      displayName: "High Watermark Column",
      required: true,
      description: "a column that grows when a row changes (e.g. updated_at): incremental runs import rows after the last one seen",
      type: "list",
      options: (args) => columnChoices(dialectFor, args, (c) => c.canBeWatermark),
    },
  ];
}
