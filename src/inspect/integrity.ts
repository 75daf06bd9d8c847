import { statSync } from "node:fs";
import { MessageChannel, receiveMessageOnPort, Worker } from "node:worker_threads";
import type { RunsDb } from "../db.ts";
import { workerModule } from "../worker-module.ts";

/** Below this size the check runs in line: starting a thread would cost more than it saves. */
const BESIDE_FROM_BYTES = 32 * 1024 * 1024;
/** How long a thread may take to start before the check runs in line instead. */
const START_MS = 2_000;
/**
 * SQLite's integrity check of the file (`PRAGMA integrity_check`: "ok", or one line per problem).
 * On a large file it costs as much as reading every row, so it starts now on a thread and a
 * connection of its own, beside what the caller reads meanwhile; the function returned waits for
 * it. Where the thread cannot run it (it does not start, the file does not open there), it runs in
 * line on `db`, which then says what it finds or throws what SQLite throws, as it always did.
 * `stop` when done, or when giving up.
 */
export function startIntegrityCheck(db: RunsDb): { result(): string[]; stop(): void } {
  const inLine = () =>
    (db.sqlite.query("PRAGMA integrity_check").values() as [string][]).map(([m]) => String(m));
  const now = () => {
    const rows = inLine();
    return { result: () => rows, stop: () => {} };
  };
  // An immutable connection is for storage where locks cannot be taken: a second one would try.
  if (db.access === "immutable" || sizeOf(db.path) < BESIDE_FROM_BYTES) return now();
  const { port1, port2 } = new MessageChannel();
  const flag = new Int32Array(new SharedArrayBuffer(8));
  let worker: Worker;
  try {
    worker = new Worker(workerModule("src/inspect/integrity-worker.ts"), {
      workerData: { path: db.path, port: port2, flag },
      transferList: [port2],
    });
  } catch {
    port1.close();
    return now();
  }
  const stop = () => {
    worker.terminate();
    port1.close();
  };
  return {
    result() {
      // The library's callers are synchronous: wait on the flag, not on the event loop.
      if (Atomics.wait(flag, 1, 0, START_MS) === "timed-out" && Atomics.load(flag, 1) === 0) {
        return inLine();
      }
      Atomics.wait(flag, 0, 0);
      const reply = receiveMessageOnPort(port1)?.message as { rows: string[] | null } | undefined;
      return reply?.rows ?? inLine();
    },
    stop,
  };
}

const sizeOf = (path: string) => {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
};
