import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { copyFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { Recorder } from "../../src/index.ts";
import { bulkRun, rawDb, rowCounts, runContentHash, sampleEvents, tempDir } from "../helpers.ts";
import { cli } from "./inprocess.ts";
import { spawnRuntape } from "./run.ts";
import { lines, storedRuns } from "./support.ts";

/** A database with runs a, b and c of every event type. */
function threeRuns(): string {
  const path = join(tempDir(), "runs.db");
  for (const runId of ["a", "b", "c"]) {
    const recorder = Recorder.start(path, { runId, metadata: { note: runId } });
    for (const event of sampleEvents()) recorder.record(event);
    recorder.close();
  }
  return path;
}

const rowsOf = (path: string, runId: string) => {
  const counts = rowCounts(path, runId);
  const db = rawDb(path);
  try {
    const x = db.query("SELECT COUNT(*) AS n FROM runtape_runs WHERE run_id = ?").get(runId);
    return { ...counts, runtape_runs: Number((x as { n: bigint }).n) };
  } finally {
    db.close();
  }
};
const total = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);

describe("runtape rm", () => {
  test("lists without --yes (a dry run), removes every row of the runs with --yes, nothing else", async () => {
    const path = threeRuns();
    const kept = runContentHash(path, "b");
    const dry = await cli(["rm", path, "--run", "a", "--run", "c"]);
    expect(dry.code).toBe(0);
    expect(lines(dry.stdout).map((l) => l.split(/ +/)[0])).toEqual(["RUN", "a", "c"]);
    expect(dry.stdout).toContain(String(sampleEvents().length));
    expect(dry.stderr).toContain("dry run: nothing removed");
    expect(total(rowsOf(path, "a"))).toBeGreaterThan(14);
    const done = await cli(["rm", path, "--run", "a", "--run=c", "--yes"]);
    expect([done.code, done.stderr]).toEqual([0, expect.stringContaining("removed 2 runs")]);
    expect([total(rowsOf(path, "a")), total(rowsOf(path, "c"))]).toEqual([0, 0]);
    expect(runContentHash(path, "b")).toBe(kept);
    expect((await cli(["inspect", path, "--check"])).code).toBe(0);
  });

  test("--run latest is the newest run, once however it is named", async () => {
    const path = threeRuns();
    const dry = await cli(["rm", path, "--run", "latest", "--run", "a", "--run", "c"]);
    expect(dry.code).toBe(0);
    expect(lines(dry.stdout).map((l) => l.split(/ +/)[0])).toEqual(["RUN", "c", "a"]);
  });

  test("refuses a run whose recorder is alive, an unknown run, and no --run: nothing removed", async () => {
    const path = threeRuns();
    const live = Recorder.start(path, { runId: "live" });
    live.record(sampleEvents()[0] as never);
    live.flush();
    try {
      const before = ["a", "live"].map((id) => runContentHash(path, id));
      for (const [args, code, message] of [
        [
          ["rm", path, "--run", "a", "--run", "live", "--yes"],
          1,
          `cannot remove run "live": process ${process.pid} is still recording it`,
        ],
        [["rm", path, "--run", "a", "--run", "nope", "--yes"], 1, 'no run with id "nope"'],
        [["rm", path, "--yes"], 2, "rm needs at least one --run ID or --where KEY=VALUE"],
      ] as const) {
        const result = await cli(args);
        expect([args, result.code, lines(result.stderr)[0]]).toEqual([
          args,
          code,
          `runtape: ${message}`,
        ]);
      }
      expect(["a", "live"].map((id) => runContentHash(path, id))).toEqual(before);
    } finally {
      live.close();
    }
  });

  test("--where picks by config, status or tag, among the --run ids if given; none: nothing to remove", async () => {
    const path = join(tempDir(), "runs.db");
    for (const [runId, fast, status] of [
      ["a", 5, "completed"],
      ["b", 8, "completed"],
      ["c", 5, "failed"],
    ] as const) {
      const recorder = Recorder.start(path, { runId, config: { strategy: { fast } } });
      for (const event of sampleEvents()) recorder.record(event);
      recorder.close(status);
    }
    const firstColumn = (stdout: string) =>
      lines(stdout)
        .slice(1)
        .map((l) => l.split(/ +/)[0])
        .sort();
    const dry = await cli(["rm", path, "--where", "strategy.fast=5"]);
    expect([dry.code, firstColumn(dry.stdout)]).toEqual([0, ["a", "c"]]);
    const among = await cli(["rm", path, "--run", "b", "--run", "c", "--where=strategy.fast=5"]);
    expect([among.code, firstColumn(among.stdout)]).toEqual([0, ["c"]]);
    const kept = ["b", "c"].map((id) => runContentHash(path, id));
    const done = await cli([
      "rm",
      path,
      "--where",
      "strategy.fast=5",
      "--where=status=completed",
      "--yes",
    ]);
    expect([done.code, done.stderr]).toEqual([0, expect.stringContaining("removed 1 run from")]);
    expect(
      storedRuns(path)
        .map((r) => r.run_id)
        .sort(),
    ).toEqual(["b", "c"]);
    expect(["b", "c"].map((id) => runContentHash(path, id))).toEqual(kept);
    const none = await cli(["rm", path, "--where", "strategy.fast=9", "--yes"]);
    expect([none.code, none.stdout, lines(none.stderr)]).toEqual([
      0,
      "",
      [
        expect.stringContaining("no run meets --where strategy.fast=9"),
        expect.stringContaining("removed 0 runs from"),
      ],
    ]);
    const unknown = await cli(["rm", path, "--where", "strategy.slow=9"]);
    expect([unknown.code, lines(unknown.stderr)[0]]).toEqual([
      2,
      'runtape: --where: cannot filter on "strategy.slow": no run has this config path',
    ]);
    expect(
      storedRuns(path)
        .map((r) => r.run_id)
        .sort(),
    ).toEqual(["b", "c"]);
  });

  test("kill -9 midway leaves the database as before or as after", async () => {
    const dir = tempDir();
    bulkRun(join(dir, "runs.db"), "big", 6_000); // rows enough for rm to take a while
    const events = total(rowsOf(join(dir, "runs.db"), "big"));
    for (const delay of [0, 40]) {
      const proc = await spawnRuntape(["rm", "runs.db", "--run", "big", "--yes"], {
        via: "source",
        cwd: dir,
      });
      await Bun.sleep(delay);
      proc.kill(9);
      await proc.exited;
      const left = total(rowsOf(join(dir, "runs.db"), "big"));
      expect([delay, left === 0 || left === events]).toEqual([delay, true]);
      const check = await cli(["inspect", join(dir, "runs.db"), "--check"]);
      expect([delay, check.code]).toEqual([delay, 0]);
      if (left === 0) break;
    }
  });
});

