import { describe, expect, test } from "bun:test";
import { fieldsOf } from "../src/events/catalog.ts";
import { LineBuffer } from "../src/formats/line-buffer.ts";
import { lineWriter, rowOf } from "../src/formats/ndjson-lines.ts";
import {
  decodeEvent,
  EVENT_TYPES,
  type Event,
  type EventType,
  encodeEvent,
  encodeEventInt64Strings,
  InvalidEventError,
  MAX_LINE_BYTES,
  NdjsonError,
  readNdjson,
} from "../src/index.ts";
import type { Int64Style } from "../src/json.ts";
import { sampleEvents, T0 } from "./helpers.ts";

async function readAll(
  chunks: (string | Uint8Array)[],
  options?: { defaults?: boolean },
): Promise<Event[]> {
  const out: Event[] = [];
  for await (const e of readNdjson(
    (async function* () {
      yield* chunks;
    })(),
    options,
  ))
    out.push(e);
  return out;
}

async function failure(chunks: (string | Uint8Array)[]): Promise<NdjsonError> {
  try {
    await readAll(chunks);
  } catch (error) {
    if (error instanceof NdjsonError) return error;
    throw error;
  }
  throw new Error("accepted bad input");
}

const line = (e: Event) => encodeEvent(e);
const good = line(sampleEvents()[0] as Event);

