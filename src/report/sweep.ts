/**
 * A sweep: runs side by side with the parameters that tell them apart and their metrics. Pure
 * functions over run rows and metrics; where the metrics come from is cache.ts's business.
 */
import {
  InvalidConditionError,
  UnknownFilterKeyError,
  UnknownMetricError,
  UnknownSortKeyError,
} from "../errors.ts";
import { isDecimal } from "../format.ts";
import { stringifyExact } from "../json.ts";
import { type RunRow, readJsonColumn } from "../runs.ts";
import { METRICS, type RunMetrics } from "./metrics.ts";

/**
 * A parameter value as flattened from a run's config: arrays and objects become JSON text, and an
 * integer beyond 2^53 is an exact bigint (a seed or an id must not be rounded).
 */
export type ParamValue = string | number | bigint | boolean | null;

/** One run of a sweep. */
export interface SweepEntry {
  runId: string;
  name: string;
  status: string;
  tsStart: bigint;
  /** Every leaf of the config, by dotted path (`strategy.fastPeriod`). */
  params: Record<string, ParamValue>;
  /** The run's tags (`runtape tag`, metadata.tags). */
  tags: Record<string, string>;
  metrics: RunMetrics;
}

/** The runs of a sweep and the parameters that differ between them. */
export interface Sweep {
  /** Config paths whose value is not the same in every run (absent counts as a value). */
  varying: string[];
  entries: SweepEntry[];
}

/**
 * A run's config (JSON text or null) flattened to dotted paths, read as {@link readJsonColumn}
 * reads it; a config that is not a JSON object is one `config` value, its stored text.
 */
export function flattenConfig(config: string | null): Record<string, ParamValue> {
  // Keyed by the user's paths, which may be "constructor" or "__proto__": no prototype, so a
  // path a run lacks is undefined and one named "__proto__" is a member like any other.
  const out: Record<string, ParamValue> = Object.create(null);
  const parsed = readJsonColumn(config);
  if (typeof parsed === "string") out.config = parsed;
  const walk = (value: unknown, path: string) => {
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) walk(v, path === "" ? k : `${path}.${k}`);
    } else if (Array.isArray(value)) {
      out[path] = stringifyExact(value);
    } else {
      out[path] = value as ParamValue;
    }
  };
  if (typeof parsed === "object" && parsed !== null) walk(parsed, "");
  return out;
}

/** The text a parameter shows and `--where` compares against. */
export function formatParam(value: ParamValue | undefined): string {
  if (value === undefined) return "-";
  return value === null ? "null" : String(value);
}

/** The config paths whose values differ between `entries`, sorted. */
export function varyingParams(
  entries: readonly { params: Record<string, ParamValue> }[],
): string[] {
  const keys = [...new Set(entries.flatMap((e) => Object.keys(e.params)))].sort();
  return keys.filter((key) => {
    const values = new Set(entries.map((e) => formatParam(e.params[key])));
    return values.size > 1;
  });
}

/** A run's tags: the text values under `tags` in its metadata (JSON text or null), if any. */
function tagsOf(metadata: string | null): Record<string, string> {
  const parsed = readJsonColumn(metadata);
  const tags = typeof parsed === "object" ? parsed?.tags : undefined;
  if (typeof tags !== "object" || tags === null || Array.isArray(tags)) return {};
  return Object.fromEntries(
    Object.entries(tags).filter((e): e is [string, string] => typeof e[1] === "string"),
  );
}

/** Tags as one text: `key=value` pairs by key, comma-separated. */
export const formatTags = (tags: Record<string, string>): string =>
  Object.keys(tags)
    .sort()
    .map((k) => `${k}=${tags[k]}`)
    .join(",");

/**
 * How a condition compares a run's value with its own: as text (`=`, `!=`), or as numbers (`<`,
 * `<=`, `>`, `>=`, where both read as decimal numbers).
 */
export type ConditionOp = "=" | "!=" | "<" | "<=" | ">" | ">=";

/** Every {@link ConditionOp}, those of two characters first (as `KEY>=VALUE` is read). */
export const CONDITION_OPS: readonly ConditionOp[] = ["!=", "<=", ">=", "=", "<", ">"];

/** A `--where KEY=VALUE` condition (`KEY>VALUE` and the other {@link ConditionOp}s too). */
export interface Condition {
  key: string;
  value: string;
  /** Default `=`. */
  op?: ConditionOp;
}

/** The run fields a condition can name, besides config paths, tags and metrics. */
export const RUN_FIELDS = ["runId", "name", "status"] as const;

/** Where a condition names a tag: `tag.<name>`. */
const TAG_PREFIX = "tag.";

/** Where a condition names a metric: `metric.<name>` (`metric.totalPnl`). */
const METRIC_PREFIX = "metric.";

/** Whether a condition is on a metric, which must be known (computed or cached) to test it. */
export const onMetric = (condition: Condition): boolean => condition.key.startsWith(METRIC_PREFIX);

