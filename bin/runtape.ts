#!/usr/bin/env bun
import { main, reportUncaught } from "../src/cli/main.ts";

// What runs unawaited (a strategy's timer, a promise it dropped) ends with one line too.
process.on("uncaughtException", reportUncaught);
process.on("unhandledRejection", reportUncaught);

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
