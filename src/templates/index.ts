// The dialect-free template builders and their contract, for other database plugins to reuse.
export * from "./dialect";
export * from "./host";
export * from "./cursor";
export { buildTableConnection } from "./table";
export type { TableConnectionSpec } from "./table";