describe("runtape rename", () => {
  test("moves the run to its new id in every table; the run replays the same", async () => {
    const path = threeRuns();
    const before = rowsOf(path, "a");
    const replayed = (await cli(["replay", path, "--run", "a"])).stdout;
    const result = await cli(["rename", path, "--run", "a", "--to", "z"]);
    expect(result.code).toBe(0);
    expect(rowsOf(path, "z")).toEqual(before);
    expect(total(rowsOf(path, "a"))).toBe(0);
    expect((await cli(["replay", path, "--run", "z"])).stdout).toBe(replayed);
    expect((await cli(["inspect", path, "--check"])).code).toBe(0);
  });

  test("--run latest renames the newest run", async () => {
    const path = threeRuns();
    const result = await cli(["rename", path, "--run", "latest", "--to", "z"]);
    expect([result.code, result.stderr]).toEqual([
      0,
      expect.stringContaining('renamed run "c" to "z"'),
    ]);
    expect(storedRuns(path).map((r) => r.run_id)).toEqual(["a", "b", "z"]);
  });

  test("a new id that starts with a dash is the id: -h asks for no help there", async () => {
    const path = threeRuns();
    for (const [from, to] of [
      ["a", "-h"],
      ["b", "-abc"],
    ] as const) {
      const result = await cli(["rename", path, "--run", from, "--to", to]);
      expect([result.code, result.stdout]).toEqual([0, ""]);
    }
    expect(storedRuns(path).map((r) => r.run_id)).toEqual(["-h", "-abc", "c"]);
    // Where an option may stand, -h is still help; after --, an argument.
    expect((await cli(["rename", path, "-h"])).stdout).toContain("USAGE");
    const after = await cli(["rename", path, "--run", "c", "--to", "d", "--", "-h"]);
    expect([after.code, lines(after.stderr)[0]]).toEqual([2, 'runtape: unexpected argument "-h"']);
  });

  test("refuses an id taken, an invalid id, a live run, a missing option: nothing changes", async () => {
    const path = threeRuns();
    const live = Recorder.start(path, { runId: "live" });
    try {
      const hashes = () => ["a", "b", "live"].map((id) => runContentHash(path, id));
      const before = hashes();
      for (const [args, code, message] of [
        [["rename", path, "--run", "a", "--to", "b"], 1, 'a run with id "b" already exists'],
        [["rename", path, "--run", "a", "--to", "latest"], 2, "selects a run"],
        [["rename", path, "--run", "a", "--to", "x\u001b[2J"], 2, "control character"],
        [["rename", path, "--run", "live", "--to", "x"], 1, "still recording it"],
        [["rename", path, "--run", "a"], 2, "rename needs --run OLD and --to NEW"],
      ] as const) {
        const result = await cli(args);
        expect([args, result.code, lines(result.stderr)[0]]).toEqual([
          args,
          code,
          expect.stringContaining(message),
        ]);
      }
      expect(hashes()).toEqual(before);
    } finally {
      live.close();
    }
  });
});

