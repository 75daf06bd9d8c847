import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { copyFileSync } from "node:fs";
import { join } from "node:path";
import {
  checkDatabase,
  type DiffOptions,
  diffEvents,
  diffRuns,
  type Event,
  openRunsDb,
  Recorder,
  replay,
} from "../src/index.ts";
import { rowCheck } from "../src/replay.ts";
import { cleanRun } from "../src/stored-runs.ts";
import { bar, forgetSequence, reading, rowsProven, sampleEvents, tempDir } from "./helpers.ts";

const dir = tempDir();
/** Every event type (NaN, ±Infinity and -0 among the indicators), then bars: 33 events. */
const EVENTS: Event[] = [...sampleEvents(), ...Array.from({ length: 20 }, (_, i) => bar(i))];

function recorded(name: string, events: Event[] = EVENTS): string {
  const path = join(dir, `${name}.db`);
  const recorder = Recorder.start(path, { runId: "run" });
  for (const event of events) recorder.record(event);
  recorder.close();
  return path;
}

const base = recorded("base");
let copies = 0;

/** A copy of the base run, changed behind runtape's back. */
function changed(...statements: string[]): string {
  const path = join(dir, `copy-${++copies}.db`);
  copyFileSync(base, path);
  const raw = new Database(path);
  for (const sql of statements) raw.run(sql);
  raw.close();
  return path;
}

/** What comparing events one by one says: the result the fast path must reproduce exactly. */
const eventPath = (a: string, b: string, options: DiffOptions = {}) =>
  diffEvents(
    [...replay(a, { excludeTypes: options.excludeTypes })],
    [...replay(b, { excludeTypes: options.excludeTypes })],
    options,
  );

