/**
 * What `inspect --run` shows of a run's events: counts, symbols, bar periods, time range and
 * trading. Computing it reads the run (its trading rows, an index seek or two per table); a
 * finished run's summary is then kept in the summary cache (cache-table.ts), so that inspecting it
 * again reads one row, whatever the size of the run. The recorder stores it as it closes a run.
 */
import { hasTable, SUMMARY_TABLE, WHILE_THE_RUN_EXISTS, writeCache } from "../cache-table.ts";
import type { RunsDb } from "../db.ts";
import type { EventType } from "../events/catalog.ts";
import { getRun, type RunRow } from "../runs.ts";
import type { SymbolTrading } from "../trading.ts";
import { countEvents, scanBarPeriods, symbolsOf, timeRange } from "./queries.ts";
import { tradingOf, tradingTypes, withRejections } from "./trading.ts";

/** The part of a run's detail that comes from its events. */
export interface RunSummary {
  counts: Record<EventType, bigint>;
  symbols: string[];
  barPeriods: string[];
  firstTsEventNs: bigint | null;
  lastTsEventNs: bigint | null;
  /** Per symbol, sorted by symbol. */
  trading: SymbolTrading[];
}

/**
 * Bumped whenever what a summary holds or how it is computed changes: older rows are recomputed.
 * 2: the P&L's float dust judged by the rounding its fills made, average costs that no longer
 * overflow (a position of one unit left of a billion traded read as flat in version 1).
 */
const SUMMARY_VERSION = 2;

/**
 * A row holds for the run it was computed from. A finished run's events no longer change, and
 * rm and rename carry the rows along; a run stored again under the same id (removed elsewhere,
 * then pulled or merged back) has its own start, end and event count.
 */
const CACHE_DDL = `CREATE TABLE IF NOT EXISTS ${SUMMARY_TABLE} (
    run_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    status TEXT NOT NULL,
    ts_start INTEGER NOT NULL,
    ts_end INTEGER NOT NULL,
    events INTEGER,
    summary TEXT NOT NULL
)`;

interface CacheRow {
  version: bigint;
  status: string;
  ts_start: bigint;
  ts_end: bigint;
  events: bigint | null;
  summary: string;
}

/** As stored: int64 as decimal text. */
interface StoredSummary {
  counts: Record<string, string>;
  symbols: string[];
  barPeriods: string[];
  range: [string | null, string | null];
  trading: SymbolTrading[];
}

/**
 * The summary of `run` from its events; `counts` and `trading`, where the caller knows them exactly
 * (the recorder that stored every one of them), save a count of each table and a read of its
 * trading rows.
 */
export function computeSummary(
  db: RunsDb,
  run: RunRow,
  counts: Record<EventType, bigint> = countEvents(db, run.run_id),
  trading: SymbolTrading[] = tradingOf(db, run.run_id),
): RunSummary {
  const runId = run.run_id;
  const symbols = symbolsOf(db, runId, {
    known: trading.map((t) => t.symbol),
    skip: tradingTypes(db),
  });
  const [firstTsEventNs, lastTsEventNs] = timeRange(db, runId, symbols);
  return {
    counts,
    symbols,
    barPeriods: run.bar_periods ?? scanBarPeriods(db, runId),
    firstTsEventNs,
    lastTsEventNs,
    trading,
  };
}

const cacheable = (run: RunRow) => run.status !== "running" && run.ts_end !== null;

/** The cached summary of `run`, if the file holds one that is still its own. */
export function cachedSummary(db: RunsDb, run: RunRow): RunSummary | undefined {
  if (!cacheable(run) || !hasTable(db, SUMMARY_TABLE)) return undefined;
  const row = db.sqlite
    .query(`SELECT * FROM ${SUMMARY_TABLE} WHERE run_id = ?`)
    .get(run.run_id) as CacheRow | null;
  if (
    row === null ||
    Number(row.version) !== SUMMARY_VERSION ||
    row.status !== run.status ||
    row.ts_start !== run.ts_start ||
    row.ts_end !== run.ts_end ||
    row.events !== run.events
  ) {
    return undefined;
  }
  const stored = JSON.parse(row.summary) as StoredSummary;
  const counts = {} as Record<EventType, bigint>;
  for (const type of db.catalog.types as EventType[]) {
    counts[type] = BigInt(stored.counts[type] ?? 0);
  }
  const [first, last] = stored.range;
  return {
    counts,
    symbols: stored.symbols,
    barPeriods: stored.barPeriods,
    firstTsEventNs: first === null ? null : BigInt(first),
    lastTsEventNs: last === null ? null : BigInt(last),
    trading: stored.trading,
  };
}

// JSON keeps every finite double exactly (shortest round-trip form), but not -0, NaN or ±Infinity:
// a summary holding one is computed each time rather than shown changed.
const keepsInJson = (x: number) => Number.isFinite(x) && !Object.is(x, -0);

/** Stores the summary of the finished `run` where runtape may write (see `writeCache`). */
export function storeSummary(db: RunsDb, run: RunRow, summary: RunSummary): void {
  if (!cacheable(run)) return;
  for (const t of summary.trading) {
    for (const value of Object.values(t)) {
      if (typeof value === "number" && !keepsInJson(value)) return;
    }
  }
  const stored: StoredSummary = {
    counts: Object.fromEntries(Object.entries(summary.counts).map(([k, n]) => [k, String(n)])),
    symbols: summary.symbols,
    barPeriods: summary.barPeriods,
    range: [summary.firstTsEventNs, summary.lastTsEventNs].map((t) =>
      t === null ? null : String(t),
    ) as StoredSummary["range"],
    trading: summary.trading,
  };
  writeCache(db, (sqlite) => {
    sqlite.exec(CACHE_DDL);
    sqlite
      .query(
        `INSERT OR REPLACE INTO ${SUMMARY_TABLE} (run_id, version, status, ts_start, ts_end, events, summary) SELECT ?, ?, ?, ?, ?, ?, ? ${WHILE_THE_RUN_EXISTS}`,
      )
      .run(
        run.run_id,
        SUMMARY_VERSION,
        run.status,
        run.ts_start,
        run.ts_end,
        run.events,
        JSON.stringify(stored),
        run.run_id,
      );
  });
}

/**
 * Computes and stores the summary of the run `runId`, just closed, whose events by type are
 * `counts` and whose trading, rejections left out, is `trading` (a TradingTally's, fed as the
 * events were taken): the first `inspect --run` then reads it too. Best effort, as every cache: a
 * failure leaves it to be computed when asked.
 */
export function summarizeClosedRun(
  db: RunsDb,
  runId: string,
  counts: Record<EventType, bigint>,
  trading: readonly SymbolTrading[],
): void {
  try {
    const run = db.sqlite.transaction(() => {
      const run = getRun(db, runId);
      return { run, summary: computeSummary(db, run, counts, withRejections(db, runId, trading)) };
    })();
    storeSummary(db, run.run, run.summary);
  } catch {
    // The run is closed and stored; only the shortcut is missing.
  }
}
