import { Database } from "bun:sqlite";
import { describe, expect, spyOn, test } from "bun:test";
import { copyFileSync, existsSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import {
  DatabaseFormatError,
  type Event,
  EventBus,
  hasSequence,
  InvalidConditionError,
  listRuns,
  MergeConflictError,
  type MergedRun,
  type MergeOptions,
  mergeRuns,
  openRunsDb,
  Recorder,
  RunNotFoundError,
  RunStillRunningError,
  replay,
  runDemo,
} from "../src/index.ts";
import { MAX_RUN_ID_LENGTH, runIdProblem } from "../src/runs.ts";
import { databaseBytes } from "./cli/support.ts";
import {
  CAN_LIST_OPEN_FILES,
  FIXTURE_DIR,
  fixtureCopy,
  fixtureEvents,
  fixtureTest,
  forgetSequence,
  openFilesUnder,
  rawDb,
  recordDemoRuns,
  tempDir,
} from "./helpers.ts";

const worker = (path: string, ids: readonly string[], seed = 1) =>
  recordDemoRuns(path, ids, { seed, metadata: { worker: path } });

const events = (path: string, run: string) => [...replay(path, { run })];

/** The event tables of a file: not runs, nor runtape's bookkeeping and caches (runtape_*). */
const eventTables = (db: Database): string[] =>
  db
    .query(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'runs' AND name NOT LIKE 'runtape\\_%' ESCAPE '\\'",
    )
    .values()
    .map(([name]) => name as string);

function storedRunIds(path: string): string[] {
  const db = rawDb(path);
  try {
    return db
      .query("SELECT run_id FROM runs")
      .values()
      .map(([id]) => id as string);
  } finally {
    db.close();
  }
}

/** The stored `seq` of a run, table by table merged, in the order replay yields. */
function storedSeqs(path: string, runId: string): bigint[] {
  const db = rawDb(path);
  try {
    const tables = eventTables(db).map((name) => `SELECT seq FROM ${name} WHERE run_id = ?1`);
    return db
      .query(`${tables.join(" UNION ALL ")} ORDER BY seq`)
      .values(runId)
      .map(([seq]) => seq as bigint);
  } finally {
    db.close();
  }
}

test.skipIf(!CAN_LIST_OPEN_FILES)(
  "merge closes every file it opened before it returns: copied, identical, refused, in replay order (skipped without /proc/self/fd)",
  () => {
    // A connection left with a statement not finalized stays open after close() until garbage
    // collection, which then checkpoints its WAL at a moment nobody chose.
    const dir = tempDir();
    const a = worker(join(dir, "a.db"), ["a1"], 1);
    const clash = worker(join(dir, "clash.db"), ["a1"], 2);
    const python = worker(join(dir, "python.db"), ["p1"], 3);
    forgetSequence(python, "p1"); // merged in replay order, row by row
    const out = join(dir, "out.db");
    const steps: [string, () => unknown][] = [
      ["copied", () => mergeRuns(out, [a])],
      ["identical", () => mergeRuns(out, [a])],
      ["refused", () => expect(() => mergeRuns(out, [clash])).toThrow(MergeConflictError)],
      ["in replay order", () => mergeRuns(out, [python])],
    ];
    for (const [step, merge] of steps) {
      merge();
      expect([step, openFilesUnder(dir)]).toEqual([step, []]);
    }
  },
);

describe("two worker files with three runs each", () => {
  const dir = tempDir();
  const a = worker(join(dir, "a.db"), ["a1", "a2", "a3"], 1);
  const b = worker(join(dir, "b.db"), ["b1", "b2", "b3"], 10);
  const out = join(dir, "out.db");

  test("merge into a new file: all six replay identically to their origins, seq kept", () => {
    const merged = mergeRuns(out, [a, b]);
    expect(merged.map((m) => [m.runId, m.action])).toEqual(
      ["a1", "a2", "a3", "b1", "b2", "b3"].map((id) => [id, "copied"]),
    );
    for (const m of merged) {
      const origin = events(m.source, m.sourceRunId);
      expect(events(out, m.runId)).toEqual(origin);
      expect(m.events).toBe(origin.length);
      expect(storedSeqs(out, m.runId)).toEqual(storedSeqs(m.source, m.sourceRunId));
    }
    const db = openRunsDb(out);
    expect(listRuns(db).map((r) => r.events)).toEqual(
      ["b3", "b2", "b1", "a3", "a2", "a1"].map((id) => BigInt(events(out, id).length)),
    );
    db.close();
  });

  test("merging again changes nothing, not a byte", () => {
    const before = databaseBytes(out);
    const again = mergeRuns(out, [b, a]);
    expect(again.map((m) => m.action)).toEqual(Array(6).fill("identical"));
    expect(databaseBytes(out)).toEqual(before);
  });

  test("a different run under a taken id is refused and nothing changes, whatever came before it", () => {
    const c = worker(join(dir, "c.db"), ["c1"], 30);
    const clash = worker(join(dir, "clash.db"), ["a2"], 99);
    const before = databaseBytes(out);
    const error = (() => {
      try {
        mergeRuns(out, [c, clash]);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(MergeConflictError);
    expect((error as Error).message).toBe(
      `run "a2" in ${clash} differs from the run of that id in ${out}; nothing was merged`,
    );
    expect(databaseBytes(out)).toEqual(before);
  });

  test("many conflicts are one line that says how many; nothing changes", () => {
    // In the order the plan meets them: each source's oldest run first.
    const many = worker(join(dir, "many.db"), ["a1", "a2", "a3", "b1", "new"], 50);
    const other = worker(join(dir, "other.db"), ["b2"], 60);
    const before = databaseBytes(out);
    const refused = (sources: string[]) => {
      try {
        mergeRuns(out, sources);
      } catch (e) {
        return e as MergeConflictError;
      }
    };
    const error = refused([many, other]);
    expect(error).toBeInstanceOf(MergeConflictError);
    expect([error?.message, error?.more]).toEqual([
      `run "a1" in ${many} differs from the run of that id in ${out}, and 4 more runs differ; nothing was merged`,
      4,
    ]);
    expect(refused([other])?.message).toBe(
      `run "b2" in ${other} differs from the run of that id in ${out}; nothing was merged`,
    );
    const two = worker(join(dir, "two.db"), ["b3", "b1"], 70);
    expect(refused([two])?.message).toEndWith(", and 1 more run differs; nothing was merged");
    // Two sources with runs of one id that differ: named where each is, not the target.
    const left = worker(join(dir, "left.db"), ["fresh"], 80);
    const right = worker(join(dir, "right.db"), ["fresh"], 81);
    expect(refused([left, right])?.message).toBe(
      `run "fresh" in ${right} differs from the run of that id in ${left}; nothing was merged`,
    );
    expect(databaseBytes(out)).toEqual(before);
  });

  test("--on-conflict skip keeps the target's run; rename copies it under a new id, once", () => {
    const clash = worker(join(dir, "clash2.db"), ["a3"], 77);
    const kept = mergeRuns(out, [clash], { onConflict: "skip" });
    expect(kept.map((m) => [m.runId, m.action])).toEqual([["a3", "kept"]]);
    expect(events(out, "a3")).toEqual(events(a, "a3"));

    const renamed = mergeRuns(out, [clash], { onConflict: "rename" });
    expect(renamed.map((m) => [m.runId, m.action])).toEqual([["a3~2", "renamed"]]);
    expect(events(out, "a3~2")).toEqual(events(clash, "a3"));
    const db = openRunsDb(out);
    const row = listRuns(db).find((r) => r.run_id === "a3~2");
    db.close();
    expect(JSON.parse(row?.metadata ?? "")).toEqual({
      worker: clash,
      merged_from: { file: resolve(clash), run_id: "a3" },
    });
    const before = databaseBytes(out);
    expect(mergeRuns(out, [clash], { onConflict: "rename" })[0]?.action).toBe("identical");
    expect(databaseBytes(out)).toEqual(before);
  });

  test("a renamed run keeps its metadata's text as stored: 10.0 a float, 20 digits exact, its spacing", () => {
    const clash = worker(join(dir, "clash3.db"), ["a1"], 78);
    const raw = new Database(clash);
    raw.run(`UPDATE runs SET metadata = '{"q": 10.0, "seed": 12345678901234567890}'`);
    raw.close();
    const [renamed] = mergeRuns(out, [clash], { onConflict: "rename" });
    const db = openRunsDb(out);
    const row = listRuns(db).find((r) => r.run_id === renamed?.runId);
    db.close();
    expect(row?.metadata).toBe(
      `{"q": 10.0, "seed": 12345678901234567890, "merged_from": ${JSON.stringify({ file: resolve(clash), run_id: "a1" })}}`,
    );
  });
});

describe("another writer copies a run between a merge's plan and its write", () => {
  const dir = tempDir();
  const w1 = worker(join(dir, "w1.db"), ["w1"], 1);
  const w2 = worker(join(dir, "w2.db"), ["w2"], 2);
  const clash = worker(join(dir, "clash.db"), ["w2"], 3);

  /**
   * Merges w1 and w2 into a new file, which `other` writes into once w1 is merged: the plan of
   * both runs was made before. Returns what the merge said of each run as it went, and its end.
   */
  function interleaved(other: (target: string) => void, options: MergeOptions = {}) {
    const target = join(tempDir(), "t.db");
    const said: [string, string][] = [];
    const onRun = (m: MergedRun) => {
      said.push([m.action, m.runId]);
      if (m.runId === "w1") other(target);
    };
    try {
      mergeRuns(target, [w1, w2], { ...options, onRun });
      return { target, said, error: undefined };
    } catch (error) {
      return { target, said, error };
    }
  }
  const ids = (path: string) => storedRunIds(path).sort();

  test("the same run: identical, the merge goes on", () => {
    const { target, said, error } = interleaved((t) => mergeRuns(t, [w2]));
    expect([said, error]).toEqual([
      [
        ["copied", "w1"],
        ["identical", "w2"],
      ],
      undefined,
    ]);
    expect(ids(target)).toEqual(["w1", "w2"]);
    expect(events(target, "w2")).toEqual(events(w2, "w2"));
  });

  test("a different run: the conflict, one line; the run before it stays merged", () => {
    const { target, said, error } = interleaved((t) => mergeRuns(t, [clash]));
    expect(said).toEqual([["copied", "w1"]]);
    expect(error).toBeInstanceOf(MergeConflictError);
    expect((error as Error).message).toBe(
      `run "w2" in ${w2} differs from the run of that id another process wrote into ${target} meanwhile; it and the runs after it were not merged`,
    );
    expect(events(target, "w2")).toEqual(events(clash, "w2"));
    expect(ids(target)).toEqual(["w1", "w2"]);
  });

  test("a different run with --on-conflict rename or skip: renamed or kept, as planned before", () => {
    const renamed = interleaved((t) => mergeRuns(t, [clash]), { onConflict: "rename" });
    expect([renamed.said, renamed.error]).toEqual([
      [
        ["copied", "w1"],
        ["renamed", "w2~2"],
      ],
      undefined,
    ]);
    expect(events(renamed.target, "w2~2")).toEqual(events(w2, "w2"));
    const kept = interleaved((t) => mergeRuns(t, [clash]), { onConflict: "skip" });
    expect([kept.said, kept.error]).toEqual([
      [
        ["copied", "w1"],
        ["kept", "w2"],
      ],
      undefined,
    ]);
    expect(ids(kept.target)).toEqual(["w1", "w2"]);
  });
});

// Attached per run, a 1,000-run merge opened the source's WAL 1,001 times and reloaded the schemas
// at each run's transaction: 45% of a 4,000-run merge.
test("each source is attached once for all its runs; a recorder writing into it between them goes on", () => {
  const dir = tempDir();
  const a = worker(join(dir, "a.db"), ["a1", "a2", "a3"], 1);
  const b = worker(join(dir, "b.db"), ["b1", "b2"], 10);
  const live = Recorder.start(a, { runId: "live" });
  const bus = new EventBus();
  live.attach(bus);
  runDemo(bus, { bars: 10 });
  live.flush();
  const out = join(dir, "out.db");
  const attached: string[] = [];
  const original = Database.prototype.run;
  const run = spyOn(Database.prototype, "run").mockImplementation(function (
    this: Database,
    sql: string,
    ...rest: unknown[]
  ) {
    if (/^ATTACH\b/.test(sql)) attached.push(String((rest[0] as unknown[])[0]));
    return original.call(this, sql, ...(rest as []));
  });
  let merged: MergedRun[];
  try {
    merged = mergeRuns(out, [a, b], {
      where: [{ key: "status", value: "completed" }],
      // Between the runs of `a`, while it is attached: the recorder takes the write lock.
      onRun: (m) => {
        if (m.runId === "a1") {
          runDemo(bus, { bars: 5, seed: 2 });
          live.flush();
        }
      },
    });
  } finally {
    run.mockRestore();
  }
  expect(merged.map((m) => [m.runId, m.action])).toEqual(
    ["a1", "a2", "a3", "b1", "b2"].map((id) => [id, "copied"]),
  );
  expect(attached).toEqual([a, b]);
  expect(live.close().status).toBe("completed");
  for (const m of merged) expect(events(out, m.runId)).toEqual(events(m.source, m.sourceRunId));
});

test("a renamed run id stays within the run id rules, also when the id is already the longest", () => {
  const dir = tempDir();
  // The longest id, with an emoji (two UTF-16 units) where the shortened one would cut it in half.
  const long = `${"x".repeat(MAX_RUN_ID_LENGTH - 3)}😀y`;
  const out = worker(join(dir, "out.db"), [long], 1);
  const clash = worker(join(dir, "clash.db"), [long], 5);
  const [renamed] = mergeRuns(out, [clash], { onConflict: "rename" });
  expect(renamed?.runId).toBe(`${"x".repeat(MAX_RUN_ID_LENGTH - 3)}~2`);
  expect(runIdProblem(renamed?.runId as string)).toBeUndefined();
  expect(events(out, renamed?.runId as string)).toEqual(events(clash, long));
});

describe("what is merged, and what is refused", () => {
  test("--run picks runs across sources; a run in none is an error and no file is made", () => {
    const dir = tempDir();
    const a = worker(join(dir, "a.db"), ["x", "y"]);
    const b = worker(join(dir, "b.db"), ["z"]);
    const out = join(dir, "out.db");
    expect(() => mergeRuns(out, [a, b], { runs: ["z", "nope"] })).toThrow(RunNotFoundError);
    expect(existsSync(out)).toBe(false);
    expect(mergeRuns(out, [a, b], { runs: ["z", "x"] }).map((m) => m.runId)).toEqual(["x", "z"]);
  });

  test("a running run is refused unless asked for; its source keeps recording meanwhile", () => {
    const dir = tempDir();
    const source = join(dir, "live.db");
    const out = join(dir, "out.db");
    const live = Recorder.start(source, { runId: "live" });
    const bus = new EventBus();
    live.attach(bus);
    const steps = runDemo(bus, { bars: 10 });
    live.flush();
    expect(() => mergeRuns(out, [source])).toThrow(RunStillRunningError);
    expect(existsSync(out)).toBe(false);
    const [merged] = mergeRuns(out, [source], { includeRunning: true });
    expect(merged?.events).toBe(steps.events);
    // The recorder goes on and closes its run: the merge held no lock on it.
    runDemo(bus, { bars: 5, seed: 2 });
    expect(live.close().status).toBe("completed");
    const db = openRunsDb(out);
    expect(listRuns(db)[0]?.status).toBe("running");
    db.close();
    expect(events(out, "live")).toEqual(events(source, "live").slice(0, steps.events));
  });

  test("the target cannot be a source; a foreign target is refused and left alone", () => {
    const dir = tempDir();
    const a = worker(join(dir, "a.db"), ["x"]);
    expect(() => mergeRuns(a, [a])).toThrow("cannot be a source");
    const foreign = join(dir, "notes.txt");
    writeFileSync(
      foreign,
      "not a database, just text that is long enough to be a header".repeat(4),
    );
    expect(() => mergeRuns(foreign, [a])).toThrow(DatabaseFormatError);
  });
});

fixtureTest(
  "Python-written runs gain replay's order as seq and replay the same from the target",
  () => {
    const source = fixtureCopy();
    const out = join(tempDir(), "out.db");
    const merged = mergeRuns(out, [source]);
    expect(merged.length).toBeGreaterThan(0);
    for (const m of merged) {
      const origin = fixtureEvents(m.sourceRunId);
      expect(events(out, m.runId)).toEqual(origin as Event[]);
      expect(storedSeqs(out, m.runId)).toEqual(origin.map((_, i) => BigInt(i + 1)));
      const db = openRunsDb(out);
      expect(hasSequence(db, m.runId)).toBe(true);
      db.close();
    }
    // A Python file as the target: brought to runtape's layout, its own runs untouched.
    const target = join(tempDir(), "python-target.db");
    copyFileSync(join(FIXTURE_DIR, "ost_reference.db"), target);
    const worker1 = worker(join(tempDir(), "w.db"), ["w"]);
    expect(mergeRuns(target, [worker1, source]).map((m) => m.action)).toEqual([
      "copied",
      ...merged.map(() => "identical" as const),
    ]);
  },
);

test("a Python-written run's rows are copied as stored: an integer among its indicators stays one", () => {
  const dir = tempDir();
  const python = worker(join(dir, "python.db"), ["p1"], 3);
  forgetSequence(python, "p1");
  const raw = new Database(python);
  // What Python's json.dumps writes of an int and of -0.0 among a strategy's values.
  raw.run(
    `UPDATE bars_processed SET indicators = '{"N": 5, "k": -0}' WHERE id = (SELECT min(id) FROM bars_processed)`,
  );
  raw.close();
  const out = join(dir, "out.db");
  mergeRuns(out, [python]);
  const rows = (path: string) => {
    const db = rawDb(path);
    try {
      // Every stored column but the row id and seq, which the copy numbers anew.
      return eventTables(db).map((table) => [
        table,
        db
          .query(`SELECT * FROM ${table} WHERE run_id = 'p1' ORDER BY id`)
          .all()
          .map((row) => {
            const { id: _, seq: __, ...stored } = row as Record<string, unknown>;
            return stored;
          }),
      ]);
    } finally {
      db.close();
    }
  };
  const copied = rows(out);
  expect(copied).toEqual(rows(python));
  const processed = copied.find(([table]) => table === "bars_processed")?.[1] as {
    indicators: string;
  }[];
  expect(processed.map((row) => row.indicators)).toContain('{"N": 5, "k": -0}');
});

describe("merge options", () => {
  test("an unknown conflict policy or a wrong argument is INVALID_OPTION, before anything is opened", () => {
    const dir = tempDir();
    const target = join(dir, "out.db");
    for (const [inputs, options, message] of [
      [
        [join(dir, "a.db")],
        { onConflict: "overwrite" },
        "merge option onConflict: expected one of fail, skip, rename",
      ],
      ["a.db", {}, "merge option inputs: "],
      [[join(dir, "a.db")], { runs: "r1" }, "merge option runs: "],
      [[join(dir, "a.db")], { includeRunning: "yes" }, "merge option includeRunning: "],
    ] as const) {
      let error: unknown;
      try {
        mergeRuns(target, inputs as never, options as never);
      } catch (e) {
        error = e;
      }
      expect([(error as { code?: string })?.code, (error as Error)?.message]).toEqual([
        "INVALID_OPTION",
        expect.stringContaining(message),
      ]);
    }
    expect(existsSync(target)).toBe(false);
  });

  test("a condition on a metric is InvalidConditionError, before anything is opened, saying what to do", () => {
    const dir = tempDir();
    const target = join(dir, "out.db");
    const where = [{ key: "metric.total_pnl", op: ">", value: "0" }] as const;
    // The source does not exist: the condition is refused before it would be found missing.
    const merging = () => mergeRuns(target, [join(dir, "a.db")], { where });
    expect(merging).toThrow(InvalidConditionError);
    expect(merging).toThrow(
      'where "metric.total_pnl>0": merge cannot pick runs by a metric: it computes none; pick them by config, run field or tag, or list them by the metric first',
    );
    expect(existsSync(target)).toBe(false);
  });
});
