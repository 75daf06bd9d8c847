/**
 * Where runs are kept: a runs database file (the embedded default and every recording's journal)
 * or a PostgreSQL store shared by a team. Commands that read runs take either, through one face.
 */
import { describeValue, RuntapeError } from "../errors.ts";
import { PgStore } from "./postgres.ts";
import type { RunSource } from "./source.ts";
import { SqliteSource } from "./sqlite.ts";
import { isStoreUrl } from "./url.ts";

export { type PgOpenOptions, PgStore } from "./postgres.ts";
export { type PulledRun, type PullOptions, pull } from "./pull.ts";
export { type PushedRun, type PushOptions, push, storedDigest } from "./push.ts";
export { CHUNK_EVENTS, type RunSource } from "./source.ts";
export { SqliteSource } from "./sqlite.ts";
export {
  defaultStoreUrl,
  isStoreUrl,
  parseStoreUrl,
  redactUrls,
  type StoreTarget,
} from "./url.ts";

/**
 * Opens runs for reading: a `postgres://` URL opens the store, anything else is a runs database
 * path (opened read-only, never changed). Throws StoreUrlError for another URL scheme or a
 * malformed URL, and the typed errors of each side (missing file, unreachable store, ...).
 */
export async function openSource(pathOrUrl: string): Promise<SqliteSource | PgStore> {
  return isStoreUrl(pathOrUrl) ? PgStore.open(pathOrUrl) : SqliteSource.open(pathOrUrl);
}

/**
 * `body` on `source`: an open RunSource as it is, a path or store URL opened (see
 * {@link openSource}) for the call and closed after. Anything else throws RuntapeError
 * (INVALID_OPTION) naming `what`, where a method call on it would throw a TypeError deep inside.
 */
export async function withSource<T>(
  source: string | RunSource,
  what: string,
  body: (source: RunSource) => Promise<T>,
): Promise<T> {
  if (typeof source !== "string") {
    const methods = ["listRuns", "getRun", "resolveRunId", "countEvents", "events"] as const;
    if (!methods.every((m) => typeof (source as Partial<RunSource> | null)?.[m] === "function")) {
      throw new RuntapeError(
        `${what}: expected a runs database path, a store URL or an open RunSource (got ${describeValue(source)})`,
        "INVALID_OPTION",
      );
    }
    return body(source);
  }
  const opened = await openSource(source);
  try {
    return await body(opened);
  } finally {
    await opened.close();
  }
}

/**
 * `body` on `store`: an open PgStore as it is, a store URL opened for the call and closed after.
 * Anything else (a runs database among them) throws RuntapeError (INVALID_OPTION) naming `what`.
 */
export async function withStore<T>(
  store: string | PgStore,
  what: string,
  body: (store: PgStore) => Promise<T>,
): Promise<T> {
  if (store instanceof PgStore) return body(store);
  if (typeof store !== "string" || !isStoreUrl(store)) {
    const given: unknown = store;
    const got =
      given instanceof SqliteSource ? `the runs database ${given.label}` : describeValue(given);
    throw new RuntapeError(
      `${what}: expected a store URL or an open PgStore (got ${got})`,
      "INVALID_OPTION",
    );
  }
  const opened = await PgStore.open(store);
  try {
    return await body(opened);
  } finally {
    await opened.close();
  }
}
