// Experiment (issue 18 item 2), not a test: the plugin's CPU to read a binary COPY of the cloudquery
// bench's 6-column table (1M rows) through our own submittable (src/postgres/copy.ts BinaryCopyOut:
// node-postgres parses the socket, one CopyDataMessage per row) against pg-copy-streams (which takes
// the socket over and hands on chunks of concatenated CopyData payloads, framed here row by row,
// rows split across chunks joined). Sinks:
// - "bytes": nothing per row (pg-copy-streams' chunks are not even framed), the reader's own cost;
//   with "socket-floor", not a contender: the messages' headers walked, nothing allocated per row,
//   the least any reader of this socket spends (what is left to win);
// - "count": counts rows;
// - "decode": into the BatchBuilder (10,000-row batches, each flushed to Arrow IPC).
// Each run is its own process (no JIT warm-up shared), the contenders interleaved, the order
// alternating; CPU is process.cpuUsage() around the COPY alone, wall the COPY's time.
//
//   npm install --prefix /tmp/pcs pg-copy-streams@7    # not a dependency of the project
//   npm run build && PG_COPY_STREAMS_DIR=/tmp/pcs node bench/copy-read.js [--rows 1000000] [--runs 3] [--sinks bytes,count,decode]
//
// Uses DATABASE_URL / PG* when set, else an embedded server. Writes bench/results/copy-read-latest.json.
"use strict";

const path = require("path");
const { execFileSync } = require("child_process");
const { Client } = require("pg");
const { parseArgs } = require("../scripts/lib/args");
const { writeJson, machine, loadNote, commandLine } = require("./report");
const { ensureSyncTable } = require("./lib");

const ROOT = path.join(__dirname, "..");
const TABLE = "copy_read_bench";
const COLUMNS = "id, amount, score, name, created_at, active";
const BATCH_ROWS = 10000;

function copyStreams() {
  try {
    return require("pg-copy-streams");
  } catch (error) {
    if (!process.env.PG_COPY_STREAMS_DIR) throw error;
    return require(path.join(
      process.env.PG_COPY_STREAMS_DIR,
      "node_modules",
      "pg-copy-streams"
    ));
  }
}


/** The bench table as the plugin sees it: its SourceTable, Arrow schema and a BatchBuilder. */
async function batchBuilder() {
  const { loadArrow } = require(path.join(ROOT, "dist/cloudquery/esm"));
  const { arrowSchema } = require(path.join(
    ROOT,
    "dist/cloudquery/arrowSchema"
  ));
  const { BatchBuilder } = require(path.join(ROOT, "dist/cloudquery/batch"));
  const arrow = await loadArrow();
  const kinds = [
    ["id", { kind: "int64" }],
    ["amount", { kind: "decimal", precision: 12, scale: 2 }],
    ["score", { kind: "float64" }],
    ["name", { kind: "utf8" }],
    ["created_at", { kind: "timestamp", utc: true }],
    ["active", { kind: "bool" }],
  ];
  const table = {
    name: TABLE,
    relation: {
      name: TABLE,
      description: "",
      uniqueColumns: [],
      primaryKey: ["id"],
      primaryKeyConstraint: "",
    },
    sql: TABLE,
    columns: kinds.map(([name, arrowKind]) => ({
      column: { name, notNull: false },
      mapping: { arrow: arrowKind, select: name, asText: false },
    })),
    primaryKey: ["id"],
    key: ["id"],
  };
  const schema = arrowSchema(arrow, table);
  const totals = { rows: 0, ipcBytes: 0 };
  const flush = () => {
    totals.rows += builder.rows;
    totals.ipcBytes += builder.flush().length;
  };
  const builder = new BatchBuilder(
    arrow,
    schema,
    table,
    { rows: BATCH_ROWS, bytes: 64 * 1024 * 1024 },
    0,
    flush
  );
  // the last, partial batch
  const finish = () => {
    if (builder.rows > 0) flush();
    return totals;
  };
  return { builder, finish };
}

/**
 * Rows framed out of a stream of concatenated CopyData payloads: a chunk may end inside a row, whose
 * start is kept and joined to the next chunk. `onRow(buffer, start, end)` sees complete rows only.
 */
