import { type OpenOptions, openRunsDb, type RunsDb } from "../db.ts";
import { logger } from "./output.ts";

const ACCESS: Record<RunsDb["access"], string> = {
  write: "for writing",
  "query-only": "for reading (query-only connection)",
  "read-only": "read-only (its directory or the file may not be written)",
  immutable: "immutable (read-only storage: no locks, no side files)",
};

/** Opens a runs database for a command; with `--verbose`, says how it was opened. */
export function openDb(path: string, args: { verbose?: boolean }, options?: OpenOptions): RunsDb {
  const db = openRunsDb(path, options);
  if (args.verbose) logger.info(`opened ${path} ${ACCESS[db.access]}`);
  return db;
}
