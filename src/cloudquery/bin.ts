#!/usr/bin/env node
// The `cq-source-postgres` command: CloudQuery's plugin command line (`serve --address ...`).
import { main } from "./cli";

main(process.argv.slice(2)).catch((error: Error) => {
  process.stderr.write(`cq-source-postgres: ${error.message}\n`);
  process.exit(1);
});
