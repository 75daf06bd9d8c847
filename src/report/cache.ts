/**
 * Each run's metrics, computed once from its events and kept in the file, so that listing a sweep
 * of a thousand runs reads a thousand small rows instead of every event.
 */
import { hasTable, METRICS_TABLE, writeCache } from "../cache-table.ts";
import type { RunsDb } from "../db.ts";
import { parseNumbers, stringifyExact } from "../json.ts";
import type { RunRow } from "../runs.ts";
import type { RunSource } from "../store/source.ts";
import { SqliteSource } from "../store/sqlite.ts";
import type { RunMetrics } from "./metrics.ts";
import { type RunReport, RunReportBuilder } from "./model.ts";

/**
 * Bumped whenever a metric's definition or its stored form changes: older rows are then
 * recomputed. 2: non-finite values are kept (1 stored them as null). 3: positions marked by
 * the shortest bar period (or the last fill without bars), float dust judged by the rounding done,
 * average costs and spreads that no longer overflow.
 */
export const METRICS_VERSION = 3;

// A row holds for the run it was computed from: same event count and end (a run re-recorded under
// the same id differs in both), finished, and same metrics version.
const CACHE_DDL = `CREATE TABLE IF NOT EXISTS ${METRICS_TABLE} (
    run_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    events INTEGER NOT NULL,
    ts_end INTEGER NOT NULL,
    metrics TEXT NOT NULL
)`;

interface CacheRow {
  run_id: string;
  version: bigint;
  events: bigint;
  ts_end: bigint;
  metrics: string;
}

/** The report of `run` from the events `source` holds for it. */
export async function reportOf(source: RunSource, run: RunRow): Promise<RunReport> {
  const builder = new RunReportBuilder(run);
  for await (const chunk of source.chunks({ run: run.run_id })) {
    for (const event of chunk) builder.add(event);
  }
  return builder.finish();
}

function readCache(db: RunsDb): Map<string, CacheRow> {
  if (!hasTable(db, METRICS_TABLE)) return new Map();
  const rows = db.sqlite.query(`SELECT * FROM ${METRICS_TABLE}`).all() as CacheRow[];
  return new Map(rows.map((r) => [r.run_id, r]));
}

/**
 * How often fresh metrics are committed while the rest are computed: an interrupted first listing
 * of a large sweep (Ctrl-C at run 765 of 1,000) keeps what it computed, and a commit a second costs
 * nothing beside the computing.
 */
const COMMIT_EVERY_MS = 1000;

/**
 * The metrics of each of `runs`, from the cache where it holds and computed from the events
 * otherwise (then stored, for finished runs in a runs database file, a batch at a time). In the
 * order of `runs`; `onProgress` hears of each run done.
 */
export async function metricsOf(
  source: RunSource,
  runs: readonly RunRow[],
  onProgress?: (done: number, total: number) => void,
): Promise<RunMetrics[]> {
  const db = source instanceof SqliteSource ? source.db : undefined;
  const cached = db === undefined ? new Map<string, CacheRow>() : readCache(db);
  let fresh: [string, bigint, bigint, string][] = [];
  // A batch that could not be stored (a writer holding the file past the busy timeout) ends the
  // storing: each later batch would wait as long.
  let storing = db !== undefined;
  let committedAt = performance.now();
  const commit = () => {
    if (storing && fresh.length > 0) storing = storeMetrics(db as RunsDb, fresh);
    fresh = [];
    committedAt = performance.now();
  };
  const result: RunMetrics[] = [];
  for (const run of runs) {
    const row = cached.get(run.run_id);
    const events =
      run.events ??
      (row === undefined
        ? 0n
        : Object.values(await source.countEvents(run.run_id)).reduce((a, b) => a + b, 0n));
    if (
      row !== undefined &&
      Number(row.version) === METRICS_VERSION &&
      row.events === events &&
      row.ts_end === run.ts_end
    ) {
      result.push(parseNumbers(row.metrics) as RunMetrics);
      onProgress?.(result.length, runs.length);
      continue;
    }
    const { metrics, events: counted } = await reportOf(source, run);
    if (run.status !== "running" && run.ts_end !== null) {
      fresh.push([run.run_id, run.events ?? BigInt(counted), run.ts_end, stringifyExact(metrics)]);
      if (performance.now() - committedAt >= COMMIT_EVERY_MS) commit();
    }
    result.push(metrics);
    onProgress?.(result.length, runs.length);
  }
  commit();
  return result;
}

/** Stores `fresh` rows of metrics in one transaction; false where nothing could be (see writeCache). */
function storeMetrics(db: RunsDb, fresh: readonly [string, bigint, bigint, string][]): boolean {
  return writeCache(db, (sqlite) => {
    sqlite.exec(CACHE_DDL);
    const insert = sqlite.query(
      `INSERT OR REPLACE INTO ${METRICS_TABLE} (run_id, version, events, ts_end, metrics) VALUES (?, ?, ?, ?, ?)`,
    );
    for (const [runId, events, tsEnd, metrics] of fresh) {
      insert.run(runId, METRICS_VERSION, events, tsEnd, metrics);
    }
  });
}
