import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import {
  type Event,
  type EventInput,
  encodeEvent,
  encodeEventInt64Strings,
  listRuns,
  makeEvent,
  type NdjsonReplayOptions,
  openRunsDb,
  openSource,
  Recorder,
  type ReplayOptions,
  type ReplayStats,
  replay,
  replayNdjson,
} from "../src/index.ts";
import { cli } from "./cli/inprocess.ts";
import {
  fixtureCopy,
  fixtureEvents,
  fixtureTest,
  lineText,
  recordDemoRuns,
  sampleEvents,
  T_NEG,
  T0,
  T1,
  tempDir,
} from "./helpers.ts";

// `runtape replay` prints a file's lines from its rows, integers read as floats (timestamps in two
// parts), stored indicators copied from their text, no event built (replayLines): each line must
// be the library's encoding of the event replay gives, byte for byte.

/** What the library makes of the run: its events encoded, one line each. */
function expected(path: string, options: ReplayOptions, int64 = "number"): string {
  const encode = int64 === "string" ? encodeEventInt64Strings : encodeEvent;
  return [...replay(path, options)].map((e) => `${encode(e)}\n`).join("");
}

/** The CLI's stdout for `replay path args…`, which must succeed. */
async function printed(path: string, args: string[]): Promise<string> {
  const result = await cli(["replay", path, ...args]);
  expect([args, result.code]).toEqual([args, 0]);
  return result.stdout;
}

/** Records `events` as run `runId` into `path`; returns `path`. */
function recordEvents(path: string, events: Iterable<Event>, runId: string): string {
  const recorder = Recorder.start(path, { runId });
  for (const e of events) recorder.record(e);
  recorder.close();
  return path;
}

