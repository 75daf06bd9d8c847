// How far replay's order of a Python-written run is from the true one:
// `bun scripts/measure-order.ts [reference|threaded]` (both fixtures by default).
//
// Each fixture's JSONL lists the events in their true order (`run_seq`: publication order for
// the reference fixture, the recorder's receive order for the threaded one). Within a table, row
// order is that order, so the k-th replayed event of a table is the k-th listed event of that
// table: that gives each replayed event its true position. Per run:
// - out of place: events whose replayed position differs from their true position;
// - to move: the fewest events that must be taken out and reinserted to restore the order,
//   n minus the longest increasing subsequence of true positions (one late event counts once
//   here, though it shifts every event in between "out of place");
// - causal violations (see `causalViolations`): a response before its request, a fill before
//   its order's acceptance, a processed bar before its received bar.
// Beside replay: the naive merge on ts_created_ns alone, and the true order's own violations.
// Then, for the reference fixture, candidate merge keys when its clock is coarsened (Python on
// Windows ticks in 0.1–16 ms), simulated on the JSONL's own per-table sequences exactly as a
// k-way merge proceeds.
import { copyFileSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  defaultCatalog,
  EVENT_TYPES,
  type EventCatalog,
  type EventType,
  fieldsOf,
  replay,
} from "../src/index.ts";

const FIXTURES = join(import.meta.dir, "../../shared/fixtures");
/** The fixtures: their database and their JSONL of the true order. */
export const FIXTURE_FILES = {
  reference: {
    db: join(FIXTURES, "onesecondtrader/ost_reference.db"),
    jsonl: join(FIXTURES, "onesecondtrader/ost_reference_events.jsonl"),
  },
  threaded: {
    db: join(FIXTURES, "onesecondtrader-threaded/ost_threaded.db"),
    jsonl: join(FIXTURES, "onesecondtrader-threaded/ost_threaded.true_order.jsonl"),
  },
} as const;
export type FixtureName = keyof typeof FIXTURE_FILES;

/** One line of a fixture's JSONL, integers exact: INTEGER columns as bigint, the rest as numbers. */
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
export function readPublished(path = FIXTURE_FILES.reference.jsonl): Published[] {
  return readFileSync(path, "utf8")
    .trim()
    .split("\n")
    .map((line) => {
      const p = JSON.parse(
        line,
        function (this: unknown, key, value, context?: { source?: string }) {
          if (typeof value !== "number" || !INTEGER_FIELDS.has(key)) return value;
          if (context?.source === undefined) throw new Error("JSON.parse gives no source text");
          return BigInt(context.source);
        },
      );
      return { run_id: p.run_id, run_seq: p.run_seq, type: p.type, fields: p.fields };
    });
}

/**
 * True positions (1-based ranks in `published`, one run in true order; a killed run's gaps in
 * run_seq closed) of replayed events, given in replay order.
 */
