import { Database } from "bun:sqlite";
import { afterEach, describe, expect, jest, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import {
  DatabaseMissingError,
  EVENT_TYPES,
  type Event,
  EventBus,
  type EventInput,
  type EventType,
  IneffectiveOptionError,
  makeEvent,
  openRunsDb,
  Recorder,
  type ReplayOptions,
  type ReplayStats,
  RowDecodeError,
  RuntapeError,
  replay,
  replayOnto,
  runDemo,
} from "../src/index.ts";
import { bar, forgetSequence, sampleEvents, T0, tempDir } from "./helpers.ts";

/** A recorded demo run (every type, two symbols, order lifecycles) and what was published. */
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

/** Records `events` as run `runId` into `path` (created or appended to). */
function record(path: string, events: Iterable<Event>, runId?: string): void {
  const recorder = Recorder.start(path, { runId });
  for (const e of events) recorder.record(e);
  recorder.close();
}

/** Bars with fixed creation times, so that they compare equal after a replay. */
const bars: Event[] = [0, 1, 2, 3, 4].map((i) => ({ ...bar(i), ts_created_ns: T0 + BigInt(i) }));

const ev = <K extends EventType>(type: K, input: EventInput<K>) => makeEvent(type, input);

/** The error a replay ends with. */
function replayError(...args: Parameters<typeof replay>): unknown {
  try {
    for (const _ of replay(...args));
  } catch (error) {
    return error;
  }
  throw new Error("the replay ended without an error");
}

describe("replay", () => {
  const { path, events } = demoDb();

  test("gives back the published events, equal and in order, across many flushes", () => {
    expect([...replay(path)]).toEqual(events);
    expect(new Set(events.map((e) => e.type)).size).toBe(EVENT_TYPES.length);
  });

  test("replays edge values exactly: int64 bounds, NULLs, unicode, extreme floats, NaN, ±Infinity and -0 indicators", () => {
    const samples = join(tempDir(), "samples.db");
    record(samples, sampleEvents());
    expect([...replay(samples)]).toEqual(sampleEvents());
    const db = openRunsDb(samples);
    expect([...replay(db)]).toEqual(sampleEvents());
    db.close();
  });

  test("picks the latest run by default, or the run asked for", () => {
    const two = join(tempDir(), "two.db");
    record(two, bars.slice(0, 1), "first");
    record(two, bars.slice(1, 3), "second");
    expect([...replay(two)]).toEqual(bars.slice(1, 3));
    expect([...replay(two, { run: "latest" })]).toEqual(bars.slice(1, 3));
    expect([...replay(two, { run: "first" })]).toEqual(bars.slice(0, 1));
    expect(() => [...replay(two, { run: "no such run" })]).toThrow('no run with id "no such run"');
  });

  test("filters by type, excluded type, time window and count", () => {
    const fills = events.filter((e) => e.type === "FillEvent");
    expect([...replay(path, { types: ["FillEvent"] })]).toEqual(fills);
    const noBars = events.filter((e) => e.type !== "BarReceived" && e.type !== "BarProcessed");
    expect([...replay(path, { excludeTypes: ["BarReceived", "BarProcessed"] })]).toEqual(noBars);
    // A type both kept and left out is refused (IneffectiveOptionError), where it replayed none.
    expect(() => [...replay(path, { types: ["FillEvent"], excludeTypes: ["FillEvent"] })]).toThrow(
      IneffectiveOptionError,
    );
    const from = (events[100] as Event).ts_event_ns;
    const to = (events[600] as Event).ts_event_ns;
    const window = events.filter((e) => e.ts_event_ns >= from && e.ts_event_ns <= to);
    expect(window.length).toBeLessThan(events.length);
    expect([...replay(path, { from, to })]).toEqual(window);
    expect([...replay(path, { from: to, to: to })]).toEqual(
      events.filter((e) => e.ts_event_ns === to),
    );
    expect([...replay(path, { limit: 7 })]).toEqual(events.slice(0, 7));
    expect([...replay(path, { limit: 0 })]).toEqual([]);
    expect([...replay(path, { from, types: ["OrderAccepted", "FillEvent"], limit: 5 })]).toEqual(
      events
        .filter(
          (e) => e.ts_event_ns >= from && (e.type === "OrderAccepted" || e.type === "FillEvent"),
        )
        .slice(0, 5),
    );
  });

  test("a symbol filter keeps whole order lifecycles: responses follow the order they answer", () => {
    const orderSymbol = new Map<string, string>();
    for (const e of events)
      if ("system_order_id" in e) orderSymbol.set(e.system_order_id, e.symbol);
    const symbolOf = (e: Event) =>
      "symbol" in e ? e.symbol : orderSymbol.get(e.associated_order_id);
    for (const symbol of ["AAA", "BBB"]) {
      const expected = events.filter((e) => symbolOf(e) === symbol);
      expect([...replay(path, { symbols: [symbol] })]).toEqual(expected);
      // Every type of the run is in one of the two lifecycles at least.
      expect(expected.length).toBeLessThan(events.length);
    }
    const both = [...replay(path, { symbols: ["AAA", "BBB"] })];
    expect(both).toEqual(events);
    const answered = [...replay(path, { symbols: ["BBB"], types: ["CancellationAccepted"] })];
    expect(answered).toEqual(
      events.filter((e) => e.type === "CancellationAccepted" && symbolOf(e) === "BBB"),
    );
    expect([...replay(path, { symbols: ["ZZZ"] })]).toEqual([]);
  });

  test("a response belongs to its request in the same run, not to one of another run with the same order id", () => {
    const shared = join(tempDir(), "shared.db");
    const at = { ts_event_ns: T0, ts_created_ns: T0 };
    const request = (symbol: string) =>
      ev("OrderCancellationRequest", { ...at, system_order_id: "same-id", symbol });
    const accepted = ev("CancellationAccepted", {
      ...at,
      ts_broker_ns: T0,
      associated_order_id: "same-id",
      broker_order_id: null,
    });
    record(shared, [request("A"), accepted], "a");
    record(shared, [request("B"), accepted], "b");
    expect([...replay(shared, { run: "a", symbols: ["B"] })]).toEqual([]);
    expect([...replay(shared, { run: "b", symbols: ["B"] })]).toEqual([request("B"), accepted]);
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
    const dir = tempDir();
    const missing = join(dir, "missing.db");
    expect(() => [...replay(missing)]).toThrow(DatabaseMissingError);
    expect(existsSync(missing)).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  });

  test("stopping early, or an error, ends the read; a handle given stays open", () => {
    const file = join(tempDir(), "stop.db");
    record(file, bars.slice(0, 3));
    // A writer's TRUNCATE checkpoint is refused (busy) while a reader holds a snapshot that
    // includes part of the log: so the writer adds to the log before each replay starts.
    const writer = new Database(file);
    writer.run("PRAGMA busy_timeout = 0");
    writer.run("CREATE TABLE scratch (x)");
    const write = () => writer.run("INSERT INTO scratch VALUES (1)");
    const readerActive = () => {
      write();
      return (writer.query("PRAGMA wal_checkpoint(TRUNCATE)").get() as { busy: number }).busy !== 0;
    };

    write();
    const it = replay(file);
    it.next();
    expect(readerActive()).toBe(true);
    it.return(undefined);
    expect(readerActive()).toBe(false);

    const db = openRunsDb(file);
    write();
    for (const _ of replay(db)) {
      expect(readerActive()).toBe(true);
      break;
    }
    expect(readerActive()).toBe(false);
    expect([...replay(db)]).toEqual(bars.slice(0, 3));
    db.close();

    writer.run("UPDATE bars SET symbol = x'ff' WHERE id = 2");
    expect(replayError(file)).toBeInstanceOf(RowDecodeError);
    expect(readerActive()).toBe(false);
    writer.close();
  });

  test("a row that does not decode is an error naming table, row, column and value, or is skipped", () => {
    const broken = join(tempDir(), "broken.db");
    record(broken, bars);
    const raw = new Database(broken);
    raw.run("UPDATE bars SET bar_period = 'FORTNIGHT' WHERE id = 3");
    raw.close();
    const error = replayError(broken);
    expect(error).toBeInstanceOf(RowDecodeError);
    expect(error).toMatchObject({ table: "bars", rowId: 3n, column: "bar_period" });
    expect((error as RowDecodeError).message).toBe(
      'bars row 3, bar_period: expected one of SECOND, MINUTE, HOUR, DAY (got "FORTNIGHT")',
    );
    const stats: ReplayStats = { runId: "", events: 0, skipped: 0 };
    const kept = [...replay(broken, { onInvalidRow: "skip", stats })];
    expect(kept).toEqual(bars.filter((_, i) => i !== 2));
    expect(stats).toEqual({ runId: expect.any(String), events: 4, skipped: 1 });
  });

  test("every kind of bad value is caught: storage class, range, vocabulary, indicators text", () => {
    const cases: [string, string, string, string][] = [
      ["bars", "open", "'cheap'", 'bars row 1, open: expected a finite number (got "cheap")'],
      ["bars", "ts_event_ns", "1.5", "bars row 1, ts_event_ns: expected a bigint (got 1.5)"],
      ["bars", "volume", "1.5", "bars row 1, volume: expected a bigint (got 1.5)"],
      ["bars", "symbol", "x'ff'", 'bars row 1, symbol: expected a string (got {"0":255})'],
      [
        "bars_processed",
        "indicators",
        "'{\"a\": '",
        'bars_processed row 1, indicators: expected an object of numbers (got "{\\"a\\": ")',
      ],
      ["fills", "side", "'buy'", 'fills row 1, side: expected one of BUY, SELL (got "buy")'],
    ];
    for (const [table, column, value, message] of cases) {
      const broken = join(tempDir(), "broken.db");
      record(broken, sampleEvents());
      const raw = new Database(broken);
      raw.run(`UPDATE ${table} SET ${column} = ${value} WHERE id = 1`);
      raw.close();
      const error = replayError(broken);
      expect(error).toBeInstanceOf(RowDecodeError);
      expect([table, column, (error as Error).message]).toEqual([
        table,
        column,
        expect.stringContaining(message),
      ]);
    }
  });

  test("a runtape row without a sequence number cannot be placed: an error, or skipped", () => {
    const file = join(tempDir(), "noseq.db");
    record(file, bars.slice(0, 3));
    const raw = new Database(file);
    raw.run("UPDATE bars SET seq = NULL WHERE id = 2");
    raw.close();
    expect((replayError(file) as Error).message).toBe(
      "bars row 2, seq: cannot place the row in the run's order (got null)",
    );
    const stats: ReplayStats = { runId: "", events: 0, skipped: 0 };
    expect([...replay(file, { onInvalidRow: "skip", stats })]).toEqual(
      bars.filter((_, i) => i !== 1).slice(0, 2),
    );
    expect(stats.skipped).toBe(1);
  });

  test("damaged sequence numbers: text and fractions cannot be placed; integral floats and the whole 64-bit range are placed by their exact value", () => {
    const damaged = (updates: Record<number, string>) => {
      const file = join(tempDir(), "seq.db");
      record(file, bars.slice(0, 4));
      const raw = new Database(file);
      for (const [id, seq] of Object.entries(updates)) {
        raw.run(`UPDATE bars SET seq = ${seq} WHERE id = ${id}`);
      }
      raw.close();
      return file;
    };
    const order = (file: string) =>
      [...replay(file)].map((e) => bars.findIndex((b) => b.ts_event_ns === e.ts_event_ns) + 1);
    for (const bad of ["'x'", "2.5", "X'00'"]) {
      expect((replayError(damaged({ 2: bad })) as Error).message).toStartWith(
        "bars row 2, seq: cannot place the row in the run's order",
      );
    }
    expect(order(damaged({ 1: "9.0" }))).toEqual([2, 3, 4, 1]);
    expect(order(damaged({ 1: `${2n ** 60n}`, 4: `${-(2n ** 63n)}` }))).toEqual([4, 2, 3, 1]);
    // Either side of 2^53, where a float stops holding every integer.
    const edge = { 1: "9007199254740993", 2: "9007199254740992", 3: "9007199254740991" };
    expect(order(damaged(edge))).toEqual([4, 3, 2, 1]);
  });

  test("Python-written rows: tables in id order, merged on ts_created_ns, then ts_event_ns, then bar → processed bar → request → response", () => {
    const file = join(tempDir(), "python.db");
    const t = (event: bigint, created: bigint) => ({
      ts_event_ns: T0 + event,
      ts_created_ns: T0 + created,
    });
    const px = { open: 1, high: 1, low: 1, close: 1, volume: null } as const;
    const barAt = (event: bigint, created: bigint, symbol: string) =>
      ev("BarReceived", { ...t(event, created), symbol, bar_period: "SECOND", ...px });
    const published: Event[] = [
      barAt(0n, 10n, "A"),
      // One clock tick for a bar, its processed bar, an order and the answer: catalog order.
      barAt(0n, 20n, "B"),
      ev("BarProcessed", { ...t(0n, 20n), symbol: "B", bar_period: "SECOND", ...px }),
      ev("OrderSubmissionRequest", {
        ...t(0n, 20n),
        system_order_id: "o",
        symbol: "B",
        order_type: "MARKET",
        side: "BUY",
        quantity: 1,
      }),
      // A late answer sharing a tick with the next bar: the earlier fact first.
      ev("OrderAccepted", {
        ...t(0n, 30n),
        ts_broker_ns: T0,
        associated_order_id: "o",
        broker_order_id: null,
      }),
      barAt(1n, 30n, "A"),
      // A clock that stepped back: within its table a row keeps its place.
      barAt(1n, 25n, "B"),
      ev("FillEvent", {
        ...t(0n, 40n),
        ts_broker_ns: T0,
        associated_order_id: "o",
        broker_order_id: null,
        symbol: "B",
        fill_id: "f",
        broker_fill_id: null,
        side: "BUY",
        quantity_filled: 1,
        fill_price: 1,
        commission: 0,
      }),
    ];
    // Recorded in publication order: row ids in that order within each table, as in Python's files.
    record(file, published, "run");
    forgetSequence(file, "run");
    expect([...replay(file)]).toEqual(published);
  });

  test("publishes onto a bus in order, and a recorder on that bus makes an identical copy", async () => {
    const copy = join(tempDir(), "copy.db");
    const bus = new EventBus();
    const seen: Event[] = [];
    bus.subscribe(EVENT_TYPES, (e) => seen.push(e));
    const recorder = Recorder.start(copy, { runId: "copy" });
    recorder.attach(bus);
    const summary = await replayOnto(bus, path);
    recorder.close();
    expect(summary).toEqual({ runId: "demo", events: events.length, skipped: 0 });
    expect(seen).toEqual(events);
    expect([...replay(copy)]).toEqual(events);
  });

  test("events published by handlers during a replay run after the replayed event, in FIFO order", async () => {
    const bus = new EventBus();
    const log: string[] = [];
    bus.subscribe(["BarReceived"], (e) => {
      log.push(`bar ${e.ts_event_ns - T0}`);
      bus.publish(ev("OrderCancellationRequest", { ...e, system_order_id: "x", symbol: "A" }));
    });
    bus.subscribe(["OrderCancellationRequest"], (e) => log.push(`cancel ${e.ts_event_ns - T0}`));
    const file = join(tempDir(), "fifo.db");
    record(file, bars.slice(0, 2));
    await replayOnto(bus, file);
    expect(log).toEqual(["bar 0", "cancel 0", "bar 60000000000", "cancel 60000000000"]);
  });
});

describe("pacing (in virtual time)", () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  /** A run whose events are `offsetsMs` after T0, in that order (offsets may go back). */
  function pacedDb(offsetsMs: number[]): { path: string; published: Event[] } {
    const path = join(tempDir(), "paced.db");
    const published = offsetsMs.map((ms, i) =>
      ev("OrderCancellationRequest", {
        ts_event_ns: T0 + BigInt(ms) * 1_000_000n,
        system_order_id: `o${i}`,
        symbol: "A",
      }),
    );
    record(path, published);
    return { path, published };
  }

  /** Runs `promise` to its end, moving the fake clock from timer to timer. */
  async function drive<T>(promise: Promise<T>): Promise<T> {
    let settled = false;
    promise.then(
      () => (settled = true),
      () => (settled = true),
    );
    while (!settled) {
      await new Promise((resolve) => setImmediate(resolve));
      jest.advanceTimersToNextTimer();
    }
    return promise;
  }

  test("events come at the pace of ts_event_ns divided by the speed, never reordered", async () => {
    const { path, published } = pacedDb([0, 1000, 3000, 2000, 3500, 3500]);
    jest.useFakeTimers();
    const start = performance.now();
    const bus = new EventBus();
    const seen: Event[] = [];
    const at: number[] = [];
    bus.subscribe(EVENT_TYPES, (e) => {
      seen.push(e);
      at.push(performance.now() - start);
    });
    await drive(replayOnto(bus, path, { speed: 10 }));
    expect(seen).toEqual(published);
    // The event that goes back in time comes at once, after the one before it.
    expect(at).toEqual([0, 100, 300, 300, 350, 350]);
  });

  test("a slow subscriber does not stretch the run: due times are absolute", async () => {
    const { path } = pacedDb([0, 1000, 2000, 3000]);
    jest.useFakeTimers();
    const start = performance.now();
    const bus = new EventBus();
    const at: number[] = [];
    bus.subscribe(EVENT_TYPES, () => {
      at.push(performance.now() - start);
      if (at.length === 2) jest.advanceTimersByTime(250); // the handler takes 250 ms
    });
    await drive(replayOnto(bus, path, { speed: 4 }));
    expect(at).toEqual([0, 250, 500, 750]);
  });

  test("without a speed, or at 0 or Infinity, nothing waits", async () => {
    const { path, published } = pacedDb([0, 60_000, 120_000]);
    jest.useFakeTimers();
    for (const speed of [undefined, 0, Number.POSITIVE_INFINITY]) {
      const bus = new EventBus();
      const seen: Event[] = [];
      bus.subscribe(EVENT_TYPES, (e) => seen.push(e));
      await replayOnto(bus, path, { speed });
      expect(seen).toEqual(published);
    }
  });

  test("a negative or NaN speed is refused", async () => {
    const { path } = pacedDb([0]);
    for (const speed of [-1, Number.NaN]) {
      await expect(replayOnto(new EventBus(), path, { speed })).rejects.toThrow(RuntapeError);
    }
  });

  test("an abort ends the replay, between events or during a wait", async () => {
    const { path, published } = pacedDb([0, 1000, 2000, 3000]);
    jest.useFakeTimers();
    const between = new AbortController();
    const bus = new EventBus();
    const seen: Event[] = [];
    bus.subscribe(EVENT_TYPES, (e) => {
      seen.push(e);
      if (seen.length === 2) between.abort(new Error("stop"));
    });
    await expect(
      drive(replayOnto(bus, path, { speed: 1, signal: between.signal })),
    ).rejects.toThrow("stop");
    expect(seen).toEqual(published.slice(0, 2));

    // The first event, then a one-second wait that only the abort ends: no timer is moved.
    const during = new AbortController();
    const quiet = new EventBus();
    let count = 0;
    quiet.subscribe(EVENT_TYPES, () => count++);
    const replaying = replayOnto(quiet, path, { speed: 1, signal: during.signal });
    await new Promise((resolve) => setImmediate(resolve));
    expect(count).toBe(1);
    during.abort(new Error("cancelled"));
    await expect(replaying).rejects.toThrow("cancelled");
    expect(count).toBe(1);
  });
});