describe("diff of stored runs", () => {
  test("equal runs are proven equal from their rows, with the event path's counts", () => {
    const copy = changed();
    const result = diffRuns({ db: base }, { db: copy });
    expect(result.match).toBe(true);
    expect(result).toEqual(eventPath(base, copy));
    expect(rowsProven(base, copy)).toEqual({ ...result.countsA });
    expect(result.countsA.BarReceived).toBe(21);
    // A run with itself, through one handle: read once.
    const db = openRunsDb(base);
    expect(diffRuns({ db }, { db })).toEqual(result);
    db.close();
  });

  // Each change is the only difference between the two runs: the stored rows must not prove
  // them equal, and the result is the event path's, to the field.
  test.each([
    ["one float", "UPDATE bars SET close = 0.5000000000000001 WHERE close = 0.5", "close"],
    [
      "one indicator value",
      "UPDATE bars_processed SET indicators = replace(indicators, '1e-07', '2e-07')",
      "indicators",
    ],
    ["one volume", "UPDATE bars SET volume = volume + 1 WHERE volume = 1005", "volume"],
    ["a NULL for a value", "UPDATE bars SET volume = NULL WHERE volume = 1005", "volume"],
    ["one text", "UPDATE order_submissions SET signal = signal || ' ' WHERE seq = 3", "signal"],
    ["one ts_event_ns", "UPDATE expirations SET ts_event_ns = ts_event_ns + 1", "ts_event_ns"],
  ])("runs that differ in %s differ", (_, sql, field) => {
    const copy = changed(sql);
    expect(rowsProven(base, copy)).toBeUndefined();
    const result = diffRuns({ db: base }, { db: copy });
    expect(result).toEqual(eventPath(base, copy));
    expect([result.match, result.differing]).toEqual([false, 1]);
    expect(result.first?.fields.map((f) => f.field)).toEqual([field]);
  });

  test("runs whose events come in another order differ", () => {
    // The first two events (a bar, a processed bar) trade places; each table is as it was.
    const copy = changed(
      "UPDATE bars SET seq = 2 WHERE seq = 1",
      "UPDATE bars_processed SET seq = 1 WHERE seq = 2",
    );
    expect(rowsProven(base, copy)).toBeUndefined();
    const result = diffRuns({ db: base }, { db: copy });
    expect(result).toEqual(eventPath(base, copy));
    expect([result.match, result.first?.index]).toEqual([false, 0]);
  });

  test("where two tables share a seq (a damaged file), ts_event_ns orders them, even if ignored", () => {
    // A bar and a processed bar of one moment, both numbered 1: the bar goes first, unless later.
    const tie = ["UPDATE bars_processed SET seq = 1 WHERE seq = 2"];
    const [a, b] = [
      changed(...tie),
      changed(...tie, "UPDATE bars SET ts_event_ns = ts_event_ns + 1 WHERE seq = 1"),
    ];
    const options = { ignore: ["ts_created_ns", "ts_event_ns"] };
    expect(rowsProven(a, b, options)).toBeUndefined();
    const result = diffRuns({ db: a }, { db: b }, options);
    expect(result).toEqual(eventPath(a, b, options));
    expect([result.match, result.first?.a?.type, result.first?.b?.type]).toEqual([
      false,
      "BarReceived",
      "BarProcessed",
    ]);
  });

  test("a run with one event more at the end differs, either way round", () => {
    const longer = recorded("longer", [...EVENTS, bar(99)]);
    expect(rowsProven(base, longer)).toBeUndefined();
    expect(rowsProven(longer, base)).toBeUndefined();
    const result = diffRuns({ db: base }, { db: longer });
    expect(result).toEqual(eventPath(base, longer));
    expect([result.match, result.first?.index, result.first?.a]).toEqual([
      false,
      EVENTS.length,
      null,
    ]);
    expect(diffRuns({ db: longer }, { db: base })).toEqual(eventPath(longer, base));
  });

  test("ts_created_ns: ignored by default, compared with ignore []", () => {
    const copy = changed("UPDATE fills SET ts_created_ns = ts_created_ns + 1");
    expect(rowsProven(base, copy)).toEqual(rowsProven(base, base));
    expect(diffRuns({ db: base }, { db: copy }).match).toBe(true);
    expect(rowsProven(base, copy, { ignore: [] })).toBeUndefined();
    const strict = diffRuns({ db: base }, { db: copy }, { ignore: [] });
    expect(strict).toEqual(eventPath(base, copy, { ignore: [] }));
    expect(strict.first?.fields.map((f) => f.field)).toEqual(["ts_created_ns"]);
  });

  test("-0 and 0 are equal, as the event path has them, with or without the proof", () => {
    const negative = recorded("negative", [{ ...bar(0), close: -0 } as Event]);
    const positive = recorded("positive", [{ ...bar(0), close: 0 } as Event]);
    expect(diffRuns({ db: negative }, { db: positive })).toEqual(eventPath(negative, positive));
    expect(diffRuns({ db: negative }, { db: positive }).match).toBe(true);
    // In indicators the text differs ("-0.0", "0.0"): not proven, equal event by event.
    const zero = changed(
      `UPDATE bars_processed SET indicators = replace(indicators, '"zero": -0.0', '"zero": 0.0')`,
    );
    expect(rowsProven(base, zero)).toBeUndefined();
    expect(diffRuns({ db: base }, { db: zero })).toEqual(eventPath(base, zero));
    expect(diffRuns({ db: base }, { db: zero }).match).toBe(true);
  });

  test("a difference in an excluded type is left out; in another it is not", () => {
    const copy = changed("UPDATE fills SET quantity_filled = quantity_filled + 1");
    const options = { excludeTypes: ["FillEvent" as const] };
    expect(rowsProven(base, copy, options)).toBeDefined();
    const result = diffRuns({ db: base }, { db: copy }, options);
    expect(result).toEqual(eventPath(base, copy, options));
    expect([result.match, result.countsA.FillEvent]).toEqual([true, 0]);
  });

  test("a row replay refuses is an error, even where both runs hold it or it is not compared", () => {
    for (const sql of [
      "UPDATE bars SET open = 'abc' WHERE seq = 1",
      "UPDATE fills SET ts_created_ns = 'late'",
      "UPDATE bars SET seq = NULL WHERE seq = 1",
    ]) {
      const copy = changed(sql);
      const expected = (() => {
        try {
          eventPath(copy, copy);
        } catch (error) {
          return error;
        }
      })();
      expect(expected).toBeInstanceOf(Error);
      expect(() => diffRuns({ db: copy }, { db: copy })).toThrow(expected as Error);
      const db = openRunsDb(copy); // the run with itself through one handle: read once
      expect(() => diffRuns({ db }, { db })).toThrow(expected as Error);
      db.close();
      expect(() => diffRuns({ db: base }, { db: copy })).toThrow(expected as Error);
    }
  });

  test("runs without sequence numbers (the Python recorder's) are compared event by event", () => {
    const [python, other] = [changed(), changed("UPDATE bars SET open = 1 WHERE volume = 1005")];
    for (const path of [python, other]) forgetSequence(path, "run");
    expect(rowsProven(python, python)).toBeUndefined();
    expect(diffRuns({ db: python }, { db: python }).match).toBe(true);
    expect(diffRuns({ db: python }, { db: other })).toEqual(eventPath(python, other));
    expect(diffRuns({ db: python }, { db: other }).first?.fields.map((f) => f.field)).toEqual([
      "open",
    ]);
  });
});

