import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import {
  DatabaseMissingError,
  EVENT_TYPES,
  type Event,
  EventBus,
  makeEvent,
  Recorder,
  type ReplayStats,
  RowDecodeError,
  replay,
  replayOnto,
  runDemo,
} from "../src/index.ts";
import { bar, sampleEvents, T0, tempDir } from "./helpers.ts";

/** A recorded demo run: every type, several symbols, order lifecycles. */
function demoDb(): { path: string; events: Event[] } {
  const path = join(tempDir(), "runs.db");
  const bus = new EventBus();
  const events: Event[] = [];
  bus.subscribe(EVENT_TYPES, (e) => events.push(e));
  const recorder = Recorder.start(path, { runId: "demo", batchSize: 100 });
  recorder.attach(bus);
  runDemo(bus, { bars: 200, symbols: ["AAA", "BBB"] });
  recorder.close();
  return { path, events };
}

describe("replay", () => {
  const { path, events } = demoDb();

  test("gives back the published events, equal and in order, across many flushes", () => {
    expect([...replay(path)]).toEqual(events);
    expect(new Set(events.map((e) => e.type)).size).toBe(13);
  });

  test("filters by type, excluded type, time window and count", () => {
    const fills = events.filter((e) => e.type === "FillEvent");
    expect([...replay(path, { types: ["FillEvent"] })]).toEqual(fills);
    expect([...replay(path, { excludeTypes: ["BarReceived", "BarProcessed"] })]).toEqual(
      events.filter((e) => e.type !== "BarReceived" && e.type !== "BarProcessed"),
    );
    const from = (events[100] as Event).ts_event_ns;
    const to = (events[600] as Event).ts_event_ns;
    expect([...replay(path, { from, to })]).toEqual(
      events.filter((e) => e.ts_event_ns >= from && e.ts_event_ns <= to),
    );
    expect([...replay(path, { limit: 7 })]).toEqual(events.slice(0, 7));
    expect([...replay(path, { limit: 0 })]).toEqual([]);
  });

  test("a symbol filter keeps whole order lifecycles, responses included", () => {
    const orderSymbol = new Map<string, string>();
    for (const e of events)
      if ("system_order_id" in e) orderSymbol.set(e.system_order_id, e.symbol);
    const symbolOf = (e: Event) =>
      "symbol" in e ? e.symbol : orderSymbol.get(e.associated_order_id);
    const expected = events.filter((e) => symbolOf(e) === "BBB");
    const actual = [...replay(path, { symbols: ["BBB"] })];
    expect(actual).toEqual(expected);
    expect(actual.some((e) => e.type === "OrderAccepted")).toBe(true);
  });

  test("reports the run and counts through stats", () => {
    const stats: ReplayStats = { runId: "", events: 0, skipped: 0 };
    for (const _ of replay(path, { stats, types: ["OrderExpired"] }));
    expect(stats).toEqual({
      runId: "demo",
      events: events.filter((e) => e.type === "OrderExpired").length,
      skipped: 0,
    });
  });

  test("never writes: bytes and modification time stay as they were, even when stopped early", () => {
    const before = readFileSync(path);
    const mtime = statSync(path).mtimeMs;
    for (const _ of replay(path)) break;
    const it = replay(path);
    it.next();
    it.return(undefined);
    expect([...replay(path, { limit: 3 })]).toHaveLength(3);
    expect(readFileSync(path).equals(before)).toBe(true);
    expect(statSync(path).mtimeMs).toBe(mtime);
  });

  test("a missing database is an error and is not created", () => {
    const missing = join(tempDir(), "missing.db");
    expect(() => [...replay(missing)]).toThrow(DatabaseMissingError);
    expect(existsSync(missing)).toBe(false);
  });

  test("an unknown run id is an error naming it", () => {
    expect(() => [...replay(path, { run: "no such run" })]).toThrow('no run with id "no such run"');
  });

  test("a row that does not decode is an error naming table, row, column and value, or is skipped", () => {
    const broken = join(tempDir(), "broken.db");
    const recorder = Recorder.start(broken, { runId: "r" });
    for (let i = 0; i < 5; i++) recorder.record(bar(i));
    recorder.close();
    const raw = new Database(broken);
    raw.run("UPDATE bars SET bar_period = 'FORTNIGHT' WHERE id = 3");
    raw.close();
    let error: unknown;
    try {
      for (const _ of replay(broken));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(RowDecodeError);
    expect((error as RowDecodeError).message).toBe(
      'bars row 3, bar_period: expected one of SECOND, MINUTE, HOUR, DAY (got "FORTNIGHT")',
    );
    const stats: ReplayStats = { runId: "", events: 0, skipped: 0 };
    expect([...replay(broken, { onInvalidRow: "skip", stats })]).toHaveLength(4);
    expect(stats.skipped).toBe(1);
  });

  test("publishes onto a bus in order, and a recorder on that bus makes an identical copy", async () => {
    const copy = join(tempDir(), "copy.db");
    const bus = new EventBus();
    const seen: Event[] = [];
    bus.subscribe(EVENT_TYPES, (e) => seen.push(e));
    const recorder = Recorder.start(copy, { runId: "copy" });
    recorder.attach(bus);
    const stats = await replayOnto(bus, path);
    recorder.close();
    expect(stats.events).toBe(events.length);
    expect(seen).toEqual(events);
    expect([...replay(copy)]).toEqual(events);
  });

  test("paces by ts_event_ns without reordering, and stops when aborted", async () => {
    const paced = join(tempDir(), "paced.db");
    const recorder = Recorder.start(paced, { runId: "p" });
    const gaps = [0n, 1_000_000n, 1_000_000n, 5_000_000n];
    let t = T0;
    const published = gaps.map((gap, i) => {
      t += gap;
      return makeEvent("OrderCancellationRequest", {
        ts_event_ns: t,
        system_order_id: `o${i}`,
        symbol: "A",
      });
    });
    for (const e of published) recorder.record(e);
    recorder.close();
    const bus = new EventBus();
    const seen: Event[] = [];
    bus.subscribe(EVENT_TYPES, (e) => seen.push(e));
    await replayOnto(bus, paced, { speed: 10 });
    expect(seen).toEqual(published);

    const abort = new AbortController();
    const slow = new EventBus();
    const got: Event[] = [];
    slow.subscribe(EVENT_TYPES, (e) => {
      got.push(e);
      if (got.length === 2) abort.abort(new Error("stop"));
    });
    await expect(replayOnto(slow, paced, { speed: 0.02, signal: abort.signal })).rejects.toThrow(
      "stop",
    );
    expect(got).toEqual(published.slice(0, 2));
  });

  test("replays every sample event exactly, from a handle as from a path", () => {
    const samples = join(tempDir(), "samples.db");
    const recorder = Recorder.start(samples);
    for (const e of sampleEvents()) recorder.record(e);
    recorder.close();
    expect([...replay(samples)]).toEqual(sampleEvents());
  });
});
