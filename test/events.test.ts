import { describe, expect, test } from "bun:test";
import * as v from "valibot";
import {
  dumpsIndicators,
  EVENT_TYPES,
  type Event,
  type EventType,
  eventInputSchemas,
  eventSchemas,
  type Field,
  fieldsOf,
  findInvalidField,
  InvalidEventError,
  loadsIndicators,
  makeEvent,
  makeEventTrusted,
  parseEvent,
  pyFloatRepr,
} from "../src/index.ts";
import { fixtureCopy, fixtureTest, rawDb, sampleEvents, sampleOf, T0 } from "./helpers.ts";

type Fields = Record<string, unknown>;

const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Values a field of this kind must take (null too where the column is nullable). */
function goodValues(field: Field<unknown>): unknown[] {
  const nullable = field.notNull ? [] : [null];
  switch (field.kind) {
    case "ns":
    case "int":
      return [...nullable, 0n, 1n, -1n, T0, INT64_MAX, INT64_MIN];
    case "real":
      return [...nullable, 0, -0, 1.5, -2.5e-7, 5e-324, Number.MAX_VALUE, 2 ** 53 + 2];
    case "text":
      return [...nullable, "", "AAPL", "ÖBB 日本語 🚀", "line\nbreak", "\u0000"];
    case "enum":
      return [...nullable, ...(field.options ?? [])];
    case "indicators":
      return [
        ...nullable,
        {},
        { "SMA 5": 1.5 },
        { a: Number.NaN, b: Number.POSITIVE_INFINITY, c: Number.NEGATIVE_INFINITY, d: -0 },
        Object.assign(Object.create(null), { a: 1 }),
      ];
  }
}

/** Values a field of this kind must refuse: neighbours of the good ones across each boundary. */
function badValues(field: Field<unknown>): unknown[] {
  const common = [undefined, true, ...(field.notNull ? [null] : [])];
  switch (field.kind) {
    case "ns":
    case "int":
      // A number instead of a bigint, even a whole one; one past either end of int64.
      return [...common, Number(T0), 0, 1.5, INT64_MAX + 1n, INT64_MIN - 1n, "1"];
    case "real":
      return [...common, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1n, "1.5"];
    case "text":
      return [...common, 1, 1n, ["AAPL"], {}, "\ud800", "a\udc00b"];
    case "enum": {
      const first = field.options?.[0] ?? "";
      return [...common, first.toLowerCase(), ` ${first}`, `${first}_X`, "", 0];
    }
    case "indicators":
      return [
        ...common,
        [],
        [1],
        { a: "1" },
        { a: null },
        { a: 1n },
        new Map([["a", 1]]),
        new Date(0),
        '{"a": 1}',
      ];
  }
}

/** Every good and bad value of every field of the catalog: what each field is tried against. */
const CORPUS: unknown[] = [
  ...new Set(
    EVENT_TYPES.flatMap((type) =>
      fieldsOf(type).flatMap(([, field]) => [...goodValues(field), ...badValues(field)]),
    ),
  ),
];

const show = (x: unknown) => (x instanceof Map ? "Map" : Bun.inspect(x).slice(0, 80));

/** The error `fn` throws (fails the test when it throws none). */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error("expected a throw");
}

