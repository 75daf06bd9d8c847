import { Database } from "bun:sqlite";
import { test } from "bun:test";
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LineBuffer } from "../src/formats/line-buffer.ts";
import {
  type DiffOptions,
  defaultCatalog,
  demoConfig,
  demoSteps,
  type Event,
  EventBus,
  EventCatalog,
  type EventInput,
  type EventOf,
  type EventType,
  makeEvent,
  openRunsDb,
  PYTHON_SCHEMA_VERSION,
  Recorder,
  type RecorderOptions,
  type RunRow,
  type RunsDb,
  renderSchema,
  replay,
  runDemo,
  type SqlValue,
} from "../src/index.ts";
import type { Int64Style } from "../src/json.ts";
import { recordRun } from "../src/record.ts";
import { replayLines, type SliceOptions } from "../src/replay.ts";
import { type Comparison, computeMetrics, type EquityCurve } from "../src/report.ts";
import { sameRuns } from "../src/stored-runs.ts";

/** A fresh temporary directory. */
export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "runtape-test-"));
}

/** The Python recorder's fixture, present in CI and in the developers' checkout, not in a user's clone. */
export const FIXTURE_DIR = join(import.meta.dir, "../../shared/fixtures/onesecondtrader");
export const HAS_FIXTURE = existsSync(join(FIXTURE_DIR, "ost_reference.db"));
/** The fixture of runs published from several threads (and a killed one). */
const THREADED_DB = join(
  import.meta.dir,
  "../../shared/fixtures/onesecondtrader-threaded/ost_threaded.db",
);
export const HAS_THREADED = existsSync(THREADED_DB);
type Fixture = "reference" | "threaded";

/** A test that reads a fixture; where it is absent it is skipped, saying why in its name. */
export function fixtureTest(
  name: string,
  fn: () => void | Promise<void>,
  fixture: Fixture = "reference",
  timeout?: number,
): void {
  const dir = fixture === "reference" ? "onesecondtrader" : "onesecondtrader-threaded";
  if (fixture === "reference" ? HAS_FIXTURE : HAS_THREADED) test(name, fn, timeout);
  else test.skip(`${name} (skipped: needs ../shared/fixtures/${dir} beside the clone)`, fn);
}

/** A private copy of a fixture database (opening it in place would write -wal/-shm beside it). */
export function fixtureCopy(fixture: Fixture = "reference"): string {
  const path = join(tempDir(), `${fixture}.db`);
  copyFileSync(fixture === "reference" ? join(FIXTURE_DIR, "ost_reference.db") : THREADED_DB, path);
  return path;
}

const replayedFixtures = new Map<string, readonly Event[]>();

/**
 * A fixture run's events as replay gives them, replayed once per test process from a private
 * copy: the fixtures never change, and many tests compare with them (or test replay by them).
 */
export function fixtureEvents(runId: string, fixture: Fixture = "reference"): readonly Event[] {
  const key = `${fixture}\n${runId}`;
  let events = replayedFixtures.get(key);
  if (events === undefined) {
    events = [...replay(fixtureCopy(fixture), { run: runId })];
    replayedFixtures.set(key, events);
  }
  return events;
}

// Above 2^53 with non-zero last digits: a detour through a float would change them.
export const T0 = 1_709_562_600_123_456_789n;
export const T1 = 9_223_372_036_854_775_807n; // int64 max
export const T_NEG = -9_223_372_036_854_775_808n; // int64 min

