/**
 * The demo backtest: deterministic, complete (all 13 event types), valid for the recorder, and a
 * simulated broker that keeps its rules. The broker is exercised through the public API: the test
 * publishes its own requests on the demo's bus, as a second strategy would.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import {
  type BarReceived,
  brokerParameters,
  DEFAULT_BROKER,
  type DemoOptions,
  demoConfig,
  EVENT_TYPES,
  type Event,
  EventBus,
  type EventInput,
  type EventOf,
  type EventType,
  findInvalidField,
  makeEvent,
  Recorder,
  runDemo,
} from "../src/index.ts";
import { tempDir } from "./helpers.ts";

const MINUTE = 60_000_000_000n;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const broker = demoConfig().broker as {
  commissionPerUnit: number;
  minimumCommission: number;
  participation: number;
  expiryBars: number;
};

/** Every event a demo run publishes, in order. */
function demoEvents(options: DemoOptions = {}): Event[] {
  const bus = new EventBus();
  const events: Event[] = [];
  bus.subscribe(EVENT_TYPES, (event) => events.push(event));
  runDemo(bus, options);
  return events;
}

const withoutWallClock = <E extends Event>(events: E[]) =>
  events.map(({ ts_created_ns: _, ...rest }) => rest);

const ofType = <K extends EventType>(events: Event[], type: K) =>
  events.filter((e): e is EventOf<K> => e.type === type);

/** Every order id's events among `events` (requests by system_order_id, answers by associated_order_id). */
function byOrder(events: Event[]): Map<string, Event[]> {
  const orders = new Map<string, Event[]>();
  for (const event of events) {
    const id =
      "associated_order_id" in event
        ? event.associated_order_id
        : "system_order_id" in event
          ? event.system_order_id
          : undefined;
    if (id !== undefined) orders.set(id, [...(orders.get(id) ?? []), event]);
  }
  return orders;
}

const commissionRule = (filled: number) =>
  Math.max(filled * broker.commissionPerUnit, broker.minimumCommission);

