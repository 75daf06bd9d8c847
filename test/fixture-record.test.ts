// Recording into a copy of the Python recorder's database (../shared/fixtures/onesecondtrader).
// Skipped, with the reason in each test's name, where that directory is absent (a user's clone).
import { describe, expect } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  catalog,
  EVENT_TYPES,
  type Event,
  getRun,
  listRuns,
  makeEvent,
  openRunsDb,
  Recorder,
  SCHEMA_VERSION,
  type SqlValue,
} from "../src/index.ts";
import {
  FIXTURE_DIR,
  fixtureCopy,
  fixtureTest,
  HAS_FIXTURE,
  rawDb,
  rowCounts,
  runContentHash,
  T0,
} from "./helpers.ts";

interface Manifest {
  runs: Record<string, SqlValue>[];
  rows_per_run_and_table: Record<string, Record<string, number>>;
}

// The reviver's third argument (the value's source text) is newer than TypeScript's lib types.
type Reviver = (key: string, value: unknown, context: { source: string }) => unknown;

const manifest = (): Manifest => {
  // ns timestamps exceed 2^53: take those integers from their source text.
  const exact: Reviver = (_key, value, { source }) =>
    typeof value === "number" && !Number.isSafeInteger(value) && /^-?\d+$/.test(source)
      ? BigInt(source)
      : value;
  const text = readFileSync(join(FIXTURE_DIR, "manifest.json"), "utf8");
  return JSON.parse(text, exact as Parameters<typeof JSON.parse>[1]);
};

/** What the manifest says each Python run holds, every table named (absent = 0 rows). */
function expectedCounts(m: Manifest, runId: string): Record<string, number> {
  const rows = m.rows_per_run_and_table[runId] ?? {};
  return Object.fromEntries([
    ["runs", 1],
    ...EVENT_TYPES.map((t) => [catalog[t].table, rows[catalog[t].table] ?? 0]),
  ]);
}

const RUN = "runtape ✓ beside Python";
const MINUTE = 60_000_000_000n;

/** A small run on the fixture's symbols: bars, one order's lifecycle, fills published out of time order. */
function newRun(): Event[] {
  const at = (i: bigint) => ({ ts_event_ns: T0 + i * MINUTE });
  const bars = (["AAPL", "ÖBB"] as const).flatMap((symbol) =>
    [0n, 1n, 2n, 3n].map((i) =>
      makeEvent("BarReceived", {
        ...at(i),
        symbol,
        bar_period: "MINUTE",
        open: 100,
        high: 101,
        low: 99,
        close: 100.5 + Number(i),
        volume: 10n,
      }),
    ),
  );
  const order = makeEvent("OrderSubmissionRequest", {
    ...at(1n),
    symbol: "AAPL",
    order_type: "LIMIT",
    side: "BUY",
    quantity: 30,
    limit_price: 100,
    action: "ENTRY",
  });
  const id = order.system_order_id;
  const broker = (i: bigint) => ({
    ...at(i),
    ts_broker_ns: T0 + i * MINUTE + 1n,
    associated_order_id: id,
  });
  const fill = (i: bigint, symbol: string, price: number) =>
    makeEvent("FillEvent", {
      ...broker(i),
      symbol,
      side: "BUY",
      quantity_filled: 10,
      fill_price: price,
      commission: 1,
    });
  return [
    ...bars,
    order,
    makeEvent("OrderAccepted", { ...broker(1n), broker_order_id: "B-1" }),
    fill(3n, "AAPL", 100.3),
    fill(2n, "ÖBB", 7),
    fill(1n, "AAPL", 100.1),
    fill(2n, "AAPL", 100.2),
  ];
}

