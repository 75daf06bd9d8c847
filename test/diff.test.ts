import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import {
  diffEvents,
  diffRuns,
  diffStreams,
  type Event,
  formatDiff,
  IneffectiveOptionError,
  Recorder,
} from "../src/index.ts";
import { bar, sampleEvents, tempDir } from "./helpers.ts";

const withField = (e: Event, field: string, value: unknown) => ({ ...e, [field]: value }) as Event;

describe("diff", () => {
  test("equal streams match; ts_created_ns is ignored by default, compared on request", () => {
    const a = sampleEvents();
    const b = a.map((e) => withField(e, "ts_created_ns", e.ts_created_ns + 1n));
    expect(diffEvents(a, b).match).toBe(true);
    const strict = diffEvents(a, b, { ignore: [] });
    expect(strict.match).toBe(false);
    expect(strict.differing).toBe(a.length);
    expect(strict.first?.fields).toEqual([
      { field: "ts_created_ns", a: a[0]?.ts_created_ns, b: (a[0]?.ts_created_ns ?? 0n) + 1n },
    ]);
  });

  test("bigints compare exactly, NaN equals NaN, floats within the tolerance", () => {
    const [x] = sampleEvents() as [Event];
    expect(diffEvents([x], [withField(x, "ts_event_ns", x.ts_event_ns + 1n)]).match).toBe(false);
    const processed = sampleEvents()[1] as Event;
    expect(diffEvents([processed], [structuredClone(processed)]).match).toBe(true);
    const a = withField(x, "open", 100);
    const b = withField(x, "open", 100.00001);
    expect(diffEvents([a], [b]).match).toBe(false);
    expect(diffEvents([a], [b], { tolerance: { abs: 1e-4 } }).match).toBe(true);
    expect(diffEvents([a], [b], { tolerance: { rel: 1e-8 } }).match).toBe(false);
    expect(diffEvents([a], [b], { tolerance: { rel: 1e-6 } }).match).toBe(true);
  });

  test("a tolerance forgives rounding only: an infinite value equals only itself", () => {
    const processed = sampleEvents()[1] as Event;
    const withSma = (sma: number) => withField(processed, "indicators", { sma });
    const tolerance = { abs: 1e-9, rel: 1e-9 };
    for (const other of [5, Number.NEGATIVE_INFINITY, 1e308, Number.NaN]) {
      const result = diffEvents([withSma(Number.POSITIVE_INFINITY)], [withSma(other)], {
        tolerance,
      });
      expect([other, result.match]).toEqual([other, false]);
    }
    const same = diffEvents([withSma(Infinity)], [withSma(Infinity)], { tolerance });
    expect(same.match).toBe(true);
  });

  test("indicators with a key the other lacks differ, whichever side has it", () => {
    const processed = sampleEvents()[1] as Event;
    const fewer = withField(processed, "indicators", { sma: 1.5 });
    const more = withField(processed, "indicators", { sma: 1.5, rsi: 70 });
    for (const [a, b] of [
      [fewer, more],
      [more, fewer],
    ]) {
      const result = diffEvents([a as Event], [b as Event]);
      expect(result.match).toBe(false);
      expect(result.first?.fields).toEqual([
        {
          field: "indicators",
          a: (a as { indicators: unknown }).indicators,
          b: (b as { indicators: unknown }).indicators,
        },
      ]);
    }
  });

  test("reports the first divergence: differing type, or a run that ends early", () => {
    const events = [bar(0), bar(1), bar(2)];
    const swapped = [bar(0), sampleEvents()[4] as Event, bar(2)];
    const typeDiff = diffEvents(events, swapped);
    expect(typeDiff.first).toMatchObject({ index: 1, fields: [] });
    expect(formatDiff(typeDiff)).toStartWith(
      "first divergence at event #2: a has BarReceived, b has OrderCancellationRequest",
    );
    const short = diffEvents(events, events.slice(0, 1));
    expect(short.first).toMatchObject({ index: 1, b: null });
    expect(short.differing).toBe(2);
    expect(short.countsA.BarReceived).toBe(3);
    expect(short.countsB.BarReceived).toBe(1);
    expect(formatDiff(short)).toContain("BarReceived: 3 vs 1");
  });

  test("counts and positions are grouped by thousands, as inspect prints them", () => {
    const a = Array.from({ length: 2_500 }, (_, i) => bar(i));
    const b = [...a.slice(0, 1_200), ...a.slice(1_201)];
    expect(formatDiff(diffEvents(a, a))).toBe("runs match (2,500 events)");
    const lines = formatDiff(diffEvents(a, b)).split("\n");
    expect(lines[0]).toBe("first divergence at event #1,201 (BarReceived):");
    expect(lines.slice(-2)).toEqual([
      "1,300 event positions differ; a has 2,500 events, b has 2,499",
      "  BarReceived: 2,500 vs 2,499",
    ]);
    const one = formatDiff(diffEvents([bar(0)], [bar(1)])).split("\n");
    expect(one.at(-1)).toBe("1 event position differs; a has 1 event, b has 1");
  });

  test("max keeps the first N divergences in order; differing counts them all", () => {
    const a = [bar(0), bar(1), bar(2), bar(3), bar(4)];
    const b = a.map((e, i) => (i % 2 === 0 ? withField(e, "volume", 1) : e));
    const result = diffEvents(a, b, { max: 2 });
    expect(result.divergences.map((d) => d.index)).toEqual([0, 2]);
    expect(result.first).toBe(result.divergences[0] ?? null);
    expect(result.differing).toBe(3);
    expect(diffEvents(a, b).divergences.map((d) => d.index)).toEqual([0]);
    expect(
      formatDiff(result)
        .split("\n")
        .filter((l) => l.includes("divergence at")),
    ).toEqual([
      "first divergence at event #1 (BarReceived):",
      "divergence at event #3 (BarReceived):",
    ]);
  });

  test("the noun names what the streams hold in every line", () => {
    const a = [bar(0), bar(1), bar(2)];
    const b = a.map((e, i) => (i === 1 ? e : withField(e, "volume", 1)));
    const text = formatDiff(diffEvents(a, b, { max: 2 }), { a: "a", b: "b" }, { noun: "bar" });
    expect(text.split("\n")).toEqual([
      "first divergence at bar #1 (BarReceived):",
      expect.stringMatching(/^ {2}volume: /),
      "divergence at bar #3 (BarReceived):",
      expect.stringMatching(/^ {2}volume: /),
      "2 bar positions differ; a has 3 bars, b has 3",
    ]);
    expect(formatDiff(diffEvents(a, a), undefined, { noun: "bar" })).toBe("bars match (3 bars)");
  });

  test("excluded types are left out of both sides", () => {
    const a = [bar(0), sampleEvents()[4] as Event, bar(1)];
    const b = [bar(0), bar(1)];
    expect(diffEvents(a, b, { excludeTypes: ["OrderCancellationRequest"] }).match).toBe(true);
  });

  test("compares recorded runs of two databases with flat memory", () => {
    const dir = tempDir();
    for (const name of ["a", "b"]) {
      const recorder = Recorder.start(join(dir, `${name}.db`), { runId: name });
      for (let i = 0; i < 6_000; i++)
        recorder.record(bar(i, name === "b" && i === 4_500 ? "MSFT" : "AAPL"));
      recorder.close();
    }
    const result = diffRuns({ db: join(dir, "a.db") }, { db: join(dir, "b.db"), run: "b" });
    expect(result.first?.index).toBe(4_500);
    expect(result.first?.fields).toEqual([{ field: "symbol", a: "AAPL", b: "MSFT" }]);
    expect(result.differing).toBe(1);
  });
});

