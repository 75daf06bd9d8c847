import { expect, test } from "bun:test";
import { closeSync, existsSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { mergeRuns, openRunsDb, Recorder } from "../../src/index.ts";
import { rawDb, recordDemoRuns, tempDir } from "../helpers.ts";
import { cli } from "./inprocess.ts";
import { databaseBytes, lines, storedEvents, storedRuns } from "./support.ts";

const worker = (path: string, ids: readonly string[], seed: number) =>
  recordDemoRuns(path, ids, { seed, bars: 20 });

test("merge OUT IN IN: one line per run on stdout, a summary on stderr; again: all identical", async () => {
  const dir = tempDir();
  const a = worker(join(dir, "a.db"), ["r1", "r 2"], 1);
  const b = worker(join(dir, "b.db"), ["r3"], 2);
  const first = await cli(["merge", "out.db", a, b], dir);
  expect(first.code).toBe(0);
  expect(lines(first.stdout).map((l) => l.split("\t").slice(0, 3))).toEqual([
    ["copied", "r1", a],
    ["copied", "r 2", a],
    ["copied", "r3", b],
  ]);
  expect(first.stderr).toMatch(/merged 3 runs \([\d,]+ events\) into out\.db; 0 already there/);
  const again = await cli(["merge", "out.db", a, b, "--run", "r3", "--run=r1"], dir);
  expect(lines(again.stdout).map((l) => l.split("\t")[0])).toEqual(["identical", "identical"]);
});

test("--run latest merges the newest run of the sources", async () => {
  const dir = tempDir();
  worker(join(dir, "a.db"), ["r1"], 1);
  worker(join(dir, "b.db"), ["r2", "r3"], 2);
  const result = await cli(["merge", "out.db", "a.db", "b.db", "--run", "latest"], dir);
  expect([result.code, result.stdout]).toEqual([
    0,
    `copied\tr3\tb.db\t${storedEvents(join(dir, "b.db"), "r3")}\n`,
  ]);
  expect((await cli(["merge", "--help"])).stdout).toContain("--run=<ID|latest>");
});

test("--where merges the runs that meet it from every source; one left running elsewhere is no bar", async () => {
  const dir = tempDir();
  recordDemoRuns(join(dir, "a.db"), ["a5"], { bars: 20, config: { fast: 5 } });
  recordDemoRuns(join(dir, "a.db"), ["a8"], { bars: 20, config: { fast: 8 } });
  recordDemoRuns(join(dir, "b.db"), ["b5"], { bars: 20, config: { fast: 5 } });
  const open = Recorder.start(join(dir, "b.db"), { runId: "live", config: { fast: 8 } });
  try {
    const merged = await cli(["merge", "out.db", "a.db", "b.db", "--where", "fast=5"], dir);
    expect([merged.code, lines(merged.stdout).map((l) => l.split("\t").slice(0, 2))]).toEqual([
      0,
      [
        ["copied", "a5"],
        ["copied", "b5"],
      ],
    ]);
    const none = await cli(["merge", "none.db", "a.db", "--where", "fast=6"], dir);
    expect([none.code, none.stdout, lines(none.stderr)]).toEqual([
      0,
      "",
      [expect.stringContaining("nothing to merge: no run meets --where fast=6")],
    ]);
    expect(existsSync(join(dir, "none.db"))).toBe(false);
    // The library takes the CLI's spelling of a run field too.
    const byId = mergeRuns(join(dir, "ids.db"), [join(dir, "a.db")], {
      where: [{ key: "run_id", value: "a8" }],
    });
    expect(byId.map((m) => m.runId)).toEqual(["a8"]);
    const unknown = await cli(["merge", "out.db", "a.db", "--where", "slow=6"], dir);
    expect([unknown.code, lines(unknown.stderr)[0]]).toEqual([
      2,
      'runtape: --where: cannot filter on "slow": no run has this config path',
    ]);
    expect(storedRuns(join(dir, "out.db")).map((r) => r.run_id)).toEqual(["a5", "b5"]);
  } finally {
    open.close();
  }
});

test("merged again, a run's line still carries its event count", async () => {
  const dir = tempDir();
  worker(join(dir, "a.db"), ["r1", "r2"], 1);
  const [r1, r2] = ["r1", "r2"].map((id) => storedEvents(join(dir, "a.db"), id));
  const output = (action: string) => `${action}\tr1\ta.db\t${r1}\n${action}\tr2\ta.db\t${r2}\n`;
  const first = await cli(["merge", "out.db", "a.db"], dir);
  expect([first.code, first.stdout]).toEqual([0, output("copied")]);
  const again = await cli(["merge", "out.db", "a.db"], dir);
  expect([again.code, again.stdout]).toEqual([0, output("identical")]);
});

test("sources that hold no runs: nothing to merge, said so, nothing written", async () => {
  const dir = tempDir();
  openRunsDb(join(dir, "empty.db"), { mode: "write" }).close();
  const result = await cli(["merge", "out.db", "empty.db"], dir);
  expect([result.code, result.stdout, lines(result.stderr)]).toEqual([
    0,
    "",
    [expect.stringContaining("nothing to merge: the sources hold no runs")],
  ]);
  expect(existsSync(join(dir, "out.db"))).toBe(false);
});

test("a conflict is one line and exit 1; --on-conflict rename says the old id", async () => {
  const dir = tempDir();
  const out = worker(join(dir, "out.db"), ["r1"], 1);
  const clash = worker(join(dir, "clash.db"), ["r1"], 5);
  const before = databaseBytes(out);
  const refused = await cli(["merge", out, clash]);
  expect([refused.code, lines(refused.stderr)]).toEqual([
    1,
    [`runtape: run "r1" in ${clash} differs from the run of that id in ${out}; nothing was merged`],
  ]);
  expect(databaseBytes(out)).toEqual(before);
  // Passed over, the run is not counted as one already there: it differs.
  const skipped = await cli(["merge", out, clash, "--on-conflict", "skip"]);
  expect([skipped.code, lines(skipped.stdout)[0]?.split("\t")[0]]).toEqual([0, "kept"]);
  expect(skipped.stderr).toContain(
    "merged 0 runs (0 events) into " +
      out +
      "; 0 already there, 1 differing left as the target holds them",
  );
  const renamed = await cli(["merge", out, clash, "--on-conflict", "rename"]);
  expect(renamed.code).toBe(0);
  expect(lines(renamed.stdout)[0]).toMatch(/^renamed\tr1~2\t.*\t\d+\t\(was r1\)$/);
});

test.each([
  [["merge", "out.db"], "INPUTS"],
  [
    ["merge", "out.db", "a.db", "--on-conflict", "merge"],
    "--on-conflict takes one of fail, skip, rename",
  ],
  [["merge", "out.db", "a.db", "--bogus"], "unknown option --bogus"],
  [
    ["merge", "out.db", "postgres://u:pw@db.example/runs"],
    "postgres://u:***@db.example/runs is a store URL, not a runs database file",
  ],
  [["merge", "postgres://db.example/runs", "a.db"], "is a store URL, not a runs database file"],
])("usage error: %j", async (argv, message) => {
  const { code, stderr } = await cli(argv, tempDir());
  expect(code).toBe(2);
  expect(lines(stderr)[0]).toContain(message);
});

test("a corrupt source is named as corrupt, not the sound target it was being copied into", async () => {
  const dir = tempDir();
  const source = join(dir, "src.db");
  expect((await cli(["record", source, "--run-id", "r1", "--quiet"])).code).toBe(0);
  expect((await cli(["record", source, "--run-id", "r2", "--seed", "2", "--quiet"])).code).toBe(0);
  // Four bytes at 20,000 break a page of an event table that the copy of r2 reads (r1's is made).
  const file = openSync(source, "r+");
  writeSync(file, new Uint8Array([0xff, 0xff, 0xff, 0xff]), 0, 4, 20_000);
  closeSync(file);
  const merged = await cli(["merge", "tgt.db", "src.db"], dir);
  expect([merged.code, lines(merged.stderr)]).toEqual([
    1,
    ["runtape: src.db: the database is corrupt (database disk image is malformed)"],
  ]);
  const target = rawDb(join(dir, "tgt.db"));
  try {
    expect(target.query("PRAGMA integrity_check").values()).toEqual([["ok"]]);
  } finally {
    target.close();
  }
});
