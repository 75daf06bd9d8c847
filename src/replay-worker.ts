/**
 * The worker of src/replay-parallel.ts: takes the next slice of a run nobody has taken, encodes it
 * in a read snapshot of its own (restricted to the caller's sequence numbers, so it reads the same
 * rows) and posts it as UTF-8, never more than AHEAD slices ahead of what the caller has written.
 */
import { workerData } from "node:worker_threads";
import { endRead, openRunsDb } from "./db.ts";
import {
  AHEAD,
  POSTED,
  type SliceJob,
  type SliceResult,
  sliceBytes,
  TAKEN,
  WRITTEN,
} from "./replay-parallel.ts";

const { path, options, int64, slices, shared, port } = workerData as SliceJob;

function post(result: SliceResult): void {
  if ("bytes" in result) port.postMessage(result, [result.bytes.buffer as ArrayBuffer]);
  else port.postMessage(result);
  Atomics.add(shared, POSTED, 1);
  Atomics.notify(shared, POSTED);
}

function encodeSlices(): void {
  const db = openRunsDb(path);
  try {
    db.sqlite.exec("BEGIN");
    for (;;) {
      for (;;) {
        const written = Atomics.load(shared, WRITTEN);
        if (Atomics.load(shared, TAKEN) - written <= AHEAD) break;
        Atomics.wait(shared, WRITTEN, written, 100);
      }
      const k = Atomics.add(shared, TAKEN, 1);
      Atomics.notify(shared, TAKEN);
      if (k >= slices.length) return;
      try {
        const stats = { runId: "", events: 0, skipped: 0 };
        const bytes = sliceBytes(db, { ...options, seqRange: slices[k] }, int64, stats);
        post({ k, bytes, events: stats.events });
      } catch {
        post({ k, failed: true }); // the caller encodes it again, meets the error, does the rest
        return;
      }
    }
  } finally {
    endRead(db);
    db.close();
  }
}

try {
  encodeSlices();
} catch {
  post({ k: -1, failed: true }); // it could not open the file: the caller does every slice
}
