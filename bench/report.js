// How the benchmarks report: timings, number formats, text tables, the machine and the command line,
// and the JSON file under bench/results/. Plain CommonJS, no build step.
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");

const ROOT = path.join(__dirname, "..");

function seconds(startNs) {
  return Number(process.hrtime.bigint() - startNs) / 1e9;
}

function fmt(n, digits = 2) {
  if (n === undefined || n === null || Number.isNaN(n)) return "-";
  if (typeof n === "string") return n;
  if (!Number.isFinite(n)) return String(n);
  return n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
const int = (n) => (n === undefined || n === null ? "-" : Math.round(n).toLocaleString("en-US"));

/** A text table: `columns` = [{title, align?}], rows of strings. */
function renderTable(columns, rows) {
  const widths = columns.map((c, i) => Math.max(c.title.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) =>
    cells.map((cell, i) => (columns[i].align === "left" ? String(cell).padEnd(widths[i]) : String(cell).padStart(widths[i]))).join("  ");
  return [line(columns.map((c) => c.title)), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

function writeJson(name, data) {
  const dir = path.join(__dirname, "results");
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, name);
  fs.writeFileSync(file, JSON.stringify(data, null, 2) + "\n");
  return path.relative(ROOT, file);
}

function machine() {
  return {
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0] && os.cpus()[0].model,
    memoryGB: Math.round(os.totalmem() / 2 ** 30),
    loadAverageAtStart: os.loadavg().map((n) => Math.round(n * 100) / 100),
  };
}

async function serverVersion(client) {
  const { rows } = await client.query("SHOW server_version");
  return rows[0].server_version;
}

/** Load averages at the start and the end (other work on the machine makes timings noisy). */
function loadNote(out) {
  out.machine.loadAverageAtEnd = os.loadavg().map((n) => Math.round(n * 100) / 100);
  return `Load average (1 min) at start ${out.machine.loadAverageAtStart[0]}, at end ${out.machine.loadAverageAtEnd[0]} (the benchmark itself keeps up to 2 processes busy)`;
}

/** The exact command line of this run, for the report. */
function commandLine() {
  const script = path.relative(ROOT, process.argv[1]);
  return ["node", script, ...process.argv.slice(2)].join(" ");
}

module.exports = { seconds, fmt, int, renderTable, writeJson, machine, serverVersion, loadNote, commandLine };