/** A run as a sweep describes it, before its metrics. */
type SweepRun = Omit<SweepEntry, "metrics">;

/** A run to test conditions on: its metrics only where a condition is on one. */
type Tested = SweepRun & { metrics?: RunMetrics };

/**
 * What a condition's key names in a run: a run field, a tag, a metric or a config path; undefined
 * if none.
 */
function valueAt(entry: Tested, key: string): ParamValue | undefined {
  if (key.startsWith(METRIC_PREFIX)) {
    const metric = key.slice(METRIC_PREFIX.length);
    return isMetric(metric) ? entry.metrics?.[metric] : undefined;
  }
  if ((RUN_FIELDS as readonly string[]).includes(key)) {
    return entry[key as (typeof RUN_FIELDS)[number]];
  }
  if (key.startsWith(TAG_PREFIX)) {
    const tag = key.slice(TAG_PREFIX.length);
    return Object.hasOwn(entry.tags, tag) ? entry.tags[tag] : undefined;
  }
  return Object.hasOwn(entry.params, key) ? entry.params[key] : undefined;
}

const INTEGER = /^\s*[+-]?\d+\s*$/;

/**
 * A value as a number where it is one, or text that reads as a decimal number; integers (bigints,
 * integer text) exact, as bigints, which `<` compares with doubles by their values: beyond 2^53 a
 * double would round 9007199254740993 to its neighbour.
 */
const numberOf = (value: ParamValue | undefined): number | bigint | undefined =>
  typeof value === "number" || typeof value === "bigint"
    ? value
    : typeof value === "string" && INTEGER.test(value)
      ? BigInt(value)
      : typeof value === "string" && isDecimal(value)
        ? Number(value)
        : undefined;

/**
 * A value equal to a condition's: the same text, or for a number the same number however written
 * (`3.0` and `3e0` for 3; exact against a bigint). A string stays text: "1.10" is not "1.1".
 */
function equals(own: ParamValue, value: string): boolean {
  if (formatParam(own) === value) return true;
  if (typeof own !== "number" && typeof own !== "bigint") return false;
  const y = numberOf(value);
  // <= and >= compare a bigint with a number exactly, where === would say no.
  return y !== undefined && own <= y && own >= y;
}

/**
 * Whether `entry` meets every condition on a config path, runId, name or status, a tag
 * (`tag.<name>`, which names a tag even where the config has a path of that name) or a metric
 * (`metric.<name>`, of `entry.metrics`): `=` equal (see {@link equals}), `!=` not (a run without the key too),
 * `<`, `<=`, `>`, `>=` in the order of numbers (a run whose value is no number, or that lacks the
 * key, does not meet them).
 */
export function matches(entry: Tested, conditions: readonly Condition[]): boolean {
  return conditions.every(({ key, value, op = "=" }) => {
    const own = valueAt(entry, key);
    if (op === "=") return own !== undefined && equals(own, value);
    if (op === "!=") return own === undefined || !equals(own, value);
    const x = numberOf(own);
    const y = numberOf(value);
    if (x === undefined || y === undefined) return false;
    return op === "<" ? x < y : op === "<=" ? x <= y : op === ">" ? x > y : x >= y;
  });
}

/**
 * Checks the keys of `conditions` (see {@link matches}) against the runs they filter: a config path
 * or tag that none of them has matches nothing, as a misspelling would. Except a tag under `!=`:
 * "not yet tagged so" is asked before any run has the tag.
 */
export function checkConditions(runs: readonly SweepRun[], conditions: readonly Condition[]): void {
  for (const { key, op } of conditions) {
    if ((RUN_FIELDS as readonly string[]).includes(key)) continue;
    if (key.startsWith(METRIC_PREFIX) && isMetric(key.slice(METRIC_PREFIX.length))) continue;
    if (op === "!=" && key.startsWith(TAG_PREFIX)) continue;
    const known = key.startsWith(TAG_PREFIX)
      ? runs.some((r) => Object.hasOwn(r.tags, key.slice(TAG_PREFIX.length)))
      : runs.some((r) => Object.hasOwn(r.params, key));
    if (!known) {
      throw new UnknownFilterKeyError(
        key,
        [...new Set(runs.flatMap((r) => Object.keys(r.params)))],
        [...new Set(runs.flatMap((r) => Object.keys(r.tags)))],
      );
    }
  }
}

/**
 * The library's name for a metric or run field written in snake_case, as the CLI's JSON and table
 * name them (`total_pnl`, `run_id`); other names (config paths, camelCase) come back unchanged.
 */
export function libraryKey(name: string): string {
  const camel = name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  return camel !== name && (isMetric(camel) || camel === "runId") ? camel : name;
}

/**
 * Throws InvalidConditionError for a condition that would pick nothing unsaid: a comparison of
 * numbers whose value is none.
 */
