import { Database } from "bun:sqlite";
import { describe, expect } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  decodeEvent,
  type Event,
  inspectRun,
  listRunSummaries,
  openRunsDb,
  Recorder,
  replay,
} from "../src/index.ts";
import {
  FIXTURE_DIR,
  fixtureCopy,
  fixtureEvents,
  fixtureTest,
  HAS_FIXTURE,
  runContentHash,
  sampleEvents,
} from "./helpers.ts";

interface Published {
  runId: string;
  event: Event;
  indicatorsJson?: string;
}

/**
 * The fixture's true publication order. Each line's `fields` object is already in runtape's
 * NDJSON form (exact integers, "NaN" strings), so it decodes with the NDJSON codec.
 */
function published(): Published[] {
  const text = readFileSync(join(FIXTURE_DIR, "ost_reference_events.jsonl"), "utf8");
  return text
    .trim()
    .split("\n")
    .map((line) => {
      const head = JSON.parse(line) as { run_id: string; type: string; indicators_json?: string };
      const start = line.indexOf('"fields": {') + '"fields": '.length;
      const end =
        head.indicators_json === undefined ? line.length - 1 : line.indexOf(', "indicators_json"');
      const event = decodeEvent(
        `{"type":${JSON.stringify(head.type)},${line.slice(start + 1, end)}`,
      );
      return { runId: head.run_id, event, indicatorsJson: head.indicators_json };
    });
}

const runsOf = (events: Published[]) => [...new Set(events.map((e) => e.runId))];

describe("the Python recorder's fixture", () => {
  const truth = HAS_FIXTURE ? published() : [];

  fixtureTest("replays both runs equal to the published events, in the published order", () => {
    for (const runId of runsOf(truth)) {
      const expected = truth.filter((p) => p.runId === runId).map((p) => p.event);
      const actual = fixtureEvents(runId);
      expect(actual.length).toBe(expected.length);
      // Out of place: events whose type, or whose position in their own table, differs.
      const misplaced = actual.filter((e, i) => e.type !== expected[i]?.type).length;
      expect(misplaced).toBe(0);
      expect(actual).toEqual(expected);
    }
  });

  fixtureTest("reads indicators back to the exact text the Python recorder stored", () => {
    const path = fixtureCopy();
    const db = new Database(path, { readonly: true });
    const stored = (
      db.query("SELECT indicators FROM bars_processed ORDER BY id").all() as {
        indicators: string;
      }[]
    ).map((r) => r.indicators);
    db.close();
    expect(
      truth.filter((p) => p.indicatorsJson !== undefined).map((p) => p.indicatorsJson),
    ).toEqual(stored);
  });

  fixtureTest(
    "recording into a copy keeps the Python runs intact and the new run queryable",
    () => {
      const path = fixtureCopy();
      const runs = runsOf(truth);
      const hashes = runs.map((r) => runContentHash(path, r));
      const recorder = Recorder.start(path, { runId: "runtape ✓" });
      for (const e of sampleEvents()) recorder.record(e);
      recorder.close();
      expect(runs.map((r) => runContentHash(path, r))).toEqual(hashes);
      for (const runId of runs)
        expect([...replay(path, { run: runId })].length).toBe(
          truth.filter((p) => p.runId === runId).length,
        );
      const db = openRunsDb(path);
      // The spec's kind of query: fills of a symbol in time order, served by idx_fills_run_symbol_ts.
      const plan = db.sqlite
        .query(
          "EXPLAIN QUERY PLAN SELECT * FROM fills WHERE run_id = ? AND symbol = ? ORDER BY ts_event_ns",
        )
        .all("runtape ✓", "AAPL") as { detail: string }[];
      expect(plan.map((p) => p.detail).join(" ")).toContain("idx_fills_run_symbol_ts");
      expect(
        db.sqlite
          .query(
            "SELECT fill_price FROM fills WHERE run_id = ? AND symbol = ? ORDER BY ts_event_ns",
          )
          .all("runtape ✓", "AAPL"),
      ).toEqual([{ fill_price: 100.5 }]);
      db.close();
      expect([...replay(path, { run: "runtape ✓" })]).toEqual(sampleEvents());
    },
  );

  fixtureTest(
    "inspect agrees with the Python dashboard: the run list, and P&L where a symbol ends flat",
    () => {
      const expected = JSON.parse(
        readFileSync(join(FIXTURE_DIR, "dashboard_expected.json"), "utf8"),
      ) as {
        get_runs: { run_id: string; name: string; status: string }[];
        get_roundtrips: Record<string, { symbol: string; pnl_before_commission: number }[]>;
      };
      const db = openRunsDb(fixtureCopy());
      expect(listRunSummaries(db).map((r) => [r.runId, r.name, r.status])).toEqual(
        expected.get_runs.map((r) => [r.run_id, r.name, r.status]),
      );
      let compared = 0;
      for (const [runId, trips] of Object.entries(expected.get_roundtrips)) {
        for (const t of inspectRun(db, runId).trading) {
          // Round trips only cover closed positions; flat to flat, realised P&L is the same by any method.
          if (t.position !== 0) continue;
          const mine = trips.filter((r) => r.symbol === t.symbol);
          const dashboard = mine.reduce((sum, r) => sum + r.pnl_before_commission, 0);
          // The dashboard rounds each round trip to cents.
          expect([t.symbol, Math.abs(t.realizedPnl - dashboard) <= 0.005 * mine.length]).toEqual([
            t.symbol,
            true,
          ]);
          compared++;
        }
      }
      db.close();
      expect(compared).toBe(2);
    },
  );
});
