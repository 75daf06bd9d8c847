import { describe, expect, test } from "bun:test";
import { decodeEvent, type Event, encodeEvent, NdjsonError, readNdjson } from "../src/index.ts";
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
      `{"type":"BarProcessed","ts_event_ns":${T0},"ts_created_ns":${T0 + 7n},"symbol":"日本語 🚀","bar_period":"SECOND","open":1,"high":2,"low":0.5,"close":1.5,"volume":9007199254740991,"indicators":{"SMA 5":"NaN","Grüße \\"q\\"":"Infinity","neg":"-Infinity","tiny":1e-7,"big":10000000000000000,"zero":-0}}`,
    );
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
});
