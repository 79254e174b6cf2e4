// Benchmark of the CloudQuery source plugin (not a test): a Sync of a 6-column table (int8, numeric,
// float8, text, timestamptz, bool) over gRPC, the client decoding every batch with the SDK's
// tableFromIPC, against
// - "psql COPY": `psql -c "\copy (SELECT ...) TO '/dev/null' WITH (FORMAT binary)"`, the server's own
//   speed for these rows: the limit for any client (Debian's postgresql-client, installed when missing);
// - "raw": a plain `pg` keyset read of the same rows (pages of 10,000, node-pg's default parsing),
//   what a straightforward JS reader does before any Arrow or gRPC;
// - "sdk": the published JS SDK's own path (its scheduler and server: bench/cloudquery-sdk-plugin.mjs),
//   on a smaller table, since it sends one message per row and buffers whole tables;
// and the plugin on 1M and 2M rows, for memory. Each contender runs in its own process; its peak
// RSS is the kernel's (VmHWM / maxRSS).
//
//   node bench/cloudquery.js [--rows 1000000] [--rows-large 2000000] [--sdk-rows 20000] [--batch-size 10000]
//
// Builds the package into a private folder first (scripts/lib/package-build.js: a concurrent
// `npm run build` empties dist/).
// Uses DATABASE_URL / PG* when set, else an embedded server (scripts/postgres-server.js).
// Prints a table and writes bench/results/cloudquery-latest.json.
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const { spawn, execFileSync } = require("child_process");
const grpc = require("@grpc/grpc-js");
const { pluginV3 } = require("@cloudquery/plugin-pb-javascript");
const { serverFromEnvironmentOrEmbedded, createDatabase, freePort } = require("../scripts/postgres-server");
const { parseArgs } = require("../scripts/lib/args");
const { buildPackage } = require("../scripts/lib/package-build");
const { ensureSyncTable } = require("./lib");

const ROOT = path.join(__dirname, "..");
const v3 = pluginV3.cloudquery.plugin.v3;
const COMMAND = "node bench/cloudquery.js";


/** Peak resident memory of a running process, in MB (Linux: VmHWM). */
function peakRssMb(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /VmHWM:\s+(\d+) kB/.exec(status);
  return match ? Math.round(Number(match[1]) / 1024) : null;
}