describe("demo backtest", () => {
  const defaults = demoEvents();

  test("a default run publishes every one of the 13 event types", () => {
    expect(new Set(defaults.map((e) => e.type))).toEqual(new Set(EVENT_TYPES));
  });

  test("returns what it published: bars of every symbol, events", () => {
    const bus = new EventBus();
    let published = 0;
    bus.subscribe(EVENT_TYPES, () => published++);
    const result = runDemo(bus, { bars: 50, symbols: ["A", "B"] });
    expect(result).toEqual({ bars: 100, events: published });
    expect(demoEvents({ bars: 50, symbols: ["A", "B"] })).toHaveLength(published);
  });

  test("the same seed gives the same events, but for the wall clock", () => {
    expect(withoutWallClock(demoEvents())).toEqual(withoutWallClock(defaults));
    const seeded = { seed: 42, bars: 200 };
    expect(withoutWallClock(demoEvents(seeded))).toEqual(withoutWallClock(demoEvents(seeded)));
  });

  test("another seed gives another run", () => {
    const other = demoEvents({ seed: 2 });
    expect(withoutWallClock(other)).not.toEqual(withoutWallClock(defaults));
    expect(ofType(other, "BarReceived")[0]?.open).not.toBe(
      ofType(defaults, "BarReceived")[0]?.open,
    );
  });

  test("a changed strategy parameter changes the orders, not the market", () => {
    const changed = demoEvents({ strategy: { fastPeriod: 6 } });
    expect(withoutWallClock(changed)).not.toEqual(withoutWallClock(defaults));
    const bars = (events: Event[]) => withoutWallClock(ofType(events, "BarReceived"));
    expect(bars(changed)).toEqual(bars(defaults));
    const orders = (events: Event[]) => withoutWallClock(ofType(events, "OrderSubmissionRequest"));
    expect(orders(changed)).not.toEqual(orders(defaults));
  });

  test("bars are consistent OHLC with integer volume, one per symbol per period", () => {
    const start = 1_700_000_000_000_000_000n;
    const hour = 3_600_000_000_000n;
    const events = demoEvents({ seed: 3, bars: 300, barPeriod: "HOUR", start });
    const bars = ofType(events, "BarReceived");
    expect(bars).toHaveLength(900);
    for (const symbol of ["AAPL", "MSFT", "NVDA"]) {
      const series = bars.filter((b) => b.symbol === symbol);
      expect(series.map((b) => b.ts_event_ns)).toEqual(
        series.map((_, i) => start + BigInt(i) * hour),
      );
    }
    for (const b of bars) {
      expect(b.bar_period).toBe("HOUR");
      expect(b.low).toBeGreaterThan(0);
      expect(b.low).toBeLessThanOrEqual(Math.min(b.open, b.close));
      expect(b.high).toBeGreaterThanOrEqual(Math.max(b.open, b.close));
      expect(typeof b.volume).toBe("bigint");
      expect(b.volume).toBeGreaterThan(0n);
    }
  });

  test("each bar is processed with its indicators: NaN while warming up, then the SMAs of the closes", () => {
    const { fastPeriod, slowPeriod, rsiPeriod } = demoConfig().strategy as Record<string, number>;
    const bars = ofType(defaults, "BarReceived").filter((b) => b.symbol === "MSFT");
    const processed = ofType(defaults, "BarProcessed").filter((b) => b.symbol === "MSFT");
    expect(withoutWallClock(processed).map(({ type: _, indicators: __, ...bar }) => bar)).toEqual(
      withoutWallClock(bars).map(({ type: _, ...bar }) => bar),
    );
    const fast = `SMA_${fastPeriod}_CLOSE`;
    const slow = `SMA_${slowPeriod}_CLOSE`;
    processed.forEach((bar, i) => {
      const closes = bars.slice(0, i + 1).map((b) => b.close);
      const mean = (n: number) => closes.slice(-n).reduce((a, b) => a + b, 0) / n;
      for (const [name, period] of [
        [fast, fastPeriod],
        [slow, slowPeriod],
      ] as const) {
        if (i + 1 < (period as number)) expect(bar.indicators[name]).toBeNaN();
        else expect(bar.indicators[name]).toBeCloseTo(mean(period as number), 9);
      }
      const rsi = Object.entries(bar.indicators).find(([name]) => name.startsWith("RSI"))?.[1];
      if (i < (rsiPeriod as number)) expect(rsi).toBeNaN();
      else {
        expect(rsi).toBeGreaterThanOrEqual(0);
        expect(rsi).toBeLessThanOrEqual(100);
      }
    });
  });

  test("order and fill ids are seeded lower-case UUIDs; answers carry the bar time", () => {
    const barTimes = new Set(ofType(defaults, "BarReceived").map((b) => b.ts_event_ns));
    for (const event of defaults) {
      for (const key of ["system_order_id", "fill_id", "broker_order_id", "broker_fill_id"]) {
        if (key in event) expect((event as Record<string, unknown>)[key]).toMatch(UUID);
      }
      expect(barTimes.has(event.ts_event_ns)).toBe(true);
      if ("ts_broker_ns" in event) expect(event.ts_broker_ns).toBe(event.ts_event_ns);
    }
    const orderIds = ofType(defaults, "OrderSubmissionRequest").map((o) => o.system_order_id);
    expect(new Set(orderIds).size).toBe(orderIds.length);
  });

  test("every order's fills keep the broker's rules: within quantity, commission per unit with a minimum", () => {
    let partlyFilled = 0;
    for (const events of byOrder(defaults).values()) {
      const submission = ofType(events, "OrderSubmissionRequest")[0];
      const fills = ofType(events, "FillEvent");
      if (submission === undefined || fills.length === 0) continue;
      const modified = ofType(events, "OrderModificationRequest").findLast(
        (m) => m.quantity !== null,
      );
      const quantity = modified?.quantity ?? submission.quantity;
      const filled = fills.reduce((sum, f) => sum + f.quantity_filled, 0);
      expect(filled).toBeLessThanOrEqual(quantity);
      expect(fills[0]?.ts_event_ns).toBeGreaterThan(submission.ts_event_ns);
      expect(fills.every((f) => f.side === submission.side && f.symbol === submission.symbol)).toBe(
        true,
      );
      const commission = fills.reduce((sum, f) => sum + f.commission, 0);
      expect(commission).toBeCloseTo(commissionRule(filled), 5);
      if (fills.length > 1) partlyFilled++;
    }
    expect(partlyFilled).toBeGreaterThan(0);
  });

  test("demoConfig describes the run: mode, data, strategy and broker parameters", () => {
    const config = demoConfig({ seed: 9, symbols: ["X"], bars: 10, strategy: { quantity: 7 } });
    expect(config).toMatchObject({
      mode: "backtest",
      seed: 9,
      symbols: ["X"],
      bars: 10,
      bar_period: "MINUTE",
      strategy: { ...(demoConfig().strategy as object), quantity: 7 },
      broker: { expiryBars: broker.expiryBars, minimumCommission: broker.minimumCommission },
    });
    expect(JSON.parse(JSON.stringify(config))).toEqual(config);
  });

  test("a run leaves the bus as it found it: a second run on it is a run of its own", () => {
    const bus = new EventBus();
    const before = EVENT_TYPES.map((type) => bus.subscriberCount(type));
    runDemo(bus, { bars: 100 });
    expect(EVENT_TYPES.map((type) => bus.subscriberCount(type))).toEqual(before);
    const events: Event[] = [];
    bus.subscribe(EVENT_TYPES, (event) => events.push(event));
    runDemo(bus, { bars: 100, seed: 2 });
    expect(withoutWallClock(events)).toEqual(withoutWallClock(demoEvents({ bars: 100, seed: 2 })));
  });

  test("onBar reports each bar time done, and the total", () => {
    const calls: [number, number][] = [];
    runDemo(new EventBus(), { bars: 5, onBar: (index, total) => calls.push([index, total]) });
    expect(calls).toEqual([1, 2, 3, 4, 5].map((i) => [i, 5]));
  });

  test("a recorder takes every event: none refused, all stored", () => {
    expect(defaults.map(findInvalidField).filter((e) => e !== undefined)).toEqual([]);
    const bus = new EventBus();
    const recorder = Recorder.start(join(tempDir(), "runs.db"), { config: demoConfig() });
    recorder.attach(bus);
    const result = runDemo(bus);
    const summary = recorder.close();
    expect(summary).toMatchObject({ status: "completed", refused: 0, events: result.events });
    expect(result.events).toBe(defaults.length);
  });
});

