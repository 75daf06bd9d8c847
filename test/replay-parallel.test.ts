import { Database } from "bun:sqlite";
import { beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { openRunsDb, type ReplayOptions } from "../src/index.ts";
import type { Int64Style } from "../src/json.ts";
import { parallelLines } from "../src/replay-parallel.ts";
import { lineText, rawDb, recordDemoRuns, tempDir } from "./helpers.ts";

let path: string;
beforeAll(() => {
  path = recordDemoRuns(join(tempDir(), "runs.db"), ["a", "b"], { bars: 60 });
});

/** Small slices, the first the worker's, so that it takes some. */
const together = (seqsPerSlice: number) => ({ seqsPerSlice, workerFirst: true });

/** What the one-thread path writes: every line with its newline. */
const serial = (options: ReplayOptions, int64: Int64Style = "number"): string =>
  lineText(path, options, int64);

/** The two-thread path's output, with slices of `seqs` sequence numbers, and its event count. */
async function parallel(
  options: ReplayOptions,
  seqs: number,
  int64: Int64Style = "number",
): Promise<{ text: string; events: number; workerSlices: number }> {
  const db = openRunsDb(path);
  const stats = { runId: "", events: 0, skipped: 0, workerSlices: 0 };
  let text = "";
  try {
    for await (const block of parallelLines(db, options, int64, stats, together(seqs))) {
      text += new TextDecoder().decode(block);
    }
  } finally {
    db.close();
  }
  return { text, events: stats.events, workerSlices: stats.workerSlices };
}

describe("replay's lines made by two threads", () => {
  test("are the one thread's bytes, slice size and filters whatever they are", async () => {
    const cases: [ReplayOptions, Int64Style, number][] = [
      [{ run: "a" }, "number", 7],
      [{ run: "b" }, "string", 64],
      [{ run: "a", types: ["OrderSubmissionRequest", "FillEvent", "BarProcessed"] }, "number", 5],
      [{ run: "a", symbols: ["MSFT"] }, "number", 11],
    ];
    for (const [options, int64, seqs] of cases) {
      const expected = serial(options, int64);
      const lines = expected.split("\n").length - 1;
      expect(lines).toBeGreaterThan(50);
      const { text, events, workerSlices } = await parallel(options, seqs, int64);
      expect(text).toBe(expected);
      expect(events).toBe(lines);
      expect(workerSlices).toBeGreaterThan(0); // it did share the work
    }
  });

  test("a window on ts_event_ns that leaves some slices empty", async () => {
    const all = serial({ run: "a" }).split("\n").slice(0, -1);
    const ts = (line: string) => BigInt(/"ts_event_ns":(-?\d+)/.exec(line)?.[1] ?? "0");
    const from = ts(all[Math.floor(all.length / 3)] as string);
    const to = ts(all[Math.floor(all.length / 2)] as string);
    const options = { run: "a", from, to };
    expect((await parallel(options, 5)).text).toBe(serial(options));
  });

  test("a row that does not decode in a worker's slice fails as the one thread fails, after the slices before it", async () => {
    const copy = join(tempDir(), "bad.db");
    const sqlite = rawDb(path);
    sqlite.run(`VACUUM INTO '${copy}'`);
    sqlite.close();
    const seqs = 10;
    // A bar in the second slice: the worker's.
    const bad = new Database(copy);
    bad.run(
      "UPDATE bars SET bar_period = 'FORTNIGHT' WHERE id = (SELECT id FROM bars WHERE run_id = 'a' AND seq >= ? AND seq < ? LIMIT 1)",
      [seqs + 1, 2 * seqs + 1],
    );
    bad.close();
    const expected = (() => {
      try {
        lineText(copy, { run: "a" }, "number");
      } catch (error) {
        return error as Error;
      }
      throw new Error("the one-thread path read the bad row");
    })();
    const db = openRunsDb(copy);
    const stats = { runId: "", events: 0, skipped: 0 };
    const blocks: string[] = [];
    let failure: Error | undefined;
    try {
      for await (const block of parallelLines(db, { run: "a" }, "number", stats, together(seqs))) {
        blocks.push(new TextDecoder().decode(block));
      }
    } catch (error) {
      failure = error as Error;
    } finally {
      db.close();
    }
    expect(failure?.constructor).toBe(expected.constructor);
    expect(failure?.message).toBe(expected.message);
    expect(failure?.message).toContain("FORTNIGHT");
    expect(blocks).toHaveLength(1);
    expect(serial({ run: "a" }).startsWith(blocks[0] as string)).toBe(true);
  });
});