function plan(path: string, sql: string, ...params: SqlValue[]): string {
  const db = rawDb(path);
  const rows = db.query(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[];
  db.close();
  return rows.map((r) => r.detail).join("; ");
}

function rows(path: string, sql: string, ...params: SqlValue[]): Record<string, SqlValue>[] {
  const db = rawDb(path);
  const out = db.query(sql).all(...params) as Record<string, SqlValue>[];
  db.close();
  return out;
}

describe("recording into a copy of the Python recorder's database", () => {
  const m = HAS_FIXTURE ? manifest() : { runs: [], rows_per_run_and_table: {} };
  const pythonRuns = m.runs.map((r) => r.run_id as string);

  fixtureTest("keeps every Python row intact: counts as in the manifest, same content hash", () => {
    const path = fixtureCopy();
    expect(pythonRuns).toHaveLength(2);
    const counts = pythonRuns.map((r) => expectedCounts(m, r));
    expect(pythonRuns.map((r) => rowCounts(path, r))).toEqual(counts);
    const hashes = pythonRuns.map((r) => runContentHash(path, r));

    const recorder = Recorder.start(path, { runId: RUN, batchSize: 4 });
    for (const e of newRun()) recorder.record(e);
    recorder.close();

    expect(pythonRuns.map((r) => rowCounts(path, r))).toEqual(counts);
    expect(pythonRuns.map((r) => runContentHash(path, r))).toEqual(hashes);
    // Still readable as before, their runs rows exactly the manifest's.
    const db = openRunsDb(path);
    expect(db.version).toBe(SCHEMA_VERSION);
    for (const run of m.runs) {
      // The Python run's row as the manifest has it, and no runtape bookkeeping made up for it.
      const { pid, host, events, refused, bar_periods, ...row } = getRun(db, run.run_id as string);
      expect(row).toEqual(run as unknown as typeof row);
      expect([pid, host, events, refused, bar_periods]).toEqual([null, null, null, null, null]);
    }
    expect(
      listRuns(db)
        .map((r) => r.run_id)
        .sort(),
    ).toEqual([RUN, ...pythonRuns].sort());
    db.close();
  });

  fixtureTest("the new run answers the spec's queries through its indexes", () => {
    const path = fixtureCopy();
    const events = newRun();
    const recorder = Recorder.start(path, { runId: RUN });
    for (const e of events) recorder.record(e);
    recorder.close();

    // Fills of a symbol in time order: the (run_id, symbol, ts_event_ns) index, no sort step.
    const fillsSql =
      "SELECT fill_price, ts_event_ns FROM fills WHERE run_id = ? AND symbol = ? ORDER BY ts_event_ns";
    const fillsPlan = plan(path, fillsSql, RUN, "AAPL");
    expect(fillsPlan).toContain("idx_fills_run_symbol_ts");
    expect(fillsPlan).not.toContain("TEMP B-TREE");
    const aaplFills = events.filter((e) => e.type === "FillEvent" && e.symbol === "AAPL");
    expect(rows(path, fillsSql, RUN, "AAPL")).toEqual(
      aaplFills
        .map((e) => ({
          fill_price: (e as { fill_price: number }).fill_price,
          ts_event_ns: e.ts_event_ns,
        }))
        .sort((a, b) => (a.ts_event_ns < b.ts_event_ns ? -1 : 1)),
    );
    // The Python run has AAPL fills too; the run filter keeps them out.
    expect(rowCounts(path, pythonRuns[0] as string).fills).toBeGreaterThan(0);

    // Bars of a symbol in a time window.
    const barsSql =
      "SELECT close FROM bars WHERE run_id = ? AND symbol = ? AND ts_event_ns BETWEEN ? AND ? ORDER BY ts_event_ns";
    const window = [T0 + MINUTE, T0 + 2n * MINUTE] as const;
    expect(plan(path, barsSql, RUN, "ÖBB", ...window)).toContain("idx_bars_run_symbol_ts");
    expect(rows(path, barsSql, RUN, "ÖBB", ...window)).toEqual([
      { close: 101.5 },
      { close: 102.5 },
    ]);

    // An order's lifecycle by its id: responses carry no symbol, so they are joined on the id.
    const order = events.find((e) => e.type === "OrderSubmissionRequest") as {
      system_order_id: string;
    };
    const acceptedSql = "SELECT broker_order_id FROM orders_accepted WHERE associated_order_id = ?";
    expect(plan(path, acceptedSql, order.system_order_id)).toContain(
      "idx_orders_accepted_order_id",
    );
    expect(rows(path, acceptedSql, order.system_order_id)).toEqual([{ broker_order_id: "B-1" }]);
    const lifecycle = rows(
      path,
      `SELECT s.symbol, SUM(f.quantity_filled) AS filled FROM order_submissions s
       JOIN fills f ON f.associated_order_id = s.system_order_id AND f.run_id = s.run_id
       WHERE s.run_id = ? GROUP BY s.system_order_id`,
      RUN,
    );
    // ÖBB's fill names the AAPL order too: the join goes by id, not by symbol.
    expect(lifecycle).toEqual([{ symbol: "AAPL", filled: 40 }]);

    // The run in publication order, across tables, by runtape's seq index.
    for (const type of EVENT_TYPES) {
      const table = catalog[type].table;
      expect(plan(path, `SELECT * FROM ${table} WHERE run_id = ? ORDER BY seq`, RUN)).toContain(
        `idx_${table}_run_seq`,
      );
    }
    const union = EVENT_TYPES.map(
      (t) => `SELECT seq, ts_event_ns FROM ${catalog[t].table} WHERE run_id = ?`,
    ).join(" UNION ALL ");
    expect(rows(path, `${union} ORDER BY seq`, ...EVENT_TYPES.map(() => RUN))).toEqual(
      events.map((e, i) => ({ seq: BigInt(i + 1), ts_event_ns: e.ts_event_ns })),
    );
  });
});
