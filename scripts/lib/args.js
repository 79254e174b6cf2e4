// The one command-line parser of the scripts and benchmarks: `--kebab-case value` options named by
// the camelCase keys of their defaults. Plain CommonJS, no build step (benches run without dist/).
"use strict";

/**
 * Parses `argv` against `defaults`: a boolean default makes a flag (`--skip-original`), a number
 * default (or a key in `numbers`, for a default left undefined) takes a number, anything else a
 * string. `-h` is `--help` when `help` is a default. An unknown option, a missing value or a
 * number that is not one is an error naming the option, so a typo never runs with the default.
 */
function parseArgs(argv, defaults, { numbers = [] } = {}) {
  const out = { ...defaults };
  const known = Object.keys(defaults);
  const flagOf = (key) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] === "-h" && "help" in defaults ? "--help" : argv[i];
    const key = flag.startsWith("--") ? flag.slice(2).replace(/-([a-z])/g, (_, c) => c.toUpperCase()) : "";
    if (!known.includes(key)) throw new Error(`unknown option ${flag} (options: ${known.map(flagOf).join(", ")})`);
    if (typeof defaults[key] === "boolean") {
      out[key] = true;
      continue;
    }
    const value = argv[i + 1];
    if (value === undefined || value.startsWith("--")) throw new Error(`${flag} needs a value`);
    i++;
    if (typeof defaults[key] === "number" || numbers.includes(key)) {
      if (value.trim() === "" || !Number.isFinite(Number(value))) throw new Error(`${flag} needs a number, not "${value}"`);
      out[key] = Number(value);
    } else out[key] = value;
  }
  return out;
}

module.exports = { parseArgs };
