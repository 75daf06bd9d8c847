// Every value a Python-written database can hold: exact, or a typed row error that skips.
import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import {
  type BarReceived,
  decodeEvent,
  diffEvents,
  type Event,
  encodeEvent,
  Recorder,
  type ReplayStats,
  RowDecodeError,
  replay,
} from "../src/index.ts";
import { runtape } from "./cli/run.ts";
import { pythonLayoutSql, T0, tempDir } from "./helpers.ts";

const RUN = "2024-03-05_extreme-values-β";
const VOLUMES = [
  2n ** 62n + 7n,
  2n ** 53n + 3n,
  2n ** 53n + 1n,
  2n ** 63n - 1n,
  -(2n ** 63n),
  0n,
  null,
];

/** A Python-layout file with one run; `table` rewrites each CREATE TABLE (another tool's). */
function pythonFile(table?: (ddl: string) => string): Database {
  const db = new Database(join(tempDir(), "python.db"), { safeIntegers: true });
  db.exec(`BEGIN; ${pythonLayoutSql(table)} COMMIT;`);
  db.run("INSERT INTO runs (run_id, name, ts_start, status) VALUES (?, 'x', 1, 'completed')", [
    RUN,
  ]);
  return db;
}

/** Inserts a bar row: the values are SQL literals, stored as SQLite makes of them. */
function insertBar(db: Database, values: Record<string, string>): void {
  const row = {
    ts_event_ns: String(T0),
    ts_created_ns: String(T0),
    symbol: "'HUGE'",
    bar_period: "'MINUTE'",
    open: "1.0",
    high: "2.0",
    low: "0.5",
    close: "1.5",
    volume: "NULL",
    ...values,
  };
  db.run(
    `INSERT INTO bars (run_id, ${Object.keys(row).join(", ")}) VALUES ('${RUN}', ${Object.values(row).join(", ")})`,
  );
}

/** Bare column names in `bars`: no type (so no affinity) and no NOT NULL, as another tool made it. */
const untyped = (ddl: string) =>
  ddl.startsWith("CREATE TABLE bars ")
    ? ddl.replace(/ (INTEGER|REAL|TEXT)( NOT NULL)?,/g, ",")
    : ddl;

const created = (i: number) => ({ ts_created_ns: String(T0 + BigInt(i)) });