export function truePositions(
  replayed: Iterable<{ type: string }>,
  published: readonly Published[],
): number[] {
  const byType = new Map<string, number[]>();
  published.forEach((p, i) => {
    byType.set(p.type, [...(byType.get(p.type) ?? []), i + 1]);
  });
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

/** Causal violations of one sequence, by kind (see {@link causalViolations}). */
export interface Violations {
  responseBeforeRequest: number;
  fillBeforeAccepted: number;
  processedBeforeReceived: number;
  /** Not one of the three asked for: an expiry before its order's acceptance. */
  expiryBeforeAccepted: number;
}

/**
 * Counts, from the catalog's roles, events that come before what caused them:
 * - a response that is the j-th answering its request type for its order id, with fewer than j
 *   such requests before it;
 * - a fill (an expiry) with no acceptance of a submission of its order before it;
 * - a market event that `follows` another (a processed bar) with no such event before it.
 * An event whose counterpart is nowhere in the sequence (a killed run's uncommitted rows) is not
 * counted: nothing could have put it right.
 */
export function causalViolations(
  events: readonly { type: string; fields: Record<string, unknown> }[],
  cat: EventCatalog = defaultCatalog,
): Violations {
  const out: Violations = {
    responseBeforeRequest: 0,
    fillBeforeAccepted: 0,
    processedBeforeReceived: 0,
    expiryBeforeAccepted: 0,
  };
  const accepts = (type: string) => {
    const role = cat.role(type);
    if (role?.kind !== "response" || role.verdict !== "accepted") return false;
    const answered = cat.role(role.answers);
    return answered?.kind === "request" && answered.action === "submit";
  };
  const orderOf = (e: (typeof events)[number]) => String(e.fields[cat.orderIdField(e.type) ?? ""]);
  // Requests and their answers meet under (request type, order id).
  const keyOf = (e: (typeof events)[number]): string | undefined => {
    const role = cat.role(e.type);
    if (role?.kind === "request") return `${e.type}\u0000${orderOf(e)}`;
    if (role?.kind === "response") return `${role.answers}\u0000${orderOf(e)}`;
    return undefined;
  };
  // For each type that another follows, the fields that link them.
  const followed = new Map<string, readonly string[]>();
  const follows = (type: string) => {
    const role = cat.role(type);
    return role?.kind === "market" ? role.follows : undefined;
  };
  for (const type of cat.types) {
    const f = follows(type);
    if (f) followed.set(f.type, f.on);
  }
  const linkKey = (type: string, fields: Record<string, unknown>, on: readonly string[]) =>
    ["follow", type, ...on.map((f) => String(fields[f]))].join("\u0000");
  const bump = (map: Map<string, number>, key: string) => {
    const n = (map.get(key) ?? 0) + 1;
    map.set(key, n);
    return n;
  };
  // What the sequence holds at all: a counterpart missing from it cannot be out of order.
  const total = new Map<string, number>();
  const note = (map: Map<string, number>, e: (typeof events)[number]) => {
    const role = cat.role(e.type);
    const key = keyOf(e);
    if (role?.kind === "request") bump(map, key as string);
    if (accepts(e.type)) bump(map, `accepted\u0000${orderOf(e)}`);
    const on = followed.get(e.type);
    if (on) bump(map, linkKey(e.type, e.fields, on));
  };
  for (const e of events) note(total, e);
  const seen = new Map<string, number>();
  for (const e of events) {
    const role = cat.role(e.type);
    const key = keyOf(e);
    if (role?.kind === "response") {
      const answered = bump(seen, `answer\u0000${key}`);
      const requested = seen.get(key as string) ?? 0;
      if (requested < answered && (total.get(key as string) ?? 0) >= answered)
        out.responseBeforeRequest++;
    }
    if (role?.kind === "fill" || role?.kind === "expiry") {
      const k = `accepted\u0000${orderOf(e)}`;
      if (!seen.has(k) && total.has(k)) {
        if (role.kind === "fill") out.fillBeforeAccepted++;
        else out.expiryBeforeAccepted++;
      }
    }
    const f = follows(e.type);
    if (f) {
      const k = linkKey(f.type, e.fields, f.on);
      if (!seen.has(k) && total.has(k)) out.processedBeforeReceived++;
    }
    note(seen, e);
  }
  return out;
}

/** A run's events in the order a k-way merge of its tables (each in true order) on `key` yields. */
export function kWayMerge(
  run: readonly Published[],
  key: (p: Published) => readonly bigint[],
): Published[] {
  const tables = EVENT_TYPES.map((t) => run.filter((p) => p.type === t));
  const cursor = tables.map(() => 0);
  const out: Published[] = [];
  for (;;) {
    let best = -1;
    let bestKey: readonly bigint[] = [];
    tables.forEach((rows, i) => {
      const head = rows[cursor[i] as number];
      if (head === undefined) return;
      const k = key(head);
      if (best < 0 || before(k, bestKey)) [best, bestKey] = [i, k];
    });
    if (best < 0) return out;
    out.push((tables[best] as Published[])[(cursor[best] as number)++] as Published);
  }
}

function before(a: readonly bigint[], b: readonly bigint[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return (a[i] as bigint) < (b[i] as bigint);
  return false;
}

const rank = (p: Published) => BigInt(EVENT_TYPES.indexOf(p.type));
const created = (p: Published, tick = 1n) => ((p.fields.ts_created_ns as bigint) / tick) * tick;
const event = (p: Published) => p.fields.ts_event_ns as bigint;
const RULES: Record<string, (p: Published, tick: bigint) => bigint[]> = {
  "created, event, catalog (replay)": (p, tick) => [created(p, tick), event(p), rank(p)],
  "created, catalog": (p, tick) => [created(p, tick), rank(p)],
  "event, created, catalog": (p, tick) => [event(p), created(p, tick), rank(p)],
  "event, catalog": (p) => [event(p), rank(p)],
};

/** One run's figures for one order: out of place, to move, causal violations. */
export interface OrderFigures {
  misplaced: number;
  toMove: number;
  violations: Violations;
}

const asPublished = (e: { type: string }) => ({
  type: e.type,
  fields: e as unknown as Record<string, unknown>,
});

/** The figures of `order` (events of one run) against the run's true order. */
export function figures(
  order: readonly { type: string; fields: Record<string, unknown> }[],
  truth: readonly Published[],
): OrderFigures {
  return { ...outOfPlace(truePositions(order, truth)), violations: causalViolations(order) };
}

/** Per run of a fixture: replay's figures, the naive ts_created_ns merge's, the true order's. */
export function measureFixture(name: FixtureName) {
  // A copy: even a read-only open leaves -wal/-shm files beside the database.
  const db = join(mkdtempSync(join(tmpdir(), "runtape-order-")), "fixture.db");
  copyFileSync(FIXTURE_FILES[name].db, db);
  const published = readPublished(FIXTURE_FILES[name].jsonl);
  return [...new Set(published.map((p) => p.run_id))].map((runId) => {
    const truth = published.filter((p) => p.run_id === runId);
    return {
      runId,
      events: truth.length,
      replay: figures([...replay(db, { run: runId })].map(asPublished), truth),
      naive: figures(
        kWayMerge(truth, (p) => [created(p)]),
        truth,
      ),
      truth: causalViolations(truth),
    };
  });
}

const cell = (f: OrderFigures) => {
  const v = f.violations;
  return `${f.misplaced} / ${f.toMove} / ${v.responseBeforeRequest}+${v.fillBeforeAccepted}+${v.processedBeforeReceived}`;
};

if (import.meta.main) {
  const which = (process.argv[2] ?? "") as FixtureName | "";
  const names = which ? [which] : (Object.keys(FIXTURE_FILES) as FixtureName[]);
  for (const name of names) {
    console.log(
      `${name} fixture: out of place / to move / response before request + fill before acceptance + processed bar before received bar`,
    );
    console.log(
      `  ${"run".padEnd(32)}${"events".padStart(7)}  ${"replay".padEnd(24)}${"ts_created_ns merge".padEnd(24)}true order`,
    );
    for (const run of measureFixture(name)) {
      const t = run.truth;
      console.log(
        `  ${run.runId.padEnd(32)}${String(run.events).padStart(7)}  ${cell(run.replay).padEnd(24)}${cell(run.naive).padEnd(24)}0 / 0 / ${t.responseBeforeRequest}+${t.fillBeforeAccepted}+${t.processedBeforeReceived}`,
      );
    }
  }
  if (!which || which === "reference") {
    const published = readPublished();
    const runs = [...new Set(published.map((p) => p.run_id))];
    const ticks = [1n, 1_000n, 100_000n, 1_000_000n, 15_625_000n];
    console.log(
      `\nreference: merge keys, ts_created_ns coarsened to a clock tick (${published.length} events; out of place / to move):`,
    );
    const names = Object.keys(RULES);
    console.log(`  ${"tick (ns)".padStart(10)}  ${names.map((r) => r.padStart(34)).join("")}`);
    for (const tick of ticks) {
      const cells = Object.values(RULES).map((key) => {
        const all = runs.map((runId) => {
          const truth = published.filter((p) => p.run_id === runId);
          return outOfPlace(
            truePositions(
              kWayMerge(truth, (p) => key(p, tick)),
              truth,
            ),
          );
        });
        const misplaced = all.reduce((n, f) => n + f.misplaced, 0);
        const toMove = all.reduce((n, f) => n + f.toMove, 0);
        return `${misplaced} / ${toMove}`.padStart(34);
      });
      console.log(`  ${String(tick).padStart(10)}  ${cells.join("")}`);
    }
  }
}
