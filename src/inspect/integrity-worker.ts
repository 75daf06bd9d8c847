/** The job of startIntegrityCheck (src/inspect/integrity.ts): the check on a connection of its own. */
import { Database } from "bun:sqlite";
import { serveThread } from "../thread.ts";

serveThread(({ path }: { path: string }) => {
  const sqlite = new Database(path, { readonly: true });
  try {
    return sqlite
      .query("PRAGMA integrity_check")
      .values()
      .map(([message]) => String(message));
  } finally {
    sqlite.close();
  }
});
