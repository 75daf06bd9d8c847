/**
 * The thread that runs SQLite's integrity check for src/inspect/integrity.ts, on a connection of
 * its own. Whatever happens, it says so and raises the flag: the caller waits on that flag.
 */
import { Database } from "bun:sqlite";
import { workerData } from "node:worker_threads";

const { path, port, flag } = workerData as { path: string; port: MessagePort; flag: Int32Array };
Atomics.store(flag, 1, 1); // started
Atomics.notify(flag, 1);
try {
  const sqlite = new Database(path, { readonly: true });
  try {
    const rows = sqlite.query("PRAGMA integrity_check").values();
    port.postMessage({ rows: rows.map(([message]) => String(message)) });
  } finally {
    sqlite.close();
  }
} catch {
  port.postMessage({ rows: null }); // the caller checks in line, and meets the error itself
} finally {
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
}