describe("simulated broker", () => {
  test("DEFAULT_BROKER cannot be changed for the whole process: read-only in its type, frozen", () => {
    const before = brokerParameters();
    expect(() => {
      // @ts-expect-error: read-only, so a change does not compile either
      DEFAULT_BROKER.commissionPerUnit = 5;
    }).toThrow(TypeError);
    expect(brokerParameters()).toEqual(before);
    expect(brokerParameters().commissionPerUnit).toBe(0.005);
    // What the library hands out is the caller's own to change.
    const config = demoConfig();
    (config.broker as { expiryBars: number }).expiryBars = 3;
    expect(demoConfig().broker).toEqual(before);
    const params = brokerParameters();
    params.expiryBars = 3;
    expect(brokerParameters().expiryBars).toBe(10);
  });

  const SYMBOL = "AAA";
  const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`;
  type Request = "OrderSubmissionRequest" | "OrderCancellationRequest" | "OrderModificationRequest";

  /**
   * A demo run on one symbol with a second trader on its bus: `script` is called on each bar
   * (index from 0) and returns the requests to publish then. Returns every event of the run.
   */
  function trade(
    script: (bar: BarReceived, index: number) => [Request, Record<string, unknown>][],
  ): Event[] {
    const bus = new EventBus();
    const events: Event[] = [];
    bus.subscribe(EVENT_TYPES, (event) => events.push(event));
    let index = 0;
    bus.subscribe("BarReceived", (bar) => {
      for (const [type, fields] of script(bar, index++)) {
        const input = { ts_event_ns: bar.ts_event_ns, symbol: SYMBOL, ...fields };
        bus.publish(makeEvent(type, input as EventInput<typeof type>));
      }
    });
    runDemo(bus, { symbols: [SYMBOL], bars: 40, seed: 5 });
    return events;
  }

  const order = (
    n: number,
    fields: Record<string, unknown>,
  ): [Request, Record<string, unknown>] => [
    "OrderSubmissionRequest",
    { system_order_id: id(n), order_type: "MARKET", side: "BUY", quantity: 10, ...fields },
  ];

  test("rejects invalid orders with reason UNKNOWN and a message, and never fills them", () => {
    const invalid = [
      { quantity: 0 },
      { quantity: -5 },
      { order_type: "LIMIT" },
      { order_type: "STOP" },
      { order_type: "STOP_LIMIT", stop_price: 1 },
      { order_type: "LIMIT", limit_price: -1 },
      { symbol: "NO MARKET" },
    ];
    const events = byOrder(trade((_, i) => (i === 2 ? invalid.map((f, n) => order(n, f)) : [])));
    invalid.forEach((_, n) => {
      const answers = (events.get(id(n)) ?? []).slice(1);
      expect(answers.map((e) => e.type)).toEqual(["OrderRejected"]);
      const rejected = answers[0] as EventOf<"OrderRejected">;
      expect(rejected.rejection_reason).toBe("UNKNOWN");
      expect(rejected.rejection_message.length).toBeGreaterThan(0);
    });
  });

  test("fills a large order in parts, within the bar's volume, summing to its quantity", () => {
    const quantity = 2500;
    const events = trade((_, i) => (i === 1 ? [order(1, { quantity })] : []));
    const bars = new Map(ofType(events, "BarReceived").map((b) => [b.ts_event_ns, b]));
    const fills = ofType(byOrder(events).get(id(1)) ?? [], "FillEvent");
    expect(fills.length).toBeGreaterThan(1);
    expect(fills.reduce((sum, f) => sum + f.quantity_filled, 0)).toBe(quantity);
    for (const fill of fills) {
      const bar = bars.get(fill.ts_event_ns) as BarReceived;
      expect(fill.quantity_filled).toBeLessThanOrEqual(
        Math.floor(Number(bar.volume ?? 0n) * broker.participation),
      );
      expect(fill.fill_price).toBe(bar.open); // a market order trades at the open
    }
    expect(fills.reduce((sum, f) => sum + f.commission, 0)).toBeCloseTo(
      quantity * broker.commissionPerUnit,
      6,
    );
  });

  test("a small order pays the minimum commission", () => {
    const events = trade((_, i) => (i === 1 ? [order(1, { quantity: 3 })] : []));
    const fills = ofType(byOrder(events).get(id(1)) ?? [], "FillEvent");
    expect(fills.map((f) => [f.quantity_filled, f.commission])).toEqual([
      [3, broker.minimumCommission],
    ]);
  });

  test("expires an unfilled limit order after its number of bars", () => {
    const events = trade((_, i) =>
      i === 4 ? [order(1, { order_type: "LIMIT", limit_price: 0.01 })] : [],
    );
    const mine = byOrder(events).get(id(1)) ?? [];
    expect(mine.map((e) => e.type)).toEqual([
      "OrderSubmissionRequest",
      "OrderAccepted",
      "OrderExpired",
    ]);
    const [placed, , expired] = mine as [Event, Event, Event];
    expect(expired.ts_event_ns - placed.ts_event_ns).toBe(BigInt(broker.expiryBars) * MINUTE);
  });

  test("cancels and modifies open orders; rejects both for unknown or filled orders", () => {
    const resting = { order_type: "LIMIT", limit_price: 0.01 };
    const events = trade((_, i) => {
      if (i === 1) return [order(1, resting), order(2, resting), order(3, { quantity: 5 })];
      if (i === 3)
        return [
          ["OrderModificationRequest", { system_order_id: id(1), limit_price: 0.02 }],
          ["OrderCancellationRequest", { system_order_id: id(2) }],
          ["OrderCancellationRequest", { system_order_id: id(3) }], // filled on bar 2
          ["OrderCancellationRequest", { system_order_id: id(99) }],
          ["OrderModificationRequest", { system_order_id: id(98), quantity: 1 }],
          ["OrderModificationRequest", { system_order_id: id(1), quantity: -1 }],
        ];
      if (i === 5) return [["OrderModificationRequest", { system_order_id: id(2), quantity: 1 }]];
      return [];
    });
    const answers = (n: number) =>
      (byOrder(events).get(id(n)) ?? [])
        .filter((e) => "associated_order_id" in e)
        .map((e) => e.type);
    expect(answers(1)).toEqual([
      "OrderAccepted",
      "ModificationAccepted",
      "ModificationRejected",
      "OrderExpired",
    ]);
    expect(answers(2)).toEqual(["OrderAccepted", "CancellationAccepted", "ModificationRejected"]);
    expect(answers(3)).toEqual(["OrderAccepted", "FillEvent", "CancellationRejected"]);
    expect(answers(99)).toEqual(["CancellationRejected"]);
    expect(answers(98)).toEqual(["ModificationRejected"]);
  });

  test("stop orders trigger when a bar reaches the stop; a stop-limit then trades within its limit", () => {
    let stop = 0;
    const events = trade((bar, i) => {
      if (i !== 1) return [];
      stop = Math.ceil(bar.close * 1.0005 * 100) / 100;
      return [
        order(1, { order_type: "STOP", stop_price: stop }),
        order(2, { order_type: "STOP_LIMIT", stop_price: stop, limit_price: stop }),
      ];
    });
    const bars = ofType(events, "BarReceived");
    // Accepted on bar 1, an order trades from bar 2 on.
    const trigger = bars.findIndex((b, i) => i > 1 && b.high >= stop);
    expect(trigger).toBeGreaterThan(1);
    const triggerBar = bars[trigger] as BarReceived;
    const [stopFill] = ofType(byOrder(events).get(id(1)) ?? [], "FillEvent");
    expect(stopFill?.ts_event_ns).toBe(triggerBar.ts_event_ns);
    expect(stopFill?.fill_price).toBe(Math.max(triggerBar.open, stop));
    const limitFills = ofType(byOrder(events).get(id(2)) ?? [], "FillEvent");
    expect(limitFills.length).toBeGreaterThan(0);
    for (const fill of limitFills) {
      expect(fill.ts_event_ns).toBeGreaterThanOrEqual(triggerBar.ts_event_ns);
      expect(fill.fill_price).toBeLessThanOrEqual(stop);
    }
  });
});
