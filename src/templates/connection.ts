import type { Host, MethodArgs } from "./host";

/**
 * What a template builder needs to make an import connection: the names the host shows, and how a
 * call reaches the database. `Dialect` is the builder's interface (TableDialect, QueryDialect).
 */
export interface ImportConnectionSpec<Dialect> {
  name: string;
  displayName: string;
  description: string;
  apps: string[];
  /** the dialect that serves a call, from the App's connection and options */
  dialect: (args: MethodArgs) => Dialect;
  host: Host;
}

/** The registration fields every import connection takes from its spec, whatever its template. */
export function importConnectionHeader(spec: ImportConnectionSpec<unknown>) {
  return {
    name: spec.name,
    displayName: spec.displayName,
    description: spec.description,
    direction: "import" as const,
    apps: spec.apps,
  };
}

/**
 * A core method (one argument, the core's) that calls `method` with what the connection holds:
 * the methods are plain exported functions, and a builder only wires them to its connection.
 */
export function coreMethod<Context, Args, Result>(context: Context, method: (context: Context, args: Args) => Result): (args: Args) => Result {
  return (args) => method(context, args);
}
