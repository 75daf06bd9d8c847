import { expect, test } from "bun:test";
import { repeated, repeatedIfGiven } from "../../src/cli/args.ts";

// citty keeps only the last value of an option given twice: these read all of them from rawArgs.
test.each([
  [
    ["db", "--run", "a", "--run", "b"],
    ["a", "b"],
  ],
  [
    ["--run=a", "--run", "b=c", "--run="],
    ["a", "b=c", ""],
  ],
  [["--runs", "x", "--run-id", "y", "--run", "z"], ["z"]],
  [["--run", "a", "--", "--run", "b"], ["a"]],
  [["--where", "run"], []],
  [[], []],
])("repeated(%j, 'run') is %j", (rawArgs, values) => {
  expect(repeated(rawArgs, "run")).toEqual(values);
  expect(repeatedIfGiven(rawArgs, "run")).toEqual(values.length > 0 ? values : undefined);
});
