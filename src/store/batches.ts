/**
 * Small runs go to and come from a store together: a store on another machine costs a round trip
 * per statement, and a run read or sent alone takes ~16–19 of them whatever its size (its digest,
 * a statement per table), so sweeps of thousands of small runs made tens of thousands.
 */
import type { RunRow } from "../runs.ts";

/**
 * Events a batch of runs holds at most. A batch's rows are all held in memory at once (~5 MB of
 * COPY text at this bound), so the bound is what keeps memory flat; a larger run is streamed
 * alone.
 */
export const BATCH_EVENTS = 20_000;

/** Runs a batch holds at most, however small: runs without events still cost a row each. */
export const BATCH_RUNS = 1_000;

/** Characters of a run's config and metadata that weigh as much as an event's row. */
const TEXT_PER_EVENT = 256;

/**
 * What a run weighs against BATCH_EVENTS: its events, its `runs` row, and its config and
 * metadata by their length (a sweep's runs may carry large configs and few events).
 */
function weight(run: RunRow): number {
  if (run.events === null) return Number.POSITIVE_INFINITY;
  const text = (run.config?.length ?? 0) + (run.metadata?.length ?? 0);
  return Number(run.events) + 1 + Math.ceil(text / TEXT_PER_EVENT);
}

/**
 * `runs` cut into batches, in order, each of at most BATCH_RUNS runs that together weigh at most
 * BATCH_EVENTS. A heavier run, or one whose count is not known (a Python-written run, a store's
 * run without runtape's bookkeeping row: it may be of any size), comes alone.
 */
export function* batches(runs: readonly RunRow[]): Generator<string[]> {
  let batch: string[] = [];
  let total = 0;
  for (const run of runs) {
    const size = weight(run);
    if (batch.length > 0 && (total + size > BATCH_EVENTS || batch.length === BATCH_RUNS)) {
      yield batch;
      batch = [];
      total = 0;
    }
    batch.push(run.run_id);
    total += size;
  }
  if (batch.length > 0) yield batch;
}
