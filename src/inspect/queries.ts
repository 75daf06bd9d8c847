/**
 * Questions about one run's stored events, each answered through the indexes that lead with
 * run_id: the cost is that of the run (often much less), never that of the other runs in the file.
 * Tables that the file's layout version predates count as empty.
 */
import type { RunsDb } from "../db.ts";
import type { EventType } from "../events/catalog.ts";

/** The event types whose tables the file holds. */
export const storedTypes = (db: RunsDb) => db.catalog.typesAt(db.version) as EventType[];

/** Events stored for a run, by type (0 for types newer than the file). */
export function countEvents(db: RunsDb, runId: string): Record<EventType, bigint> {
  const counts = {} as Record<EventType, bigint>;
  for (const type of db.catalog.types as EventType[]) counts[type] = 0n;
  for (const type of storedTypes(db)) {
    const row = db.sqlite
      .query(`SELECT COUNT(*) AS n FROM ${db.catalog.table(type)} WHERE run_id = ?`)
      .get(runId) as { n: bigint };
    counts[type] = row.n;
  }
  return counts;
}

export const sumCounts = (counts: Record<EventType, bigint>) =>
  Object.values(counts).reduce((a, b) => a + b, 0n);

/**
 * Distinct symbols of a run, sorted: `known` ones plus those of the tables not in `skip` (whose
 * symbols the caller already has). On the tables indexed by (run_id, symbol) one seek per symbol
 * finds the next, so a million bars of four symbols cost five seeks.
 */
export function symbolsOf(
  db: RunsDb,
  runId: string,
  { known = [], skip = [] }: { known?: Iterable<string>; skip?: readonly string[] } = {},
): string[] {
  const symbols = new Set<string>(known);
  for (const type of storedTypes(db)) {
    const symbol = db.catalog.symbolField(type);
    if (symbol === undefined || skip.includes(type)) continue;
    const table = db.catalog.table(type);
    if (db.catalog.spec(type).symbolIndex) {
      const next = db.sqlite.query(
        `SELECT ${symbol} AS symbol FROM ${table} WHERE run_id = ? AND ${symbol} > ? ORDER BY ${symbol} LIMIT 1`,
      );
      for (
        let row = next.get(runId, "") as { symbol: string } | null;
        row;
        row = next.get(runId, row.symbol) as { symbol: string } | null
      ) {
        symbols.add(row.symbol);
      }
    } else {
      for (const [value] of db.sqlite
        .query(`SELECT DISTINCT ${symbol} FROM ${table} WHERE run_id = ?`)
        .values(runId) as [string][]) {
        symbols.add(value);
      }
    }
  }
  return [...symbols].sort();
}

/**
 * First and last ts_event_ns of a run (null when it has no events): per symbol on the tables
 * indexed by (run_id, symbol, ts_event_ns), per run on the others, indexed by (run_id, ts_event_ns).
 */
export function timeRange(
  db: RunsDb,
  runId: string,
  symbols: readonly string[],
): [bigint | null, bigint | null] {
  let first: bigint | null = null;
  let last: bigint | null = null;
  for (const type of storedTypes(db)) {
    const symbol = db.catalog.spec(type).symbolIndex ? db.catalog.symbolField(type) : undefined;
    // MIN and MAX in separate queries: together they defeat SQLite's one-seek index optimisation.
    const edge = (fn: "MIN" | "MAX") =>
      db.sqlite.query(
        `SELECT ${fn}(ts_event_ns) AS t FROM ${db.catalog.table(type)} WHERE run_id = ?${symbol ? ` AND ${symbol} = ?` : ""}`,
      );
    const [min, max] = [edge("MIN"), edge("MAX")];
    for (const params of symbol ? symbols.map((s) => [runId, s]) : [[runId]]) {
      const lo = (min.get(...params) as { t: bigint | null }).t;
      const hi = (max.get(...params) as { t: bigint | null }).t;
      if (lo !== null && (first === null || lo < first)) first = lo;
      if (hi !== null && (last === null || hi > last)) last = hi;
    }
  }
  return [first, last];
}

/**
 * Bar periods of a run, sorted. No index covers bar_period, so this reads the run's market data:
 * runtape notes the periods while recording, and only runs the Python recorder wrote need this.
 */
export function scanBarPeriods(db: RunsDb, runId: string): string[] {
  const periods = new Set<string>();
  for (const type of storedTypes(db)) {
    const spec = db.catalog.spec(type);
    if (spec.role?.kind !== "market" || !Object.hasOwn(spec.fields, "bar_period")) continue;
    for (const [period] of db.sqlite
      .query(`SELECT DISTINCT bar_period FROM ${spec.table} WHERE run_id = ?`)
      .values(runId) as [string][]) {
      periods.add(period);
    }
  }
  return [...periods].sort();
}
