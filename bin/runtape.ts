#!/usr/bin/env bun
import { main } from "../src/cli/main.ts";

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
