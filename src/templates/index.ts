// The dialect-free template builders and their contract, for other database plugins to reuse.
export * from "./dialect";
export * from "./host";
export * from "./cursor";
export type { ImportConnectionSpec } from "./connection";
export { buildTableConnection } from "./table";
export type { TableConnectionSpec } from "./table";
export { buildQueryConnection } from "./query";
export type { QueryConnectionSpec } from "./query";
