import { Database } from "bun:sqlite";
import { describe, expect, spyOn, test } from "bun:test";
import { copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { diffRuns, encodeEvent, openRunsDb, Recorder, replay } from "../src/index.ts";
import { parallelLines, runSlices, SLICE_SEQS, worthSlicing } from "../src/replay-parallel.ts";
import { renderComparison } from "../src/report.ts";
import * as thread from "../src/thread.ts";
import { runtape } from "./cli/run.ts";
import { expectCollections, lines, storedRuns } from "./cli/support.ts";
import {
  bar,
  bulkRun,
  forgetSequence,
  lineText,
  recordDemoRuns,
  rowsProven,
  syntheticComparison,
  tempDir,
} from "./helpers.ts";

// Runs big enough for a second thread to take part (replay's lines from SLICE_SEQS × 4 events,
// diff's stored rows from SHARED_FROM_EVENTS): a hundred thousand rows and more, seconds each,
// so outside the quick loop (bunfig.toml). The same code on small runs (replay's with small
// slices passed in) is tested in test/replay-parallel.test.ts and test/stored-runs.test.ts.

describe("replay's lines made by two threads", () => {
  test("is chosen for a runtape run of more than four slices, without a limit", async () => {
    const big = join(tempDir(), "big.db");
    bulkRun(big, "big", 5 * SLICE_SEQS);
    recordDemoRuns(big, ["small"]);
    const db = openRunsDb(big);
    try {
      expect(worthSlicing(db, { run: "big" })).toBe(true);
      expect(worthSlicing(db, { run: "big", limit: 10 })).toBe(false);
      expect(worthSlicing(db, { run: "big", onInvalidRow: "skip" })).toBe(false);
      expect(worthSlicing(db, { run: "small" })).toBe(false);
      const stats = { runId: "", events: 0, skipped: 0, workerSlices: 0 };
      let text = "";
      for await (const block of parallelLines(db, { run: "big" }, "number", stats)) {
        text += new TextDecoder().decode(block);
      }
      expect(text).toBe(lineText(db, { run: "big" }, "number"));
      expect(stats.events).toBe(5 * SLICE_SEQS);
      // Whichever thread is free takes the next slice: any split of the five will do.
      expect(stats.workerSlices).toBeLessThanOrEqual(5);
    } finally {
      db.close();
    }
    forgetSequence(big, "big"); // as the Python recorder writes it: no sequence to slice
    const python = openRunsDb(big);
    try {
      expect(runSlices(python, "big")).toBeUndefined();
      expect(worthSlicing(python, { run: "big" })).toBe(false);
    } finally {
      python.close();
    }
  });
});

describe("large runs", () => {
  /** A finished run of `n` bars and `n` processed bars, written with SQL in a blink. */
  function large(name: string, n: number): string {
    const path = join(tempDir(), `${name}.db`);
    const recorder = Recorder.start(path, { runId: "run" });
    recorder.close();
    const raw = new Database(path);
    const columns =
      "run_id, ts_event_ns, ts_created_ns, symbol, bar_period, open, high, low, close, volume";
    raw.run(
      `WITH RECURSIVE i(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM i WHERE k < ?)
       INSERT INTO bars (${columns}, seq) SELECT 'run', k, k, 'S', 'MINUTE', k * 0.5, k, k, k, k, 2 * k - 1 FROM i`,
      [n],
    );
    raw.run(
      `INSERT INTO bars_processed (${columns}, indicators, seq) SELECT ${columns}, '{"sma": ' || (seq * 0.25) || '}', seq + 1 FROM bars`,
    );
    raw.run("UPDATE runtape_runs SET events = ? WHERE run_id = 'run'", [2 * n]);
    raw.close();
    return path;
  }

  test("two threads share the tables; a difference in either thread's tables is not proven equal", () => {
    const n = 100_000; // 200,000 events: as few as two threads share
    const a = large("large-a", n);
    const b = join(tempDir(), "large-b.db");
    copyFileSync(a, b);
    const spy = spyOn(thread, "startThread");
    const result = diffRuns({ db: a }, { db: b });
    expect(spy).toHaveBeenCalledTimes(1);
    spy.mockRestore();
    expect([result.match, result.countsA.BarReceived, result.countsA.BarProcessed]).toEqual([
      true,
      n,
      n,
    ]);
    expect(result.countsB).toEqual(result.countsA);
    for (const [table, change, seq] of [
      ["bars", "open = open + 1", 2 * n - 1],
      ["bars_processed", `indicators = '{"sma": 1.5}'`, 2 * n],
    ] as const) {
      const copy = join(tempDir(), `large-${table}.db`);
      copyFileSync(a, copy);
      const raw = new Database(copy);
      raw.run(`UPDATE ${table} SET ${change} WHERE seq = ?`, [seq]);
      raw.close();
      // The event path says where (see above); here, that the rows prove nothing.
      const spy = spyOn(thread, "startThread");
      expect([rowsProven(a, copy), spy.mock.calls.length]).toEqual([undefined, 1]);
      spy.mockRestore();
    }
  });
});

// Many files rather than large ones, and through the compiled binary under a descriptor limit.
test("a merge of more files than a process may keep open: each is read and closed in turn", async () => {
  const dir = tempDir();
  const files = Array.from({ length: 40 }, (_, i) => {
    const path = join(dir, `w${String(i).padStart(2, "0")}.db`);
    const recorder = Recorder.start(path, { runId: `w${i}` });
    recorder.record(bar(i));
    recorder.close();
    return path;
  });
  // 64 descriptors: Bun's own, the target's, and three for each file open at once.
  const under = ["sh", "-c", 'ulimit -n 64; exec "$@"', "sh"];
  const merged = await runtape(["merge", "out.db", ...files], { via: "binary", cwd: dir, under });
  expect([merged.code, merged.stderr]).toEqual([0, expect.stringContaining("merged 40 runs")]);
  expect(lines(merged.stdout).map((l) => l.split("\t")[0])).toEqual(Array(40).fill("copied"));
  const again = await runtape(["merge", "out.db", ...files], { via: "binary", cwd: dir, under });
  expect(lines(again.stdout).map((l) => l.split("\t")[0])).toEqual(Array(40).fill("identical"));
});

describe("a comparison of many long runs", () => {
  /** Points of the equity chart's lines: of the grey runs, and of the named ones. */
  const drawnPoints = (html: string) => {
    const svg = /aria-label="Equity curves of the runs overlaid">(<svg[\s\S]*?<\/svg>)/.exec(
      html,
    )?.[1];
    const paths = [...(svg ?? "").matchAll(/<path d="([^"]*)"[^>]*stroke="([^"]*)"/g)];
    const points = (d: string) => d.match(/[ML]/g)?.length ?? 0;
    const grey = paths.filter((p) => p[2] === "#8c959f").map((p) => points(p[1] as string));
    const named = paths.filter((p) => p[2] !== "#8c959f").map((p) => points(p[1] as string));
    return { grey: grey.reduce((a, b) => a + b, 0), named };
  };

  test("draws a bounded number of points whatever the number of runs: 100 and 400 runs of 2,000 points", () => {
    const grey: number[] = [];
    for (const count of [100, 400]) {
      const drawn = drawnPoints(renderComparison(syntheticComparison(count, undefined, 2000)));
      // The grey runs share a budget; a named one keeps the chart's full resolution (4 per 2 px).
      expect(drawn.grey).toBeLessThanOrEqual(160_000);
      expect(Math.max(...drawn.named)).toBeLessThanOrEqual(4 * 480);
      grey.push(drawn.grey);
    }
    expect(grey[1]).toBeLessThan(1.2 * (grey[0] as number));
  });
});

// Past one batch of the recorder (16,384 events), or near it: tens of thousands of events made
// and read back by the binary, about half a second each.
describe("recording past one batch", () => {
  test("record asks for a full collection per batch stored (the recorder's collectGarbage)", async () => {
    const dir = tempDir();
    // 8,500 bar times of one symbol: two events each and the orders, past one batch of 16,384.
    await expectCollections(join(dir, "runs.db"), () =>
      runtape(["record", "--bars", "8500", "--symbols", "AAA"], { cwd: dir }),
    );
  });

  test("a disk that refuses only the batch stored at close: the same line naming the run left running", async () => {
    const dir = tempDir();
    // Fewer events than a batch, read at once: all of them are stored when the run is closed.
    await runtape(["record", "src.db", "--bars", "3000", "--run-id", "src"], { cwd: dir });
    const events = [...replay(join(dir, "src.db"), { run: "src" })].slice(0, 12_000);
    writeFileSync(join(dir, "in.ndjson"), `${events.map(encodeEvent).join("\n")}\n`);
    const under = ["sh", "-c", 'ulimit -f 1000; trap "" XFSZ; exec "$@"', "sh"];
    const { code, stderr } = await runtape(["record", "runs.db", "--input", "in.ndjson"], {
      via: "binary",
      cwd: dir,
      under,
    });
    const said = /^runtape: runs\.db: .+ \(run (\S+) stays running: `runtape recover` closes it\)$/;
    expect([code, lines(stderr)]).toEqual([1, [expect.stringMatching(said)]]);
    const runId = said.exec(lines(stderr)[0] as string)?.[1];
    expect(storedRuns(join(dir, "runs.db"))).toMatchObject([{ run_id: runId, status: "running" }]);
  });

  test("replay --into asks for a full collection per batch stored, as record does", async () => {
    const here = tempDir();
    // 8,500 bar times of one symbol: two events each and the orders, past one batch of 16,384.
    const source = ["record", "big.db", "--bars", "8500", "--symbols", "AAA"];
    expect((await runtape(source, { cwd: here })).code).toBe(0);
    await expectCollections(join(here, "copy.db"), () =>
      runtape(["replay", "big.db", "--into", "copy.db"], { cwd: here }),
    );
  });
});
