import { statSync } from "node:fs";
import type { RunsDb } from "../db.ts";
import { startThread } from "../thread.ts";

/** Below this size the check runs in line: starting a thread would cost more than it saves. */
const BESIDE_FROM_BYTES = 32 * 1024 * 1024;

/**
 * SQLite's integrity check of the file (`PRAGMA integrity_check`: "ok", or one line per problem).
 * On a large file it costs as much as reading every row, so it starts now on a thread and a
 * connection of its own, beside what the caller reads meanwhile. Where the thread cannot run it
 * (it does not start, the file does not open there), it runs in line on `db`, which then says what
 * it finds or throws what SQLite throws, as it always did. `stop` when done, or when giving up.
 */
export function startIntegrityCheck(db: RunsDb): { result(): string[]; stop(): void } {
  const inLine = () =>
    (db.sqlite.query("PRAGMA integrity_check").values() as [string][]).map(([m]) => String(m));
  // An immutable connection is for storage where locks cannot be taken: a second one would try.
  const thread =
    db.access !== "immutable" && sizeOf(db.path) >= BESIDE_FROM_BYTES
      ? startThread<string[]>("src/inspect/integrity-worker.ts", { path: db.path })
      : undefined;
  if (thread === undefined) {
    const rows = inLine();
    return { result: () => rows, stop: () => {} };
  }
  return { result: () => thread.result() ?? inLine(), stop: () => thread.stop() };
}

const sizeOf = (path: string) => {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
};
