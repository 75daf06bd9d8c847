// Replay of runs without sequence numbers never puts an event before its cause, though their
// tables, merged on ts_created_ns alone, would.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { causalViolations, kWayMerge } from "../scripts/measure-order.ts";
import {
  type Event,
  type EventInput,
  type EventType,
  makeEvent,
  Recorder,
  replay,
} from "../src/index.ts";
import { forgetSequence, T0, tempDir } from "./helpers.ts";

const at = (created: number) => ({ ts_event_ns: T0, ts_created_ns: T0 + BigInt(created) });
const ev = <K extends EventType>(
  type: K,
  created: number,
  input: Omit<EventInput<K>, "ts_event_ns">,
) => makeEvent(type, { ...at(created), ...input } as EventInput<K>);
const submit = (created: number, id: string) =>
  ev("OrderSubmissionRequest", created, {
    system_order_id: id,
    symbol: id === "C" ? "OTHER" : "S",
    order_type: "MARKET",
    side: "BUY",
    quantity: 1,
  });
const answer = <K extends EventType>(type: K, created: number, id: string) =>
  ev(type, created, { ts_broker_ns: T0, associated_order_id: id } as never);
/** A bar of minute `minute`, received or processed. */
const bar = (type: "BarReceived" | "BarProcessed", created: number, minute: bigint) => ({
  ...ev(type, created, {
    symbol: "S",
    bar_period: "MINUTE",
    open: 1,
    high: 1,
    low: 1,
    close: 1,
    volume: null,
  }),
  ts_event_ns: T0 + minute,
});

// Each table's rows in the order the recorder received them; their creation times say otherwise.
const named: Record<string, Event> = {
  Qb: submit(220, "B"),
  Qa: submit(100, "A"),
  AccC: answer("OrderAccepted", 50, "C"), // its request was never committed (a killed run)
  AccB: answer("OrderAccepted", 210, "B"),
  AccA: answer("OrderAccepted", 150, "A"),
  Fa: ev("FillEvent", 160, {
    ts_broker_ns: T0,
    associated_order_id: "A",
    symbol: "S",
    side: "BUY",
    quantity_filled: 1,
    fill_price: 1,
    commission: 0,
  }),
  M1: ev("OrderModificationRequest", 300, { system_order_id: "A", symbol: "S", quantity: 2 }),
  M2: ev("OrderModificationRequest", 500, { system_order_id: "A", symbol: "S", quantity: 3 }),
  MA1: answer("ModificationAccepted", 350, "A"),
  MA2: answer("ModificationAccepted", 400, "A"), // the second answer: after the second request
  Bar0: bar("BarReceived", 600, 0n),
  Bar1: bar("BarReceived", 120, 1n),
  P1: bar("BarProcessed", 130, 1n), // received after Bar1, created before Bar0
};
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

function pythonRun(): string {
  const path = join(tempDir(), "python.db");
  const recorder = Recorder.start(path, { runId: "run" });
  for (const e of Object.values(named)) recorder.record(e);
  recorder.close();
  forgetSequence(path, "run");
  return path;
}

describe("replay of a run without sequence numbers", () => {
  test("holds each event back until its cause: request, acceptance, the j-th request, the bar", () => {
    const replayed = [...replay(pythonRun())];
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
    const path = pythonRun();
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
});
