// How many events of the Python recorder's fixture replay out of place: `bun scripts/measure-order.ts`.
// The fixture's JSONL lists the true publication order; within a table, row order is publication
// order, so the k-th replayed event of a table is the k-th published event of that table.
import { copyFileSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { replay } from "../src/index.ts";

const fixture = join(import.meta.dir, "../../shared/fixtures/onesecondtrader");
const db = join(mkdtempSync(join(tmpdir(), "runtape-order-")), "ost_reference.db");
copyFileSync(join(fixture, "ost_reference.db"), db); // a reader would leave -wal/-shm beside the original

const published = readFileSync(join(fixture, "ost_reference_events.jsonl"), "utf8")
  .trim()
  .split("\n")
  .map((line) => JSON.parse(line) as { run_id: string; run_seq: number; type: string });

/** Events that must move to restore the order: N minus the longest increasing subsequence. */
function toMove(positions: number[]): number {
  const tails: number[] = [];
  for (const p of positions) {
    let lo = 0;
    let hi = tails.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((tails[mid] as number) < p) lo = mid + 1;
      else hi = mid;
    }
    tails[lo] = p;
  }
  return positions.length - tails.length;
}

for (const runId of [...new Set(published.map((p) => p.run_id))]) {
  const truth = new Map<string, number[]>();
  for (const p of published.filter((e) => e.run_id === runId)) {
    truth.set(p.type, [...(truth.get(p.type) ?? []), p.run_seq]);
  }
  const seen = new Map<string, number>();
  const positions = [...replay(db, { run: runId })].map((e) => {
    const k = seen.get(e.type) ?? 0;
    seen.set(e.type, k + 1);
    return truth.get(e.type)?.[k] ?? Number.NaN;
  });
  const misplaced = positions.filter((p, i) => p !== i + 1).length;
  console.log(
    `${runId}: ${positions.length} events, ${misplaced} out of place, ${toMove(positions)} to move`,
  );
}
