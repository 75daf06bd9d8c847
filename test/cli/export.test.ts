import { beforeAll, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { openRunsDb } from "../../src/index.ts";
import { recordDemoRuns, tempDir } from "../helpers.ts";
import { cli } from "./inprocess.ts";
import { lines } from "./support.ts";

const dir = tempDir();
const DB = join(dir, "runs.db");

beforeAll(() => {
  recordDemoRuns(DB, ["a", "b c"], { bars: 30 });
});

test("export --run repeated picks those runs; the summary line counts what was written", async () => {
  const out = join(dir, "two");
  const { code, stderr } = await cli([
    "export",
    DB,
    "--format=csv",
    "--out",
    out,
    "--run",
    "b c",
    "--run=a",
    "--types",
    "FillEvent",
  ]);
  expect(code).toBe(0);
  expect(stderr).toMatch(/exported 2 runs, [\d,]+ events into 3 files under /);
  expect(existsSync(join(out, "fills", "run_id=b%20c", "part-0.csv"))).toBe(true);
  expect(existsSync(join(out, "fills", "run_id=a", "part-0.csv"))).toBe(true);
});

test("a file with no runs exports nothing and says so, without a rate per event", async () => {
  const empty = join(tempDir(), "empty.db");
  openRunsDb(empty, { mode: "write" }).close();
  const { code, stderr } = await cli(["export", empty, "--format=csv", "--out", join(dir, "none")]);
  expect([code, lines(stderr)]).toEqual([
    0,
    [expect.stringContaining("exported 0 runs, 0 events")],
  ]);
  expect(stderr).not.toContain("bytes/event");
});

test.each([
  [["export", DB, "--out", "x"], "--format is required"],
  [["export", DB, "--format", "json", "--out", "x"], "--format takes one of parquet, csv"],
  [["export", DB, "--format", "csv"], "--out is required"],
  [["export", DB, "--format", "csv", "--out", "x", "--types", "Nope"], "unknown event type"],
])("usage error: %j", async (argv, message) => {
  const { code, stderr } = await cli(argv);
  expect(code).toBe(2);
  expect(lines(stderr)[0]).toContain(message);
});

test("a run that is not there: one line, exit 1, no directory left", async () => {
  const out = join(dir, "missing");
  const { code, stderr } = await cli([
    "export",
    DB,
    "--format",
    "csv",
    "--out",
    out,
    "--run",
    "zz",
  ]);
  expect([code, lines(stderr)]).toEqual([1, ['runtape: no run with id "zz"']]);
  expect(existsSync(out)).toBe(false);
});
