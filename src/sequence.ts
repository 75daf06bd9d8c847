/**
 * Sequence numbers for a run recorded without them (the Python recorder's), wherever runtape
 * copies it (merge into a file, push to a store): each event is numbered by its place in the order
 * replay reconstructs (the causal merge of src/causal.ts), so the copy, replayed by `seq`, gives
 * the very events in the very order the original replays to, by construction.
 */
import type { RunsDb } from "./db.ts";
import type { Event } from "./events/catalog.ts";
import { replay } from "./replay.ts";

/** A run's events in replay order, each with the `seq` (1, 2, ...) that keeps that order. */
export function* sequenced(db: RunsDb, runId: string): Generator<[seq: number, event: Event]> {
  let seq = 0;
  for (const event of replay(db, { run: runId })) yield [++seq, event];
}

/** What runtape's bookkeeping row holds for a copied run, tallied as its events pass. */
export class SequenceTally {
  events = 0;
  lastTsEventNs: bigint | null = null;
  readonly #periods = new Set<string>();

  add(event: Event): void {
    this.events++;
    this.lastTsEventNs = event.ts_event_ns;
    if ("bar_period" in event) this.#periods.add(event.bar_period);
  }

  /** The bar periods seen, as the recorder writes them (sorted, comma-separated). */
  get barPeriods(): string {
    return [...this.#periods].sort().join(",");
  }
}
