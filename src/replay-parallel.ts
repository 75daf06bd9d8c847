/**
 * A runtape run's NDJSON lines made by two threads. The run is cut into slices of its sequence
 * numbers; this thread and a worker each take the next slice, and the slices come out in order:
 * the same bytes as {@link replayLines}. Slices are independent, but on the 2-core machine this
 * project is measured on two threads are slower than one since lines are written as bytes
 * (0.78–0.95 of one thread's speed in the bench's pairs, for 40–65% more CPU: one thread's
 * garbage collector already keeps the second core partly busy), so it is asked for (`runtape
 * replay --threads 2`), not the default.
 */
import {
  MessageChannel,
  type MessagePort,
  receiveMessageOnPort,
  Worker,
} from "node:worker_threads";
import { endRead, inSnapshot, type RunsDb } from "./db.ts";
import { LineBuffer } from "./formats/line-buffer.ts";
import type { Int64Style } from "./json.ts";
import { type ReplayStats, replayLines, type SliceOptions } from "./replay.ts";
import { hasSequence, resolveRunId } from "./runs.ts";
import { SEQ_COLUMN } from "./schema.ts";
import { workerModule } from "./worker-module.ts";

/** Sequence numbers per slice: about 2 MB of lines, so the few slices in flight stay small. */
export const SLICE_SEQS = 1 << 14;

/** Slices the worker may have encoded ahead of the one being written. */
export const AHEAD = 2;

/** The worker's task: slices of one run, read in one snapshot of its own, taken as it goes. */
export interface SliceJob {
  path: string;
  options: SliceOptions;
  int64: Int64Style;
  slices: [number, number][];
  /** The counters at TAKEN, WRITTEN and POSTED. */
  shared: Int32Array;
  /** Where the worker posts each SliceResult. */
  port: MessagePort;
}

/** One slice's lines (their buffer transferred), or the worker's word that it failed. */
export type SliceResult =
  | { k: number; bytes: Uint8Array; events: number }
  | { k: number; failed: true };

/** The lines of one slice as UTF-8, each ending with a newline; counts the events into `stats`. */
export function sliceBytes(
  db: RunsDb,
  options: SliceOptions,
  int64: Int64Style,
  stats: ReplayStats,
): Uint8Array {
  const out = new LineBuffer();
  for (const _ of replayLines(db, { ...options, stats }, int64, out));
  return out.bytes.slice(0, out.length);
}

/** The first sequence number of a run and one past its last, in `db`'s snapshot. */
function seqBounds(db: RunsDb, runId: string): [number, number] {
  let low = Number.POSITIVE_INFINITY;
  let high = Number.NEGATIVE_INFINITY;
  for (const type of db.catalog.typesAt(db.version)) {
    const table = db.catalog.table(type);
    const row = db.sqlite
      .query(
        `SELECT min(${SEQ_COLUMN}) AS low, max(${SEQ_COLUMN}) AS high FROM ${table} WHERE run_id = ?`,
      )
      .get(runId) as { low: bigint | number | null; high: bigint | number | null };
    if (row.low !== null) low = Math.min(low, Number(row.low));
    if (row.high !== null) high = Math.max(high, Number(row.high));
  }
  return low > high ? [0, 0] : [low, high + 1];
}

/** The slices of a run in `db`'s snapshot, or undefined when it carries no sequence numbers. */
export function runSlices(
  db: RunsDb,
  runId: string,
  seqsPerSlice = SLICE_SEQS,
): [number, number][] | undefined {
  if (!hasSequence(db, runId)) return undefined;
  const [low, high] = seqBounds(db, runId);
  const slices: [number, number][] = [];
  for (let from = low; from < high; from += seqsPerSlice) {
    slices.push([from, Math.min(high, from + seqsPerSlice)]);
  }
  return slices;
}

/**
 * Whether {@link parallelLines} is worth its thread for this replay: a runtape run of more than
 * four slices, no `limit` (the first events would do) and rows that do not decode thrown (the
 * default: counting skipped rows across threads is not worth it).
 */
export function worthSlicing(db: RunsDb, options: SliceOptions): boolean {
  if (options.limit !== undefined) return false;
  if ((options.onInvalidRow ?? "throw") !== "throw") return false;
  return inSnapshot(db, () => {
    const slices = runSlices(db, resolveRunId(db, options.run));
    return slices !== undefined && slices.length > 4;
  });
}

