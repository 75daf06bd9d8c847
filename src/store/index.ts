/**
 * Where runs are kept: a runs database file (the embedded default and every recording's journal)
 * or a PostgreSQL store shared by a team. Commands that read runs take either, through one face.
 */
import { PgStore } from "./postgres.ts";
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
