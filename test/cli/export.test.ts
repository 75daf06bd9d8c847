import { beforeAll, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { exportRuns, openRunsDb } from "../../src/index.ts";
import { removeRuns } from "../../src/manage.ts";
import { SqliteSource } from "../../src/store/index.ts";
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

test("export --where picks the runs by tag (or config, status): only theirs are written", async () => {
  const db = recordDemoRuns(join(tempDir(), "sweep.db"), ["x", "y", "z"], { bars: 20 });
  for (const id of ["x", "z"])
    expect((await cli(["tag", db, "--run", id, "sweep=s1"])).code).toBe(0);
  const out = join(dir, "tagged");
  const { code, stderr } = await cli([
    "export",
    db,
    "--format=csv",
    "--out",
    out,
    "--where",
    "tag.sweep=s1",
  ]);
  expect([code, stderr]).toEqual([0, expect.stringMatching(/exported 2 runs, /)]);
  const runIds = lines(await Bun.file(join(out, "runs.csv")).text())
    .slice(1)
    .map((line) => line.split(",")[0])
    .sort();
  expect(runIds).toEqual(["x", "z"]);
  expect(existsSync(join(out, "bars", "run_id=y"))).toBe(false);
});

test("a --where that picks no run: export and push say so, exit 0 and write or connect to nothing", async () => {
  const out = join(tempDir(), "none");
  const exported = await cli([
    "export",
    DB,
    "--format=csv",
    "--out",
    out,
    "--where",
    "status=failed",
  ]);
  expect([exported.code, lines(exported.stderr)]).toEqual([
    0,
    [expect.stringContaining("no run meets --where status=failed")],
  ]);
  expect(existsSync(out)).toBe(false);
  // Port 1 has no server: a push that connected would fail.
  const pushed = await cli([
    "push",
    DB,
    "--to",
    "postgres://nobody@127.0.0.1:1/runs",
    "--where",
    "status=failed",
  ]);
  expect([pushed.code, pushed.stdout, lines(pushed.stderr)]).toEqual([
    0,
    "",
    [expect.stringContaining("no run meets --where status=failed")],
  ]);
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

test.each([
  ["letter case", "SMA-1", "sma-1"],
  ["Unicode normalization", "caf\u00e9", "cafe\u0301"],
])(
  "runs whose ids differ only in %s: refused in one line naming both, nothing written",
  async (_, a, b) => {
    const path = join(tempDir(), "clash.db");
    recordDemoRuns(path, [a, b], { bars: 5 });
    const out = join(dir, `clash-${a}`);
    const { code, stderr } = await cli(["export", path, "--format", "csv", "--out", out]);
    // Newest first, as runs lists them.
    expect([code, lines(stderr)]).toEqual([
      1,
      [
        `runtape: runs "${b}" and "${a}" differ only in letter case or Unicode normalization, so they would share one folder of the export on macOS and Windows: give one of them another id (runtape rename) to export both`,
      ],
    ]);
    expect(existsSync(out)).toBe(false);
    // Either of them alone is exported.
    expect((await cli(["export", path, "--format", "csv", "--out", out, "--run", a])).code).toBe(0);
  },
);

test("ids that those file systems keep apart are exported side by side: a ligature and its letters, ß and ss", async () => {
  const ids = ["\ufb01le-1", "file-1", "stra\u00dfe", "strasse"];
  const path = join(tempDir(), "apart.db");
  recordDemoRuns(path, ids, { bars: 5 });
  const out = join(dir, "apart");
  const { code, stderr } = await cli(["export", path, "--format", "csv", "--out", out]);
  expect([code, stderr]).toEqual([0, expect.not.stringContaining("differ only")]);
  expect(readdirSync(join(out, "bars")).length).toBe(ids.length);
});

test("a run removed once the export has listed its runs is passed over; the rest are exported", async () => {
  const here = tempDir();
  const path = join(here, "runs.db");
  recordDemoRuns(path, ["first", "gone", "last"], { bars: 20 });
  const source = SqliteSource.open(path);
  const listRuns = source.listRuns.bind(source);
  // `rm` in another process, just after the export listed the runs.
  source.listRuns = async () => {
    const listed = await listRuns();
    const db = openRunsDb(path, { mode: "write" });
    removeRuns(db, ["gone"]);
    db.close();
    return listed;
  };
  const out = join(here, "out");
  const summary = await exportRuns(source, { format: "csv", out });
  await source.close();
  expect(summary.runs).toBe(2);
  const written = readdirSync(out, { recursive: true }).map(String);
  expect(written.filter((name) => name.includes("gone"))).toEqual([]);
  const runs = readFileSync(join(out, "runs.csv"), "utf8");
  expect([runs.includes("first"), runs.includes("last"), runs.includes("gone")]).toEqual([
    true,
    true,
    false,
  ]);
});