describe("NDJSON", () => {
  test("events → lines → events is the identity, edge values included", async () => {
    const events = sampleEvents();
    for (const e of events) expect(decodeEvent(encodeEvent(e))).toEqual(e);
    const text = `${events.map(line).join("\n")}\n`;
    // Split anywhere, even inside a multi-byte character.
    const bytes = new TextEncoder().encode(text);
    const chunks = [bytes.subarray(0, 37), bytes.subarray(37, 1001), bytes.subarray(1001)];
    expect(await readAll(chunks)).toEqual(events);
  });

  test("writes exact integers, non-finite floats as strings, keys in column order", () => {
    const processed = sampleEvents()[1] as Event;
    expect(line(processed)).toBe(
      `{"type":"BarProcessed","ts_event_ns":${T0},"ts_created_ns":${T0 + 7n},"symbol":"日本語 🚀","bar_period":"SECOND","open":1,"high":2,"low":0.5,"close":1.5,"volume":9223372036854775807,"indicators":{"SMA 5":"NaN","Grüße \\"q\\"":"Infinity","neg":"-Infinity","tiny":1e-7,"big":10000000000000000,"zero":-0}}`,
    );
  });

  test("an instant shared by consecutive events prints as itself, whichever type or style comes next", () => {
    const [bar, processed] = sampleEvents() as [Event, Event];
    const at = (e: Event, ts: bigint): Event => ({ ...e, ts_event_ns: ts });
    // Equal values in distinct bigints, a change, a return to an earlier value, the extremes.
    const instants = [T0, BigInt(`${T0}`), T0 + 1n, T0, -1n, 2n ** 63n - 1n, -(2n ** 63n), 0n, T0];
    for (const [i, ts] of instants.entries()) {
      const e = at(i % 2 === 0 ? bar : processed, ts);
      expect(line(e)).toContain(`"ts_event_ns":${ts},`);
      expect(encodeEventInt64Strings(e)).toContain(`"ts_event_ns":"${ts}",`);
      expect(decodeEvent(line(e))).toEqual(e);
    }
  });

  test("fields with defaults may be left out when asked", async () => {
    const [order] = await readAll(
      [
        '{"type":"OrderSubmissionRequest","ts_event_ns":1,"symbol":"A","order_type":"MARKET","side":"BUY","quantity":5}\n',
      ],
      { defaults: true },
    );
    expect(order).toMatchObject({ ts_event_ns: 1n, limit_price: null, action: null, quantity: 5 });
    expect(typeof (order as { ts_created_ns: bigint }).ts_created_ns).toBe("bigint");
    const strict = await failure([
      '{"type":"OrderCancellationRequest","ts_event_ns":1,"symbol":"A"}',
    ]);
    expect(strict.message).toContain("missing");
  });

  test("a bad line is an error naming the line and the field", async () => {
    const cases: [string, string][] = [
      ["{nope", "line 2: not valid JSON"],
      ['{"type":"Nope"}', 'line 2: Nope.type: unknown event type (got "Nope")'],
      ["[1,2]", "line 2: not a JSON object"],
      [good.replace('"symbol":"ÖBB",', ""), "line 2: BarReceived.symbol: missing"],
      [good.replace('"symbol"', '"extra":1,"symbol"'), "line 2: BarReceived.extra: unknown field"],
      [
        good.replace('"symbol":"ÖBB"', '"symbol":5'),
        "line 2: BarReceived.symbol: expected a string (got 5)",
      ],
      [
        good.replace(`"ts_event_ns":${T0}`, '"ts_event_ns":"1"'),
        "line 2: BarReceived.ts_event_ns: expected an integer",
      ],
      [
        good.replace(`"ts_event_ns":${T0}`, '"ts_event_ns":1.5'),
        "line 2: BarReceived.ts_event_ns: expected an integer",
      ],
      // The number as written: as a double it would pass for the integer next to it.
      [
        good.replace(`"ts_event_ns":${T0}`, `"ts_event_ns":${T0}.5`),
        `line 2: BarReceived.ts_event_ns: expected an integer (got ${T0}.5)`,
      ],
      [
        good.replace(`"ts_event_ns":${T0}`, '"ts_event_ns":1e3'),
        "line 2: BarReceived.ts_event_ns: expected an integer (got 1e3)",
      ],
      [
        good.replace(`"ts_event_ns":${T0}`, '"ts_event_ns":123456789012345678901234567890'),
        "line 2: BarReceived.ts_event_ns: outside the signed 64-bit range",
      ],
      [
        good.replace('"high":1e+300', '"high":"NaN"'),
        "line 2: BarReceived.high: expected a finite number (got NaN)",
      ],
      [
        good.replace('"high":1e+300', '"high":"Infinity"'),
        "line 2: BarReceived.high: expected a finite number (got Infinity)",
      ],
      // A name every object inherits is no number's name.
      [
        good.replace('"high":1e+300', '"high":"toString"'),
        'line 2: BarReceived.high: expected a finite number (got "toString")',
      ],
    ];
    for (const [bad, message] of cases) {
      const error = await failure([`${good}\n`, `${bad}\n`, `${good}\n`]);
      expect([bad, error.message]).toEqual([bad, expect.stringContaining(message)]);
      expect(error.line).toBe(2);
    }
  });

  test("invalid UTF-8 and overlong lines are bad lines too; blank lines are skipped", async () => {
    expect((await failure([`${good}\n\n`, new Uint8Array([0x7b, 0xff, 0xfe, 0x0a])])).message).toBe(
      "line 3: invalid UTF-8",
    );
    const huge = `{"type":"BarReceived","symbol":"${"x".repeat(10 * 1024 * 1024)}"}\n`;
    const error = await failure([huge]);
    expect(error.line).toBe(1);
    expect(error.message.length).toBeLessThan(300);
    expect(await readAll(["\n", "  \n", `${good}\n`, "\n"])).toHaveLength(1);
    expect(await readAll([])).toEqual([]);
  });

  test("reads streams and sync iterables, CRLF line ends and a last line without a newline", async () => {
    const events = sampleEvents();
    const text = events.map(line).join("\r\n");
    const bytes = new TextEncoder().encode(text);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 100) controller.enqueue(bytes.slice(i, i + 100));
        controller.close();
      },
    });
    const fromStream: Event[] = [];
    for await (const e of readNdjson(stream)) fromStream.push(e);
    expect(fromStream).toEqual(events);
    const fromArray: Event[] = [];
    for await (const e of readNdjson([text])) fromArray.push(e);
    expect(fromArray).toEqual(events);
  });

  test("integers are exact wherever the key or the text around them could mislead a scan", () => {
    const bar = sampleEvents()[0] as Event & { type: "BarReceived" };
    const tricky = { ...bar, symbol: '"ts_event_ns":1,{[\\' };
    expect(decodeEvent(encodeEvent(tricky))).toEqual(tricky);
    // An escaped key is the same key.
    const escaped = encodeEvent(bar).replace('"ts_event_ns"', '"ts\\u005fevent_ns"');
    expect(decodeEvent(escaped)).toEqual(bar);
    // Whitespace between the tokens, as a pretty-printer writes it.
    const spaced = encodeEvent(bar).replaceAll(":", " : ").replaceAll(",", " ,\n ");
    expect(decodeEvent(spaced.replaceAll("\n", ""))).toEqual(bar);
    // Inside indicators every number is a float, however large.
    const processed = decodeEvent(
      `{"type":"BarProcessed","ts_event_ns":-9223372036854775808,"ts_created_ns":9223372036854775807,"symbol":"A","bar_period":"DAY","open":1,"high":1,"low":1,"close":1,"volume":null,"indicators":{"n":12345678901234567890,"ts_event_ns":3,"s":"-Infinity"}}`,
    );
    expect(processed).toMatchObject({
      ts_event_ns: -(2n ** 63n),
      ts_created_ns: 2n ** 63n - 1n,
      indicators: {
        n: Number("12345678901234567890"),
        ts_event_ns: 3,
        s: Number.NEGATIVE_INFINITY,
      },
    });
    // Lines with no backslash, where a name is looked up rather than walked to: a name that is
    // also a string value, a nested key before the member, a member given twice (JSON.parse keeps
    // the last). 2^53 + 1 and + 3 are no floats: a wrong token reads as another integer.
    const head = `{"type":"BarProcessed","ts_event_ns":${T0},"ts_created_ns":${T0}`;
    const prices = `"bar_period":"DAY","open":1,"high":1,"low":1,"close":1`;
    const cases: [string, bigint][] = [
      [
        `${head},"symbol":"volume",${prices},"volume":9007199254740993,"indicators":{}}`,
        2n ** 53n + 1n,
      ],
      [
        `${head},"indicators":{"volume":9007199254740995},"symbol":"A",${prices},"volume":9007199254740993}`,
        2n ** 53n + 1n,
      ],
      [
        `${head},"symbol":"A",${prices},"volume":9007199254740995,"indicators":{},"volume":9007199254740993}`,
        2n ** 53n + 1n,
      ],
    ];
    for (const [text, volume] of cases) expect(decodeEvent(text)).toMatchObject({ volume });
    // An escaped member's key does not spell its name; a nested key does.
    const escapedBeside = `${head.replace('"ts_event_ns"', '"ts\\u005fevent_ns"')},"symbol":"A",${prices},"volume":null,"indicators":{"ts_event_ns":3}}`;
    expect(decodeEvent(escapedBeside)).toMatchObject({
      ts_event_ns: T0,
      indicators: { ts_event_ns: 3 },
    });
    // A member left out (filled by its default) beside a nested key of its name.
    const defaulted = decodeEvent(
      `{"type":"BarProcessed","ts_event_ns":${T0},"symbol":"A",${prices},"volume":null,"indicators":{"ts_created_ns":5}}`,
      { defaults: true },
    );
    expect(defaulted).toMatchObject({ ts_event_ns: T0, indicators: { ts_created_ns: 5 } });
    expect((defaulted as Event & { ts_created_ns: bigint }).ts_created_ns).not.toBe(5n);
  });

  test("decodeEvent throws InvalidEventError naming the field", () => {
    const cases: [string, string, string][] = [
      [
        good.replace(`"ts_event_ns":${T0}`, '"ts_event_ns":1.7e18'),
        "ts_event_ns",
        "expected an integer",
      ],
      [
        good.replace(`"ts_event_ns":${T0}`, '"ts_event_ns":"NaN"'),
        "ts_event_ns",
        "expected an integer",
      ],
      [
        good.replace(`"ts_event_ns":${T0}`, `"ts_event_ns":${2n ** 63n}`),
        "ts_event_ns",
        "outside the signed 64-bit range",
      ],
      [
        good.replace('"volume":null', `"volume":${2n ** 63n}`),
        "volume",
        "outside the signed 64-bit range",
      ],
      [good.replace('"volume":null', '"volume":1.5'), "volume", "expected an integer"],
      [
        good.replace('"bar_period":"MINUTE"', '"bar_period":"minute"'),
        "bar_period",
        "expected one of",
      ],
      [
        line(sampleEvents()[1] as Event).replace('"tiny":1e-7', '"tiny":null'),
        "indicators",
        "expected an object of numbers",
      ],
      ['{"ts_event_ns":1}', "type", "unknown event type"],
      // Half a surrogate pair spelled with \u escapes is no more Unicode than bad UTF-8 bytes.
      [
        line(sampleEvents()[0] as Event).replace('"ÖBB"', '"A\\ud800B"'),
        "symbol",
        "not valid Unicode (a lone surrogate)",
      ],
      [
        line(sampleEvents()[1] as Event).replace('"neg":', '"neg\\udc00":'),
        "indicators",
        "not valid Unicode (a lone surrogate)",
      ],
    ];
    expect(
      decodeEvent(line(sampleEvents()[0] as Event).replace('"ÖBB"', '"\\ud83d\\ude80"')).type,
    ).toBe("BarReceived"); // a whole pair is text
    for (const [bad, field, reason] of cases) {
      let error: unknown;
      try {
        decodeEvent(bad);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(InvalidEventError);
      expect([field, (error as Error).message]).toEqual([
        (error as InvalidEventError).field,
        expect.stringContaining(reason),
      ]);
    }
  });

  test("a 10 MB line decodes; a line beyond the limit is refused without holding more of it", async () => {
    const bar = sampleEvents()[0] as Event & { type: "BarReceived" };
    const big = { ...bar, symbol: "ü".repeat(5 * 1024 * 1024) };
    expect(await readAll([`${good}\n`, encodeEvent(big), `\n${good}`])).toEqual([bar, big, bar]);
    const chunk = "x".repeat(1024 * 1024);
    const endless = (async function* () {
      yield `${good}\n{"type":"BarReceived","symbol":"`;
      for (;;) yield chunk;
    })();
    let error: unknown;
    try {
      for await (const _ of readNdjson(endless));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(NdjsonError);
    expect(error).toMatchObject({ line: 2, reason: "line too long" });
    expect(MAX_LINE_BYTES).toBeGreaterThan(10 * 1024 * 1024);
  });
});

