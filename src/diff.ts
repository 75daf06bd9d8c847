import * as v from "valibot";
import { asRunsDb, inSnapshot, type RunsDb } from "./db.ts";
import { IneffectiveOptionError } from "./errors.ts";
import { EVENT_TYPES, type Event, type EventType, fieldsOf } from "./events/catalog.ts";
import { counted, formatCount } from "./format.ts";
import { filledFields } from "./ndjson.ts";
import { checkOptions } from "./options.ts";
import { replay } from "./replay.ts";
import { resolveRunId } from "./runs.ts";
import { sameRuns } from "./stored-runs.ts";
import { printable } from "./text.ts";

/** Options of {@link diffEvents}, {@link diffStreams} and {@link diffRuns}. */
export interface DiffOptions {
  /** Fields never compared. Default `["ts_created_ns"]` (wall clock); `[]` compares every field. */
  ignore?: readonly string[];
  /** Floats within `abs`, or within `rel` of the larger magnitude, are equal. Default exact. */
  tolerance?: { abs?: number; rel?: number };
  /** Event types left out of both sides before comparing. */
  excludeTypes?: readonly EventType[];
  /** How many divergences to keep in `divergences` (all are counted in `differing`). Default 1. */
  max?: number;
}

/** One field that differs, with both values. */
export interface FieldDifference {
  field: string;
  a: unknown;
  b: unknown;
}

/** A place where two runs part. `a` or `b` is null where one run has ended. */
export interface Divergence {
  /** 0-based position in the compared streams (after `excludeTypes`). */
  index: number;
  a: Event | null;
  b: Event | null;
  /** Differing fields; empty when the event types differ or one side has ended. */
  fields: FieldDifference[];
}

/** The outcome of comparing two runs event by event. */
export interface DiffResult {
  match: boolean;
  /** The first divergence: `divergences[0]`, or null when the runs match. */
  first: Divergence | null;
  /** The first `max` divergences, in order. */
  divergences: Divergence[];
  /** Positions at which the events differ, counting those past the end of the shorter run. */
  differing: number;
  countsA: Record<EventType, number>;
  countsB: Record<EventType, number>;
}

/** Where a run to compare lives: a database (path or handle) and a run id (default: latest). */
export interface RunRef {
  db: string | RunsDb;
  run?: string;
}

/** Fields a comparison leaves out unless told otherwise: the wall clock differs on every run. */
export const DEFAULT_IGNORE: readonly string[] = ["ts_created_ns"];

const zeroCounts = () =>
  Object.fromEntries(EVENT_TYPES.map((t) => [t, 0])) as Record<EventType, number>;

const finiteAtLeastZero = v.optional(
  v.pipe(
    v.number("expected a number ≥ 0"),
    v.finite("expected a number ≥ 0"),
    v.minValue(0, "expected a number ≥ 0"),
  ),
);

const DiffOptionsSchema = v.object({
  ignore: v.optional(v.array(v.string("expected field names"))),
  tolerance: v.optional(
    v.strictObject({ abs: finiteAtLeastZero, rel: finiteAtLeastZero }, "expected { abs, rel }"),
  ),
  excludeTypes: v.optional(v.array(v.string("expected event types"))),
  max: v.optional(
    v.pipe(
      v.number("expected a whole number ≥ 0"),
      v.safeInteger("expected a whole number ≥ 0"),
      v.minValue(0, "expected a whole number ≥ 0"),
    ),
  ),
});

/** Every field of every event type: what `ignore` can name. */
const FIELD_NAMES = new Set(EVENT_TYPES.flatMap((type) => fieldsOf(type).map(([name]) => name)));

/**
 * Throws RuntapeError (INVALID_OPTION) for options that are no {@link DiffOptions}, and
 * IneffectiveOptionError for a field of `ignore` that no event has: a misspelt field would be
 * compared after all, unsaid.
 */
export function checkDiffOptions(options: DiffOptions): void {
  checkOptions(DiffOptionsSchema, options, "diff");
  const unknown = options.ignore?.find((field) => !FIELD_NAMES.has(field));
  if (unknown !== undefined) {
    throw new IneffectiveOptionError(
      "diff",
      ["ignore"],
      `: no event has a field ${JSON.stringify(unknown)} (fields are the NDJSON keys of the events, e.g. ts_created_ns)`,
    );
  }
}

/**
 * Compares two event streams in order. Both are consumed one event at a time, so memory stays
 * flat however long the runs are. NaN equals NaN; bigints compare exactly.
 */
