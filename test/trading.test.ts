// Trading per symbol from the events (report, backtest --compare) and from SQL (inspect): one set
// of figures, whichever reads it.
import { expect, test } from "bun:test";
import { join } from "node:path";
import {
  type EventInput,
  type EventType,
  inspectRun,
  listRuns,
  makeEvent,
  openRunsDb,
  Recorder,
  replay,
  tradingFrom,
} from "../src/index.ts";
import { tradingOf } from "../src/inspect/trading.ts";
import { fixtureCopy, fixtureTest, recordDemoRuns, T0, tempDir } from "./helpers.ts";

/**
 * Every run of the file: the figures from its events equal inspect's, which the recorder stored as
 * it closed the run (or which inspect computed), and those computed from SQL. Returns the runs
 * compared.
 */
function expectSameFigures(path: string): number {
  const db = openRunsDb(path);
  try {
    const runs = listRuns(db);
    for (const { run_id } of runs) {
      const fromEvents = tradingFrom(replay(db, { run: run_id }));
      expect(inspectRun(db, run_id).trading).toEqual(fromEvents);
      expect(tradingOf(db, run_id)).toEqual(fromEvents);
    }
    return runs.length;
  } finally {
    db.close();
  }
}

const ev = <K extends EventType>(
  type: K,
  input: Omit<EventInput<K>, "ts_event_ns" | "ts_created_ns">,
) => makeEvent(type, { ts_event_ns: T0, ts_created_ns: T0, ...input } as EventInput<K>);
const submit = (id: string, symbol: string) =>
  ev("OrderSubmissionRequest", {
    system_order_id: id,
    symbol,
    order_type: "MARKET",
    side: "BUY",
    quantity: 1,
  });
const rejected = <K extends EventType>(type: K, id: string) =>
  ev(type, {
    ts_broker_ns: T0,
    associated_order_id: id,
    rejection_reason: "UNKNOWN",
    rejection_message: "no",
  } as never);
const fill = (side: "BUY" | "SELL", quantity_filled: number, fill_price: number) =>
  ev("FillEvent", {
    ts_broker_ns: T0,
    associated_order_id: "A",
    broker_order_id: "b",
    symbol: "S",
    fill_id: "f",
    broker_fill_id: "bf",
    side,
    quantity_filled,
    fill_price,
    commission: 1,
    exchange: "X",
  } as never);

test("rejections go to the first request of their order, even one that comes later; fills by average cost", () => {
  const path = join(tempDir(), "runs.db");
  const recorder = Recorder.start(path, { runId: "edge" });
  for (const event of [
    rejected("OrderRejected", "A"), // before its request
    submit("A", "S"),
    submit("A", "T"), // the same order id again: the first request keeps the rejections
    rejected("OrderRejected", "A"),
    rejected("OrderRejected", "Z"), // no request: counted nowhere
    ev("OrderCancellationRequest", { system_order_id: "A", symbol: "S" }),
    rejected("CancellationRejected", "A"),
    fill("BUY", 10, 100),
    fill("SELL", 4, 110),
  ]) {
    recorder.record(event);
  }
  recorder.close();
  expect(expectSameFigures(path)).toBe(1);
  const [s, t] = tradingFrom(replay(path));
  expect(s).toMatchObject({
    symbol: "S",
    orders: 1,
    rejections: 2,
    cancellations: 1,
    cancellationRejections: 1,
    fills: 2,
    realizedPnl: 40,
    commission: 2,
    position: 6,
  });
  expect(t).toMatchObject({ symbol: "T", orders: 1, rejections: 0, fills: 0 });
});

test("demo runs: the same figures from the events as from inspect", () => {
  const path = recordDemoRuns(join(tempDir(), "runs.db"), ["a", "b", "c"], { bars: 120 });
  expect(expectSameFigures(path)).toBe(3);
});

for (const fixture of ["reference", "threaded"] as const) {
  fixtureTest(
    `Python-written runs: the same figures from the events as from inspect (${fixture})`,
    () => {
      expect(expectSameFigures(fixtureCopy(fixture))).toBeGreaterThan(0);
    },
    fixture,
  );
}
