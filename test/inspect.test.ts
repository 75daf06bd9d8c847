import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import {
  checkDatabase,
  computePnl,
  countEvents,
  type Event,
  getRun,
  hasSequence,
  InvalidEventError,
  inspectRun,
  listRunSummaries,
  listRuns,
  makeEvent,
  openRunsDb,
  PnlAccumulator,
  Recorder,
  RunNotFoundError,
  recoverRuns,
  resolveRunId,
  type Side,
  unjudgeableRuns,
} from "../src/index.ts";
import { changeTags, removeRuns, renameRun } from "../src/manage.ts";
import {
  bar,
  CAN_LIST_OPEN_FILES,
  FIXTURE_DIR,
  fixtureCopy,
  fixtureTest,
  openFilesUnder,
  reading,
  recordDemoRuns,
  T0,
  tempDir,
  watchingQueries,
} from "./helpers.ts";

const fill = (side: Side, quantity_filled: number, fill_price: number, commission = 0) => ({
  side,
  quantity_filled,
  fill_price,
  commission,
});

describe("average-cost P&L", () => {
  test("a fill the figures cannot come from is refused, naming its index and field", () => {
    const refused: [unknown, string][] = [
      [
        { ...fill("BUY", 1, 1), side: "buy" },
        'fills[1].side: expected "BUY" or "SELL" (got "buy")',
      ],
      [
        { ...fill("BUY", 1, 1), quantity_filled: "5" },
        'fills[1].quantity_filled: expected a number (got "5")',
      ],
      [fill("SELL", 1, Number.NaN), "fills[1].fill_price: expected a number (got NaN)"],
      [
        { side: "SELL", fill_price: 1, commission: 0 },
        "fills[1].quantity_filled: expected a number (got nothing)",
      ],
      [null, "fills[1]: expected a fill object (got null)"],
    ];
    for (const [bad, message] of refused) {
      const fills = [fill("BUY", 5, 10), bad, fill("SELL", 5, 12)] as never;
      expect(() => computePnl(fills)).toThrow(message);
      // One refused changes nothing: what was taken before stands, and the next is the same index.
      const pnl = new PnlAccumulator();
      pnl.add(fill("BUY", 5, 10));
      const before = pnl.result;
      expect(() => pnl.add(bad as never)).toThrow(message);
      expect(pnl.result).toEqual(before);
      expect(() => pnl.add(bad as never)).toThrow(message);
    }
    // A foreign file may hold an infinite price (runtape's recorder refuses one): its figures are
    // infinite, as inspect showed them, not a refusal of the whole run.
    const infinite = computePnl([fill("BUY", 1, 10), fill("SELL", 1, Number.POSITIVE_INFINITY)]);
    expect(infinite.realizedPnl).toBe(Number.POSITIVE_INFINITY);
    const error = (() => {
      try {
        computePnl([{ ...fill("BUY", 1, 1), side: "buy" as Side }]);
      } catch (e) {
        return e;
      }
    })();
    expect([error?.constructor.name, (error as { code?: string })?.code]).toEqual([
      "RuntapeError",
      "INVALID_OPTION",
    ]);
    expect(() => computePnl(5 as never)).toThrow(
      "computePnl: expected an iterable of fills (got 5)",
    );
  });

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

  test("one unit left of a billion traded is a position, not dust", () => {
    const left = computePnl([fill("BUY", 1_000_000_001, 1), fill("SELL", 1_000_000_000, 1)]);
    expect([left.position, left.averageCost]).toEqual([1, 1]);
    const short = computePnl([fill("SELL", 2e9, 5), fill("BUY", 2e9 - 0.5, 5)]);
    expect(short.position).toBe(-0.5);
  });

  test("prices near the float limit: the average cost is their mean, not an overflow", () => {
    const huge = computePnl([
      fill("BUY", 10, 1e308),
      fill("BUY", 10, 1.5e308),
      fill("SELL", 20, 1.25e308),
    ]);
    expect(huge).toMatchObject({ position: 0, realizedPnl: 0 });
    const open = computePnl([fill("BUY", 10, 1e308), fill("BUY", 30, 1.4e308)]);
    expect(open.averageCost).toBeCloseTo(1.3e308, -296);
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
    const tenths = computePnl([
      ...Array.from({ length: 10 }, () => fill("BUY", 0.1, 10)),
      fill("SELL", 1, 10),
    ]);
    expect([0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1].reduce((a, b) => a + b)).not.toBe(1);
    expect(tenths.position).toBe(0);
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

const at = { ts_event_ns: T0 };
const broker = { ...at, ts_broker_ns: T0 };
const submit = (id: string, symbol: string, side: Side, quantity: number) =>
  makeEvent("OrderSubmissionRequest", {
    ...at,
    system_order_id: id,
    symbol,
    order_type: "MARKET",
    side,
    quantity,
  });
const filled = (id: string, symbol: string, side: Side, q: number, price: number, fee: number) =>
  makeEvent("FillEvent", {
    ...broker,
    associated_order_id: id,
    symbol,
    side,
    quantity_filled: q,
    fill_price: price,
    commission: fee,
  });
const rejected = (
  type: "OrderRejected" | "CancellationRejected" | "ModificationRejected",
  id: string,
): Event =>
  makeEvent(type, {
    ...broker,
    associated_order_id: id,
    rejection_reason: "UNKNOWN",
    rejection_message: "no",
  });

/**
 * A small run with known trading: AAPL buys 10 in two partial fills (4 @ 100, 6 @ 105), a
 * cancellation of that order is rejected, then it sells 15 @ 110 a minute later; MSFT's order is
 * rejected, and so is a modification of it.
 */
function tradedRun(path: string, runId: string): void {
  const recorder = Recorder.start(path, { runId, metadata: { note: "ü" } });
  const events: Event[] = [
    bar(0, "AAPL"),
    bar(0, "MSFT"),
    submit("a1", "AAPL", "BUY", 10),
    submit("m1", "MSFT", "BUY", 1e9),
    rejected("OrderRejected", "m1"),
    makeEvent("OrderModificationRequest", { ...at, system_order_id: "m1", symbol: "MSFT" }),
    rejected("ModificationRejected", "m1"),
    filled("a1", "AAPL", "BUY", 4, 100, 1),
    makeEvent("OrderCancellationRequest", { ...at, system_order_id: "a1", symbol: "AAPL" }),
    rejected("CancellationRejected", "a1"),
    filled("a1", "AAPL", "BUY", 6, 105, 1),
    submit("a2", "AAPL", "SELL", 15),
    { ...filled("a2", "AAPL", "SELL", 15, 110, 1.5), ts_event_ns: T0 + 60_000_000_000n },
  ];
  for (const event of events) recorder.record(event);
  recorder.close();
}
const TRADED_EVENTS = 13n;

describe("inspect", () => {
  test("details a run: counts, symbols, periods, range, metadata and trading per symbol", () => {
    const path = join(tempDir(), "runs.db");
    tradedRun(path, "t");
    const db = openRunsDb(path);
    const detail = inspectRun(db, "t");
    db.close();
    expect(detail.events).toBe(TRADED_EVENTS);
    expect(detail.counts).toMatchObject({ FillEvent: 3n, BarReceived: 2n, OrderExpired: 0n });
    expect([detail.refused, detail.stale, detail.config]).toEqual([0n, false, null]);
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
      cancellations: 1,
      cancellationRejections: 1,
      modifications: 0,
      modificationRejections: 0,
      fills: 3,
      tradedQuantity: 25,
      commission: 3.5,
      position: -5,
      averageCost: 110,
    });
    expect(aapl?.realizedPnl).toBeCloseTo(70, 9);
    expect(aapl?.netPnl).toBeCloseTo(66.5, 9);
    expect(msft).toEqual({
      symbol: "MSFT",
      orders: 1,
      rejections: 1,
      cancellations: 0,
      cancellationRejections: 0,
      modifications: 1,
      modificationRejections: 1,
      fills: 0,
      tradedQuantity: 0,
      commission: 0,
      realizedPnl: 0,
      netPnl: 0,
      position: 0,
      averageCost: null,
    });
  });

  test("lists runs newest first; runs that repeat order ids keep their rejections apart", () => {
    const path = join(tempDir(), "runs.db");
    tradedRun(path, "first");
    tradedRun(path, "second");
    const db = openRunsDb(path);
    expect(
      listRunSummaries(db).map((r) => [r.runId, r.status, r.events, r.alive, r.stale]),
    ).toEqual([
      ["second", "completed", TRADED_EVENTS, false, false],
      ["first", "completed", TRADED_EVENTS, false, false],
    ]);
    const [entry] = listRunSummaries(db);
    expect(entry?.durationNs).toBe((entry?.tsEnd ?? 0n) - (entry?.tsStart ?? 0n));
    expect(inspectRun(db, "second").trading.map((t) => [t.symbol, t.rejections])).toEqual([
      ["AAPL", 0],
      ["MSFT", 1],
    ]);
    db.close();
  });

  fixtureTest("reads the Python layout: counts, periods and rejections by their requests", () => {
    const manifest = JSON.parse(readFileSync(join(FIXTURE_DIR, "manifest.json"), "utf8")) as {
      rows_per_run_and_table: Record<string, Record<string, number>>;
    };
    const db = openRunsDb(fixtureCopy());
    expect(db.version).toBe(1);
    const runs = listRunSummaries(db);
    expect(runs.map((r) => [r.alive, r.stale])).toEqual([
      [false, false],
      [false, false],
    ]);
    for (const { runId, events } of runs) {
      const rows = manifest.rows_per_run_and_table[runId] ?? {};
      const detail = inspectRun(db, runId);
      const total = (key: "rejections" | "cancellationRejections" | "modificationRejections") =>
        detail.trading.reduce((sum, t) => sum + t[key], 0);
      expect(detail.refused).toBeNull();
      expect(detail.events).toBe(events);
      expect(Number(detail.events)).toBe(Object.values(rows).reduce((a, b) => a + b, 0));
      expect([
        Number(detail.counts.BarReceived),
        total("rejections"),
        total("cancellationRejections"),
        total("modificationRejections"),
      ]).toEqual([
        rows.bars ?? 0,
        rows.orders_rejected ?? 0,
        rows.cancellations_rejected ?? 0,
        rows.modifications_rejected ?? 0,
      ]);
      expect(detail.barPeriods.length).toBe(1);
    }
    expect(checkDatabase(db)).toEqual([]);
    db.close();
  });
});

/** The detail of each of `runIds` computed from the events: the summary cache dropped first. */
function computedDetails(path: string, runIds: readonly string[]) {
  const raw = new Database(path);
  raw.exec("DROP TABLE IF EXISTS runtape_run_summaries");
  raw.close();
  return inspectAll(path, runIds);
}

const inspectAll = (path: string, runIds: readonly string[]) =>
  reading(path, (db) => runIds.map((id) => inspectRun(db, id)));

const cachedRunIds = (path: string) => {
  const raw = new Database(path, { readonly: true });
  try {
    const table = "SELECT 1 FROM sqlite_master WHERE name = 'runtape_run_summaries'";
    if (raw.query(table).get() === null) return [];
    return (
      raw.query("SELECT run_id FROM runtape_run_summaries ORDER BY run_id").all() as {
        run_id: string;
      }[]
    ).map((r) => r.run_id);
  } finally {
    raw.close();
  }
};

describe("the summary cache", () => {
  test("the recorder stores a run's summary as it closes; inspect reads it, equal to the computed one", () => {
    const path = join(tempDir(), "runs.db");
    tradedRun(path, "t");
    tradedRun(path, "u");
    expect(cachedRunIds(path)).toEqual(["t", "u"]);
    const cached = inspectAll(path, ["t", "u"]);
    // A planted figure shows: inspect reads the row, not the events.
    const raw = new Database(path);
    raw.exec(
      "UPDATE runtape_run_summaries SET summary = json_set(summary, '$.trading[0].orders', 99) WHERE run_id = 't'",
    );
    raw.close();
    expect(inspectAll(path, ["t"])[0]?.trading[0]?.orders).toBe(99);
    const computed = computedDetails(path, ["t", "u"]);
    expect(computed[0]?.trading[0]?.orders).toBe(2);
    expect(cached).toEqual(computed);
    expect(cached[0]?.trading[0]?.realizedPnl).toBe(computed[0]?.trading[0]?.realizedPnl as number);
    // Computed again by the first inspect, then stored.
    expect(inspectAll(path, ["t", "u"])).toEqual(computed);
    expect(cachedRunIds(path)).toEqual(["t", "u"]);
  });

  test("a stale summary is never shown: rm, rename, tag, a run stored again under its id", () => {
    const path = join(tempDir(), "runs.db");
    tradedRun(path, "a");
    tradedRun(path, "b");
    const before = inspectAll(path, ["a"])[0];
    const db = openRunsDb(path, { mode: "write" });
    renameRun(db, "a", "renamed");
    removeRuns(db, ["b"]);
    changeTags(db, ["renamed"], { owner: "me" });
    db.close();
    expect(cachedRunIds(path)).toEqual(["renamed"]);
    const [renamed] = inspectAll(path, ["renamed"]);
    expect(renamed?.metadata).toEqual({ note: "ü", tags: { owner: "me" } });
    expect({ ...renamed, run: null, metadata: null }).toEqual({
      ...before,
      run: null,
      metadata: null,
    } as never);
    // "b" again, with other events: the recorder's summary replaces nothing stale.
    const again = Recorder.start(path, { runId: "b" });
    again.record(bar(0, "IBM"));
    again.close();
    const [b] = inspectAll(path, ["b"]);
    expect([b?.events, b?.symbols, b?.trading]).toEqual([1n, ["IBM"], []]);
    // A row left behind by a tool that removed the run, for a run stored again under its id:
    // its start, end and event count differ, so the row is recomputed, not shown.
    const raw = new Database(path);
    raw.exec(
      "UPDATE runtape_run_summaries SET summary = json_set(summary, '$.symbols', json('[\"OLD\"]'))",
    );
    raw.exec("UPDATE runs SET ts_end = ts_end + 1 WHERE run_id = 'b'");
    raw.close();
    expect(inspectAll(path, ["b"])[0]?.symbols).toEqual(["IBM"]);
    expect(inspectAll(path, ["renamed"])[0]?.symbols).toEqual(["OLD"]);
  });

  test("a summary an earlier version computed (version 1: its P&L's old dust rule) is computed again", () => {
    const path = join(tempDir(), "runs.db");
    const recorder = Recorder.start(path, { runId: "old" });
    recorder.record(bar(0, "IBM"));
    recorder.close();
    const raw = new Database(path);
    raw.exec(
      "UPDATE runtape_run_summaries SET version = 1, summary = json_set(summary, '$.symbols', json('[\"OLD\"]'))",
    );
    raw.close();
    expect(inspectAll(path, ["old"])[0]?.symbols).toEqual(["IBM"]);
  });

  test("the recorder's counts of what it stored, refused events left out, are the tables' counts", () => {
    const path = join(tempDir(), "runs.db");
    const recorder = Recorder.start(path, { runId: "r", batchSize: 3 });
    for (let i = 0; i < 7; i++) recorder.record(bar(i, i % 2 ? "AAPL" : "MSFT"));
    recorder.record(submit("a1", "AAPL", "BUY", 10));
    expect(() => recorder.record({ ...bar(8), open: "x" } as never)).toThrow(InvalidEventError);
    expect(() => recorder.record({ type: "Nope" } as never)).toThrow(InvalidEventError);
    recorder.record(filled("a1", "AAPL", "BUY", 10, 100, 1));
    recorder.close();
    expect(cachedRunIds(path)).toEqual(["r"]);
    const [cached] = inspectAll(path, ["r"]);
    expect(cached?.counts).toMatchObject({ BarReceived: 7n, OrderSubmissionRequest: 1n });
    expect(cached?.events).toBe(9n);
    expect([cached]).toEqual(computedDetails(path, ["r"]));
  });

  test("a running run is read live, and cached once closed", () => {
    const path = join(tempDir(), "runs.db");
    const recorder = Recorder.start(path, { runId: "live" });
    recorder.record(bar(0));
    recorder.flush();
    expect(inspectAll(path, ["live"])[0]?.events).toBe(1n);
    recorder.record(bar(1));
    recorder.flush();
    expect(inspectAll(path, ["live"])[0]?.events).toBe(2n);
    expect(cachedRunIds(path)).toEqual([]);
    recorder.close();
    expect(cachedRunIds(path)).toEqual(["live"]);
    expect(inspectAll(path, ["live"])).toEqual(computedDetails(path, ["live"]));
  });

  fixtureTest("Python-written runs: the file is never written; once upgraded, cached", () => {
    const path = fixtureCopy();
    const bytes = readFileSync(path);
    const ids = listRunIds(path);
    const python = inspectAll(path, ids);
    expect(readFileSync(path).equals(bytes)).toBe(true);
    openRunsDb(path, { mode: "write" }).close(); // upgraded to runtape's layout
    const first = inspectAll(path, ids);
    expect(cachedRunIds(path)).toEqual([...ids].sort());
    expect(inspectAll(path, ids)).toEqual(first);
    expect(computedDetails(path, ids)).toEqual(first);
    const strip = (d: (typeof first)[number]) => ({ ...d, run: null });
    expect(first.map(strip)).toEqual(python.map(strip));
  });
});

const listRunIds = (path: string) =>
  reading(path, (db) => listRunSummaries(db).map((r) => r.runId));

describe("check", () => {
  test("finds sequence gaps, duplicates, orphans, wrong counters and contradictory statuses", () => {
    const path = join(tempDir(), "runs.db");
    tradedRun(path, "t");
    tradedRun(path, "u");
    const clean = openRunsDb(path);
    expect(checkDatabase(clean)).toEqual([]);
    clean.close();
    const raw = new Database(path);
    raw.run("UPDATE bars SET seq = 99 WHERE run_id = 't' AND symbol = 'MSFT'");
    raw.run("UPDATE fills SET seq = 1 WHERE run_id = 't' AND quantity_filled = 4");
    raw.run(
      "INSERT INTO expirations (run_id, ts_event_ns, ts_created_ns, ts_broker_ns, associated_order_id, symbol) VALUES ('ghost', 1, 1, 1, 'x', 'X'), ('ghost', 2, 2, 2, 'y', 'Y')",
    );
    raw.run("INSERT INTO runtape_runs (run_id) VALUES ('phantom')");
    raw.run("UPDATE runs SET ts_end = NULL WHERE run_id = 't'");
    raw.run("UPDATE runs SET status = 'running' WHERE run_id = 'u'");
    raw.run("UPDATE runtape_runs SET events = 5 WHERE run_id = 't'");
    raw.close();
    const db = openRunsDb(path);
    const findings = checkDatabase(db).map((f) => `${f.kind} ${f.runId} ${f.table}: ${f.message}`);
    db.close();
    expect(findings.sort()).toEqual([
      'counter t undefined: run "t": holds 13 events, its counter says 5',
      'orphan ghost expirations: expirations has 2 rows of unknown run "ghost"',
      'orphan phantom runtape_runs: runtape_runs has 1 row of unknown run "phantom"',
      'sequence t undefined: run "t": 1 duplicate sequence number(s)',
      'sequence t undefined: run "t": sequence numbers run from 1 to 99 over 12 events: there are gaps',
      'status t undefined: run "t": is completed but has no end time',
      'status u undefined: run "u": is running but has an end time',
    ]);
  });

  // A large file is checked by SQLite on a thread of its own (src/inspect/integrity.ts).
  test.each([
    ["small", 0],
    ["large", 40_000_000],
  ])(
    "reports what SQLite's integrity check finds in a %s file: an index page that lies",
    (_, pad) => {
      const path = join(tempDir(), "runs.db");
      const recorder = Recorder.start(path, { runId: "t" });
      recorder.record(filled("order-id-to-corrupt", "AAPL", "BUY", 1, 100, 0));
      recorder.close();
      const raw = new Database(path);
      raw.run("CREATE TABLE padding (bytes BLOB)");
      raw.run("INSERT INTO padding VALUES (zeroblob(?))", [pad]);
      const { rootpage } = raw
        .query("SELECT rootpage FROM sqlite_schema WHERE name = 'idx_fills_order_id'")
        .get() as { rootpage: number };
      const { page_size } = raw.query("PRAGMA page_size").get() as { page_size: number };
      raw.run("PRAGMA wal_checkpoint(TRUNCATE)"); // every page in the main file
      raw.close();
      // The index's only page holds the key text; change it so that the row is missing from it.
      const bytes = readFileSync(path);
      const page = bytes.subarray((rootpage - 1) * page_size, rootpage * page_size);
      const at = page.indexOf("order-id-to-corrupt");
      expect(at).toBeGreaterThan(0);
      page.write("order-id-corrupted!", at);
      writeFileSync(path, bytes);
      const db = openRunsDb(path);
      const queries: string[] = [];
      const findings = checkDatabase(watchingQueries(db, (sql) => queries.push(sql)));
      db.close();
      expect(queries.includes("PRAGMA integrity_check")).toBe(pad === 0);
      expect(findings.length).toBeGreaterThan(0);
      expect(findings.every((f) => f.kind === "integrity")).toBe(true);
      expect(findings.map((f) => f.message).join("\n")).toContain("idx_fills_order_id");
    },
  );
});

/** A run whose recorder flushed some events and then "died": its pid is that of a finished process. */
/** A run whose recorder "died" after `events` bars; returns when its last event was built. */
function crashedRun(path: string, runId: string, events: number): bigint {
  const crashed = Recorder.start(path, { runId });
  const bars = Array.from({ length: events }, (_, i) => bar(i));
  for (const b of bars) crashed.record(b);
  crashed.flush(); // never closed
  const child = Bun.spawnSync(["true"]);
  const raw = new Database(path);
  raw.run("UPDATE runtape_runs SET pid = ? WHERE run_id = ?", [child.pid, runId]);
  raw.close();
  return bars.at(-1)?.ts_created_ns ?? 0n;
}

const codeOf = (f: () => unknown) => {
  try {
    f();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return "no error";
};

describe("recover", () => {
  test("closes a run whose recorder died, at its last event's time, and only such a run", () => {
    const path = join(tempDir(), "runs.db");
    const lastBuilt = crashedRun(path, "crashed", 5);
    const live = Recorder.start(path, { runId: "live" });
    live.record(bar(0));
    live.flush();
    const raw = new Database(path);
    raw.run("UPDATE runtape_runs SET events = 0 WHERE run_id = 'crashed'"); // behind the rows
    raw.close();

    const db = openRunsDb(path, { mode: "write" });
    expect(listRunSummaries(db).map((r) => [r.runId, r.status, r.alive, r.stale])).toEqual([
      ["live", "running", true, false],
      ["crashed", "running", false, true],
    ]);
    expect(checkDatabase(db).map((f) => [f.kind, f.runId])).toEqual([
      ["status", "crashed"],
      ["counter", "crashed"],
    ]);
    expect(codeOf(() => recoverRuns(db, { runId: "live" }))).toBe("NOT_STALE");
    expect(recoverRuns(db)).toEqual([{ runId: "crashed", events: 5n, tsEnd: lastBuilt }]);
    expect(
      db.sqlite
        .query(
          "SELECT run_id, status, ts_end, events FROM runs NATURAL JOIN runtape_runs ORDER BY run_id",
        )
        .all(),
    ).toEqual([
      { run_id: "crashed", status: "failed", ts_end: lastBuilt, events: 5n },
      { run_id: "live", status: "running", ts_end: null, events: 1n },
    ]);
    expect(checkDatabase(db)).toEqual([]);
    expect(recoverRuns(db)).toEqual([]);
    db.close();
    live.close();
  });

  test("a named run must be stale; runs it cannot judge are left alone", () => {
    const path = join(tempDir(), "runs.db");
    tradedRun(path, "done");
    crashedRun(path, "elsewhere", 2);
    const lastBuilt = crashedRun(path, "crashed", 3);
    const raw = new Database(path);
    raw.run("UPDATE runtape_runs SET host = 'another-host' WHERE run_id = 'elsewhere'");
    raw.close();

    const reader = openRunsDb(path);
    expect(codeOf(() => recoverRuns(reader))).toBe("READ_ONLY");
    reader.close();
    const db = openRunsDb(path, { mode: "write" });
    expect(codeOf(() => recoverRuns(db, { runId: "done" }))).toBe("NOT_STALE");
    expect(() => recoverRuns(db, { runId: "elsewhere" })).toThrow("another-host");
    expect(codeOf(() => recoverRuns(db, { runId: "nope" }))).toBe("RUN_NOT_FOUND");
    expect(recoverRuns(db, { runId: "crashed" })).toEqual([
      { runId: "crashed", events: 3n, tsEnd: lastBuilt },
    ]);
    expect(recoverRuns(db)).toEqual([]);
    expect(listRunSummaries(db).find((r) => r.runId === "elsewhere")).toMatchObject({
      status: "running",
      alive: true,
      stale: false,
    });
    db.close();
  });
});

describe("a runs database as a path", () => {
  test('every function that reads one takes its path as an open RunsDb, and "latest" as a run id', () => {
    const path = recordDemoRuns(join(tempDir(), "runs.db"), ["older", "newer"]);
    const db = openRunsDb(path);
    try {
      expect(listRuns(path)).toEqual(listRuns(db));
      expect(listRunSummaries(path)).toEqual(listRunSummaries(db));
      expect(getRun(path, "older")).toEqual(getRun(db, "older"));
      expect(getRun(db, "latest")).toEqual(getRun(db, "newer"));
      expect(resolveRunId(path)).toBe("newer");
      expect(hasSequence(path, "older")).toBe(true);
      expect(inspectRun(path, "latest")).toEqual(inspectRun(db, "newer"));
      expect(countEvents(path, "latest")).toEqual(countEvents(db, "newer"));
      expect(checkDatabase(path)).toEqual([]);
      expect(checkDatabase(db, { runId: "latest" })).toEqual([]);
      expect(recoverRuns(path)).toEqual([]);
      expect(unjudgeableRuns(path)).toEqual([]);
    } finally {
      db.close();
    }
    // Opened for the call and closed: nothing of the file stays open.
    if (CAN_LIST_OPEN_FILES) expect(openFilesUnder(dirname(path))).toEqual([]);
  });

  test("a run that is not there is RunNotFoundError, whether counted or inspected", () => {
    const path = recordDemoRuns(join(tempDir(), "runs.db"), ["one"]);
    expect(() => countEvents(path, "nope")).toThrow(RunNotFoundError);
    expect(() => inspectRun(path, "nope")).toThrow(RunNotFoundError);
    expect(() => getRun(path, "nope")).toThrow(RunNotFoundError);
  });

  test("anything else is refused in one line, not a TypeError from inside", () => {
    const calls: [string, (x: never) => unknown][] = [
      ["inspectRun", (x) => inspectRun(x, "latest")],
      ["checkDatabase", (x) => checkDatabase(x)],
      ["countEvents", (x) => countEvents(x, "latest")],
      ["listRunSummaries", (x) => listRunSummaries(x)],
      ["recoverRuns", (x) => recoverRuns(x)],
      ["listRuns", (x) => listRuns(x)],
      ["getRun", (x) => getRun(x, "latest")],
    ];
    for (const [name, call] of calls) {
      for (const bad of [undefined, 5, {}]) {
        expect([name, codeOf(() => call(bad as never))]).toEqual([name, "INVALID_OPTION"]);
      }
    }
    expect(() =>
      checkDatabase(recordDemoRuns(join(tempDir(), "r.db"), ["a"]), { runId: 5 } as never),
    ).toThrow("check option runId: expected a run id");
  });

  test("recover by path writes only where a run is to close", () => {
    const path = join(tempDir(), "runs.db");
    const lastBuilt = crashedRun(path, "crashed", 2);
    expect(recoverRuns(path, { dryRun: true })).toEqual([
      { runId: "crashed", events: 2n, tsEnd: lastBuilt },
    ]);
    expect(getRun(path, "crashed").status).toBe("running");
    expect(recoverRuns(path)).toEqual([{ runId: "crashed", events: 2n, tsEnd: lastBuilt }]);
    expect(getRun(path, "crashed").status).toBe("failed");
  });
});
