// Replay of runs without sequence numbers never puts an event before its cause, though their
// tables, merged on ts_created_ns alone, would.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { causalViolations, kWayMerge } from "../scripts/measure-order.ts";
import { type Event, mergeRuns, replay } from "../src/index.ts";
import { causalRun, CAUSAL_EVENTS as named, tempDir } from "./helpers.ts";

// Creation times are unique here: they name the replayed events.
const nameOf = new Map(Object.entries(named).map(([k, e]) => [e.ts_created_ns, k]));
const names = (events: Iterable<Event>) => Array.from(events, (e) => nameOf.get(e.ts_created_ns));
const asRows = (events: readonly Event[]) =>
  events.map((e, i) => ({
    run_id: "run",
    run_seq: i + 1,
    type: e.type,
    fields: e as unknown as Record<string, unknown>,
  }));

describe("replay of a run without sequence numbers", () => {
  test("holds each event back until its cause: request, acceptance, the j-th request, the bar", () => {
    const replayed = [...replay(causalRun())];
    expect(names(replayed)).toEqual([
      "AccC",
      "Qb",
      "Qa",
      "AccB",
      "AccA",
      "Fa",
      "M1",
      "MA1",
      "M2",
      "MA2",
      "Bar0",
      "Bar1",
      "P1",
    ]);
    expect(causalViolations(asRows(replayed))).toEqual({
      responseBeforeRequest: 0,
      fillBeforeAccepted: 0,
      processedBeforeReceived: 0,
      expiryBeforeAccepted: 0,
    });
    // The merge on ts_created_ns alone (what replay did before) breaks each rule.
    const naive = kWayMerge(asRows(Object.values(named)), (p) => [
      p.fields.ts_created_ns as bigint,
    ]);
    expect(causalViolations(naive)).toEqual({
      responseBeforeRequest: 3,
      fillBeforeAccepted: 1,
      processedBeforeReceived: 1,
      expiryBeforeAccepted: 0,
    });
  });

  test("a cause left out of the replay holds nothing back", () => {
    const path = causalRun();
    // The fill still waits for its acceptance; the answers have no requests to wait for.
    expect(names(replay(path, { types: ["OrderAccepted", "FillEvent"] }))).toEqual([
      "AccC",
      "AccB",
      "AccA",
      "Fa",
    ]);
    expect(
      names(replay(path, { symbols: ["S"], types: ["BarProcessed", "OrderAccepted"] })),
    ).toEqual(["P1", "AccB", "AccA"]);
  });

  test("merged into a file, the run keeps that order as its seq", () => {
    const path = causalRun();
    const out = join(tempDir(), "merged.db");
    expect(mergeRuns(out, [path])).toMatchObject([{ runId: "run", action: "copied", events: 13 }]);
    expect(names(replay(out))).toEqual(names(replay(path)));
  });
});
