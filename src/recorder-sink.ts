/**
 * Where a recorder's batches go (see Recorder's `thread` option): stored in line, or by a writer
 * thread, a Worker with a connection of its own (src/recorder-worker.ts) that stores one batch
 * while the recorder takes the events of the next. Either way a batch that cannot be stored is
 * kept, and stored before the next ones on the next try: a failure loses nothing.
 */
import type { Database } from "bun:sqlite";
import { MessageChannel, receiveMessageOnPort, Worker } from "node:worker_threads";
import { type Batch, prepareBatchWriter, type TableSql } from "./recorder-batch.ts";
import { workerModule } from "./worker-module.ts";

/** Takes a recorder's batches and stores them. */
export interface BatchSink {
  /**
   * Takes `batch`. In line, stores it before returning; on a thread, once the batch before it is
   * stored. Throws what stopped a batch from being stored: it stays taken, and goes first next time.
   */
  hand(batch: Batch): void;
  /** Returns once every batch taken is stored; throws, keeping them, if one cannot be. */
  drain(): void;
  /** Drains, then lets go of the thread and the statements; throws as `drain` does, and then stays open. */
  close(): void;
}

/** Stores each batch on `sqlite` as it is handed. */
export function inlineSink(sqlite: Database, tables: readonly TableSql[]): BatchSink {
  const writer = prepareBatchWriter(sqlite, tables);
  let taken: Batch[] = [];
  const drain = () => {
    if (taken.length === 0) return;
    writer.write(taken);
    taken = [];
  };
  return {
    hand(batch) {
      taken.push(batch);
      drain();
    },
    drain,
    close() {
      drain();
      writer.finalize();
    },
  };
}

/** What the writer thread was given. */
export interface WriterData {
  path: string;
  journal: "wal" | "rollback";
  tables: readonly TableSql[];
  /** Collect the thread's heap after each batch it stores (the Recorder's `collectGarbage`). */
  collectGarbage: boolean;
  /** See the FLAG_ indexes. */
  flag: Int32Array;
  /** The thread's failures, as {@link WriteFailure}, read without the event loop. */
  port: MessagePort;
}

/** [FLAG_BUSY]: 1 from handing a message to the thread until it has done it. */
export const FLAG_BUSY = 0;
/** [FLAG_FAILED]: 1 if the last message failed (its failure waits on the port). */
export const FLAG_FAILED = 1;
/**
 * [FLAG_OPEN]: 0 while the thread starts, then OPENED or NOT_OPENED (its connection), or GIVEN_UP
 * by the recorder first: a thread that opens after that writes nothing.
 */
export const FLAG_OPEN = 2;
export const OPENED = 1;
export const NOT_OPENED = 2;
const GIVEN_UP = 3;

/** A failure as the thread reports it: an Error does not cross threads with its code. */
export interface WriteFailure {
  message: string;
  code?: string;
}

/** How long the thread may take to open its connection before the batches are stored in line. */
const START_MS = 2_000;

/**
 * Stores batches on a writer thread, one message at a time: handing a batch waits for the
 * thread's last message, so that at most one batch is being stored while the next is filled (the
 * memory cap holds). Where the thread does not start in time or cannot open the file, `inline()`
 * stores them instead, as if there were no thread.
 */
export function threadSink(
  data: Omit<WriterData, "flag" | "port">,
  inline: () => BatchSink,
): BatchSink {
  const flag = new Int32Array(new SharedArrayBuffer(12));
  const { port1, port2 } = new MessageChannel();
  let worker: Worker | undefined;
  try {
    const workerData: WriterData = { ...data, flag, port: port2 };
    worker = new Worker(workerModule("src/recorder-worker.ts"), {
      workerData,
      transferList: [port2],
    });
    worker.unref();
  } catch {
    port1.close();
    return inline();
  }
  let fallback: BatchSink | undefined;
  /** Batches taken and not yet stored, in order; the first `posted` of them are with the thread. */
  let taken: Batch[] = [];
  let posted = 0;

  /** Waits for the thread's last message; false if the thread has no connection to do it with. */
  const awaitThread = (): boolean => {
    for (;;) {
      const open = Atomics.load(flag, FLAG_OPEN);
      if (open === NOT_OPENED || open === GIVEN_UP) return false;
      if (Atomics.load(flag, FLAG_BUSY) === 0) return true;
      if (open === OPENED) Atomics.wait(flag, FLAG_BUSY, 1);
      else if (
        Atomics.wait(flag, FLAG_BUSY, 1, START_MS) === "timed-out" &&
        Atomics.compareExchange(flag, FLAG_OPEN, 0, GIVEN_UP) === 0
      ) {
        return false;
      }
    }
  };
  /** Takes the outcome of the message with the thread, if any; throws its failure. */
  const settle = () => {
    if (posted === 0) return;
    if (!awaitThread()) {
      // The thread stored nothing: the batches go in line from now on, those taken first.
      worker?.terminate();
      worker = undefined;
      port1.close();
      fallback = inline();
      posted = 0;
      return;
    }
    const count = posted;
    posted = 0;
    if (Atomics.load(flag, FLAG_FAILED) === 1) {
      const failure = receiveMessageOnPort(port1)?.message as WriteFailure | undefined;
      throw Object.assign(new Error(failure?.message ?? "the writer thread failed"), {
        code: failure?.code,
      });
    }
    taken = taken.slice(count);
  };
  const post = () => {
    if (taken.length === 0) return;
    if (fallback !== undefined) {
      // One at a time: a batch the fallback cannot store stays with it, the rest here.
      while (taken.length > 0) fallback.hand(taken.shift() as Batch);
      return;
    }
    Atomics.store(flag, FLAG_BUSY, 1);
    posted = taken.length;
    worker?.postMessage(taken);
  };
  const drain = () => {
    settle();
    post();
    settle();
    fallback?.drain();
  };
  return {
    hand(batch) {
      taken.push(batch);
      settle();
      post();
    },
    drain,
    close() {
      drain();
      fallback?.close();
      if (worker !== undefined) {
        // The thread finalizes its statements and closes its connection, so that SQLite removes
        // the -wal and -shm files when the last connection closes.
        Atomics.store(flag, FLAG_BUSY, 1);
        worker.postMessage("close");
        awaitThread();
        worker.terminate();
        worker = undefined;
        port1.close();
      }
    },
  };
}
