#!/usr/bin/env bun
import { main, reportStalled, reportUncaught } from "../src/cli/main.ts";

// What runs unawaited (a strategy's timer, a promise it dropped) ends with one line too, unless
// another listener takes the error: a backtest's, which fails its run with it.
for (const event of ["uncaughtException", "unhandledRejection"] as const) {
  process.on(event, (error: unknown) => {
    if (process.listenerCount(event) === 1) reportUncaught(error);
  });
}

let finished = false;
process.once("beforeExit", () => {
  if (!finished) reportStalled();
});

main(process.argv.slice(2)).then((code) => {
  finished = true;
  process.exitCode = code;
  // What a strategy left running (an interval) must not keep a finished command alive, which
  // would hang a sweep's loop: a second for pending writes to stderr, then out.
  setTimeout(() => process.exit(code), 1000).unref();
});
