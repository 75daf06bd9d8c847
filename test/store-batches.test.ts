import { expect, test } from "bun:test";
import type { RunRow } from "../src/runs.ts";
import { BATCH_EVENTS, BATCH_RUNS, batches } from "../src/store/batches.ts";

const run = (id: string, events: number | null, config: string | null = null): RunRow => ({
  run_id: id,
  name: id,
  ts_start: 0n,
  ts_end: 1n,
  status: "completed",
  config,
  metadata: null,
  pid: null,
  host: null,
  events: events === null ? null : BigInt(events),
  refused: null,
  bar_periods: null,
});

test("runs without events still fill a batch: at most BATCH_RUNS of them", () => {
  const cut = [...batches(Array.from({ length: 2_500 }, (_, i) => run(`e${i}`, 0)))];
  expect(cut.map((b) => b.length)).toEqual([BATCH_RUNS, BATCH_RUNS, 500]);
});

test("a run's config weighs with its events, so large configs make smaller batches", () => {
  const config = JSON.stringify({ blob: "x".repeat(200_000) });
  const cut = [...batches(Array.from({ length: 100 }, (_, i) => run(`c${i}`, 0, config)))];
  expect(cut.length).toBeGreaterThan(1);
  for (const batch of cut) {
    expect(batch.length * Math.ceil(config.length / 256)).toBeLessThanOrEqual(BATCH_EVENTS);
  }
  expect(cut.flat()).toEqual(Array.from({ length: 100 }, (_, i) => `c${i}`));
});

test("a large run, or one of unknown size, comes alone, in its place", () => {
  const cut = [
    ...batches([
      run("a", 10),
      run("big", BATCH_EVENTS + 1),
      run("b", 10),
      run("py", null),
      run("c", 10),
    ]),
  ];
  expect(cut).toEqual([["a"], ["big"], ["b"], ["py"], ["c"]]);
});
