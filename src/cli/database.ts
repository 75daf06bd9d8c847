import { type OpenOptions, openRunsDb, type RunsDb } from "../db.ts";
import { StoreUrlAsFileError } from "../errors.ts";
import { isStoreUrl, redactUrls } from "../store/url.ts";
import { logger } from "./output.ts";
import { UsageError } from "./usage.ts";

const ACCESS: Record<RunsDb["access"], string> = {
  write: "for writing",
  "query-only": "for reading (query-only connection)",
  "read-only": "read-only (its directory or the file may not be written)",
  immutable: "immutable (read-only storage: no locks, no side files)",
};

/** A file named so holds an NDJSON event stream (a golden run), not a runs database. */
export const NDJSON_FILE = /\.(ndjson|jsonl)$/i;

/**
 * Refuses database arguments that name no file: a run recorded into memory would be lost. A store
 * URL gets `storeHint`, what to do instead.
 */
export function checkDbArg(
  path: string,
  storeHint = "runs are recorded into files; `runtape push` (or record --push URL) sends them to a store",
): void {
  if (isStoreUrl(path)) {
    throw new UsageError(new StoreUrlAsFileError(redactUrls(path)).message, storeHint);
  }
  if (path === ":memory:" || path === "") {
    throw new UsageError(
      `${JSON.stringify(path)} is not a runs database file: runs are kept in files`,
      "give a path, e.g. ./runs.db",
    );
  }
}

/**
 * As checkDbArg, for a database a command writes: a name that says NDJSON is refused too, since
 * what it would hold is SQLite (`replay --into x.ndjson` for `replay > x.ndjson`).
 */
export function checkTargetArg(path: string, storeHint?: string): void {
  checkDbArg(path, storeHint);
  if (NDJSON_FILE.test(path)) {
    throw new UsageError(
      `${path} is named as NDJSON, but runs are recorded into a runs database file`,
      "`runtape replay DB --run ID > FILE.ndjson` writes NDJSON",
    );
  }
}

/** Opens a runs database for a command; with `--verbose`, says how it was opened. */
export function openDb(path: string, args: { verbose?: boolean }, options?: OpenOptions): RunsDb {
  checkDbArg(path);
  const db = openRunsDb(path, options);
  if (args.verbose) logger.info(`opened ${path} ${ACCESS[db.access]}`);
  return db;
}

/**
 * Runs a command that may change the database at `path` in two steps: `body` on the file opened
 * for reading with `dryRun` (every check, and what there is to do), then, only where `writes`
 * says so of that answer, `body` again on the file opened for writing (which checks again, in
 * its transaction). A command that refuses or has nothing to do leaves the file byte for byte
 * as it was: a Python-written file is migrated only when runtape writes to it.
 */
export function changeDb<T>(
  path: string,
  args: { verbose?: boolean },
  body: (db: RunsDb, dryRun: boolean) => T,
  writes: (planned: T) => boolean,
): T {
  const reader = openDb(path, args, { mode: "read" });
  let planned: T;
  try {
    planned = body(reader, true);
  } finally {
    reader.close();
  }
  if (!writes(planned)) return planned;
  const db = openDb(path, args, { mode: "write", create: false, initialize: false });
  try {
    return body(db, false);
  } finally {
    db.close();
  }
}