describe("runtape replay's NDJSON equals the library's encoder", () => {
  const demo = recordDemoRuns(join(tempDir(), "demo.db"), ["demo"], { bars: 60 });
  const events = [...replay(demo, { run: "demo" })];
  const from = (events[50] as Event).ts_event_ns;
  const to = (events[400] as Event).ts_event_ns;
  const cases: [ReplayOptions, string[]][] = [
    [{}, []],
    [{ types: ["FillEvent", "BarProcessed"] }, ["--types", "FillEvent,BarProcessed"]],
    [{ excludeTypes: ["BarReceived"] }, ["--exclude-types", "BarReceived"]],
    [{ symbols: ["AAPL"] }, ["--symbols", "AAPL"]],
    [{ from, to }, ["--from", `${from}`, "--to", `${to}`]],
    [{ limit: 33 }, ["--limit", "33"]],
    [
      { from, types: ["OrderAccepted"], limit: 5 },
      ["--from", `${from}`, "--types", "OrderAccepted", "--limit", "5"],
    ],
  ];

  test("a demo run, whole and filtered, with int64 as numbers and as strings", async () => {
    expect(new Set(events.map((e) => e.type)).size).toBeGreaterThan(10);
    for (const [options, args] of cases) {
      for (const int64 of ["number", "string"]) {
        const want = expected(demo, { run: "demo", ...options }, int64);
        const got = await printed(demo, ["--run", "demo", "--int64", int64, ...args]);
        expect([args, int64, got]).toEqual([args, int64, want]);
      }
    }
    expect(expected(demo, { run: "demo", symbols: ["AAPL"] }).length).toBeGreaterThan(0);
  });

  test("edge values: int64 bounds, NULLs, unicode, extreme floats, -0, NaN and ±Infinity", async () => {
    const path = recordEvents(join(tempDir(), "edges.db"), sampleEvents(), "edges");
    const text = await printed(path, ["--run", "edges"]);
    expect(text).toBe(expected(path, { run: "edges" }));
    for (const v of [T1, T_NEG]) expect(text).toContain(`${v}`);
    expect(text).toContain('"NaN"');
    expect(text).toContain("-0");
    expect(await printed(path, ["--run", "edges", "--int64", "string"])).toBe(
      expected(path, { run: "edges" }, "string"),
    );
  });

  test("integers stored as another storage class go the event path: same line, same error", async () => {
    const path = recordEvents(join(tempDir(), "foreign.db"), sampleEvents(), "f");
    const raw = new Database(path);
    // An INTEGER column without its affinity's conversion: an integral REAL is the same value.
    raw.run(`UPDATE bars SET volume = CAST(${T0 % 2n ** 50n} AS REAL) WHERE id = 1`);
    raw.run("UPDATE bars SET volume = NULL WHERE id = 2");
    raw.close();
    const text = await printed(path, ["--run", "f"]);
    expect(text).toBe(expected(path, { run: "f" }));
    expect(text).toContain(`"volume":${T0 % 2n ** 50n}`);

    const broken = new Database(path);
    broken.run("UPDATE fills SET ts_broker_ns = 'soon' WHERE id = 1");
    broken.close();
    const failed = await cli(["replay", path, "--run", "f"]);
    expect(failed.code).not.toBe(0);
    expect(failed.stderr).toContain("fills row 1, ts_broker_ns: expected a bigint");
    const stats: ReplayStats = { runId: "", events: 0, skipped: 0 };
    const skipped = await printed(path, ["--run", "f", "--skip-invalid"]);
    expect(skipped).toBe(expected(path, { run: "f", onInvalidRow: "skip", stats }));
    expect(stats.skipped).toBe(1);
  });

  test("timestamps and counts across the 64-bit range, read as floats, print exactly", () => {
    // Each side of 2^53 (where a float stops holding every integer), of 10^9 (the parts' split)
    // and of zero, and the ends of the range.
    const edges = [0n, 1n, 999_999_999n, 10n ** 9n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n];
    const values = [...edges, ...edges.map((v) => -v), T0, -T0, T1, T_NEG, T1 - 1n, T_NEG + 1n];
    let state = 7;
    const random = () => {
      state = (state * 48_271) % 2_147_483_647;
      return BigInt(state);
    };
    for (let i = 0; i < 300; i++) values.push((random() << 32n) ^ random(), -(random() << 20n));
    const bar = sampleEvents()[0] as Event;
    const bars = values.map((v, i) =>
      makeEvent("BarReceived", {
        ...(bar as EventInput<"BarReceived">),
        ts_event_ns: v,
        ts_created_ns: values[(i * 7) % values.length] as bigint,
        volume: i % 3 === 0 ? null : values[(i * 13) % values.length],
      }),
    );
    const path = recordEvents(join(tempDir(), "range.db"), bars, "r");
    for (const int64 of ["number", "string"] as const) {
      const text = lineText(path, { run: "r" }, int64);
      expect(text).toBe(expected(path, { run: "r" }, int64));
      expect(text.split("\n").length).toBe(values.length + 1);
    }
  });

  test("ids and sequence numbers a float does not hold: the same lines, order and errors", async () => {
    const path = recordEvents(join(tempDir(), "keys.db"), sampleEvents(), "k");
    const raw = new Database(path);
    // One float holds neither: read as floats, the two would tie and go in catalog order.
    raw.run("UPDATE fills SET seq = ? WHERE id = 1", [2n ** 60n + 1n]);
    raw.run("UPDATE bars_processed SET seq = ? WHERE id = 1", [2n ** 60n + 2n]);
    raw.close();
    const text = lineText(path, { run: "k" }, "number");
    expect(text).toBe(expected(path, { run: "k" }));
    expect(
      text
        .trimEnd()
        .split("\n")
        .slice(-2)
        .map((line) => JSON.parse(line).type),
    ).toEqual(["FillEvent", "BarProcessed"]);
    const broken = new Database(path);
    broken.run("UPDATE bars SET id = ?, ts_created_ns = 'soon' WHERE id = 1", [2n ** 60n + 1n]);
    broken.close();
    const failed = await cli(["replay", path, "--run", "k"]);
    expect(failed.stderr).toContain(`bars row ${2n ** 60n + 1n}, ts_created_ns: expected a bigint`);
  });

  test("a timestamp stored as a float (a fraction, past the range): skipped or refused as replay does", async () => {
    const path = recordEvents(join(tempDir(), "fraction.db"), sampleEvents(), "x");
    const raw = new Database(path);
    raw.run("UPDATE bars SET ts_created_ns = 1.5 WHERE id = 1");
    // Past the 64-bit range an INTEGER column keeps a REAL as it is.
    raw.run("UPDATE order_submissions SET ts_created_ns = 9223372036854775808.0 WHERE id = 1");
    raw.close();
    const failed = await cli(["replay", path, "--run", "x", "--skip-invalid"]);
    expect(failed.code).toBe(0);
    const stats: ReplayStats = { runId: "", events: 0, skipped: 0 };
    expect(failed.stdout).toBe(expected(path, { run: "x", onInvalidRow: "skip", stats }));
    expect(stats.skipped).toBe(2);
    const refused = await cli(["replay", path, "--run", "x"]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("bars row 1, ts_created_ns: expected a bigint (got 1.5)");
  });

  test("indicators stored in any form: copied, or parsed, or refused as replay does", async () => {
    // Each text replaces one processed bar's stored indicators. Python's own form is copied as it
    // is; the rest must come out as the event path writes it, or fail as the event path fails.
    const decoding = [
      "{}",
      '{"a": 1.0, "b": -0.0, "c": 0.0, "d": 100, "e": -0, "f": 12.5}',
      '{"a": 1e-05, "b": 1.5e+16, "c": 1E2, "d": 2.5e-7}',
      '{"a": 100.50, "b": 0.0000001, "c": 0.000001, "d": 0.00012}',
      '{"a": 0.1000000000000000055511151231257827, "b": 0.30000000000000004, "c": 5e-324}',
      '{"a": 123456789012345.6, "b": 1234567890123456.7, "c": 9007199254740993.0}',
      '{"a": 9007199254740992, "b": 1.7976931348623157e+308}',
      '{"a": NaN, "b": Infinity, "c": -Infinity}',
      '{"b": 1.0, "a": 2.0, "1": 3.0, "0": 4.0}',
      '{"a": 1.0, "a": 2.0, "b": 3.0}',
      '{"__proto__": 1.0, "a b": 3.25}',
      '{"a":1.0,"b":2.0}',
      '{"a" : 1.0}',
      '{ "a": 1.0 }',
      '{"caf\\u00e9": 1.0, "tab\\t": 2.0}',
      '{"café": 1.0}',
      '{"a": 1.0,"b": 2.0}',
      // 16 digits that are not the shortest text of their float (9.000000000000002).
      '{"a": 9.000000000000001}',
    ];
    const refused = [
      '{"a": "x"}',
      '{"a": [1.0]}',
      '{"a": {"b": 1.0}}',
      "[1.0]",
      "null",
      '{"a": 007}',
      '{"a": 1.}',
      '{"a": .5}',
      '{"a": -NaN}',
      '{"a": 12345678901234567890}',
      '{"a": 1.0',
      '{"a": 1.0,""b": 2.0}',
      "not json",
    ];
    const processed = sampleEvents()[1] as Event;
    const texts = [...decoding, ...refused];
    const events = texts.map((_, i) =>
      makeEvent("BarProcessed", {
        ...(processed as EventInput<"BarProcessed">),
        ts_event_ns: T0 + BigInt(i),
        volume: BigInt(i),
        indicators: { x: i + 0.5 },
      }),
    );
    const path = recordEvents(join(tempDir(), "indicators.db"), events, "i");
    const raw = new Database(path);
    texts.forEach((text, i) => {
      raw.run("UPDATE bars_processed SET indicators = ? WHERE volume = ?", [text, i]);
    });
    raw.close();
    for (const int64 of ["number", "string"] as const) {
      const stats: ReplayStats = { runId: "", events: 0, skipped: 0 };
      const want = expected(path, { run: "i", onInvalidRow: "skip", stats }, int64);
      expect(stats.skipped).toBe(refused.length);
      const got = await printed(path, ["--run", "i", "--int64", int64, "--skip-invalid"]);
      expect(got.split("\n")).toEqual(want.split("\n"));
    }
    const failed = await cli(["replay", path, "--run", "i"]);
    expect(failed.stderr).toContain(`bars_processed row ${decoding.length + 1}, indicators:`);
  });

  test("a damaged file's equal sequence numbers are ordered as replay orders them", async () => {
    // The fill's time is far before the bar's, or 1 ns before (which a float does not tell apart).
    for (const ts of [T_NEG, T0 - 1n]) {
      const path = recordEvents(join(tempDir(), "dup.db"), sampleEvents(), "d");
      const raw = new Database(path);
      raw.run(
        "UPDATE fills SET seq = (SELECT seq FROM bars WHERE id = 1), ts_event_ns = ? WHERE id = 1",
        [ts],
      );
      raw.run("UPDATE bars_processed SET seq = (SELECT seq FROM bars WHERE id = 1) WHERE id = 1");
      raw.close();
      const text = await printed(path, ["--run", "d"]);
      expect(text).toBe(expected(path, { run: "d" }));
      expect(text.indexOf('"FillEvent"')).toBeLessThan(text.indexOf('"BarReceived"'));
    }
  });

  for (const fixture of ["reference", "threaded"] as const) {
    fixtureTest(
      `the Python recorder's ${fixture} fixture, every run, whole and limited, int64 as numbers and strings`,
      async () => {
        const path = fixtureCopy(fixture);
        const db = openRunsDb(path);
        const runs = listRuns(db).map((r) => r.run_id);
        db.close();
        expect(runs.length).toBeGreaterThan(0);
        for (const run of runs) {
          const whole = fixtureEvents(run, fixture).map((e) => `${encodeEvent(e)}\n`);
          expect(await printed(path, ["--run", run])).toBe(whole.join(""));
          expect(await printed(path, ["--run", run, "--int64", "string", "--limit", "50"])).toBe(
            expected(path, { run, limit: 50 }, "string"),
          );
        }
      },
      fixture,
    );
  }
});

describe("replayNdjson", () => {
  test("refuses an int64 style, a thread count or a replay option it does not know", async () => {
    const path = recordDemoRuns(join(tempDir(), "opts.db"), ["a"], { bars: 10 });
    await using source = await openSource(path);
    const refusal = async (options: unknown) => {
      try {
        for await (const _ of replayNdjson(source, options as NdjsonReplayOptions));
        return "replayed";
      } catch (error) {
        return String(error);
      }
    };
    expect(await refusal({ int64: "bigint" })).toBe(
      'RuntapeError: replay option int64: expected "number" or "string"',
    );
    expect(await refusal({ threads: 3 })).toBe(
      "RuntapeError: replay option threads: expected 1 or 2",
    );
    expect(await refusal({ limt: 5 })).toStartWith(
      "RuntapeError: replay option limt: no such option",
    );
    expect(await refusal({ run: "a", threads: 2 })).toBe("replayed");
  });

  test("a file's blocks are the encoded events' lines, whole lines each, with the replay's filters and stats", async () => {
    const path = recordDemoRuns(join(tempDir(), "blocks.db"), ["a"], { bars: 300 });
    const cases: [ReplayOptions, "number" | "string", 1 | 2][] = [
      [{ run: "a" }, "number", 1],
      [{ run: "a", types: ["FillEvent", "BarProcessed"] }, "string", 1],
      [{ run: "a", symbols: ["MSFT"], limit: 100 }, "number", 2],
    ];
    for (const [options, int64, threads] of cases) {
      const encode = int64 === "string" ? encodeEventInt64Strings : encodeEvent;
      const events = [...replay(path, options)];
      const stats = { runId: "", events: 0, skipped: 0 };
      const blocks: string[] = [];
      await using source = await openSource(path);
      for await (const block of replayNdjson(source, { ...options, int64, threads, stats })) {
        blocks.push(new TextDecoder().decode(block));
      }
      expect(blocks.join("")).toBe(events.map((e) => `${encode(e)}\n`).join(""));
      expect(blocks.every((b) => b.endsWith("\n"))).toBe(true);
      expect(stats).toEqual({ runId: "a", events: events.length, skipped: 0 });
      if (options.types === undefined && options.limit === undefined) {
        expect(blocks.length).toBeGreaterThan(1); // each block read before the next reuses it
      }
    }
  });
});
