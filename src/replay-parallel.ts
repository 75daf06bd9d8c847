/**
 * A runtape run's NDJSON lines made by two threads. The run is cut into slices of its sequence
 * numbers; this thread encodes the even slices, a worker the odd ones, and the slices come out in
 * order: the same bytes as {@link replayLines}. Encoding is most of what `runtape replay` costs
 * and slices are independent, so a second idle core takes about half of it.
 */
import { endRead, inSnapshot, type RunsDb } from "./db.ts";
import type { EventType } from "./events/catalog.ts";
import type { Int64Style } from "./json.ts";
import { lineEncoder } from "./ndjson.ts";
import { type ReplayStats, replayLines, type SliceOptions } from "./replay.ts";
import { hasSequence, resolveRunId } from "./runs.ts";
import { SEQ_COLUMN } from "./schema.ts";
import { workerModule } from "./worker-module.ts";

/** Sequence numbers per slice: about 2 MB of lines, so the few slices in flight stay small. */
export const SLICE_SEQS = 1 << 14;

/** Slices the worker may have encoded ahead of the one being written. */
export const AHEAD = 2;

/** The worker's task: its slices of one run, read in one snapshot of its own. */
export interface SliceJob {
  path: string;
  options: SliceOptions;
  int64: Int64Style;
  slices: { k: number; range: [number, number] }[];
}

/** One slice encoded as UTF-8 (its buffer transferred), or the worker's word that it failed. */
export type SliceResult =
  | { k: number; bytes: Uint8Array; events: number }
  | { k: number; failed: true };

/** The lines of one slice, each ending with a newline; counts the events into `stats`. */
export function sliceText(
  db: RunsDb,
  options: SliceOptions,
  int64: Int64Style,
  stats: ReplayStats,
): string {
  // Joined a few hundred lines at a time, while their parts are still in the cache: one join of a
  // whole slice's lines costs half as much again.
  const blocks: string[] = [];
  let lines: string[] = [];
  const encoder = (type: EventType) => lineEncoder(type, int64);
  for (const line of replayLines(db, { ...options, stats }, encoder)) {
    lines.push(line);
    if (lines.length === 512) {
      lines.push("");
      blocks.push(lines.join("\n"));
      lines = [];
    }
  }
  if (lines.length > 0) {
    lines.push("");
    blocks.push(lines.join("\n"));
  }
  return blocks.join("");
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
 * Whether {@link parallelLines} is worth its thread for this replay: a second core (`cores`), a
 * runtape run of more than four slices, no `limit` (the first events would do) and rows that do
 * not decode thrown (the default: counting skipped rows across threads is not worth it).
 */
export function worthSlicing(
  db: RunsDb,
  options: SliceOptions,
  cores = navigator.hardwareConcurrency,
): boolean {
  if (cores < 2 || options.limit !== undefined) return false;
  if ((options.onInvalidRow ?? "throw") !== "throw") return false;
  return inSnapshot(db, () => {
    const slices = runSlices(db, resolveRunId(db, options.run));
    return slices !== undefined && slices.length > 4;
  });
}

/**
 * The lines of a run as {@link replayLines} makes them, in blocks of whole lines (text, or UTF-8
 * bytes from the worker), with every odd slice encoded by a worker thread. For a runtape-written
 * run in a file, with no `limit` and rows that do not decode thrown (the default). A slice the
 * worker cannot encode (a row that does not decode, say) is encoded again here, so its error comes
 * out where it would have: same class, same message. If the worker cannot start, this thread
 * encodes every slice. `stats` counts the events yielded and the slices the worker encoded.
 */
export async function* parallelLines(
  db: RunsDb,
  options: SliceOptions,
  int64: Int64Style,
  stats: ReplayStats & { workerSlices?: number },
  seqsPerSlice = SLICE_SEQS,
): AsyncGenerator<string | Uint8Array> {
  const snapshot = !db.sqlite.inTransaction;
  let worker: Worker | undefined;
  try {
    if (snapshot) db.sqlite.exec("BEGIN");
    const runId = resolveRunId(db, options.run);
    stats.runId = runId;
    const slices = runSlices(db, runId, seqsPerSlice);
    if (slices === undefined) throw new TypeError(`run ${runId} carries no sequence numbers`);
    const sliced: SliceOptions = { ...options, run: runId, stats: undefined };
    const own = (k: number): string => {
      const counted = { runId, events: 0, skipped: 0 };
      const text = sliceText(db, { ...sliced, seqRange: slices[k] }, int64, counted);
      stats.events += counted.events;
      return text;
    };
    const results = new Map<number, SliceResult>();
    let lost = false;
    let wake = () => {};
    worker = new Worker(workerModule("src/replay-worker.ts"));
    worker.onmessage = ({ data }: MessageEvent<SliceResult>) => {
      if (data.k < 0)
        lost = true; // it could not even open the file
      else results.set(data.k, data);
      wake();
    };
    worker.onerror = () => {
      lost = true;
      wake();
    };
    const job: SliceJob = {
      path: db.path,
      options: sliced,
      int64,
      slices: slices.flatMap((range, k) => (k % 2 === 1 ? [{ k, range }] : [])),
    };
    worker.postMessage(job);
    for (let k = 0; k < slices.length; k++) {
      if (k % 2 === 0 || lost) {
        yield own(k);
        continue;
      }
      while (!results.has(k) && !lost) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
      const result = results.get(k);
      results.delete(k);
      worker.postMessage(k); // taken: the worker may go on ahead
      if (result === undefined || "failed" in result) {
        lost = true; // it stopped at this slice: the rest are this thread's
        yield own(k);
      } else {
        stats.events += result.events;
        stats.workerSlices = (stats.workerSlices ?? 0) + 1;
        yield result.bytes;
      }
    }
  } finally {
    worker?.terminate();
    if (snapshot) endRead(db);
  }
}