/** psql's own binary COPY of the same rows to /dev/null: what the server can send, with no client work. */
function psqlCopy(url, table, rows) {
  let psql = "/usr/bin/psql";
  if (!fs.existsSync(psql)) {
    process.stderr.write("installing Debian's postgresql-client for psql...\n");
    execFileSync("apt-get", ["install", "-y", "postgresql-client"], { stdio: "inherit" });
  }
  const started = process.hrtime.bigint();
  execFileSync(psql, [url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", `\\copy (SELECT id, amount, score, name, created_at, active FROM ${table}) TO '/dev/null' WITH (FORMAT binary)`], { stdio: ["ignore", "ignore", "inherit"] });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { rows, seconds, peakRssMb: null };
}

/** The raw floor: a plain pg keyset read in its own process. */
function rawRead(url, table) {
  const script = `
    const { Client } = require("pg");
    (async () => {
      const client = new Client({ connectionString: ${JSON.stringify(url)} });
      await client.connect();
      const started = process.hrtime.bigint();
      let after = 0, rows = 0;
      for (;;) {
        const page = await client.query("SELECT id, amount, score, name, created_at, active FROM ${table} WHERE id > $1 ORDER BY id LIMIT 10000", [after]);
        rows += page.rows.length;
        if (page.rows.length < 10000) break;
        after = page.rows[page.rows.length - 1].id;
      }
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      await client.end();
      console.log(JSON.stringify({ rows, seconds, peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024) }));
    })();
  `;
  return JSON.parse(execFileSync(process.execPath, ["-e", script], { cwd: ROOT, encoding: "utf8" }));
}

async function startProcess(args, ready) {
  const child = spawn(process.execPath, args, { cwd: os.tmpdir(), stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no server after 20 s: ${output}`)), 20000);
    const onData = (chunk) => {
      output += chunk;
      const port = ready(output);
      if (port) {
        clearTimeout(timer);
        resolve(port);
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => reject(new Error(`the server exited (${code}): ${output}`)));
  });
  return { child, port, output: () => output };
}

function unary(client, method, request) {
  return new Promise((resolve, reject) => client[method](request, { deadline: Date.now() + 60000 }, (e, r) => (e ? reject(e) : resolve(r))));
}

/** Init + Sync of one table; the client decodes every insert. Returns rows, seconds, messages. */
async function syncOverGrpc(port, spec, table, arrow) {
  const client = new v3.PluginClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { "grpc.max_receive_message_length": -1 });
  await unary(client, "Init", new v3.Init.Request({ spec: Buffer.from(JSON.stringify(spec)) }));
  const started = process.hrtime.bigint();
  let rows = 0;
  let messages = 0;
  let bytes = 0;
  let checksum = 0;
  const stream = client.Sync(new v3.Sync.Request({ tables: [table], withErrorMessages: true }), { deadline: Date.now() + 30 * 60000 });
  for await (const response of stream) {
    if (response.has_error) throw new Error(`${response.error.table_name}: ${response.error.error}`);
    if (!response.has_insert) continue;
    messages++;
    const record = response.insert.record;
    bytes += record.byteLength;
    const decoded = arrow.tableFromIPC(record);
    rows += decoded.numRows;
    // touch a value of every batch, so that nothing is left undecoded
    checksum += Number(decoded.getChildAt(0).get(decoded.numRows - 1));
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  client.close();
  return { rows, seconds, messages, megabytes: Math.round(bytes / 1048576), checksum };
}

async function pluginRun(packageFolder, url, table, batchSize, arrow) {
  const bin = path.join(packageFolder, JSON.parse(fs.readFileSync(path.join(packageFolder, "package.json"), "utf8")).bin["cq-source-postgres"]);
  const { child, port, output } = await startProcess([bin, "serve", "--address", "127.0.0.1:0", "--log-format", "json", "--log-level", "info"], (out) => {
    const match = /"port":(\d+)/.exec(out);
    return match && Number(match[1]);
  });
  try {
    const result = await syncOverGrpc(port, { connection_string: url, sslmode: "disable", batch_size: batchSize, state_file: null }, table, arrow);
    if (result.rows === 0) throw new Error(`the plugin sent no rows: ${output().slice(-2000)}`);
    return { ...result, peakRssMb: peakRssMb(child.pid) };
  } finally {
    child.kill("SIGTERM");
  }
}

async function sdkRun(url, table, arrow) {
  const port = await freePort();
  const { child, output } = await startProcess([path.join(__dirname, "cloudquery-sdk-plugin.mjs"), "serve", "--address", `127.0.0.1:${port}`, "--log-level", "warn"], () => port);
  // the SDK's server logs nothing at warn: wait until it accepts calls
  const client = new v3.PluginClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  await new Promise((resolve, reject) => client.waitForReady(Date.now() + 20000, (e) => (e ? reject(e) : resolve())));
  client.close();
  try {
    const result = await syncOverGrpc(port, { connection_string: url, table }, table, arrow);
    // the SDK's scheduler logs a failed table and ends the Sync normally: say why no rows came
    if (result.rows === 0) throw new Error(`the SDK path sent no rows: ${output().slice(-2000)}`);
    return { ...result, peakRssMb: peakRssMb(child.pid) };
  } finally {
    child.kill("SIGTERM");
  }
}

function row(name, r, note) {
  return { contender: name, rows: r.rows, seconds: Number(r.seconds.toFixed(2)), rowsPerSecond: Math.round(r.rows / r.seconds), peakRssMb: r.peakRssMb, messages: r.messages ?? "-", note };
}

async function main() {
  const options = parseArgs(process.argv.slice(2), { rows: 1000000, rowsLarge: 2000000, sdkRows: 20000, batchSize: 10000 });
  const packageFolder = buildPackage({ prefix: "cq-source-postgres-bench-" });
  const arrow = await import("@cloudquery/plugin-sdk-javascript/arrow");
  const server = await serverFromEnvironmentOrEmbedded();
  try {
    const url = await createDatabase(server.url, "gpp_bench_cloudquery");
    const main = `bench_${options.rows}`;
    const large = `bench_${options.rowsLarge}`;
    const small = `bench_${options.sdkRows}`;
    await ensureSyncTable(url, main, options.rows);
    await ensureSyncTable(url, large, options.rowsLarge);
    await ensureSyncTable(url, small, options.sdkRows);

    const results = [];
    const psql = psqlCopy(url, main, options.rows);
    results.push(row("psql binary COPY", psql, "the server's own speed: \\copy to /dev/null, no decoding"));
    const raw = rawRead(url, main);
    results.push(row("raw pg keyset read", raw, "node-pg text rows, pages of 10,000, no Arrow, no gRPC"));
    const plugin = await pluginRun(packageFolder, url, main, options.batchSize, arrow);
    results.push(row("plugin Sync", plugin, `batches of ${options.batchSize}, client decodes every batch`));
    const pluginLarge = await pluginRun(packageFolder, url, large, options.batchSize, arrow);
    results.push(row("plugin Sync (memory)", pluginLarge, `${options.rowsLarge} rows`));
    const pluginSmall = await pluginRun(packageFolder, url, small, options.batchSize, arrow);
    results.push(row("plugin Sync (small)", pluginSmall, `the SDK's table`));
    const sdk = await sdkRun(url, small, arrow);
    results.push(row("SDK scheduler Sync", sdk, "published SDK path: one message per row"));

    for (const r of [plugin, pluginLarge, pluginSmall, sdk]) {
      if (r.rows === 0) throw new Error("a Sync sent no rows");
    }
    const summary = {
      pluginTimeVsPsql: Number((plugin.seconds / psql.seconds).toFixed(2)),
      pluginVsRaw: Number((plugin.rows / plugin.seconds / (raw.rows / raw.seconds)).toFixed(2)),
      pluginVsSdk: Math.round(plugin.rows / plugin.seconds / (sdk.rows / sdk.seconds)),
      memoryGrowthMb: pluginLarge.peakRssMb - plugin.peakRssMb,
    };
    console.log(`\n$ ${COMMAND}${process.argv.length > 2 ? " " + process.argv.slice(2).join(" ") : ""}`);
    // the machine may be shared: the load says how far the times are from a quiet machine's
    const load = os.loadavg().map((l) => l.toFixed(2)).join(" ");
    console.log(`node ${process.version}, ${os.cpus().length} cores, PostgreSQL ${server.embedded ? "embedded" : "from the environment"}, load average ${load}\n`);
    console.table(results);
    console.log(
      `plugin Sync time / psql COPY time: ${summary.pluginTimeVsPsql}x (target <= 2); plugin / raw read: ${summary.pluginVsRaw}x the rows/s; plugin / SDK path: ${summary.pluginVsSdk}x; peak RSS ${plugin.peakRssMb} MB at ${options.rows} rows, ${pluginLarge.peakRssMb} MB at ${options.rowsLarge}`
    );
    const out = path.join(__dirname, "results", "cloudquery-latest.json");
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(
      out,
      JSON.stringify({ command: COMMAND, args: process.argv.slice(2), date: new Date().toISOString(), node: process.version, cores: os.cpus().length, loadAverage: os.loadavg(), options, results, summary }, null, 2) + "\n"
    );
    console.log(`written to ${path.relative(ROOT, out)}`);
  } finally {
    await server.stop();
    fs.rmSync(packageFolder, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
