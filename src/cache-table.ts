/**
 * runtape's caches inside a runs database: tables of values derived from a run's events, keyed by
 * run id. Not part of the layout: created on first use, safe to drop, ignored by every other
 * reader and by the Python tools. Commands that remove or rename runs carry their rows along.
 */
import type { Database } from "bun:sqlite";
import type { RunsDb } from "./db.ts";
import { SCHEMA_VERSION } from "./schema.ts";

/** Each finished run's metrics (report/cache.ts). */
export const METRICS_TABLE = "runtape_run_metrics";
/** Each finished run's summary as `inspect --run` shows it (inspect/summary.ts). */
export const SUMMARY_TABLE = "runtape_run_summaries";

/** The cache tables the file holds. */
export const cacheTables = (db: RunsDb): string[] =>
  [METRICS_TABLE, SUMMARY_TABLE].filter((name) => hasTable(db, name));

/** Whether the file holds the table `name`. */
export function hasTable(db: RunsDb, name: string): boolean {
  return (
    db.sqlite.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !==
    null
  );
}

/**
 * Runs `write` in one write transaction where runtape may keep a cache: only in its own layout (a
 * Python-written file is never changed by a read), through a connection that may write (not on
 * read-only storage), and only when the file is free within a moment. Failing that, nothing is
 * stored (false) and the values are computed again next time.
 */
export function writeCache(db: RunsDb, write: (sqlite: Database) => void): boolean {
  if (db.version < SCHEMA_VERSION) return false;
  if (db.access !== "write" && db.access !== "query-only") return false;
  const { sqlite } = db;
  try {
    if (db.access === "query-only") sqlite.exec("PRAGMA query_only = OFF");
    sqlite.transaction(() => write(sqlite))();
    return true;
  } catch {
    // A busy writer, a full disk: the cache is an optimisation, the answer stands.
    return false;
  } finally {
    if (db.access === "query-only") sqlite.exec("PRAGMA query_only = ON");
  }
}