describe("a Python-written file", () => {
  test("every int64 in an INTEGER column replays exactly: volumes beyond 2^53, int64's ends", () => {
    const db = pythonFile();
    VOLUMES.forEach((v, i) => {
      insertBar(db, { ...created(i), volume: v === null ? "NULL" : String(v) });
    });
    const events = [...replay(db.filename, { run: RUN })] as BarReceived[];
    expect(events.map((e) => e.volume)).toEqual(VOLUMES);
    // NDJSON both ways, exact.
    expect(encodeEvent(events[0] as Event)).toContain('"volume":4611686018427387911}');
    expect(events.map((e) => decodeEvent(encodeEvent(e)))).toEqual(events);
    // diff tells 2^53 + 1 from 2^53 + 2, which a float would not.
    const changed = events.map((e, i) => (i === 2 ? { ...e, volume: 2n ** 53n + 2n } : e));
    expect(diffEvents(events, changed).first?.fields).toEqual([
      { field: "volume", a: 2n ** 53n + 1n, b: 2n ** 53n + 2n },
    ]);
    // A runtape copy keeps them.
    const copy = join(tempDir(), "copy.db");
    const recorder = Recorder.start(copy, { runId: RUN });
    for (const e of events) recorder.record(e);
    recorder.close();
    expect([...replay(copy)]).toEqual(events);
    db.close();
  });

  test("columns without affinity (another tool's table): a float holding an integer decodes exactly", () => {
    const db = pythonFile(untyped);
    insertBar(db, { ts_event_ns: "1709650800000000000.0", volume: "1000000.0", open: "100" });
    const types = db
      .query("SELECT typeof(ts_event_ns) AS t, typeof(volume) AS v, typeof(open) AS o FROM bars")
      .get();
    expect(types).toEqual({ t: "real", v: "real", o: "integer" });
    const [bar] = [...replay(db.filename, { run: RUN })] as BarReceived[];
    expect([bar?.ts_event_ns, bar?.volume, bar?.open]).toEqual([
      1709650800000000000n,
      1000000n,
      100,
    ]);
    db.close();
  });

  const plain = (ddl: string) => ddl;
  test.each([
    [
      "a fraction in an INTEGER column",
      plain,
      { volume: "1.5" },
      "volume",
      "expected a bigint (got 1.5)",
    ],
    [
      "text in an INTEGER column",
      plain,
      { volume: "'lots'" },
      "volume",
      'expected a bigint (got "lots")',
    ],
    ["a blob in an INTEGER column", plain, { volume: "x'00'" }, "volume", "expected a bigint"],
    [
      "a float beyond int64",
      plain,
      { ts_event_ns: "1e19" },
      "ts_event_ns",
      "expected a bigint (got 10000000000000000000)",
    ],
    [
      "text in a REAL column",
      plain,
      { open: "'cheap'" },
      "open",
      'expected a finite number (got "cheap")',
    ],
    [
      "an integer no float holds",
      untyped,
      { high: String(2n ** 53n + 1n) },
      "high",
      "expected a finite number (got 9007199254740993n)",
    ],
    [
      "NULL where the model has none",
      untyped,
      { symbol: "NULL" },
      "symbol",
      "expected a string (got null)",
    ],
    [
      "NULL in the merge key",
      untyped,
      { ts_created_ns: "NULL" },
      "ts_created_ns",
      "cannot place the row in the run's order (got null)",
    ],
  ])("%s is a row error, and skipped the rest replays", (_, table, values, column, message) => {
    const db = pythonFile(table);
    insertBar(db, created(0));
    insertBar(db, { ...created(1), ...values });
    insertBar(db, created(2));
    let error: unknown;
    try {
      for (const _ of replay(db.filename, { run: RUN }));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(RowDecodeError);
    expect([(error as RowDecodeError).column, (error as Error).message]).toEqual([
      column,
      expect.stringContaining(message),
    ]);
    const stats: ReplayStats = { runId: "", events: 0, skipped: 0 };
    const kept = [...replay(db.filename, { run: RUN, onInvalidRow: "skip", stats })];
    expect(kept.map((e) => e.ts_created_ns)).toEqual([T0, T0 + 2n]);
    expect(stats.skipped).toBe(1);
    db.close();
  });

  test("the CLI stops at a bad row with one line, or with --skip-invalid replays the rest", async () => {
    const db = pythonFile();
    insertBar(db, created(0));
    insertBar(db, { ...created(1), volume: "'lots'" });
    insertBar(db, created(2));
    db.close();
    const stopped = await runtape(["replay", db.filename]);
    expect([stopped.code, stopped.stderr.trim()]).toEqual([
      1,
      expect.stringMatching(/^runtape: bars row 2, volume: expected a bigint \(got "lots"\)$/),
    ]);
    const skipped = await runtape(["replay", db.filename, "--skip-invalid"]);
    expect(skipped.code).toBe(0);
    expect(skipped.stdout.trim().split("\n")).toHaveLength(2);
    expect(skipped.stderr).toContain(`replayed 2 events of run ${RUN} (1 invalid row skipped)`);
  });

  test("indicators: integers a float holds decode, a larger one is a row error", () => {
    const db = pythonFile();
    const insert = (i: number, indicators: string) =>
      db.run(
        `INSERT INTO bars_processed (run_id, ts_event_ns, ts_created_ns, symbol, bar_period, open, high, low, close, volume, indicators) VALUES (?, ?, ?, 'X', 'MINUTE', 1.0, 1.0, 1.0, 1.0, NULL, ?)`,
        [RUN, T0, T0 + BigInt(i), indicators],
      );
    insert(0, `{"n": ${2n ** 53n}, "f": 1.2345678901234567e+300, "key 12345678901234567": NaN}`);
    insert(1, `{"n": ${2n ** 53n + 1n}}`);
    const stats: ReplayStats = { runId: "", events: 0, skipped: 0 };
    const events = [...replay(db.filename, { run: RUN, onInvalidRow: "skip", stats })];
    expect(events.map((e) => (e.type === "BarProcessed" ? e.indicators : null))).toEqual([
      { n: 2 ** 53, f: 1.2345678901234567e300, "key 12345678901234567": Number.NaN },
    ]);
    expect(stats.skipped).toBe(1);
    db.close();
  });
});