describe("the line writers, held to the format's rules written the plain way", () => {
  /** A line by the rules alone, with JSON.stringify: what every writer must print, byte for byte. */
  function reference(event: Record<string, unknown> & { type: EventType }, int64: Int64Style) {
    const real = (x: number) =>
      Object.is(x, -0) ? "-0" : Number.isFinite(x) ? JSON.stringify(x) : `"${x}"`;
    const parts = [`"type":"${event.type}"`];
    for (const [name, field] of fieldsOf(event.type)) {
      if (!(name in event)) continue;
      const v = event[name];
      let json: string;
      if (v === null || v === undefined) json = "null";
      else if (field.kind === "ns" || field.kind === "int")
        json = int64 === "string" ? `"${v}"` : `${v}`;
      else if (field.kind === "real") json = real(v as number);
      else if (field.kind === "indicators")
        json = `{${Object.entries(v as Record<string, number>)
          .map(([k, x]) => `${JSON.stringify(k)}:${real(x)}`)
          .join(",")}}`;
      else json = JSON.stringify(v);
      parts.push(`"${name}":${json}`);
    }
    return `{${parts.join(",")}}`;
  }

  // A seeded generator: a failure names its seed and comes back the same.
  let seed = 0x2545f491;
  const rand = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 2 ** 32;
  };
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const bits = new DataView(new ArrayBuffer(8));

  /** Floats of every kind the fast path of prices meets, and the ones it must leave alone. */
  function float(): number {
    switch (Math.floor(rand() * 8)) {
      case 0: // a price: up to 8 decimals, up to 1e12
        return (
          Math.round(rand() * 10 ** (2 + Math.floor(rand() * 10))) / 10 ** Math.floor(rand() * 9)
        );
      case 1: {
        // any bit pattern (NaN and the infinities included)
        bits.setUint32(0, Math.floor(rand() * 2 ** 32));
        bits.setUint32(4, Math.floor(rand() * 2 ** 32));
        return bits.getFloat64(0);
      }
      case 2: {
        // next to a value of six decimals, on either side
        const x = Math.round(rand() * 1e15) / 1e6;
        bits.setFloat64(0, x);
        bits.setBigUint64(0, bits.getBigUint64(0) + pick([1n, -1n, 0n]));
        return bits.getFloat64(0);
      }
      case 3: // sums of prices, which miss them
        return Math.round(rand() * 1e5) / 100 + Math.round(rand() * 1e5) / 100;
      case 4:
        return pick([
          0,
          -0,
          1e-6,
          1e-7,
          5e-324,
          0.000001,
          1e9,
          1e9 - 1e-6,
          999999999.999999,
          2 ** 53,
          1e21,
          1.5e300,
        ]);
      case 5:
        return pick([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]);
      case 6: // integers
        return Math.floor(rand() * 2 ** Math.floor(rand() * 64));
      default:
        return rand() * 10 ** (Math.floor(rand() * 40) - 20);
    }
  }
  const signed = (x: number) => (rand() < 0.3 ? -x : x);
  const CHARS = [
    "a",
    "Z",
    "0",
    " ",
    '"',
    "\\",
    "/",
    "\n",
    "\t",
    "\u0000",
    "\u001f",
    "\u007f",
    "é",
    "日",
    "🚀",
    "\ud800",
    "\udc00",
    "\u2028",
  ];
  const text = () =>
    rand() < 0.5
      ? pick(["AAPL", "MSFT", "BRK.B", "order-17", "MINUTE", ""])
      : Array.from({ length: Math.floor(rand() * 12) }, () => pick(CHARS)).join("");
  const INT64S: (() => bigint)[] = [
    () => 0n,
    () => -1n,
    () => 2n ** 63n - 1n,
    () => -(2n ** 63n),
    () => 2n ** 53n + BigInt(Math.floor(rand() * 3) - 1),
    () => BigInt(Math.floor(rand() * 2 ** 53)),
    () => -BigInt(Math.floor(rand() * 2 ** 53)),
    () => 1_700_000_000_000_000_000n + BigInt(Math.floor(rand() * 1e12)),
  ];
  const int64 = () => pick(INT64S)();

  /** An event of `type` with every field drawn at random (nullable ones sometimes null). */
  function randomEvent(type: EventType): Record<string, unknown> & { type: EventType } {
    const event: Record<string, unknown> & { type: EventType } = { type };
    for (const [name, field] of fieldsOf(type)) {
      if (!field.notNull && rand() < 0.2) event[name] = null;
      else if (field.kind === "ns" || field.kind === "int") event[name] = int64();
      else if (field.kind === "real") event[name] = signed(float());
      else if (field.kind === "indicators")
        event[name] = Object.fromEntries(
          Array.from({ length: Math.floor(rand() * 4) }, () => [text(), signed(float())]),
        );
      else event[name] = text();
    }
    return event;
  }

  test("every type, random values, both integer styles, whole and with fields left out", () => {
    for (let i = 0; i < 4_000; i++) {
      const event = randomEvent(pick(EVENT_TYPES));
      if (i % 4 === 3) {
        for (const [name] of fieldsOf(event.type)) if (rand() < 0.3) delete event[name];
      }
      const at = `seed ${seed}, event ${i}`;
      expect([at, encodeEvent(event as unknown as Event)]).toEqual([
        at,
        reference(event, "number"),
      ]);
      expect([at, encodeEventInt64Strings(event as unknown as Event)]).toEqual([
        at,
        reference(event, "string"),
      ]);
    }
  });

  test("an event's row (integers as floats, timestamps in parts, indicators as stored) prints as the event does", () => {
    for (let i = 0; i < 500; i++) {
      const event = randomEvent(pick(EVENT_TYPES));
      // A count a float does not hold is read through the event, never as a row.
      for (const [name, field] of fieldsOf(event.type)) {
        const v = event[name];
        if (field.kind === "int" && typeof v === "bigint") event[name] = v % 2n ** 53n;
      }
      if (i % 4 === 3) {
        for (const [name] of fieldsOf(event.type)) if (rand() < 0.3) delete event[name];
      }
      // Stored indicators are copied where their keys print as they are stored; the others are
      // refused, and the caller writes the event.
      const keys = Object.keys((event.indicators as Record<string, number> | undefined) ?? {});
      const plain = keys.every((k) => /^[ !#-[\]-~]*$/.test(k) && !/^\d/.test(k));
      for (const style of ["number", "string"] as const) {
        const out = new LineBuffer();
        const written = lineWriter(event.type, style, "row")(rowOf(event), out);
        if (plain) expect([seed, i, written]).toEqual([seed, i, true]);
        if (!written) lineWriter(event.type, style)(event, out);
        lineWriter(event.type, style)(event, out);
        const line = reference(event, style);
        expect([seed, i, out.text()]).toEqual([seed, i, `${line}\n${line}\n`]);
      }
    }
  });

  /**
   * Bars written one after another, from their events or their rows, in both integer styles, held
   * to the reference: `times` their ts_event_ns, ts_created_ns the time `shift` places on.
   */
  function expectInARow(
    times: readonly bigint[],
    shift: number,
    from: "event" | "row",
    type: EventType = "BarReceived",
  ) {
    for (const style of ["number", "string"] as const) {
      const out = new LineBuffer();
      const lines = times.map((t, i) => {
        const event = randomEvent(type);
        event.ts_event_ns = t;
        event.ts_created_ns = times[(i + shift) % times.length] as bigint;
        if ("volume" in event) event.volume = 1n; // a count a row holds
        if (from === "row") lineWriter(type, style, "row")(rowOf(event), out);
        else lineWriter(type, style)(event, out);
        return `${reference(event, style)}\n`;
      });
      expect(out.text()).toBe(lines.join(""));
    }
  }

  test("rows in a row whose timestamps share their seconds or their last nine digits", () => {
    const s = 1_700_000_000n * 10n ** 9n;
    const times = [
      s,
      s,
      s + 10n ** 9n,
      s + 10n ** 9n + 7n,
      s + 7n,
      s + 7n,
      -(s + 7n),
      5n,
      10n ** 9n + 5n,
      // The seconds' digits grow by one, the last nine stay: they move.
      999_999_999n * 10n ** 9n + 7n,
      10n ** 18n + 7n,
    ];
    expectInARow(times, 3, "row");
  });

  test("events in a row whose timestamps step within their second, out of it and back", () => {
    const s = 1_700_000_000n * 10n ** 9n;
    const times = [
      s,
      s + 1n,
      s + 1n,
      s + 999_999_999n, // the second's last instant
      s + 10n ** 9n, // the next second: its last nine digits start again
      s + 10n ** 9n + 5n,
      s + 10n ** 9n + 4n, // a step back
      s + 999_999_990n, // back into the second before
      s + 60n * 10n ** 9n + 3n, // the next minute
      s - 3_600n * 10n ** 9n - 1n, // an hour back
      s + 2n ** 52n - 1n, // the longest step taken apart, and a longer one
      s + 2n ** 53n + 2n ** 52n + 1n,
      10n ** 18n - 1n, // the seconds gain a digit, and lose it
      10n ** 18n,
      10n ** 18n - 1n,
      s + 2n ** 60n, // a step a float does not hold
      s + 2n ** 60n + 3n,
      999_999_999n,
      1_000_000_000n,
      1_000_000_001n,
      -(s + 7n),
      -(s + 6n),
      2n ** 63n - 2n,
      2n ** 63n - 1n,
      2n ** 80n,
      2n ** 80n + 1n,
      2n ** 80n + 825_293_824n, // into its next second
      2n ** 84n,
      2n ** 84n + 204_701_184n, // into its next second, past what a float counts
      0n,
      1n,
    ];
    expectInARow(times, 5, "event");
    // Beyond 64 bits, where no event of this type has been written yet: seconds of 16 digits.
    const top = (2n ** 53n - 1n) * 10n ** 9n + 999_999_999n; // the last second with parts
    expectInARow(
      [10n ** 24n - 1n, 10n ** 24n, 10n ** 24n + 10n ** 9n, top, top + 1_000_000_001n, top + 1n],
      1,
      "event",
      "OrderExpired",
    );
  });

  test("a line larger than the buffer, and many lines after it", () => {
    const event = randomEvent("BarProcessed");
    event.symbol = "é".repeat(100_000);
    event.indicators = Object.fromEntries(
      Array.from({ length: 5_000 }, (_, i) => [`k${i}`, i / 7]),
    );
    const out = new LineBuffer();
    const lines: string[] = [];
    for (let i = 0; i < 3; i++) {
      lineWriter("BarProcessed", "number")(event, out);
      lines.push(reference(event, "number"));
    }
    expect(out.length).toBeGreaterThan(1 << 17);
    expect(out.text()).toBe(`${lines.join("\n")}\n`);
    expect(encodeEvent(event as unknown as Event)).toBe(lines[0] as string);
  });
});