describe("runtape tag", () => {
  test("sets tags under metadata.tags (other metadata kept), key= removes one, inspect shows them", async () => {
    const path = threeRuns();
    expect((await cli(["tag", path, "--run", "a", "strategy=sma", "owner=me"])).stdout).toBe(
      '{"strategy":"sma","owner":"me"}\n',
    );
    expect((await cli(["tag", path, "--run", "a", "owner=", "note=x=y"])).stdout).toBe(
      '{"strategy":"sma","note":"x=y"}\n',
    );
    const stored = storedRuns(path).find((r) => r.run_id === "a")?.metadata;
    expect(JSON.parse(stored ?? "")).toEqual({ note: "a", tags: { strategy: "sma", note: "x=y" } });
    const shown = await cli(["inspect", path, "--run", "a"]);
    expect(shown.stdout).toContain('metadata  {"note":"a","tags":{"strategy":"sma","note":"x=y"}}');
    for (const args of [
      ["tag", path, "--run", "a"],
      ["tag", path, "--run", "a", "novalue"],
    ]) {
      expect((await cli(args)).code).toBe(2);
    }
  });
});

describe("runtape tag without DB", () => {
  test("tags the run in ./runs.db: a first KEY=VALUE that is no file is a tag; one that is a file is the DB", async () => {
    const dir = dirname(threeRuns());
    const tagged = await cli(["tag", "--run", "a", "owner=ana"], dir);
    expect([tagged.code, tagged.stdout, tagged.stderr]).toEqual([0, '{"owner":"ana"}\n', ""]);
    copyFileSync(join(dir, "runs.db"), join(dir, "v=2.db"));
    const named = await cli(["tag", "v=2.db", "--run", "b", "stage=final"], dir);
    expect([named.code, named.stdout]).toEqual([0, '{"stage":"final"}\n']);
    expect(storedRuns(join(dir, "runs.db")).map((r) => r.metadata)).toEqual([
      '{"note":"a","tags":{"owner":"ana"}}',
      '{"note":"b"}',
      '{"note":"c"}',
    ]);
    const none = await cli(["tag", "--run", "a"], dir);
    expect([none.code, none.stderr]).toEqual([2, "runtape: tag needs at least one key=value\n"]);
    const help = await cli(["tag", "--help"]);
    expect(lines(help.stdout)).toContain("USAGE runtape tag [OPTIONS] [DB] [TAGS]");
    expect(help.stdout).toContain("(Default: ./runs.db)");
  });
});