describe("event fields", () => {
  test("take the values of their kind and refuse the neighbours", () => {
    for (const type of EVENT_TYPES) {
      for (const [name, field] of fieldsOf(type)) {
        for (const value of goodValues(field))
          expect([type, name, show(value), field.is(value)]).toEqual([
            type,
            name,
            show(value),
            true,
          ]);
        for (const value of badValues(field))
          expect([type, name, show(value), field.is(value)]).toEqual([
            type,
            name,
            show(value),
            false,
          ]);
      }
    }
  });

  test("the compiled checks (isCode) agree with the predicates on the whole corpus", () => {
    let compared = 0;
    for (const type of EVENT_TYPES) {
      for (const [name, field] of fieldsOf(type)) {
        if (field.isCode === undefined) continue;
        const check = new Function("value", `return ${field.isCode("value")};`);
        for (const value of [...CORPUS, ...goodValues(field), ...badValues(field)]) {
          if (check(value) !== field.is(value))
            throw new Error(`${type}.${name}: isCode says ${check(value)} on ${show(value)}`);
          compared++;
        }
      }
    }
    expect(compared).toBeGreaterThan(1000);
  });

  test("the fast predicates agree with the valibot schemas on the whole corpus", () => {
    let compared = 0;
    for (const type of EVENT_TYPES) {
      for (const [name, field] of fieldsOf(type)) {
        for (const value of CORPUS) {
          const byValibot = v.safeParse(field.schema, value).success;
          if (field.is(value) !== byValibot)
            throw new Error(
              `${type}.${name}: is says ${!byValibot}, valibot ${byValibot} on ${show(value)}`,
            );
          compared++;
        }
      }
    }
    expect(compared).toBeGreaterThan(1000);
  });
});

describe("event schemas", () => {
  test("every type's schema accepts a valid event as it is", () => {
    expect(Object.keys(eventSchemas)).toEqual(EVENT_TYPES);
    for (const type of EVENT_TYPES) {
      const event = sampleOf(type);
      expect(v.parse(eventSchemas[type], event)).toEqual(event);
      expect(parseEvent(event)).toEqual(event);
      expect(findInvalidField(event)).toBeUndefined();
    }
  });

  test("every type's schema refuses each bad field, naming it", () => {
    for (const type of EVENT_TYPES) {
      const good = sampleOf(type) as Fields;
      for (const [name, field] of fieldsOf(type)) {
        const { [name]: _, ...missing } = good;
        const cases = [...badValues(field).map((bad) => ({ ...good, [name]: bad })), missing];
        for (const input of cases) {
          const label = [type, name, show(input[name])];
          expect([...label, v.safeParse(eventSchemas[type], input).success]).toEqual([
            ...label,
            false,
          ]);
          const error = thrown(() => parseEvent(input));
          expect(error).toBeInstanceOf(InvalidEventError);
          expect([...label, (error as InvalidEventError).field]).toEqual([...label, name]);
          expect([...label, findInvalidField(input as Event)?.field]).toEqual([...label, name]);
        }
        // Left out, a field with a default is filled in by the input schema; any other is missing.
        const result = v.safeParse(eventInputSchemas[type], missing);
        expect([type, name, result.success]).toEqual([type, name, field.default !== undefined]);
        if (!field.default)
          expect((thrown(() => parseEvent(missing)) as Error).message).toContain("missing");
      }
    }
  });

  test("parseEvent returns what the schema returns, key order included, and refuses what it refuses", () => {
    let compared = 0;
    for (const type of EVENT_TYPES) {
      const good = sampleOf(type) as Fields;
      const inputs: unknown[] = [
        good,
        { ...good, price: 1 },
        JSON.parse(`{"__proto__":1,"type":"${type}"}`),
      ];
      inputs.push(Object.assign(Object.create({ inherited: 1 }), good));
      for (const [name, field] of fieldsOf(type)) {
        const { [name]: _, ...missing } = good;
        inputs.push(missing, { ...good, [name]: undefined });
        for (const bad of badValues(field)) inputs.push({ ...good, [name]: bad });
        // The same fields in another order: the event comes out in the catalog's.
        inputs.push({ [name]: good[name], ...missing });
      }
      for (const defaults of [false, true]) {
        const schema = (defaults ? eventInputSchemas : eventSchemas)[type];
        for (const input of inputs) {
          const byValibot = v.safeParse(schema, input);
          let parsed: unknown;
          try {
            parsed = parseEvent(input, { defaults });
          } catch {
            parsed = undefined;
          }
          const label = [type, defaults, show(input)];
          expect([...label, parsed !== undefined]).toEqual([...label, byValibot.success]);
          if (byValibot.success && parsed !== undefined) {
            // Defaults that make new values (ids, the clock) differ from call to call.
            const fresh = fieldsOf(type).flatMap(([n]) =>
              (input as Fields)[n] === undefined ? [n] : [],
            );
            const shape = (e: unknown) => Object.keys(e as object);
            expect(shape(parsed)).toEqual(shape(byValibot.output));
            const keep = (e: unknown) =>
              Object.fromEntries(Object.entries(e as object).filter(([k]) => !fresh.includes(k)));
            expect(keep(parsed)).toEqual(keep(byValibot.output));
          }
          compared++;
        }
      }
    }
    expect(compared).toBeGreaterThan(500);
  });

  test("refuses an extra field, a wrong type tag and another type's event", () => {
    for (const type of EVENT_TYPES) {
      const good = sampleOf(type);
      const extra = thrown(() => parseEvent({ ...good, price: 1 })) as InvalidEventError;
      expect([extra.field, extra.message]).toEqual([
        "price",
        expect.stringContaining("unknown field"),
      ]);
      expect(v.safeParse(eventSchemas[type], { ...good, price: 1 }).success).toBe(false);
      expect(v.safeParse(eventInputSchemas[type], { ...good, price: 1 }).success).toBe(false);
      for (const other of EVENT_TYPES.filter((t) => t !== type))
        expect([type, other, v.safeParse(eventSchemas[type], sampleOf(other)).success]).toEqual([
          type,
          other,
          false,
        ]);
    }
    expect((thrown(() => parseEvent({ type: "Nope" })) as InvalidEventError).field).toBe("type");
    expect(thrown(() => parseEvent(null))).toBeInstanceOf(InvalidEventError);
    // The fast check too: data from outside may be anything.
    for (const input of [null, undefined, 5, { type: "Nope" }])
      expect(findInvalidField(input as never)?.field).toBe("type");
  });
});

