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

/**
 * `runs` cut into batches, in order, each of runs that together hold at most BATCH_EVENTS. A
 * larger run, or one whose count is not known (a Python-written run, a store's run without
 * runtape's bookkeeping row: it may be of any size), comes alone.
 */
export function* batches(runs: readonly RunRow[]): Generator<string[]> {
  let batch: string[] = [];
  let events = 0;
  for (const run of runs) {
    const size = run.events === null ? Number.POSITIVE_INFINITY : Number(run.events);
    if (batch.length > 0 && events + size > BATCH_EVENTS) {
      yield batch;
      batch = [];
      events = 0;
    }
    batch.push(run.run_id);
    events += size;
  }
  if (batch.length > 0) yield batch;
}
