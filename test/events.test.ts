import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import * as v from "valibot";
import { dumpsIndicators, loadsIndicators, pyFloatRepr } from "../src/events/pyjson.ts";
import {
  EVENT_TYPES,
  eventSchemas,
  fieldsOf,
  InvalidEventError,
  makeEvent,
  parseEvent,
} from "../src/index.ts";
import { fixtureCopy, fixtureTest, sampleEvents, T0 } from "./helpers.ts";

// Values of every kind; each field must accept exactly those its kind allows.
const CORPUS: unknown[] = [
  0n,
  1n,
  T0,
  2n ** 63n - 1n,
  -(2n ** 63n),
  2n ** 63n,
  -(2n ** 63n) - 1n,
  0,
  1,
  -1,
  1.5,
  -0,
  2 ** 53,
  2 ** 53 + 2,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  "",
  "AAPL",
  "MINUTE",
  "BUY",
  "SELL",
  "LIMIT",
  "ENTRY",
  "UNKNOWN",
  "minute",
  null,
  undefined,
  true,
  {},
  { a: 1 },
  { a: Number.NaN },
  { a: "x" },
  [],
  [1],
];

describe("event schemas", () => {
  test("the fast predicates and the valibot schemas agree on every field of every type", () => {
    for (const type of EVENT_TYPES) {
      for (const [name, field] of fieldsOf(type)) {
        for (const value of CORPUS) {
          const byValibot = v.safeParse(field.schema, value).success;
          if (field.is(value) !== byValibot)
            throw new Error(`${type}.${name} disagrees on ${String(value)}`);
        }
      }
    }
  });

  test("accept every sample event and refuse each kind of bad field", () => {
    for (const event of sampleEvents()) expect(parseEvent(event)).toEqual(event);
    const good = sampleEvents()[0] as Record<string, unknown>;
    const cases: [Record<string, unknown>, string, string][] = [
      [{ ...good, open: Number.NaN }, "open", "expected a finite number"],
      [{ ...good, high: Number.POSITIVE_INFINITY }, "high", "expected a finite number"],
      [{ ...good, ts_event_ns: 5 }, "ts_event_ns", "expected a bigint"],
      [{ ...good, ts_event_ns: 2n ** 63n }, "ts_event_ns", "outside the signed 64-bit range"],
      [{ ...good, bar_period: "WEEK" }, "bar_period", "expected one of SECOND, MINUTE, HOUR, DAY"],
      [{ ...good, volume: 1.5 }, "volume", "expected a safe integer"],
      [{ ...good, extra: 1 }, "extra", "unknown field"],
      [
        Object.fromEntries(Object.entries(good).filter(([k]) => k !== "symbol")),
        "symbol",
        "missing",
      ],
    ];
    for (const [input, field, reason] of cases) {
      try {
        parseEvent(input);
        throw new Error(`accepted a bad ${field}`);
      } catch (error) {
        expect(error).toBeInstanceOf(InvalidEventError);
        expect([(error as InvalidEventError).field, (error as Error).message]).toEqual([
          field,
          expect.stringContaining(reason),
        ]);
      }
    }
    expect(() => parseEvent({ type: "Nope" })).toThrow("unknown event type");
  });

  test("a schema exists for every type and refuses another type's event", () => {
    const [bar, processed] = sampleEvents();
    expect(Object.keys(eventSchemas)).toEqual(EVENT_TYPES);
    expect(v.safeParse(eventSchemas.BarReceived, processed).success).toBe(false);
    expect(v.safeParse(eventSchemas.BarReceived, bar).success).toBe(true);
  });

  test("factories fill the model's defaults", () => {
    const order = makeEvent("OrderSubmissionRequest", {
      ts_event_ns: T0,
      symbol: "A",
      order_type: "MARKET",
      side: "BUY",
      quantity: 1,
    });
    expect(order).toMatchObject({
      limit_price: null,
      stop_price: null,
      action: null,
      signal: null,
    });
    expect(order.system_order_id).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    const fills = Array.from({ length: 100 }, () =>
      makeEvent("FillEvent", {
        ts_event_ns: T0,
        ts_broker_ns: T0,
        associated_order_id: "o",
        symbol: "A",
        side: "BUY",
        quantity_filled: 1,
        fill_price: 1,
        commission: 0,
      }),
    );
    expect(new Set(fills.map((f) => f.fill_id)).size).toBe(100);
    expect(fills[0]).toMatchObject({
      exchange: "SIMULATED",
      broker_order_id: null,
      broker_fill_id: null,
    });
    expect(
      makeEvent("BarProcessed", {
        ts_event_ns: T0,
        symbol: "A",
        bar_period: "DAY",
        open: 1,
        high: 1,
        low: 1,
        close: 1,
        volume: null,
      }).indicators,
    ).toEqual({});
  });
});

describe("Python json.dumps dialect", () => {
  test("float repr follows Python's rules", () => {
    // Expected strings are what CPython 3.11's repr() prints.
    const cases: [number, string][] = [
      [1e16, "1e+16"],
      [1e15, "1000000000000000.0"],
      [1e-5, "1e-05"],
      [0.0001, "0.0001"],
      [-0, "-0.0"],
      [0, "0.0"],
      [5e-324, "5e-324"],
      [1.7976931348623157e308, "1.7976931348623157e+308"],
      [0.1 + 0.2, "0.30000000000000004"],
      [123.456, "123.456"],
      [-2.5e-7, "-2.5e-07"],
      [1.2345678901234567e19, "1.2345678901234567e+19"],
      [5, "5.0"],
      [Number.NaN, "NaN"],
      [Number.POSITIVE_INFINITY, "Infinity"],
      [Number.NEGATIVE_INFINITY, "-Infinity"],
    ];
    for (const [x, text] of cases) expect([x, pyFloatRepr(x)]).toEqual([x, text]);
  });

  test("loads reads bare non-finite tokens outside strings only", () => {
    const text = '{"NaN Infinity": NaN, "b": -Infinity, "c": Infinity, "d": 1.5}';
    expect(loadsIndicators(text)).toEqual({
      "NaN Infinity": Number.NaN,
      b: Number.NEGATIVE_INFINITY,
      c: Number.POSITIVE_INFINITY,
      d: 1.5,
    });
    expect(dumpsIndicators(loadsIndicators(text) as Record<string, number>)).toBe(text);
  });

  fixtureTest("round-trips every indicators text of the fixture byte for byte", () => {
    const db = new Database(fixtureCopy(), { readonly: true });
    const texts = (
      db.query("SELECT indicators FROM bars_processed").all() as { indicators: string }[]
    ).map((r) => r.indicators);
    db.close();
    expect(texts.length).toBeGreaterThan(1000);
    for (const text of texts) {
      if (dumpsIndicators(loadsIndicators(text) as Record<string, number>) !== text)
        throw new Error(`changed: ${text}`);
    }
  });
});
