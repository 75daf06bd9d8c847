/**
 * A job on a thread of its own, for a synchronous caller: the library's reads are synchronous
 * (bun:sqlite), so the caller waits on a shared flag, not on the event loop. Each job's module is
 * one of WORKER_MODULES (src/worker-module.ts). A thread that cannot start or run its job answers
 * nothing, and the caller does the job itself: a thread only ever makes a job faster, never
 * different.
 */
import { MessageChannel, receiveMessageOnPort, Worker, workerData } from "node:worker_threads";
import { type WORKER_MODULES, workerModule } from "./worker-module.ts";

type WorkerModule = (typeof WORKER_MODULES)[number];

/** How long a thread may take to start before the caller does the job itself. */
const START_MS = 2_000;

/** A job started on a thread: `result` waits for its answer; `stop` when done or giving up. */
interface Thread<T> {
  result(): T | undefined;
  stop(): void;
}

interface Envelope {
  data: unknown;
  port: MessagePort;
  /** [0]: answered, [1]: started. */
  flag: Int32Array;
}

/** Starts the job of `module` (see WORKER_MODULES) with `data`, if a thread can. */
export function startThread<T>(module: WorkerModule, data: unknown): Thread<T> | undefined {
  const url = workerModule(module);
  const { port1, port2 } = new MessageChannel();
  const flag = new Int32Array(new SharedArrayBuffer(8));
  let worker: Worker;
  try {
    const envelope: Envelope = { data, port: port2, flag };
    worker = new Worker(url, { workerData: envelope, transferList: [port2] });
  } catch {
    port1.close();
    return undefined;
  }
  return {
    result() {
      if (Atomics.wait(flag, 1, 0, START_MS) === "timed-out" && Atomics.load(flag, 1) === 0) {
        worker.terminate(); // the caller does the job now: the thread would only compete
        return undefined;
      }
      Atomics.wait(flag, 0, 0);
      const reply = receiveMessageOnPort(port1)?.message as { answer?: T } | undefined;
      return reply?.answer;
    },
    stop() {
      worker.terminate();
      port1.close();
    },
  };
}

/** The body of a job's module: answers `job(data)` to startThread, or nothing if it throws. */
export function serveThread<D, T>(job: (data: D) => T): void {
  const { data, port, flag } = workerData as Envelope;
  Atomics.store(flag, 1, 1);
  Atomics.notify(flag, 1);
  try {
    port.postMessage({ answer: job(data as D) });
  } catch {
    port.postMessage({});
  } finally {
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
  }
}
