/** A recorder's writer thread (see threadSink in src/recorder-sink.ts): stores what it is handed. */
import { parentPort, workerData } from "node:worker_threads";
import { openWriteConnection, sqliteCode } from "./db.ts";
import {
  type Batch,
  type BatchWriter,
  prepareBatchWriter,
  readyForBatches,
} from "./recorder-batch.ts";
import {
  FLAG_BUSY,
  FLAG_FAILED,
  FLAG_OPEN,
  NOT_OPENED,
  OPENED,
  type WriteFailure,
  type WriterData,
} from "./recorder-sink.ts";

const { path, journal, tables, collectGarbage, flag, port } = workerData as WriterData;

const done = (failed: boolean) => {
  Atomics.store(flag, FLAG_FAILED, failed ? 1 : 0);
  Atomics.store(flag, FLAG_BUSY, 0);
  Atomics.notify(flag, FLAG_BUSY);
};

let writer: BatchWriter | undefined;
let close = () => {};
try {
  const sqlite = openWriteConnection(path, journal);
  close = () => {
    writer?.finalize();
    sqlite.close();
  };
  readyForBatches(sqlite);
  writer = prepareBatchWriter(sqlite, tables);
  // The recorder may have given up waiting: then it stores the batches itself, and this nothing.
  if (Atomics.compareExchange(flag, FLAG_OPEN, 0, OPENED) !== 0) {
    close();
    writer = undefined;
  }
} catch {
  close(); // a connection left open would keep the -wal and -shm files beside the database
  writer = undefined;
  Atomics.compareExchange(flag, FLAG_OPEN, 0, NOT_OPENED);
}
// A thread that is not the writer still answers, so that a recorder waiting on it wakes.
Atomics.notify(flag, FLAG_BUSY);

parentPort?.on("message", (message: Batch[] | "close") => {
  if (message === "close" || writer === undefined) {
    if (message === "close") close();
    done(false);
    return;
  }
  try {
    writer.write(message);
    done(false);
  } catch (error) {
    const failure: WriteFailure = {
      message: error instanceof Error ? error.message : String(error),
      code: sqliteCode(error),
    };
    port.postMessage(failure);
    done(true);
  }
  // Once the recorder may go on: the batch's copy is garbage, and the pause is this thread's.
  if (collectGarbage) Bun.gc(true);
});