describe("runtape tag --where", () => {
  test("tags every run it picks in one transaction, a line per run; a live run among them: none", async () => {
    const path = join(tempDir(), "runs.db");
    for (const [runId, fast] of [
      ["a", 5],
      ["b", 8],
      ["c", 5],
    ] as const) {
      const recorder = Recorder.start(path, { runId, config: { fast } });
      recorder.record(sampleEvents()[0] as never);
      recorder.close();
    }
    const tagged = await cli(["tag", path, "--where", "fast=5", "stage=final"]);
    expect([tagged.code, lines(tagged.stdout).sort()]).toEqual([
      0,
      ['a\t{"stage":"final"}', 'c\t{"stage":"final"}'],
    ]);
    const runs = await cli(["runs", path, "--where", "tag.stage=final", "--json"]);
    const ids = (JSON.parse(runs.stdout) as { entries: { run_id: string }[] }).entries;
    expect(ids.map((e) => e.run_id).sort()).toEqual(["a", "c"]);
    const live = Recorder.start(path, { runId: "live", config: { fast: 5 } });
    live.record(sampleEvents()[0] as never);
    live.flush();
    try {
      const refused = await cli(["tag", path, "--where", "fast=5", "owner=ana"]);
      expect([refused.code, lines(refused.stderr)[0]]).toEqual([
        1,
        `runtape: cannot tag run "live": process ${process.pid} is still recording it`,
      ]);
      expect(storedRuns(path).filter((r) => String(r.metadata).includes("ana"))).toEqual([]);
    } finally {
      live.close();
    }
  });
});

describe("runtape tag refuses what it would lose", () => {
  test("tags that are not key=value pairs, and a run still being recorded: nothing changes", async () => {
    const path = threeRuns();
    for (const [runId, tags] of [
      ["b", ["prod", "v2"]],
      ["c", "prod"],
    ] as const) {
      const db = new Database(path);
      db.query("UPDATE runs SET metadata = ? WHERE run_id = ?").run(
        JSON.stringify({ tags, owner: "ana" }),
        runId,
      );
      db.close();
    }
    const live = Recorder.start(path, { runId: "live", metadata: { why: "kept at close" } });
    try {
      const before = storedRuns(path);
      for (const [runId, message] of [
        ["b", 'cannot tag run "b": its metadata.tags is not key=value pairs (["prod","v2"])'],
        ["c", 'cannot tag run "c": its metadata.tags is not key=value pairs ("prod")'],
        ["live", `cannot tag run "live": process ${process.pid} is still recording it`],
      ] as const) {
        const result = await cli(["tag", path, "--run", runId, "x=y"]);
        expect([result.code, lines(result.stderr)]).toEqual([1, [`runtape: ${message}`]]);
      }
      expect(storedRuns(path)).toEqual(before);
    } finally {
      live.close();
    }
  });
});

describe("runtape vacuum and inspect --sizes", () => {
  test("after rm, vacuum gives the space back; --sizes accounts for the file table by table", async () => {
    const dir = tempDir();
    const path = join(dir, "runs.db");
    for (const run of ["x", "y"]) bulkRun(path, run, 6_000);
    const sizes = await cli(["inspect", path, "--sizes", "--json"]);
    const parsed = JSON.parse(sizes.stdout) as {
      file_bytes: number;
      tables: { table: string; bytes: number }[];
    };
    const sum = parsed.tables.reduce((s, t) => s + t.bytes, 0);
    expect(parsed.tables.map((t) => t.table)).toContain("bars");
    expect(sum).toBeLessThanOrEqual(parsed.file_bytes);
    expect(sum).toBeGreaterThan(parsed.file_bytes * 0.8);
    expect((await cli(["inspect", path, "--sizes"])).stdout).toMatch(/^file {2}[\d.]+ MB/);
    expect((await cli(["inspect", path, "--sizes", "--run", "x"])).code).toBe(2);
    expect((await cli(["rm", path, "--run", "x", "--yes"])).code).toBe(0);
    const before = statSync(path).size;
    const result = await cli(["vacuum", path]);
    expect(result.code).toBe(0);
    expect(statSync(path).size).toBeLessThan(before * 0.7);
    expect((await cli(["inspect", path, "--check"])).code).toBe(0);
  });

  test("vacuum refuses while a run is being recorded", async () => {
    const path = threeRuns();
    const live = Recorder.start(path, { runId: "live" });
    try {
      const result = await cli(["vacuum", path]);
      expect([result.code, result.stderr]).toEqual([
        1,
        expect.stringContaining("still recording it"),
      ]);
    } finally {
      live.close();
    }
  });
});