function rowFramer(onRow) {
  let headerSeen = false;
  let carry = null;
  let ended = false;
  return (chunk) => {
    let buffer = carry ? Buffer.concat([carry, chunk]) : chunk;
    carry = null;
    let at = 0;
    if (!headerSeen) {
      if (buffer.length < 19) {
        carry = buffer;
        return;
      }
      at = 19 + buffer.readInt32BE(15);
      headerSeen = true;
    }
    const length = buffer.length;
    while (at + 2 <= length) {
      // the field count and lengths are read byte by byte: Buffer's readInt*BE check their arguments on every call
      const fields = (((buffer[at] << 8) | buffer[at + 1]) << 16) >> 16;
      if (fields === -1) {
        ended = true;
        return;
      }
      let end = at + 2;
      let complete = true;
      for (let i = 0; i < fields; i++) {
        if (end + 4 > length) {
          complete = false;
          break;
        }
        const fieldLength =
          (buffer[end] << 24) |
          (buffer[end + 1] << 16) |
          (buffer[end + 2] << 8) |
          buffer[end + 3];
        end += 4;
        if (fieldLength > 0) end += fieldLength;
        if (end > length) {
          complete = false;
          break;
        }
      }
      if (!complete) break;
      onRow(buffer, at, end);
      at = end;
    }
    if (!ended && at < length) carry = buffer.subarray(at);
  };
}

function socketFloor(onCopyData, resolve, reject, text) {
  let stream;
  let pgHandler;
  let skip = 0; // bytes of the current message still to come in later chunks
  let pending = null; // a message header split across chunks (rare)
  const onData = (received) => {
    const chunk = pending ? Buffer.concat([pending, received]) : received;
    pending = null;
    let at = skip;
    skip = 0;
    while (at < chunk.length) {
      if (at + 5 > chunk.length) {
        pending = chunk.subarray(at);
        return;
      }
      const code = chunk[at];
      const length =
        (chunk[at + 1] << 24) |
        (chunk[at + 2] << 16) |
        (chunk[at + 3] << 8) |
        chunk[at + 4];
      if (code === 0x64) onCopyData();
      else if (code !== 0x48) {
        // CopyDone or anything else: node-postgres takes over again from here
        stream.removeListener("data", onData);
        stream.on("data", pgHandler);
        pgHandler(chunk.subarray(at));
        return;
      }
      at += 1 + length;
    }
    skip = at - chunk.length;
  };
  return {
    submit(connection) {
      stream = connection.stream;
      pgHandler = stream.listeners("data")[0];
      stream.removeListener("data", pgHandler);
      stream.on("data", onData);
      connection.query(text);
    },
    handleCopyOutResponse() {},
    handleCommandComplete() {},
    handleReadyForQuery: () => resolve(),
    handleError: (error) => reject(error),
  };
}

async function runOne(url, contender, sinkKind) {
  const client = new Client({ connectionString: url });
  await client.connect();
  const sql = `COPY (SELECT ${COLUMNS} FROM ${TABLE} ORDER BY id) TO STDOUT (FORMAT binary)`;
  let rows = 0;
  let ipcBytes = 0;
  let finish;
  let cpu;
  let started;
  if (contender === "BinaryCopyOut") {
    const { BinaryCopyOut } = require(path.join(ROOT, "dist/postgres/copy"));
    let sink;
    if (sinkKind === "count" || sinkKind === "bytes") {
      sink = { row: () => rows++ };
    } else {
      const made = await batchBuilder();
      finish = made.finish;
      sink = made.builder;
    }
    cpu = process.cpuUsage();
    started = process.hrtime.bigint();
    await new Promise((resolve, reject) =>
      client.query(
        new BinaryCopyOut(sql, sink, (error, n) =>
          error ? reject(error) : resolve(n)
        )
      )
    );
    if (finish) ({ rows, ipcBytes } = finish());
  } else if (contender === "socket-floor") {
    // Not a contender: the least any reader of this socket can spend (the messages' headers walked,
    // CopyData counted, nothing allocated per row), to size what is left to win.
    cpu = process.cpuUsage();
    started = process.hrtime.bigint();
    let messages = 0;
    await new Promise((resolve, reject) =>
      client.query(socketFloor(() => messages++, resolve, reject, sql))
    );
    rows = messages - 1; // the header rides with the first row; the trailer is a CopyData message of its own
  } else {
    const { to } = copyStreams();
    let onRow;
    let builder;
    if (sinkKind === "bytes") {
      onRow = null;
    } else if (sinkKind === "count") {
      onRow = () => rows++;
    } else {
      const made = await batchBuilder();
      finish = made.finish;
      builder = made.builder;
      // what BatchBuilder.row does, on a row inside a chunk of several (no Buffer view per row)
      onRow = (buffer, start, end) => {
        if (builder.writersFlushed) builder.resetWriters();
        builder.decoder.append(buffer, start + 2);
        builder.rows++;
        builder.bytes += end - start;
        if (builder.rows >= BATCH_ROWS) builder.onFull();
      };
    }
    cpu = process.cpuUsage();
    started = process.hrtime.bigint();
    // "bytes": the library's own cost alone, no framing (the rows are then counted from CopyDone's tag)
    const frame = onRow
      ? rowFramer(onRow)
      : (chunk) => (ipcBytes += chunk.length);
    const stream = client.query(to(sql));
    await new Promise((resolve, reject) => {
      stream.on("data", frame);
      stream.on("error", reject);
      stream.on("end", resolve);
    });
    if (!onRow) {
      await client.query("SELECT 1"); // after the COPY's CommandComplete, which carries the row count
      rows = stream.rowCount;
    }
    if (finish) ({ rows, ipcBytes } = finish());
  }
  const wall = Number(process.hrtime.bigint() - started) / 1e9;
  const used = process.cpuUsage(cpu);
  await client.end();
  return {
    contender,
    sink: sinkKind,
    rows,
    cpuSeconds: (used.user + used.system) / 1e6,
    userSeconds: used.user / 1e6,
    wallSeconds: wall,
    ipcBytes,
  };
}