describe("makeEvent", () => {
  /** What the model fills in for each defaulted field that is not simply nullable. */
  const DEFAULTS: Record<string, (value: unknown, wall: [bigint, bigint]) => boolean> = {
    // The wall clock in ns. A second of slack for clock adjustments still catches a wrong unit.
    ts_created_ns: (x, [before, after]) =>
      typeof x === "bigint" && x >= before - 1_000_000_000n && x <= after + 1_000_000_000n,
    system_order_id: (x) => typeof x === "string" && UUID_V4.test(x),
    fill_id: (x) => typeof x === "string" && UUID_V4.test(x),
    exchange: (x) => x === "SIMULATED",
    indicators: (x) => typeof x === "object" && x !== null && Object.keys(x).length === 0,
  };

  /** What a caller must give for `type`: the sample's fields that have no default. */
  const required = (type: EventType) => {
    const sample = sampleOf(type) as Fields;
    return Object.fromEntries(
      fieldsOf(type)
        .filter(([, field]) => !field.default)
        .map(([name]) => [name, sample[name]]),
    );
  };

  test("fills the model's defaults for every type, and no others", () => {
    const named = new Set<string>();
    for (const type of EVENT_TYPES) {
      const before = BigInt(Date.now()) * 1_000_000n;
      const event = makeEvent(type, required(type) as never) as Fields;
      const wall: [bigint, bigint] = [before, BigInt(Date.now()) * 1_000_000n];
      expect(parseEvent(event)).toEqual(event as Event);
      for (const [name, field] of fieldsOf(type)) {
        if (!field.default) {
          expect([type, name, event[name]]).toEqual([type, name, (sampleOf(type) as Fields)[name]]);
        } else if (!field.notNull) {
          expect([type, name, event[name]]).toEqual([type, name, null]);
        } else {
          named.add(name);
          expect([type, name, DEFAULTS[name]?.(event[name], wall)]).toEqual([type, name, true]);
        }
      }
    }
    // A default the spec does not name would fail here rather than go untested.
    expect([...named].sort()).toEqual(Object.keys(DEFAULTS).sort());
  });

  test("keeps what it is given instead of the defaults", () => {
    for (const type of EVENT_TYPES) {
      const sample = sampleOf(type);
      expect(makeEvent(type, sample as never)).toEqual(sample);
    }
  });

  test("ts_created_ns never decreases over many calls", () => {
    const inputs = EVENT_TYPES.map((type) => [type, required(type)] as const);
    let last = 0n;
    let decreases = 0;
    for (let i = 0; i < 20_000; i++) {
      const [type, input] = inputs[i % inputs.length] as (typeof inputs)[number];
      const t = makeEvent(type, input as never).ts_created_ns;
      if (t < last) decreases++;
      last = t;
    }
    expect(decreases).toBe(0);
  });

  test("ids are distinct lower-case UUIDs", () => {
    const [orderInput, fillInput] = [required("OrderSubmissionRequest"), required("FillEvent")];
    const ids = Array.from({ length: 500 }, () => {
      const order = makeEvent("OrderSubmissionRequest", orderInput as never);
      const fill = makeEvent("FillEvent", fillInput as never);
      return [order.system_order_id, fill.fill_id];
    }).flat();
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.filter((id) => !UUID_V4.test(id))).toEqual([]);
  });

  test("refuses a bad field where the event is written; makeEventTrusted takes it as given", () => {
    const input = { ...required("BarReceived"), ts_event_ns: 1_709_562_600_000 } as never;
    const error = thrown(() => makeEvent("BarReceived", input)) as InvalidEventError;
    expect(error).toBeInstanceOf(InvalidEventError);
    expect([error.eventType, error.field]).toEqual(["BarReceived", "ts_event_ns"]);
    const side = { ...required("OrderSubmissionRequest"), side: "HOLD" } as never;
    expect(
      (thrown(() => makeEvent("OrderSubmissionRequest", side)) as InvalidEventError).field,
    ).toBe("side");
    expect(makeEventTrusted("BarReceived", input).ts_event_ns as unknown).toBe(1_709_562_600_000);
  });

  test("defaulted objects are fresh for every event", () => {
    const a = makeEvent("BarProcessed", required("BarProcessed") as never);
    const b = makeEvent("BarProcessed", required("BarProcessed") as never);
    a.indicators.sma = 1;
    expect(b.indicators).toEqual({});
  });
});