describe("replay options", () => {
  test("a wrong option is INVALID_OPTION naming it, never a different replay", () => {
    const path = join(tempDir(), "runs.db");
    const recorder = Recorder.start(path, { runId: "r" });
    for (const event of sampleEvents()) recorder.record(event);
    recorder.close();
    for (const [options, message] of [
      [{ limit: -1 }, "replay option limit: expected ≥ 0"],
      [{ limit: 1.5 }, "replay option limit: expected a whole number"],
      [{ limit: Number.NaN }, "replay option limit: expected a whole number"],
      [{ types: ["Foo"] }, 'replay option types: unknown event type "Foo"'],
      [{ types: [] }, "replay option types: expected an event type"],
      [{ types: "BarReceived" }, "replay option types: "],
      [{ excludeTypes: ["Foo"] }, 'replay option excludeTypes: unknown event type "Foo"'],
      [{ symbols: "AAPL" }, "replay option symbols: "],
      [{ from: "2024-03-04" }, "replay option from: expected a bigint (nanoseconds)"],
      [{ to: 5 }, "replay option to: expected a bigint (nanoseconds)"],
      [
        { onInvalidRow: "ignore" },
        'replay option onInvalidRow: expected "throw", "skip" or a function',
      ],
      [{ run: 5 }, "replay option run: expected a run id"],
      [{ type: ["FillEvent"] }, "replay option type: no such option (did you mean types?)"],
      [{ symbol: ["AAPL"] }, "replay option symbol: no such option (did you mean symbols?)"],
      [null, "replay options: "],
    ] as const) {
      let error: unknown;
      try {
        [...replay(path, options as unknown as ReplayOptions)];
      } catch (e) {
        error = e;
      }
      expect([options, (error as RuntapeError)?.code, (error as Error)?.message]).toEqual([
        options,
        "INVALID_OPTION",
        expect.stringContaining(message),
      ]);
    }
    // The same options, well formed, replay as asked.
    expect([...replay(path, { limit: 2, types: ["BarReceived", "FillEvent"] })]).toHaveLength(2);
  });

  test("types and excludeTypes that both name a type: IneffectiveOptionError, where it replayed none unsaid", () => {
    const path = join(tempDir(), "runs.db");
    const recorder = Recorder.start(path, { runId: "r" });
    for (const event of sampleEvents()) recorder.record(event);
    recorder.close();
    const options = { types: ["BarReceived", "FillEvent"], excludeTypes: ["FillEvent"] } as const;
    const replaying = () => [...replay(path, options)];
    expect(replaying).toThrow(IneffectiveOptionError);
    expect(replaying).toThrow(
      "replay options types and excludeTypes both name FillEvent: it would replay none",
    );
  });
});
