import { beforeAll, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { recordDemoRuns, tempDir } from "../helpers.ts";
import { cli } from "./inprocess.ts";
import { runtape } from "./run.ts";
import { lines } from "./support.ts";

const duckdb = await import("@duckdb/node-api").catch(() => undefined);

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
  expect(stderr).toMatch(/exported 2 run\(s\), [\d,]+ events into 3 files under /);
  expect(existsSync(join(out, "fills", "run_id=b%20c", "part-0.csv"))).toBe(true);
  expect(existsSync(join(out, "fills", "run_id=a", "part-0.csv"))).toBe(true);
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

// The Parquet writer is pure JavaScript so that it is inside the single-file binary: prove it.
test(`the compiled binary writes Parquet that DuckDB reads${duckdb ? "" : " (skipped: @duckdb/node-api is not installed for this platform)"}`, async () => {
  const out = join(dir, "binary");
  const result = await runtape(["export", DB, "--format", "parquet", "--out", out], {
    via: "binary",
  });
  expect(result.code).toBe(0);
  if (!duckdb) return;
  const connection = await duckdb.DuckDBConnection.create();
  const rows = (
    await connection.runAndReadAll(
      `SELECT run_id, count(*) AS n FROM read_parquet('${out}/bars/*/*.parquet') GROUP BY run_id ORDER BY run_id`,
    )
  ).getRowObjects();
  connection.closeSync();
  expect(rows).toEqual([
    { run_id: "a", n: 90n },
    { run_id: "b c", n: 90n },
  ]);
});