/**
 * The lines of a run as {@link replayLines} writes them, in blocks of whole lines, in order. This
 * thread and a worker each take the next slice nobody has taken (a shared counter): a run shorter
 * than the worker's start is all done here, a long one is shared as the two keep pace, and neither
 * waits while it may take another slice (each stays at most {@link AHEAD} slices ahead of what is
 * written). For a runtape-written run in a file, with no `limit` and rows that do not decode
 * thrown (the default). A slice the worker cannot encode (a row that does not decode, say) is
 * encoded again here, so its error comes out where it would have: same class, same message; so is
 * every slice the worker took, and all of them if it does not start. `stats` counts the events
 * yielded and the slices the worker encoded. `tuning`: smaller slices (for tests), and
 * `workerFirst`, where the worker takes the first slice and this thread waits for it as long as it
 * takes (`--threads 2`: both share even a run done before the worker would have started).
 */
export function* parallelLines(
  db: RunsDb,
  options: SliceOptions,
  int64: Int64Style,
  stats: ReplayStats & { workerSlices?: number },
  tuning: { seqsPerSlice?: number; workerFirst?: boolean } = {},
): Generator<Uint8Array> {
  const snapshot = !db.sqlite.inTransaction;
  let worker: Worker | undefined;
  const { port1: port, port2 } = new MessageChannel();
  try {
    if (snapshot) db.sqlite.exec("BEGIN");
    const runId = resolveRunId(db, options.run);
    stats.runId = runId;
    const slices = runSlices(db, runId, tuning.seqsPerSlice);
    if (slices === undefined) throw new TypeError(`run ${runId} carries no sequence numbers`);
    const sliced: SliceOptions = { ...options, run: runId, stats: undefined };
    // A slice encoded ahead that fails keeps its error until the slices before it are written.
    const own = (k: number): Own => {
      const counted = { runId, events: 0, skipped: 0 };
      try {
        const bytes = sliceBytes(db, { ...sliced, seqRange: slices[k] }, int64, counted);
        return { bytes, events: counted.events };
      } catch (error) {
        return { error };
      }
    };
    const shared = new Int32Array(new SharedArrayBuffer(4 * COUNTERS));
    const job: SliceJob = { path: db.path, options: sliced, int64, slices, shared, port: port2 };
    let lost = false;
    try {
      worker = new Worker(workerModule("src/replay-worker.ts"), {
        workerData: job,
        transferList: [port2],
      });
      // The worker notifies TAKEN when it takes a slice: here, when it has taken the first.
      if (tuning.workerFirst) Atomics.wait(shared, TAKEN, 0, 5_000);
    } catch {
      lost = true;
    }
    const results = new Map<number, SliceResult>();
    const mine = new Map<number, Own>();
    // The worker's slices, taken off the port without the event loop: this generator's consumer
    // writes synchronously, and a slice waited for is a slice this thread did not encode.
    let next = 0;
    const receive = () => {
      for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) {
        const result = m.message as SliceResult;
        if ("failed" in result) lost = true; // this thread redoes it, and all it took
        if (result.k >= next && !mine.has(result.k)) results.set(result.k, result);
      }
    };
    const take = () => {
      const k = Atomics.add(shared, TAKEN, 1);
      if (k < slices.length) mine.set(k, own(k));
    };
    while (next < slices.length) {
      receive();
      const done = mine.get(next) ?? results.get(next);
      if (done !== undefined && "error" in done) throw done.error;
      if (done !== undefined && !("failed" in done)) {
        if (!mine.delete(next)) stats.workerSlices = (stats.workerSlices ?? 0) + 1;
        results.delete(next);
        stats.events += done.events;
        yield done.bytes;
        Atomics.store(shared, WRITTEN, ++next);
        Atomics.notify(shared, WRITTEN);
      } else if (next >= Atomics.load(shared, TAKEN)) {
        take();
      } else if (lost) {
        mine.set(next, own(next)); // the worker's, which it will not deliver
      } else if (mine.size < AHEAD && Atomics.load(shared, TAKEN) < slices.length) {
        take(); // the worker is still on `next`: this thread goes on meanwhile
      } else {
        // This thread is AHEAD slices ahead of a worker still on `next`: a moment's wait, then
        // it encodes `next` itself (the worker's copy is dropped), so that a worker starved of
        // CPU on a busy machine costs no more than doing without it.
        const posted = Atomics.load(shared, POSTED);
        receive();
        const patient = next === 0 && tuning.workerFirst;
        if (!results.has(next) && Atomics.wait(shared, POSTED, posted, 10) === "timed-out") {
          if (!patient) mine.set(next, own(next));
        }
      }
    }
  } finally {
    worker?.terminate();
    port.close();
    if (snapshot) endRead(db);
  }
}

/** A slice this thread encoded: its lines, or what stopped them. */
type Own = { bytes: Uint8Array; events: number } | { error: unknown };

/** The counters this thread and the worker share: slices taken by either, written, posted by the worker. */
export const TAKEN = 0;
export const WRITTEN = 1;
export const POSTED = 2;
const COUNTERS = 3;
