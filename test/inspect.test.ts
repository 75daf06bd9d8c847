import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import {
  checkDatabase,
  computePnl,
  type Event,
  inspectRun,
  listRunSummaries,
  makeEvent,
  openRunsDb,
  Recorder,
  recoverRuns,
  type Side,
} from "../src/index.ts";
import { bar, T0, tempDir } from "./helpers.ts";

const fill = (side: Side, quantity_filled: number, fill_price: number, commission = 0) => ({
  side,
  quantity_filled,
  fill_price,
  commission,
});

describe("average-cost P&L", () => {
  test("long, added to, partly closed, then closed", () => {
    // Buy 10 @ 100, buy 10 @ 110 → 20 @ 105; sell 5 @ 120 → +75; sell 15 @ 100 → −75.
    expect(
      computePnl([
        fill("BUY", 10, 100),
        fill("BUY", 10, 110),
        fill("SELL", 5, 120),
        fill("SELL", 15, 100),
      ]),
    ).toEqual({
      position: 0,
      averageCost: null,
      realizedPnl: 0,
      tradedQuantity: 40,
      commission: 0,
      netPnl: 0,
    });
    expect(
      computePnl([fill("BUY", 10, 100), fill("BUY", 10, 110), fill("SELL", 5, 120)]),
    ).toMatchObject({ position: 15, averageCost: 105, realizedPnl: 75 });
  });

  test("a reversal through zero realises the closed part and opens the rest at the fill price", () => {
    // Long 10 @ 50; sell 25 @ 60 → +100 on 10, short 15 @ 60; buy 15 @ 55 → +75.
    const reversed = computePnl([fill("BUY", 10, 50, 1), fill("SELL", 25, 60, 1)]);
    expect(reversed).toMatchObject({
      position: -15,
      averageCost: 60,
      realizedPnl: 100,
      commission: 2,
      netPnl: 98,
    });
    expect(
      computePnl([fill("BUY", 10, 50), fill("SELL", 25, 60), fill("BUY", 15, 55)]),
    ).toMatchObject({ position: 0, realizedPnl: 175 });
  });

  test("partial fills are just smaller fills; shorts first work the same way round", () => {
    const whole = computePnl([fill("SELL", 30, 20), fill("BUY", 30, 18)]);
    const parts = computePnl([
      fill("SELL", 10, 20),
      fill("SELL", 20, 20),
      fill("BUY", 5, 18),
      fill("BUY", 25, 18),
    ]);
    expect(whole).toMatchObject({ position: 0, realizedPnl: 60 });
    expect(parts).toMatchObject({ position: 0, realizedPnl: 60, tradedQuantity: 60 });
  });

  test("short first, reversed to long by a partly filled buy, then flat; commission kept apart", () => {
    const fills = [
      fill("SELL", 10, 50, 1), // short 10 @ 50
      fill("SELL", 5, 56, 1), // short 15 @ (500 + 280) / 15 = 52
      fill("BUY", 8, 48, 1), // covers 8: 8 × (52 − 48) = +32, short 7 @ 52
      fill("BUY", 12, 48, 1), // covers 7: +28, long 5 @ 48
      fill("SELL", 5, 47, 1), // closes 5: 5 × (47 − 48) = −5, flat
    ];
    expect(computePnl(fills.slice(0, 3))).toMatchObject({
      position: -7,
      averageCost: 52,
      realizedPnl: 32,
    });
    expect(computePnl(fills.slice(0, 4))).toMatchObject({
      position: 5,
      averageCost: 48,
      realizedPnl: 60,
    });
    expect(computePnl(fills)).toEqual({
      position: 0,
      averageCost: null,
      realizedPnl: 55,
      tradedQuantity: 40,
      commission: 5,
      netPnl: 50,
    });
  });

  test("float dust closes a position; a fill of zero quantity moves nothing but commission", () => {
    const dust = computePnl([fill("BUY", 0.1, 10), fill("BUY", 0.2, 10), fill("SELL", 0.3, 11)]);
    expect([dust.position, dust.averageCost]).toEqual([0, null]);
    expect(dust.realizedPnl).toBeCloseTo(0.3, 12);
    expect(computePnl([fill("BUY", 0, 5, 1)])).toEqual({
      position: 0,
      averageCost: null,
      realizedPnl: 0,
      tradedQuantity: 0,
      commission: 1,
      netPnl: -1,
    });
  });
});

/** A small run with known orders and fills for AAPL and a rejected order for MSFT. */
function tradedRun(path: string, runId: string): void {
  const recorder = Recorder.start(path, { runId, metadata: { note: "ü" } });
  const at = { ts_event_ns: T0 };
  const e: Event[] = [
    bar(0, "AAPL"),
    bar(0, "MSFT"),
    makeEvent("OrderSubmissionRequest", {
      ...at,
      system_order_id: "a1",
      symbol: "AAPL",
      order_type: "MARKET",
      side: "BUY",
      quantity: 10,
    }),
    makeEvent("OrderSubmissionRequest", {
      ...at,
      system_order_id: "m1",
      symbol: "MSFT",
      order_type: "MARKET",
      side: "BUY",
      quantity: 1e9,
    }),
    makeEvent("OrderRejected", {
      ...at,
      ts_broker_ns: T0,
      associated_order_id: "m1",
      rejection_reason: "UNKNOWN",
      rejection_message: "too big",
    }),
    makeEvent("FillEvent", {
      ...at,
      ts_broker_ns: T0,
      associated_order_id: "a1",
      symbol: "AAPL",
      side: "BUY",
      quantity_filled: 4,
      fill_price: 100,
      commission: 1,
    }),
    makeEvent("FillEvent", {
      ...at,
      ts_broker_ns: T0,
      associated_order_id: "a1",
      symbol: "AAPL",
      side: "BUY",
      quantity_filled: 6,
      fill_price: 105,
      commission: 1,
    }),
    makeEvent("OrderSubmissionRequest", {
      ...at,
      system_order_id: "a2",
      symbol: "AAPL",
      order_type: "MARKET",
      side: "SELL",
      quantity: 15,
    }),
    makeEvent("FillEvent", {
      ...at,
      ts_event_ns: T0 + 60_000_000_000n,
      ts_broker_ns: T0,
      associated_order_id: "a2",
      symbol: "AAPL",
      side: "SELL",
      quantity_filled: 15,
      fill_price: 110,
      commission: 1.5,
    }),
  ];
  for (const event of e) recorder.record(event);
  recorder.close();
}