export function diffEvents(
  a: Iterable<Event>,
  b: Iterable<Event>,
  options: DiffOptions = {},
): DiffResult {
  checkDiffOptions(options);
  const excluded = new Set<string>(options.excludeTypes ?? []);
  const compare = comparison(options);
  const left = kept(a, excluded);
  const right = kept(b, excluded);
  for (;;) {
    const x = left.next();
    const y = right.next();
    if (x.done && y.done) return compare.result;
    compare.step(x.done ? null : x.value, y.done ? null : y.value);
  }
}

/**
 * {@link diffEvents} over asynchronous streams, such as two sources' `events()`: a run in a
 * store compared with one in a file, or two stored runs.
 */
export async function diffStreams(
  a: AsyncIterable<Event>,
  b: AsyncIterable<Event>,
  options: DiffOptions = {},
): Promise<DiffResult> {
  checkDiffOptions(options);
  const excluded = new Set<string>(options.excludeTypes ?? []);
  const compare = comparison(options);
  const left = a[Symbol.asyncIterator]();
  const right = b[Symbol.asyncIterator]();
  const next = async (it: AsyncIterator<Event>) => {
    for (;;) {
      const r = await it.next();
      if (r.done || !excluded.has(r.value.type)) return r.done ? null : r.value;
    }
  };
  try {
    for (;;) {
      const [ea, eb] = await Promise.all([next(left), next(right)]);
      if (ea === null && eb === null) return compare.result;
      compare.step(ea, eb);
    }
  } finally {
    await Promise.all([left.return?.(), right.return?.()]);
  }
}

/** The running comparison of two streams, one pair of events (null past an end) at a time. */
function comparison(options: DiffOptions): {
  result: DiffResult;
  step(ea: Event | null, eb: Event | null): void;
} {
  const ignore = new Set(options.ignore ?? DEFAULT_IGNORE);
  const max = options.max ?? 1;
  const equal = makeEquality(options.tolerance);
  const result: DiffResult = {
    match: true,
    first: null,
    divergences: [],
    differing: 0,
    countsA: zeroCounts(),
    countsB: zeroCounts(),
  };
  let index = 0;
  return {
    result,
    step(ea, eb) {
      if (ea) result.countsA[ea.type]++;
      if (eb) result.countsB[eb.type]++;
      const fields =
        ea && eb && ea.type === eb.type ? fieldDifferences(ea, eb, ignore, equal) : null;
      if (fields === null || fields.length > 0) {
        result.differing++;
        result.match = false;
        if (result.first === null || result.divergences.length < max) {
          const divergence = { index, a: ea, b: eb, fields: fields ?? [] };
          result.first ??= divergence;
          if (result.divergences.length < max) result.divergences.push(divergence);
        }
      }
      index++;
    },
  };
}

/**
 * Compares two recorded runs (of the same or different databases); see {@link diffEvents}. Runs
 * that runtape recorded are first compared as stored rows, without building events: when those
 * prove the runs equal, that is the result; else the events are compared one by one.
 */
export function diffRuns(a: RunRef, b: RunRef, options: DiffOptions = {}): DiffResult {
  checkDiffOptions(options);
  const dbA = asRunsDb(a?.db);
  let dbB: RunsDb | undefined;
  try {
    dbB = asRunsDb(b?.db);
    const [x, y] = [dbA, dbB];
    // Each side one moment of its file; one connection's two runs the same moment.
    return inSnapshot(x, () => inSnapshot(y, () => compareRuns({ ...a, db: x }, { ...b, db: y })));
  } finally {
    if (dbB !== undefined && dbB !== b.db) dbB.close();
    if (dbA !== a.db) dbA.close();
  }

  function compareRuns(a: { db: RunsDb; run?: string }, b: { db: RunsDb; run?: string }) {
    const proven = provenEqual(a, b, options);
    if (proven !== undefined) return proven;
    const excludeTypes = options.excludeTypes;
    return diffEvents(
      replay(a.db, { run: a.run, excludeTypes }),
      replay(b.db, { run: b.run, excludeTypes }),
      options,
    );
  }
}

/** The result of two runs whose stored rows prove them equal, or undefined. */
function provenEqual(
  a: { db: RunsDb; run?: string },
  b: { db: RunsDb; run?: string },
  options: DiffOptions,
): DiffResult | undefined {
  let counts: Record<string, number> | undefined;
  try {
    counts = sameRuns(
      { db: a.db, runId: resolveRunId(a.db, a.run) },
      { db: b.db, runId: resolveRunId(b.db, b.run) },
      new Set(options.ignore ?? DEFAULT_IGNORE),
      new Set(options.excludeTypes ?? []),
    );
  } catch {
    // Whatever went wrong, the event path meets it too and reports it as replay does.
    return undefined;
  }
  if (counts === undefined) return undefined;
  const countsA = zeroCounts();
  for (const [type, n] of Object.entries(counts)) countsA[type as EventType] = n;
  return {
    match: true,
    first: null,
    divergences: [],
    differing: 0,
    countsA,
    countsB: { ...countsA },
  };
}