async function main() {
  const options = parseArgs(process.argv.slice(2), {
    rows: 1000000,
    runs: 3,
    sinks: "bytes,count,decode",
    child: "",
  });
  if (options.child) {
    const [contender, sinkKind] = options.child.split(":");
    const result = await runOne(process.env.COPY_READ_URL, contender, sinkKind);
    process.stdout.write(JSON.stringify(result) + "\n");
    return;
  }
  const rowsWanted = options.rows;
  const runs = options.runs;
  const sinks = options.sinks.split(",");
  const {
    serverFromEnvironmentOrEmbedded,
    createDatabase,
  } = require("../scripts/postgres-server");
  const server = await serverFromEnvironmentOrEmbedded();
  try {
    const url = await createDatabase(server.url, "gpp_bench_copy_read");
    await ensureSyncTable(url, TABLE, rowsWanted);
    const out = {
      command: commandLine(),
      machine: machine(),
      rows: rowsWanted,
      runs: [],
      medians: {},
    };
    const results = out.runs;
    for (const sinkKind of sinks) {
      for (let run = 0; run < runs; run++) {
        // interleaved, and the order alternates so neither contender always goes first
        const order =
          run % 2 === 0
            ? ["BinaryCopyOut", "pg-copy-streams"]
            : ["pg-copy-streams", "BinaryCopyOut"];
        if (sinkKind === "bytes") order.push("socket-floor");
        for (const contender of order) {
          const out = execFileSync(
            process.execPath,
            [__filename, "--child", `${contender}:${sinkKind}`],
            { env: { ...process.env, COPY_READ_URL: url }, encoding: "utf8" }
          );
          const result = JSON.parse(out.trim().split("\n").pop());
          if (result.rows !== rowsWanted)
            throw new Error(
              `${contender} counted ${result.rows} rows, ${rowsWanted} expected`
            );
          results.push({ run: run + 1, ...result });
          process.stdout.write(
            `${sinkKind.padEnd(7)} run ${run + 1}  ${contender.padEnd(
              16
            )} cpu ${result.cpuSeconds.toFixed(
              3
            )} s (user ${result.userSeconds.toFixed(
              3
            )})  wall ${result.wallSeconds.toFixed(3)} s  rows ${
              result.rows
            }  ipc ${result.ipcBytes}\n`
          );
        }
      }
    }
    for (const sinkKind of sinks) {
      const median = (contender, key) => {
        const values = results
          .filter((r) => r.sink === sinkKind && r.contender === contender)
          .map((r) => r[key])
          .sort((a, b) => a - b);
        return values[Math.floor(values.length / 2)];
      };
      const ours = median("BinaryCopyOut", "cpuSeconds");
      const theirs = median("pg-copy-streams", "cpuSeconds");
      out.medians[sinkKind] = {
        BinaryCopyOut: ours,
        "pg-copy-streams": theirs,
        cpuSaved: 1 - theirs / ours,
      };
      if (sinkKind === "bytes")
        out.medians[sinkKind]["socket-floor"] = median(
          "socket-floor",
          "cpuSeconds"
        );
      process.stdout.write(
        `${sinkKind}: median cpu BinaryCopyOut ${ours.toFixed(
          3
        )} s, pg-copy-streams ${theirs.toFixed(3)} s (${(
          (1 - theirs / ours) *
          100
        ).toFixed(0)}% saved); median wall ${median(
          "BinaryCopyOut",
          "wallSeconds"
        ).toFixed(3)} s vs ${median("pg-copy-streams", "wallSeconds").toFixed(
          3
        )} s\n`
      );
    }
    if (out.medians.bytes)
      process.stdout.write(
        `bytes: median cpu socket-floor ${out.medians.bytes[
          "socket-floor"
        ].toFixed(3)} s\n`
      );
    process.stdout.write(
      `${loadNote(out)}\nwrote ${writeJson("copy-read-latest.json", out)}\n`
    );
  } finally {
    await server.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