describe("inspect", () => {
  test("details a run: counts, symbols, periods, range, metadata and trading per symbol", () => {
    const path = join(tempDir(), "runs.db");
    tradedRun(path, "t");
    const db = openRunsDb(path);
    const detail = inspectRun(db, "t");
    db.close();
    expect(detail.events).toBe(9n);
    expect(detail.counts.FillEvent).toBe(3n);
    expect(detail.symbols).toEqual(["AAPL", "MSFT"]);
    expect(detail.barPeriods).toEqual(["MINUTE"]);
    expect([detail.firstTsEventNs, detail.lastTsEventNs]).toEqual([T0, T0 + 60_000_000_000n]);
    expect(detail.metadata).toEqual({ note: "ü" });
    const [aapl, msft] = detail.trading;
    // Long 10 at 103 (4 @ 100 + 6 @ 105); sell 15 @ 110: +70 on 10, then short 5 at 110.
    expect(aapl).toMatchObject({
      symbol: "AAPL",
      orders: 2,
      rejections: 0,
      fills: 3,
      tradedQuantity: 25,
      commission: 3.5,
      position: -5,
      averageCost: 110,
    });
    expect(aapl?.realizedPnl).toBeCloseTo(70, 9);
    expect(msft).toMatchObject({
      symbol: "MSFT",
      orders: 1,
      rejections: 1,
      fills: 0,
      realizedPnl: 0,
    });
  });

  test("lists runs newest first with their event counts", () => {
    const path = join(tempDir(), "runs.db");
    tradedRun(path, "first");
    tradedRun(path, "second");
    const db = openRunsDb(path);
    expect(listRunSummaries(db).map((r) => [r.runId, r.status, r.events, r.stale])).toEqual([
      ["second", "completed", 9n, false],
      ["first", "completed", 9n, false],
    ]);
    db.close();
  });

  test("--check finds sequence gaps, duplicates, orphans, wrong counters and contradictory statuses", () => {
    const path = join(tempDir(), "runs.db");
    tradedRun(path, "t");
    const clean = openRunsDb(path);
    expect(checkDatabase(clean)).toEqual([]);
    clean.close();
    const raw = new Database(path);
    raw.run("UPDATE bars SET seq = 99 WHERE symbol = 'MSFT'");
    raw.run("UPDATE fills SET seq = 1 WHERE id = 1");
    raw.run(
      "INSERT INTO expirations (run_id, ts_event_ns, ts_created_ns, ts_broker_ns, associated_order_id, symbol) VALUES ('ghost', 1, 1, 1, 'x', 'X')",
    );
    raw.run("UPDATE runs SET ts_end = NULL");
    raw.run("UPDATE runtape_runs SET events = 5");
    raw.close();
    const db = openRunsDb(path);
    const findings = checkDatabase(db).map((f) => `${f.kind}: ${f.message}`);
    db.close();
    expect(findings).toEqual([
      'orphan: expirations has 1 row(s) of unknown run "ghost"',
      'status: run "t": is completed but has no end time',
      'sequence: run "t": 1 duplicate sequence number(s)',
      'sequence: run "t": sequence numbers run from 1 to 99 over 8 events: there are gaps',
      'counter: run "t": holds 9 events, its counter says 5',
    ]);
  });

  test("recover closes a run whose recorder died, at its last event's time, and only such a run", () => {
    const path = join(tempDir(), "runs.db");
    const crashed = Recorder.start(path, { runId: "crashed" });
    for (let i = 0; i < 5; i++) crashed.record(bar(i));
    crashed.flush(); // the process "dies" here: never closed
    const child = Bun.spawnSync(["true"]);
    const raw = new Database(path);
    raw.run("UPDATE runtape_runs SET pid = ? WHERE run_id = 'crashed'", [child.pid]);
    raw.close();
    const live = Recorder.start(path, { runId: "live" });
    live.record(bar(0));
    live.flush();

    const db = openRunsDb(path, { mode: "write" });
    expect(listRunSummaries(db).find((r) => r.runId === "crashed")?.stale).toBe(true);
    expect(() => recoverRuns(db, { runId: "live" })).toThrow("is still recording it");
    expect(recoverRuns(db)).toEqual([{ runId: "crashed", events: 5n, tsEnd: bar(4).ts_event_ns }]);
    expect(db.sqlite.query("SELECT run_id, status FROM runs ORDER BY run_id").all()).toEqual([
      { run_id: "crashed", status: "failed" },
      { run_id: "live", status: "running" },
    ]);
    db.close();
    live.close();
  });
});