/** One event of every type, with edge values: big and extreme bigints, NULLs, unicode, non-finite indicators. */
export function sampleEvents(): Event[] {
  const at = { ts_event_ns: T0, ts_created_ns: T0 + 7n };
  const broker = { ...at, ts_broker_ns: T1 };
  const e = <K extends EventType>(type: K, input: EventInput<K>) => makeEvent(type, input);
  return [
    e("BarReceived", {
      ...at,
      symbol: "ÖBB",
      bar_period: "MINUTE",
      open: 0.1 + 0.2,
      high: 1e300,
      low: 5e-324,
      close: 0.5,
      volume: null,
    }),
    e("BarProcessed", {
      ...at,
      symbol: "日本語 🚀",
      bar_period: "SECOND",
      open: 1,
      high: 2,
      low: 0.5,
      close: 1.5,
      volume: 2n ** 63n - 1n,
      indicators: {
        "SMA 5": Number.NaN,
        'Grüße "q"': Number.POSITIVE_INFINITY,
        neg: Number.NEGATIVE_INFINITY,
        tiny: 1e-7,
        big: 1e16,
        zero: -0,
      },
    }),
    e("OrderSubmissionRequest", {
      ...at,
      system_order_id: "o-1",
      symbol: "AAPL",
      order_type: "STOP_LIMIT",
      side: "SELL",
      quantity: 5,
      limit_price: 101.25,
      stop_price: 100.5,
      action: "REVERSE",
      signal: "line1\nline2 ' \"; DROP TABLE runs; --",
    }),
    e("OrderSubmissionRequest", {
      ts_event_ns: T_NEG,
      ts_created_ns: T1,
      system_order_id: "o-2",
      symbol: "AAPL",
      order_type: "MARKET",
      side: "BUY",
      quantity: 1.5,
    }),
    e("OrderCancellationRequest", { ...at, system_order_id: "o-1", symbol: "AAPL" }),
    e("OrderModificationRequest", {
      ...at,
      system_order_id: "o-1",
      symbol: "AAPL",
      quantity: null,
      limit_price: 99,
      stop_price: null,
    }),
    e("OrderAccepted", { ...broker, associated_order_id: "o-1", broker_order_id: null }),
    e("OrderRejected", {
      ...broker,
      associated_order_id: "o-2",
      rejection_reason: "UNKNOWN",
      rejection_message: "zu groß ✗",
    }),
    e("CancellationAccepted", { ...broker, associated_order_id: "o-1", broker_order_id: "B-1" }),
    e("CancellationRejected", {
      ...broker,
      associated_order_id: "o-1",
      rejection_reason: "UNKNOWN",
      rejection_message: "",
    }),
    e("ModificationAccepted", { ...broker, associated_order_id: "o-1", broker_order_id: "B-1" }),
    e("ModificationRejected", {
      ...broker,
      associated_order_id: "o-1",
      rejection_reason: "UNKNOWN",
      rejection_message: "no",
    }),
    e("FillEvent", {
      ...broker,
      associated_order_id: "o-1",
      broker_order_id: "B-1",
      symbol: "AAPL",
      fill_id: "f-1",
      broker_fill_id: null,
      side: "SELL",
      quantity_filled: 2.5,
      fill_price: 100.5,
      commission: 0.0125,
    }),
    e("OrderExpired", {
      ...broker,
      associated_order_id: "o-1",
      broker_order_id: null,
      symbol: "AAPL",
    }),
  ];
}

/** A bar at `ts` for `symbol` with a price derived from `i`. */
/** A finished run's row, as a report is built from: `fields` over a completed run of no counters. */
export function runRow(
  fields: Pick<RunRow, "run_id" | "name" | "ts_start" | "ts_end"> & Partial<RunRow>,
): RunRow {
  return {
    status: "completed",
    config: null,
    metadata: null,
    pid: null,
    host: null,
    events: null,
    refused: null,
    bar_periods: null,
    ...fields,
  };
}

export function bar(i: number, symbol = "AAPL"): Event {
  return makeEvent("BarReceived", {
    ts_event_ns: T0 + BigInt(i) * 60_000_000_000n,
    symbol,
    bar_period: "MINUTE",
    open: 100 + i,
    high: 101 + i,
    low: 99 + i,
    close: 100.5 + i,
    volume: 1000n + BigInt(i),
  });
}

/** The processed bar of {@link bar} `i`, with `indicators`. */
export function processedBar(
  i: number,
  indicators: Record<string, number>,
  symbol = "AAPL",
): Event {
  const { type: _, ts_created_ns: __, ...fields } = bar(i, symbol) as EventOf<"BarReceived">;
  return makeEvent("BarProcessed", { ...fields, indicators });
}

/** The first sample event of `type`. */
export function sampleOf<K extends EventType>(type: K): EventOf<K> {
  const event = sampleEvents().find((e) => e.type === type);
  if (event === undefined) throw new Error(`no sample ${type}`);
  return event as EventOf<K>;
}

/**
 * The DDL of a file as the Python recorder makes it (layout version 1): runtape's schema without
 * its extension. `table` may rewrite each CREATE TABLE, as another tool would have made it.
 */
export function pythonLayoutSql(table: (ddl: string) => string = (ddl) => ddl): string {
  // The shipped catalog as the Python layout has it: its types, their columns of version 1.
  const v1 = PYTHON_SCHEMA_VERSION;
  const specs = defaultCatalog.typesAt(v1).map((t) => {
    const fields = Object.fromEntries(defaultCatalog.fieldsAt(t, v1));
    return [t, { ...defaultCatalog.spec(t), fields }];
  });
  const python = (
    renderSchema(new EventCatalog(Object.fromEntries(specs))).split(
      "-- runtape's additions",
    )[0] as string
  ).replaceAll(",\n    seq INTEGER", "");
  return `${python.replace(/CREATE TABLE [^;]*;/g, table)}PRAGMA user_version = ${v1};`;
}

