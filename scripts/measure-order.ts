// How many events of the Python recorder's fixture replay out of place: `bun scripts/measure-order.ts`.
//
// The fixture's JSONL lists the true publication order (`run_seq`). Within a table, row order is
// publication order, so the k-th replayed event of a table is the k-th published event of that
// table: that gives each replayed event its true position. Two figures per run:
// - out of place: events whose replayed position differs from their true position;
// - to move: the fewest events that must be taken out and reinserted to restore the order,
//   N minus the longest increasing subsequence of true positions (one late event counts once
//   here, though it shifts every event in between "out of place").
// Then the same figures for candidate merge keys when the fixture's clock is coarsened (Python
// on Windows ticks in 0.1–16 ms), simulated on the JSONL's own per-table sequences exactly as
// replay's k-way merge proceeds: the rule replay uses must win at every resolution.
import { copyFileSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EVENT_TYPES, type EventType, fieldsOf, replay } from "../src/index.ts";

export const FIXTURE = join(import.meta.dir, "../../shared/fixtures/onesecondtrader");

/** One line of the fixture's JSONL, integers exact: INTEGER columns as bigint, the rest as numbers. */
export interface Published {
  run_id: string;
  run_seq: number;
  type: EventType;
  fields: Record<string, unknown>;
}

const INTEGER_FIELDS = new Set(
  EVENT_TYPES.flatMap((t) => fieldsOf(t).filter(([, f]) => f.sql === "INTEGER")).map(([n]) => n),
);

/**
 * The published events, parsed exactly: JSON.parse hands the reviver each number's source text,
 * so timestamps and volumes become bigints without passing through a float.
 */
export function readPublished(path = join(FIXTURE, "ost_reference_events.jsonl")): Published[] {
  return readFileSync(path, "utf8")
    .trim()
    .split("\n")
    .map((line) =>
      JSON.parse(line, function (this: unknown, key, value, context?: { source?: string }) {
        if (typeof value !== "number" || !INTEGER_FIELDS.has(key)) return value;
        if (context?.source === undefined) throw new Error("JSON.parse gives no source text");
        return BigInt(context.source);
      }),
    );
}

/** True positions (1-based, in the run) of replayed events, given in replay order. */
export function truePositions(
  replayed: Iterable<{ type: string }>,
  published: readonly Published[],
): number[] {
  const byType = new Map<string, number[]>();
  for (const p of published) byType.set(p.type, [...(byType.get(p.type) ?? []), p.run_seq]);
  const seen = new Map<string, number>();
  return Array.from(replayed, (e) => {
    const k = seen.get(e.type) ?? 0;
    seen.set(e.type, k + 1);
    return byType.get(e.type)?.[k] ?? Number.NaN;
  });
}

/** The two figures above for true positions in replay order. */
export function outOfPlace(positions: readonly number[]): { misplaced: number; toMove: number } {
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
  return {
    misplaced: positions.filter((p, i) => p !== i + 1).length,
    toMove: positions.length - tails.length,
  };
}

type Key = (p: Published, tick: bigint) => bigint[];
const rank = (p: Published) => BigInt(EVENT_TYPES.indexOf(p.type));
const created = (p: Published, tick: bigint) => ((p.fields.ts_created_ns as bigint) / tick) * tick;
const event = (p: Published) => p.fields.ts_event_ns as bigint;
const RULES: Record<string, Key> = {
  "created, event, catalog (replay)": (p, tick) => [created(p, tick), event(p), rank(p)],
  "created, catalog": (p, tick) => [created(p, tick), rank(p)],
  "event, created, catalog": (p, tick) => [event(p), created(p, tick), rank(p)],
  "event, catalog": (p) => [event(p), rank(p)],
};

function before(a: bigint[], b: bigint[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return (a[i] as bigint) < (b[i] as bigint);
  return false;
}

/** Publication positions in the order a k-way merge of the tables on `key` yields them. */
function merged(run: readonly Published[], key: Key, tick: bigint): number[] {
  const tables = EVENT_TYPES.map((t) => run.filter((p) => p.type === t));
  const out: number[] = [];
  for (;;) {
    let best: Published[] | undefined;
    let bestKey: bigint[] = [];
    for (const rows of tables) {
      const head = rows[0];
      if (head === undefined) continue;
      const k = key(head, tick);
      if (best === undefined || before(k, bestKey)) [best, bestKey] = [rows, k];
    }
    const head = best?.shift();
    if (head === undefined) return out;
    out.push(head.run_seq);
  }
}

if (import.meta.main) {
  // A copy: even a read-only open leaves -wal/-shm files beside the database.
  const db = join(mkdtempSync(join(tmpdir(), "runtape-order-")), "ost_reference.db");
  copyFileSync(join(FIXTURE, "ost_reference.db"), db);
  const published = readPublished();
  const runs = [...new Set(published.map((p) => p.run_id))];
  console.log("replay of the fixture (library):");
  for (const runId of runs) {
    const truth = published.filter((p) => p.run_id === runId);
    const { misplaced, toMove } = outOfPlace(truePositions(replay(db, { run: runId }), truth));
    console.log(`  ${runId}: ${truth.length} events, ${misplaced} out of place, ${toMove} to move`);
  }
  const ticks = [1n, 1_000n, 100_000n, 1_000_000n, 15_625_000n];
  console.log(
    `\nmerge keys, ts_created_ns coarsened to a clock tick (both runs, ${published.length} events;`,
    "out of place / to move):",
  );
  const names = Object.keys(RULES);
  console.log(`  ${"tick (ns)".padStart(10)}  ${names.map((r) => r.padStart(34)).join("")}`);
  for (const tick of ticks) {
    const cells = Object.values(RULES).map((key) => {
      const figures = runs.map((runId) =>
        outOfPlace(
          merged(
            published.filter((p) => p.run_id === runId),
            key,
            tick,
          ),
        ),
      );
      const misplaced = figures.reduce((n, f) => n + f.misplaced, 0);
      const toMove = figures.reduce((n, f) => n + f.toMove, 0);
      return `${misplaced} / ${toMove}`.padStart(34);
    });
    console.log(`  ${String(tick).padStart(10)}  ${cells.join("")}`);
  }
}