describe("Python json.dumps dialect", () => {
  test("pyFloatRepr prints what Python's repr prints", () => {
    // Python switches to exponent form when the shortest digits' exponent is < -4 or >= 16, pads
    // the exponent to two digits with a sign, and writes whole floats with ".0". Each string was
    // checked with python3 -c 'print(repr(x))' (CPython 3.11).
    const cases: [number, string][] = [
      [1e16, "1e+16"],
      [-1e16, "-1e+16"],
      [9999999999999998, "9999999999999998.0"],
      [1e15, "1000000000000000.0"],
      [1e21, "1e+21"],
      [1e22, "1e+22"],
      [1e-5, "1e-05"],
      [1e-7, "1e-07"],
      [0.0001, "0.0001"],
      [9.999999999999999e-5, "9.999999999999999e-05"],
      [0.00015, "0.00015"],
      [-0, "-0.0"],
      [0, "0.0"],
      [5e-324, "5e-324"],
      [1.7976931348623157e308, "1.7976931348623157e+308"],
      [0.1 + 0.2, "0.30000000000000004"],
      [123.456, "123.456"],
      [-2.5e-7, "-2.5e-07"],
      [12345678901234567000, "1.2345678901234567e+19"],
      [2 ** 53 + 2, "9007199254740994.0"],
      [5, "5.0"],
      [Number.NaN, "NaN"],
      [Number.POSITIVE_INFINITY, "Infinity"],
      [Number.NEGATIVE_INFINITY, "-Infinity"],
    ];
    expect(cases.map(([x]) => pyFloatRepr(x))).toEqual(cases.map(([, text]) => text));
    // Whatever the form, the text reads back to the same float.
    for (const [x, text] of cases) {
      const back = (loadsIndicators(`{"x": ${text}}`) as { x: number }).x;
      expect([text, Object.is(back, x)]).toEqual([text, true]);
    }
  });

  test("dumpsIndicators writes json.dumps' text: separators, escapes, repr floats, bare tokens", () => {
    const values = {
      "SMA 5": Number.NaN,
      'Grüße "q"': Number.POSITIVE_INFINITY,
      neg: Number.NEGATIVE_INFINITY,
      "del\u007f": -0,
      "tab\t\u0001/\\": 1e16,
      "🚀 日": 5e-324,
      max: 1.7976931348623157e308,
      sum: 0.1 + 0.2,
      p: 0.0001,
      q: 1e-5,
      w: 100,
      "k\u2028": -2.5e-7,
    };
    // python3 -c 'import json; print(json.dumps({...the same dict...}))'
    const python = String.raw`{"SMA 5": NaN, "Gr\u00fc\u00dfe \"q\"": Infinity, "neg": -Infinity, "del\u007f": -0.0, "tab\t\u0001/\\": 1e+16, "\ud83d\ude80 \u65e5": 5e-324, "max": 1.7976931348623157e+308, "sum": 0.30000000000000004, "p": 0.0001, "q": 1e-05, "w": 100.0, "k\u2028": -2.5e-07}`;
    expect(dumpsIndicators(values)).toBe(python);
    expect(loadsIndicators(python)).toEqual(values);
    expect(dumpsIndicators({})).toBe("{}");
  });

  test("dumpsIndicators of objects whose keys change from one to the next: order, count, many keys", () => {
    const many = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, i + 0.5]));
    const objects: Record<string, number>[] = [
      { a: 1, b: 2 },
      { b: 2, a: 1 },
      { a: 1 },
      { a: 1, b: 2, c: 3 },
      many,
      { ...many, k299: 1 },
      { k0: 7, x: 8 },
    ];
    // The Python form, built plainly: repr floats with ", " and ": " separators.
    const python = (values: Record<string, number>) =>
      `{${Object.entries(values)
        .map(([key, value]) => `"${key}": ${Number.isInteger(value) ? `${value}.0` : value}`)
        .join(", ")}}`;
    for (const values of [...objects, ...objects.reverse()]) {
      expect(dumpsIndicators(values)).toBe(python(values));
    }
  });

  test("loadsIndicators reads the bare tokens outside strings only", () => {
    const text = '{"NaN -Infinity": NaN, "b\\"NaN": -Infinity, "c": Infinity, "d": 1.5}';
    const values = loadsIndicators(text) as Record<string, number>;
    expect(values).toEqual({
      "NaN -Infinity": Number.NaN,
      'b"NaN': Number.NEGATIVE_INFINITY,
      c: Number.POSITIVE_INFINITY,
      d: 1.5,
    });
    expect(dumpsIndicators(values)).toBe(text);
    expect(() => loadsIndicators("{NaN}")).toThrow(SyntaxError);
  });

  fixtureTest(
    "loads → dumps gives back every indicators text of the fixture, byte for byte",
    () => {
      const db = rawDb(fixtureCopy());
      const texts = (
        db.query("SELECT indicators FROM bars_processed").all() as { indicators: string }[]
      ).map((r) => r.indicators);
      db.close();
      // Non-vacuous: the fixture has warm-up NaNs beside ordinary floats.
      expect(texts.length).toBeGreaterThan(1000);
      expect(texts.some((t) => t.includes("NaN"))).toBe(true);
      expect(texts.some((t) => /: -?\d/.test(t))).toBe(true);
      const changed = texts.filter(
        (text) => dumpsIndicators(loadsIndicators(text) as Record<string, number>) !== text,
      );
      expect(changed).toEqual([]);
    },
  );
});

test("sample events cover every type", () => {
  expect(new Set(sampleEvents().map((e) => e.type))).toEqual(new Set(EVENT_TYPES));
});