/** Makes a recorded run look written by the Python recorder: no bookkeeping, no sequence. */
export function forgetSequence(path: string, runId: string): void {
  const raw = new Database(path);
  raw.run("DELETE FROM runtape_runs WHERE run_id = ?", [runId]);
  for (const table of eventTables(raw)) raw.run(`UPDATE ${table} SET seq = NULL`);
  raw.close();
}

/**
 * The stored rows' verdict on run "run" of two files (sameRuns, diff's fast path): the counts
 * when the rows prove the runs equal, else undefined.
 */
export function rowsProven(a: string, b: string, options: DiffOptions = {}) {
  const [x, y] = [openRunsDb(a), openRunsDb(b)];
  try {
    return sameRuns(
      { db: x, runId: "run" },
      { db: y, runId: "run" },
      new Set(options.ignore ?? ["ts_created_ns"]),
      new Set(options.excludeTypes ?? []),
    );
  } finally {
    x.close();
    y.close();
  }
}

/** `read(db)` of the file at `path`, opened as inspect opens it. */
export function reading<T>(path: string, read: (db: RunsDb) => T): T {
  const db = openRunsDb(path);
  try {
    return read(db);
  } finally {
    db.close();
  }
}

/** `db` whose connection calls `onQuery(sql)` before each `query`: to watch it, or to act between two. */
export function watchingQueries(db: RunsDb, onQuery: (sql: string) => void): RunsDb {
  const sqlite = new Proxy(db.sqlite, {
    get(target, name) {
      if (name === "query") {
        return (sql: string) => {
          onQuery(sql);
          return target.query(sql);
        };
      }
      const value = Reflect.get(target, name, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { ...db, sqlite };
}

/** A second connection to `path`, as another process would have: read-only, exact integers. */
export function rawDb(path: string): Database {
  return new Database(path, { readonly: true, safeIntegers: true });
}

/** A runs database path in a fresh temporary directory (no file yet). */
export const newDb = () => join(tempDir(), "runs.db");

/** One query on a second connection (see {@link rawDb}). */
export function query(
  path: string,
  sql: string,
  ...params: SqlValue[]
): Record<string, SqlValue>[] {
  const db = rawDb(path);
  try {
    return db.query(sql).all(...params) as Record<string, SqlValue>[];
  } finally {
    db.close();
  }
}

/**
 * The event tables of a file, in catalog order: those of its layout version (`user_version`), as
 * the shipped catalog has them. A type newer than the file has no table in it.
 */
export function eventTables(db: Database): string[] {
  const { user_version } = db.query("PRAGMA user_version").get() as { user_version: number };
  return defaultCatalog.typesAt(Number(user_version)).map((t) => defaultCatalog.table(t));
}

/**
 * Rows per event table (and `runs`) that belong to `runId`: 0 in a table that the file's layout
 * predates (see {@link eventTables}), which runtape reads as empty.
 */
export function rowCounts(path: string, runId: string): Record<string, number> {
  const db = rawDb(path);
  try {
    const present = new Set(["runs", ...eventTables(db)]);
    return Object.fromEntries(
      ["runs", ...defaultCatalog.types.map((t) => defaultCatalog.table(t))].map((table) => {
        if (!present.has(table)) return [table, 0];
        const row = db.query(`SELECT COUNT(*) AS n FROM ${table} WHERE run_id = ?`).get(runId);
        return [table, Number((row as { n: bigint }).n)];
      }),
    );
  } finally {
    db.close();
  }
}

/**
 * A content hash of everything one run holds: its `runs` row and its rows in every event table of
 * the file's layout, every column with its value and SQLite type (a REAL that became an INTEGER is
 * a change), `id` and `seq` included. A NULL is hashed as a column the row lacks, so that a
 * migration, which adds tables and nullable columns (`seq`, an `addedIn` one) NULL in the rows
 * written before, leaves the hash of an old run as it was; any value written is a change.
 * runtape's bookkeeping (`runtape_runs`) is not the run's content.
 */
export function runContentHash(path: string, runId: string): string {
  const db = rawDb(path);
  const hasher = new Bun.CryptoHasher("sha256");
  try {
    for (const table of ["runs", ...eventTables(db)]) {
      const columns = (db.query(`PRAGMA table_info(${table})`).all() as { name: string }[]).map(
        (c) => c.name,
      );
      const select = columns.map((c) => `${c}, typeof(${c})`).join(", ");
      for (const row of db
        .query(`SELECT ${select} FROM ${table} WHERE run_id = ? ORDER BY rowid`)
        .values(runId)) {
        const cells = columns.flatMap((c, i) =>
          row[2 * i + 1] === "null" ? [] : [`${c}=${row[2 * i + 1]}:${String(row[2 * i])}`],
        );
        hasher.update(`${table}\t${cells.join("\t")}\n`);
      }
    }
  } finally {
    db.close();
  }
  return hasher.digest("hex");
}

/**
 * A completed run of `n` bars written straight with SQL (a recursive CTE, not the recorder): big
 * runs in a fraction of a second, for tests that need a push or a read to take a while.
 */
export function bulkRun(path: string, runId: string, n: number): void {
  const recorder = Recorder.start(path, { runId });
  recorder.close();
  const db = new Database(path);
  try {
    db.run(
      `WITH RECURSIVE i(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM i WHERE k < ?)
       INSERT INTO bars (run_id, ts_event_ns, ts_created_ns, symbol, bar_period, open, high, low, close, volume, seq)
       SELECT ?, ? + k * 60000000000, ? + k, 'SYM' || (k % 4), 'MINUTE', 100 + k * 0.01, 101.5, 99.25, 100.125, k, k FROM i`,
      [n, runId, T0, T0],
    );
    db.run("UPDATE runtape_runs SET events = ?, bar_periods = 'MINUTE' WHERE run_id = ?", [
      n,
      runId,
    ]);
  } finally {
    db.close();
  }
}

/** Records one demo run per id into `path` (seeded `seed`, `seed + 1`, …); returns `path`. */
export function recordDemoRuns(
  path: string,
  ids: readonly string[],
  { seed = 1, bars = 40, ...options }: RecorderOptions & { seed?: number; bars?: number } = {},
): string {
  for (const [i, runId] of ids.entries()) {
    const recorder = Recorder.start(path, { ...options, runId });
    const bus = new EventBus();
    recorder.attach(bus);
    runDemo(bus, { seed: seed + i, bars });
    recorder.close();
  }
  return path;
}

/**
 * Records demo runs into `path`, each under its id with its strategy parameters (the defaults
 * where none), 120 bars, its config saying which: a sweep over those parameters.
 */
export function recordSweep(
  path: string,
  runs: { id: string; strategy?: Record<string, number> }[],
): void {
  for (const run of runs) {
    const recorder = Recorder.start(path, {
      runId: run.id,
      config: { strategy: run.strategy ?? {}, bars: 120 },
    });
    const bus = new EventBus();
    recorder.attach(bus);
    runDemo(bus, { bars: 120, strategy: run.strategy });
    recorder.close("completed");
  }
}

/**
 * A comparison of `count` runs made in memory, without recording them: `points` points of equity
 * each, run i ending at 10·(i − count/2) plus a swing of its own, so that total P&L ranks the runs
 * by i. With `grid`, two parameters vary (`p.x` = i mod grid, `p.y` = i div grid), for a heatmap.
 */
export function syntheticComparison(count: number, grid?: number, points = 40): Comparison {
  const entries: Comparison["entries"] = [];
  const curves: Comparison["curves"] = [];
  for (let i = 0; i < count; i++) {
    const curve: EquityCurve = { t: [], equity: [], commission: [], exposed: [] };
    const last = points - 1;
    for (let k = 0; k < points; k++) {
      curve.t.push(1_709_562_600_000 + k * 60_000);
      curve.equity.push(
        ((i - count / 2) * 10 * k) / last + 30 * Math.sin(k / 5 + i) * (k < last ? 1 : 0),
      );
      curve.commission.push(k);
      curve.exposed.push(true);
    }
    const runId = `run-${String(i).padStart(4, "0")}`;
    const params: Record<string, number> =
      grid === undefined ? { p: i } : { "p.x": i % grid, "p.y": Math.floor(i / grid) };
    entries.push({
      runId,
      name: runId,
      status: "completed",
      tsStart: 0n,
      params,
      tags: {},
      metrics: computeMetrics(curve, []),
    });
    curves.push({ name: runId, curve });
  }
  return { varying: Object.keys(entries[0]?.params ?? {}), entries, curves, metric: "totalPnl" };
}

/** The demo's strategy module, as `backtest --strategy` and `rerun` load it. */
export const DEMO_STRATEGY = join(import.meta.dir, "../src/sim/strategy.ts");
/** The demo market of the re-run tests' feed. */
export const DEMO_FEED = { seed: 3, bars: 80, symbols: ["AAPL", "MSFT"] };

/** A recorded demo run (DEMO_FEED) in a new database, under the id "demo": the feed of re-runs. */
export async function recordedFeed(): Promise<{ db: string; run: string }> {
  const db = join(tempDir(), "feed.db");
  await recordRun(db, { runId: "demo", config: demoConfig(DEMO_FEED) }, (bus) => {
    for (const _ of demoSteps(bus, DEMO_FEED));
  });
  return { db, run: "demo" };
}

const at = (created: number) => ({ ts_event_ns: T0, ts_created_ns: T0 + BigInt(created) });
const ev = <K extends EventType>(
  type: K,
  created: number,
  input: Omit<EventInput<K>, "ts_event_ns">,
) => makeEvent(type, { ...at(created), ...input } as EventInput<K>);
const submit = (created: number, id: string) =>
  ev("OrderSubmissionRequest", created, {
    system_order_id: id,
    symbol: id === "C" ? "OTHER" : "S",
    order_type: "MARKET",
    side: "BUY",
    quantity: 1,
  });
const answer = <K extends EventType>(type: K, created: number, id: string) =>
  ev(type, created, { ts_broker_ns: T0, associated_order_id: id } as never);
/** A bar of minute `minute`, received or processed. */
const causalBar = (type: "BarReceived" | "BarProcessed", created: number, minute: bigint) => ({
  ...ev(type, created, {
    symbol: "S",
    bar_period: "MINUTE",
    open: 1,
    high: 1,
    low: 1,
    close: 1,
    volume: null,
  }),
  ts_event_ns: T0 + minute,
});

/**
 * A run without sequence numbers whose tables, merged on ts_created_ns alone, break causality
 * (test/causal-order.test.ts names each event): each table's rows in the order the recorder
 * received them; their creation times say otherwise.
 */
export const CAUSAL_EVENTS: Record<string, Event> = {
  Qb: submit(220, "B"),
  Qa: submit(100, "A"),
  AccC: answer("OrderAccepted", 50, "C"), // its request was never committed (a killed run)
  AccB: answer("OrderAccepted", 210, "B"),
  AccA: answer("OrderAccepted", 150, "A"),
  Fa: ev("FillEvent", 160, {
    ts_broker_ns: T0,
    associated_order_id: "A",
    symbol: "S",
    side: "BUY",
    quantity_filled: 1,
    fill_price: 1,
    commission: 0,
  }),
  M1: ev("OrderModificationRequest", 300, { system_order_id: "A", symbol: "S", quantity: 2 }),
  M2: ev("OrderModificationRequest", 500, { system_order_id: "A", symbol: "S", quantity: 3 }),
  MA1: answer("ModificationAccepted", 350, "A"),
  MA2: answer("ModificationAccepted", 400, "A"), // the second answer: after the second request
  Bar0: causalBar("BarReceived", 600, 0n),
  Bar1: causalBar("BarReceived", 120, 1n),
  P1: causalBar("BarProcessed", 130, 1n), // received after Bar1, created before Bar0
};
/** {@link CAUSAL_EVENTS} as the Python recorder would leave them (no seq), run "run" of a new file. */
export function causalRun(): string {
  const path = join(tempDir(), "python.db");
  const recorder = Recorder.start(path, { runId: "run" });
  for (const e of Object.values(CAUSAL_EVENTS)) recorder.record(e);
  recorder.close();
  forgetSequence(path, "run");
  return path;
}

/** What `runtape replay` prints of a runtape run in a file (replayLines), newlines included. */
export function lineText(
  source: string | RunsDb,
  options: SliceOptions,
  int64: Int64Style,
): string {
  const out = new LineBuffer();
  for (const _ of replayLines(source, options, int64, out));
  return out.text();
}

/** Whether this system says which files a process holds open (Linux's /proc/self/fd). */
export const CAN_LIST_OPEN_FILES = existsSync("/proc/self/fd");

/**
 * The files under `dir` this process holds open, relative to it. A connection that close() left
 * open, its statements not finalized, holds its file (and -wal, -shm) until garbage collection.
 */
export function openFilesUnder(dir: string): string[] {
  const open: string[] = [];
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(`${dir}/`)) open.push(target.slice(dir.length + 1));
    } catch {
      // the descriptor readdir itself used, closed by now
    }
  }
  return open.sort();
}

/**
 * JSON text with each number as the text it is written with (`10.0` and `10` differ, as they do
 * to Python's json.loads: a float and an int); spacing and string escapes do not matter.
 */
export function jsonLexemes(text: string | null): unknown {
  if (text === null) return null;
  const lexeme = (_key: string, value: unknown, context?: { source?: string }) =>
    typeof value === "number" ? { number: context?.source } : value;
  return JSON.parse(text, lexeme as (key: string, value: unknown) => unknown);
}
