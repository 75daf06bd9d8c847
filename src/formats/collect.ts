/**
 * When the formats ask for a full garbage collection. Writing rows leaves garbage (boxed integers,
 * strings, encoded pages) that outlives the young generation, because a sink holds it for a row
 * group or a chunk of text, and so waits for a full collection, which JavaScriptCore, sized for a
 * large heap, puts off: without one a 10M-event Parquet export grew past 200 MB and kept growing.
 * One full collection per {@link ROWS_PER_COLLECTION} rows (~20 ms on the small heap an export
 * keeps) holds it flat at ~125 MB from 1M to 10M events.
 */

/** Rows written, by all sinks together, between two full collections. */
const ROWS_PER_COLLECTION = 25_000;

let pending = 0;

/** Counts `rows` just written out (their buffers dropped); collects when enough have been. */
export function written(rows: number): void {
  pending += rows;
  if (pending < ROWS_PER_COLLECTION) return;
  pending = 0;
  Bun.gc(true);
}
