import { StoreUrlError } from "../errors.ts";
import { pickRuns } from "../report/runs.ts";
import type { RunRow } from "../runs.ts";
import {
  isStoreUrl,
  type PgOpenOptions,
  PgStore,
  parseStoreUrl,
  SqliteSource,
} from "../store/index.ts";
import type { RunSource } from "../store/source.ts";
import { describeWhere, parseConditions, repeated, repeatedIfGiven } from "./args.ts";
import { openDb } from "./database.ts";
import { logger } from "./output.ts";
import { Progress } from "./progress.ts";
import { UsageError } from "./usage.ts";

/**
 * Opens what a read command was given: a `postgres://` URL opens the store, anything else is a
 * runs database path. A URL runtape cannot use is a usage error.
 */
export async function openSourceArg(
  pathOrUrl: string,
  args: { verbose?: boolean },
): Promise<SqliteSource | PgStore> {
  if (!isStoreUrl(pathOrUrl)) return new SqliteSource(openDb(pathOrUrl, args));
  return openStoreArg(pathOrUrl, args);
}

/** Checks that `url` is a store URL runtape can use, without connecting. */
export function checkStoreUrl(url: string): void {
  asUsage(() => parseStoreUrl(url));
}

/** Runs `fn`; a URL runtape cannot use (malformed, or of another scheme) is a usage error (exit 2). */
function asUsage<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof StoreUrlError) throw new UsageError(error.message);
    throw error;
  }
}

/** Opens the store at `url` for a command (see {@link openSourceArg}). */
export async function openStoreArg(
  url: string,
  args: { verbose?: boolean },
  options?: PgOpenOptions,
): Promise<PgStore> {
  try {
    const store = await PgStore.open(url, options);
    if (args.verbose) logger.info(`opened the store ${store.label} (layout ${store.version})`);
    return store;
  } catch (error) {
    if (error instanceof StoreUrlError) throw new UsageError(error.message);
    throw error;
  }
}

/**
 * The runs that `--run` (repeated) and `--where` pick from `db` (a file or store, opened here
 * unless it is open already), as ids: `--where` keeps those of the runs named (of every run
 * without `--run`) that meet each condition; a warning says when none does. Undefined where
 * neither is given: every run.
 */
export async function pickedRuns(
  db: string | RunSource,
  rawArgs: readonly string[],
  args: { verbose?: boolean },
): Promise<string[] | undefined> {
  const runIds = repeatedIfGiven(rawArgs, "run");
  const texts = repeated(rawArgs, "where");
  const where = parseConditions(texts);
  if (where.length === 0) return runIds;
  const source = typeof db === "string" ? await openSourceArg(db, args) : db;
  // A condition on a metric computes the metrics of runs seen for the first time: seconds a run.
  const progress = new Progress("metrics of", "runs");
  let picked: RunRow[];
  try {
    picked = await pickRuns(source, {
      runIds,
      where,
      onProgress: (done, total) => progress.update(done, total),
    });
  } finally {
    progress.clear();
    if (source !== db) await source.close();
  }
  if (picked.length === 0) {
    const among = runIds === undefined ? "" : "named by --run ";
    logger.warn(`no run ${among}meets ${describeWhere(texts)}`);
  }
  return picked.map((r) => r.run_id);
}
