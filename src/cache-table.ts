/**
 * runtape's caches inside a runs database: tables of values derived from a run's events, keyed by
 * run id. Not part of the layout: created on first use, safe to drop, ignored by every other
 * reader and by the Python tools. Commands that remove or rename runs carry their rows along.
 */
import type { Database } from "bun:sqlite";
import { openCacheConnection, type RunsDb } from "./db.ts";
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
 * How long a cache write waits for the file's write lock: a recorder's flush holds it for
 * milliseconds, a merge or a vacuum for minutes, which a read command should not wait out.
 */
const CACHE_WAIT_MS = 1_000;

/**
 * `WHERE …` for an INSERT … SELECT of a cache row: the run (the last parameter) is still there. A
 * run removed while its values were computed would otherwise leave a row no command removes.
 */
export const WHILE_THE_RUN_EXISTS = "WHERE EXISTS (SELECT 1 FROM runs WHERE run_id = ?)";

/**
 * Runs `write` in one write transaction where runtape may keep a cache: only in its own layout (a
 * Python-written file is never changed by a read), through a connection that may write (not on
 * read-only storage), and only when the file is free within a moment. Failing that, nothing is
 * stored (false) and the values are computed again next time.
 */
export function writeCache(db: RunsDb, write: (sqlite: Database) => void): boolean {
  if (db.version < SCHEMA_VERSION) return false;
  // A file being recorded into is opened read-only for reading (its log holds writes): its caches
  // go through a connection of their own, or no listing made during a sweep would keep them.
  let own: Database | undefined;
  try {
    own = openCacheConnection(db);
  } catch {
    return false;
  }
  if (own === undefined && db.access !== "write" && db.access !== "query-only") return false;
  const sqlite = own ?? db.sqlite;
  const [[wait]] = sqlite.query("PRAGMA busy_timeout").values() as [[number]];
  try {
    if (db.access === "query-only") sqlite.exec("PRAGMA query_only = OFF");
    sqlite.exec(`PRAGMA busy_timeout = ${CACHE_WAIT_MS}`);
    // IMMEDIATE: a deferred transaction reads first, and a writer committing before its first write
    // leaves it a snapshot SQLite refuses to write from, at once and without waiting.
    sqlite.transaction(() => write(sqlite)).immediate();
    return true;
  } catch {
    // A busy writer, a full disk: the cache is an optimisation, the answer stands.
    return false;
  } finally {
    if (own !== undefined) own.close();
    else {
      sqlite.exec(`PRAGMA busy_timeout = ${wait}`);
      if (db.access === "query-only") sqlite.exec("PRAGMA query_only = ON");
    }
  }
}