describe("clean runs", () => {
  const clean = (path: string) => reading(path, (db) => cleanRun({ db, runId: "run" }));
  const findings = (path: string) => reading(path, checkDatabase);

  test("a recorded run is proven clean, with its events per type", () => {
    const counts = clean(base);
    expect(counts).toMatchObject({ BarReceived: 21, BarProcessed: 1, FillEvent: 1 });
    expect(Object.values(counts ?? {}).reduce((a, b) => a + b)).toBe(EVENTS.length);
    expect(findings(base)).toEqual([]);
  });

  // inspect --check asks for each table's checks for every run: compiled per call (13 `new
  // Function` a run), they were a quarter of the time of checking thousands of small runs.
  test("each table's row checks are compiled once per catalog, whatever the run or file", () => {
    const copy = changed();
    reading(base, (x) =>
      reading(copy, (y) => {
        for (const type of x.catalog.types) {
          expect(rowCheck(x, type)).toBe(rowCheck(y, type));
          // diff's checks of what it does not compare: the same fields, the same check.
          const some = rowCheck(x, type, (f) => f !== "ts_created_ns");
          expect(rowCheck(y, type, (f) => !["ts_created_ns"].includes(f))).toBe(some);
          expect(rowCheck(y, type, () => true)).toBe(rowCheck(x, type));
        }
      }),
    );
  });

  test("a run the Python recorder wrote (no sequence numbers) is proven clean by its rows alone", () => {
    const python = changed();
    forgetSequence(python, "run");
    expect(clean(python)).toEqual(clean(base));
    expect(findings(python)).toEqual([]);
    const broken = changed("UPDATE fills SET side = 'buy'");
    forgetSequence(broken, "run");
    expect(clean(broken)).toBeUndefined();
    expect(findings(broken).map((f) => f.kind)).toEqual(["row"]);
  });

  // Each leaves the run unproven, and the event path finds it (inspect.test.ts, check.test.ts).
  test.each([
    ["a value replay refuses", "UPDATE bars SET open = 'abc' WHERE seq = 1"],
    ["broken indicators", `UPDATE bars_processed SET indicators = '{"sma": '`],
    ["an unknown enum value", "UPDATE fills SET side = 'buy'"],
    ["a sequence number twice", "UPDATE fills SET seq = 1"],
    ["a gap", "UPDATE bars SET seq = 99 WHERE seq = 1"],
    ["no sequence number", "UPDATE bars SET seq = NULL WHERE seq = 1"],
    ["a sequence number as text", "UPDATE bars SET seq = 'one' WHERE seq = 1"],
    ["a fractional sequence number", "UPDATE bars SET seq = 1.5 WHERE seq = 1"],
    ["a zero", "UPDATE bars SET seq = 0 WHERE seq = 1"],
  ])("%s leaves it unproven", (_, sql) => {
    const path = changed(sql);
    expect(clean(path)).toBeUndefined();
    expect(findings(path).length).toBeGreaterThan(0);
  });
});
