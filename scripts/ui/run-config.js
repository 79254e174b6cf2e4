#!/usr/bin/env node
// Runs a Grouparoo config folder (e.g. the one the Config UI wrote) through the real core, in this
// process: boots the core with core-driver, runs every schedule once, lets the core compute every
// property, then prints one line `RESULT {...}` with the records and their property values.
//
//   node scripts/ui/run-config.js <configDir> <coreDatabaseUrl>
//
// core-driver changes this process' cwd and env: run it as a child process.
"use strict";

const { bootCore, runSchedule, processImports } = require("../lib/core-driver");
const { freePort } = require("../postgres-server");

async function main() {
  const [configDir, coreDatabaseUrl] = process.argv.slice(2);
  if (!configDir || !coreDatabaseUrl) throw new Error("usage: run-config.js <configDir> <coreDatabaseUrl>");
  const grouparoo = await bootCore({ coreDatabaseUrl, configDir, port: await freePort() });
  try {
    const { Schedule, Source, Property, GrouparooRecord } = grouparoo.core;
    const schedules = await Schedule.findAll();
    if (schedules.length === 0) throw new Error(`the config in ${configDir} has no schedule`);
    const runs = [];
    for (const schedule of schedules) {
      const { run, batches } = await runSchedule(schedule);
      const totals = await processImports(run);
      if (totals.error) throw new Error(`schedule "${schedule.name}" failed: ${totals.error}`);
      runs.push({ schedule: schedule.name, batches, ...totals });
    }
    const records = [];
    for (const record of await GrouparooRecord.findAll()) {
      const simple = await record.simplifiedProperties();
      records.push({
        state: record.state,
        properties: Object.fromEntries(
          Object.entries(simple).map(([key, values]) => [key, values.map((v) => (v instanceof Date ? v.toISOString() : v))])
        ),
      });
    }
    const summary = {
      sources: (await Source.findAll()).map((s) => ({ name: s.name, type: s.type, state: s.state })),
      properties: (await Property.findAll()).map((p) => ({ key: p.key, type: p.type, state: p.state })),
      runs,
      records,
    };
    process.stdout.write(`RESULT ${JSON.stringify(summary)}\n`);
  } finally {
    await grouparoo.stop();
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error && error.stack ? error.stack : error);
    process.exit(1);
  }
);