function* kept(events: Iterable<Event>, excluded: ReadonlySet<string>): Generator<Event> {
  for (const event of events) if (!excluded.has(event.type)) yield event;
}

type Equality = (x: unknown, y: unknown) => boolean;

/** Whether either event's NDJSON file left `field` out: the value there is the model's, not a fact. */
const filledIn = (a: Event, b: Event, field: string) =>
  filledFields(a).includes(field) || filledFields(b).includes(field);

function fieldDifferences(
  a: Event,
  b: Event,
  ignore: ReadonlySet<string>,
  equal: Equality,
): FieldDifference[] {
  const out: FieldDifference[] = [];
  const ra = a as unknown as Record<string, unknown>;
  const rb = b as unknown as Record<string, unknown>;
  for (const field of Object.keys(ra)) {
    if (!ignore.has(field) && !equal(ra[field], rb[field]) && !filledIn(a, b, field)) {
      out.push({ field, a: ra[field], b: rb[field] });
    }
  }
  return out;
}

function makeEquality(tolerance: DiffOptions["tolerance"]): Equality {
  const abs = tolerance?.abs ?? 0;
  const rel = tolerance?.rel ?? 0;
  // The tolerance forgives rounding, which an infinity is not: rel × ∞ would take it as any value.
  const numbers = (x: number, y: number) =>
    x === y ||
    (Number.isNaN(x) && Number.isNaN(y)) ||
    (Number.isFinite(x) &&
      Number.isFinite(y) &&
      Math.abs(x - y) <= Math.max(abs, rel * Math.max(Math.abs(x), Math.abs(y))));
  const equal: Equality = (x, y) => {
    if (typeof x === "number" && typeof y === "number") return numbers(x, y);
    if (typeof x === "object" && x !== null && typeof y === "object" && y !== null) {
      const kx = Object.keys(x);
      const ky = Object.keys(y);
      const rx = x as Record<string, unknown>;
      const ry = y as Record<string, unknown>;
      return (
        kx.length === ky.length && kx.every((k) => Object.hasOwn(ry, k) && equal(rx[k], ry[k]))
      );
    }
    return x === y;
  };
  return equal;
}

const show = (value: unknown): string =>
  typeof value === "bigint"
    ? value.toString()
    : typeof value === "number"
      ? String(value)
      : JSON.stringify(value, (_k, v) =>
          typeof v === "number" && !Number.isFinite(v) ? String(v) : v,
        );

/**
 * A readable account of a comparison: the divergences kept (position, types, differing fields
 * with both values) and per-type counts of both sides where they differ. `noun` names what the
 * streams hold, in every line (default "event"; "decision" for {@link formatComparison}).
 */
export function formatDiff(
  result: DiffResult,
  labels: { a: string; b: string } = { a: "a", b: "b" },
  { noun = "event" }: { noun?: string } = {},
): string {
  // Every event of two runs matching is the runs matching; of a part of them, that part.
  const subject = noun === "event" ? "runs" : `${noun}s`;
  if (result.match) return `${subject} match (${counted(total(result.countsA), noun)})`;
  const lines: string[] = [];
  result.divergences.forEach((d, i) => {
    const at = `${i === 0 ? "first divergence" : "divergence"} at ${noun} #${formatCount(d.index + 1)}`;
    if (d.a === null || d.b === null) {
      const [ended, goesOn] = d.a === null ? [labels.a, d.b] : [labels.b, d.a];
      lines.push(`${at}: ${ended} has ended, the other goes on with ${goesOn?.type}`);
    } else if (d.a.type !== d.b.type) {
      lines.push(`${at}: ${labels.a} has ${d.a.type}, ${labels.b} has ${d.b.type}`);
    } else {
      lines.push(`${at} (${d.a.type}):`);
      for (const f of d.fields)
        lines.push(`  ${f.field}: ${show(f.a)} (${labels.a}) vs ${show(f.b)} (${labels.b})`);
    }
  });
  lines.push(
    `${counted(result.differing, `${noun} position`)} ${result.differing === 1 ? "differs" : "differ"}; ${labels.a} has ${counted(total(result.countsA), noun)}, ${labels.b} has ${formatCount(total(result.countsB))}`,
  );
  for (const type of EVENT_TYPES) {
    if (result.countsA[type] !== result.countsB[type]) {
      lines.push(
        `  ${type}: ${formatCount(result.countsA[type])} vs ${formatCount(result.countsB[type])}`,
      );
    }
  }
  // For people: a text field that holds control characters must not drive their terminal.
  return lines.map(printable).join("\n");
}

const total = (counts: Record<EventType, number>) =>
  Object.values(counts).reduce((s, n) => s + n, 0);