export function checkCondition({ key, op = "=", value }: Condition): void {
  if (op !== "=" && op !== "!=" && !isDecimal(value)) {
    throw new InvalidConditionError(
      `${key}${op}${value}`,
      `${op} compares numbers, and ${JSON.stringify(value)} is none`,
    );
  }
}

/**
 * `conditions` with their keys as the library names them (see {@link libraryWhereKey}), each
 * checked ({@link checkCondition}).
 */
export function normalizeConditions(conditions: readonly Condition[]): Condition[] {
  return conditions.map((c) => {
    checkCondition(c);
    return { ...c, key: libraryWhereKey(c.key) };
  });
}

/**
 * A condition's key as the library names it, for keys written as the CLI's table and JSON name
 * them: `run_id` is `runId`, `metric.total_pnl` `metric.totalPnl`; config paths and tags as given.
 */
function libraryWhereKey(key: string): string {
  if (key === "run_id") return "runId";
  return key.startsWith(METRIC_PREFIX)
    ? `${METRIC_PREFIX}${libraryKey(key.slice(METRIC_PREFIX.length))}`
    : key;
}

/** The metric `name` names (`totalPnl`, or `total_pnl` as the CLI names it); throws UnknownMetricError. */
export function metricKey(name: string): keyof RunMetrics {
  const key = libraryKey(name);
  if (!isMetric(key)) throw new UnknownMetricError(name);
  return key;
}

/** Whether `key` names a metric. */
export function isMetric(key: string): key is keyof RunMetrics {
  return Object.hasOwn(METRICS, key);
}

/** Checks a sort key (see {@link sortEntries}) against the runs before any metric is computed. */
export function checkSortKey(runs: readonly SweepRun[], sort: string): void {
  const key = sort.startsWith("-") ? sort.slice(1) : sort;
  if (!isMetric(key) && !runs.some((r) => valueAt(r, key) !== undefined)) {
    throw new UnknownSortKeyError(key, [...new Set(runs.flatMap((r) => Object.keys(r.params)))]);
  }
}

/**
 * Sorts by a metric, or by what a condition's key names (a run field, a tag, a config path); `-key`
 * sorts descending. Numbers come first by value, other values after them as text; runs without a
 * value go last either way.
 */
export function sortEntries<T extends Tested>(entries: readonly T[], sort: string): T[] {
  const descending = sort.startsWith("-");
  const key = descending ? sort.slice(1) : sort;
  const sortValue = (e: T): ParamValue | undefined =>
    isMetric(key) ? e.metrics?.[key] : valueAt(e, key);
  // A total order whatever a key holds across runs: numbers by value, then NaN, then the rest as
  // text. Comparing a number with a text as texts made it intransitive (2 < "10" < 1 < 2), and
  // the order came out as the runs happened to be listed.
  const rank = (v: ParamValue) =>
    typeof v === "bigint" || (typeof v === "number" && !Number.isNaN(v))
      ? 0
      : typeof v === "number"
        ? 1
        : 2;
  const compare = (a: ParamValue, b: ParamValue): number => {
    const r = rank(a);
    if (r !== rank(b)) return r - rank(b);
    if (r === 2) return String(a).localeCompare(String(b));
    return r === 1 ? 0 : (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0;
  };
  return [...entries].sort((a, b) => {
    const x = sortValue(a);
    const y = sortValue(b);
    const missingX = x === undefined || x === null;
    const missingY = y === undefined || y === null;
    if (missingX || missingY) return missingX === missingY ? 0 : missingX ? 1 : -1;
    return descending ? compare(y, x) : compare(x, y);
  });
}

/** Curves a comparison draws each in its own colour and names; more are drawn grey. */
export const MAX_NAMED_CURVES = 12;
/** Beyond MAX_NAMED_CURVES, how many of the highest and of the lowest by the metric are named. */
export const NAMED_EXTREMES = 5;

/**
 * The runs a comparison names in its chart, in its legend's order: all of them up to
 * MAX_NAMED_CURVES; beyond, no eye tells thousands of colours apart, so the NAMED_EXTREMES highest
 * and lowest by `metric`, descending (runs without a value are never among them).
 */
export function namedRuns(entries: readonly SweepEntry[], metric: keyof RunMetrics): string[] {
  if (entries.length <= MAX_NAMED_CURVES) return entries.map((e) => e.runId);
  const ranked = sortEntries(
    entries.filter((e) => e.metrics[metric] !== null),
    `-${metric}`,
  );
  const highest = ranked.slice(0, NAMED_EXTREMES);
  const lowest = ranked.slice(Math.max(highest.length, ranked.length - NAMED_EXTREMES));
  return [...highest, ...lowest].map((e) => e.runId);
}

/** `run` as a sweep describes it: id, name, status, start, flattened config and tags. */
export function sweepRun(run: RunRow): SweepRun {
  return {
    runId: run.run_id,
    name: run.name,
    status: run.status,
    tsStart: run.ts_start,
    params: flattenConfig(run.config),
    tags: tagsOf(run.metadata),
  };
}
