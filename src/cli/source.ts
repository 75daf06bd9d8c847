import { StoreUrlError } from "../errors.ts";
import {
  isStoreUrl,
  type PgOpenOptions,
  PgStore,
  parseStoreUrl,
  SqliteSource,
} from "../store/index.ts";
import { openDb } from "./database.ts";
import { logger } from "./output.ts";
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