describe("diff options", () => {
  test("a wrong option is INVALID_OPTION naming it, never a different comparison", () => {
    const events = sampleEvents();
    for (const [options, message] of [
      [{ tolerance: 5 }, "diff option tolerance: expected { abs, rel }"],
      [{ tolerance: { abs: -1 } }, "diff option tolerance: expected a number ≥ 0"],
      [{ tolerance: { abs: Number.NaN } }, "diff option tolerance: expected a number ≥ 0"],
      [{ max: -1 }, "diff option max: expected a whole number ≥ 0"],
      [{ max: 1.5 }, "diff option max: expected a whole number ≥ 0"],
      [{ ignore: "ts_created_ns" }, "diff option ignore: "],
      [null, "diff options: "],
    ] as const) {
      let error: unknown;
      try {
        diffEvents(events, events, options as never);
      } catch (e) {
        error = e;
      }
      expect([options, (error as { code?: string })?.code, (error as Error)?.message]).toEqual([
        options,
        "INVALID_OPTION",
        expect.stringContaining(message),
      ]);
    }
    expect(diffEvents(events, events, { tolerance: { abs: 0.1 }, max: 0 }).match).toBe(true);
  });

  test("a field of ignore that no event has: IneffectiveOptionError, where it compared the field after all", async () => {
    const events = sampleEvents();
    const message =
      'diff option ignore: no event has a field "ts_created" (fields are the NDJSON keys of the events, e.g. ts_created_ns)';
    const options = { ignore: ["ts_created"] };
    expect(() => diffEvents(events, events, options)).toThrow(IneffectiveOptionError);
    expect(() => diffEvents(events, events, options)).toThrow(message);
    async function* stream() {
      yield* events;
    }
    await expect(diffStreams(stream(), stream(), options)).rejects.toThrow(message);
    expect(diffEvents(events, events, { ignore: ["ts_created_ns", "fill_id"] }).match).toBe(true);
  });

  test("diffStreams refuses the options diffEvents refuses", async () => {
    async function* stream() {
      yield* sampleEvents();
    }
    for (const [options, message] of [
      [{ max: -5 }, "diff option max: expected a whole number ≥ 0"],
      [{ tolerance: { abs: -1 } }, "diff option tolerance: expected a number ≥ 0"],
      [{ tollerance: { abs: 1 } }, "diff option tollerance"],
    ] as const) {
      await expect(diffStreams(stream(), stream(), options as never)).rejects.toMatchObject({
        code: "INVALID_OPTION",
        message: expect.stringContaining(message),
      });
    }
    expect((await diffStreams(stream(), stream(), { max: 0 })).match).toBe(true);
  });
});
