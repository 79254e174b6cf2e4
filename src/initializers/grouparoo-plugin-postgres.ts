import { Initializer, log } from "actionhero";
import { buildPostgresApp } from "../app/postgresApp";
import { postgresTableConnection } from "../connections/tableImport";
import { postgresQueryConnection } from "../connections/queryImport";
import { coreEra, forProfileEra } from "../connections/profileEra";
import type { Host } from "../templates/host";

const packageJSON = require("../../package.json") as { name: string };

/** The core's plugin API, typed here: its own typings do not compile under strict mode and differ by era. */
interface CorePluginApi {
  registerPlugin(definition: unknown): void;
  createImports(mapping: Record<string, string>, run: unknown, rows: Record<string, unknown>[]): Promise<unknown>;
}

/** Wiring only: registers the App and the connections with the core that loads this plugin. */
export class GrouparooPluginPostgres extends Initializer {
  constructor() {
    super();
    this.name = packageJSON.name;
  }

  async initialize() {
    // resolved from this plugin's folder: the host app's core
    const core = require("@grouparoo/core") as Record<string, unknown> & { plugin: CorePluginApi };
    const { plugin } = core;
    const host: Host = {
      createImports: (mapping, run, rows) => plugin.createImports(mapping, run, rows),
      log,
    };
    const connections = [postgresTableConnection(host), postgresQueryConnection(host)];
    // a profile-era core (0.5.1) gets the same connections under its names and method shapes
    const profileEra = coreEra(core) === "profiles";
    plugin.registerPlugin({
      name: packageJSON.name,
      icon: `/public/${packageJSON.name}/postgres.svg`,
      apps: [buildPostgresApp(host.log)],
      connections: profileEra ? connections.map(forProfileEra) : connections,
    });
  }
}
