import {
  describeValue,
  IneffectiveOptionError,
  InvalidConditionError,
  UnknownFilterKeyError,
  UnknownMetricError,
  UnknownSortKeyError,
} from "../errors.ts";
import { EVENT_TYPES, type EventType, isEventType } from "../events/catalog.ts";
import { INT64_MAX, INT64_MIN } from "../events/fields.ts";
import { isDecimal } from "../format.ts";
import { parseJsonObject, snakeCase } from "../json.ts";
import { METRICS, SWEEP_METRICS } from "../report/metrics.ts";
import { CONDITION_OPS, type Condition, checkCondition, RUN_FIELDS } from "../report/sweep.ts";
import { MAX_RUN_ID_LENGTH, runIdProblem } from "../runs.ts";
import { printable } from "../text.ts";
import { kebab, repeatable, UsageError } from "./usage.ts";

/** Refuses an item given twice: where `what` takes a set, the second says nothing or contradicts the first. */
export function onceEach(items: readonly string[], what: string): void {
  const twice = items.find((item, i) => items.indexOf(item) !== i);
  if (twice !== undefined) throw new UsageError(`${what}: ${JSON.stringify(twice)} is given twice`);
}

/**
 * Every value of a repeatable option (`--run a --run b`; see `repeatable`), of which citty keeps
 * the last; a value given twice is refused.
 */
export function repeated(rawArgs: readonly string[], name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i < rawArgs.length; i++) {
    const arg = rawArgs[i] as string;
    if (arg === "--") break;
    if (arg === `--${name}`) values.push(rawArgs[++i] ?? "");
    else if (arg.startsWith(`--${name}=`)) values.push(arg.slice(name.length + 3));
  }
  onceEach(values, `--${name}`);
  return values;
}

/** Whether option `--name` is on the command line: where it has a default, its value cannot say. */
export const given = (rawArgs: readonly string[], name: string): boolean =>
  repeated(rawArgs, name).length > 0;

/**
 * Refuses `--int64` where the output has no JSON to write its integers into (`instead` says what
 * it has, undefined where there is JSON): it would be ignored unsaid.
 */
export function checkInt64(rawArgs: readonly string[], instead: string | undefined): void {
  if (instead !== undefined && given(rawArgs, "int64")) {
    throw new UsageError(`--int64 applies to JSON and NDJSON output, not to ${instead}`);
  }
}

/** As {@link repeated}, undefined when the option is not given: no filter, where a list would filter. */
export function repeatedIfGiven(rawArgs: readonly string[], name: string): string[] | undefined {
  const values = repeated(rawArgs, name);
  return values.length > 0 ? values : undefined;
}

/** A comma-separated list; empty items are dropped. */
export function parseList(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  return value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** A comma-separated list that names at least one `what`: an empty filter would match nothing. */
export function parseNames(
  value: string | undefined,
  flag: string,
  what: string,
): string[] | undefined {
  const names = parseList(value);
  if (names?.length === 0) throw new UsageError(`${flag} needs at least one ${what}`);
  if (names !== undefined) onceEach(names, flag);
  return names;
}

/** A list of event type names, checked against the catalog. */
export function parseTypes(value: string | undefined, flag: string): EventType[] | undefined {
  const names = parseNames(value, flag, "event type");
  if (names === undefined) return undefined;
  for (const name of names) {
    if (!isEventType(name)) {
      throw new UsageError(
        `${flag}: unknown event type ${JSON.stringify(name)}`,
        `one of ${EVENT_TYPES.join(", ")}`,
      );
    }
  }
  return names as EventType[];
}

/** The id of a run to create, checked against the rules for run ids. */
export function parseRunId(value: string | undefined, flag: string): string | undefined {
  const problem = value === undefined ? undefined : runIdProblem(value);
  if (problem !== undefined) {
    throw new UsageError(
      `${flag}: invalid run id ${describeValue(value)}: ${problem}`,
      `run ids are 1 to ${MAX_RUN_ID_LENGTH} characters, not all spaces, no control or invisible characters, not "latest"`,
    );
  }
  return value;
}

/** A whole number within [min, max]. */
export function parseInteger(
  value: string | undefined,
  flag: string,
  min = 0,
  max = Number.MAX_SAFE_INTEGER,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(
      `${flag} takes a whole number from ${min} to ${max} (got ${JSON.stringify(value)})`,
    );
  }
  return n;
}

/** A positive finite number. */
export function parsePositive(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!isDecimal(value) || !Number.isFinite(n) || n <= 0) {
    throw new UsageError(`${flag} takes a positive number (got ${JSON.stringify(value)})`);
  }
  return n;
}

const ISO =
  /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2})?)(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})?$/i;

/** A point in time as nanoseconds since the epoch: an integer of nanoseconds, or ISO-8601 (UTC unless a zone is given). */
export function parseTime(value: string | undefined, flag: string): bigint | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  const ns = /^-?\d+$/.test(text) ? BigInt(text) : parseIso(text);
  if (ns === undefined) {
    throw new UsageError(
      `${flag} takes nanoseconds since the epoch or an ISO-8601 time (got ${JSON.stringify(value)})`,
      "e.g. 1709562600000000000 or 2024-03-04T14:30:00Z",
    );
  }
  if (ns < INT64_MIN || ns > INT64_MAX) {
    throw new UsageError(`${flag} is out of range: times are signed 64-bit nanoseconds`);
  }
  return ns;
}

function parseIso(text: string): bigint | undefined {
  const m = ISO.exec(text);
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}T${m[2] ?? "00:00"}${m[4] ?? "Z"}`);
  // Date.parse rolls a day the month lacks (2024-02-30) over into the next month: refuse it.
  const day = Date.parse(`${m[1]}T00:00Z`);
  if (Number.isNaN(ms) || Number.isNaN(day) || new Date(day).toISOString().slice(0, 10) !== m[1]) {
    return undefined;
  }
  return BigInt(ms) * 1_000_000n + BigInt((m[3] ?? "").padEnd(9, "0"));
}

/** A JSON object given on the command line (a run's config or metadata). */
export function parseJsonArg(
  value: string | undefined,
  flag: string,
): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  try {
    return parseJsonObject(value, flag);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** The `--where` run fields as the CLI's table and JSON name them: run_id, name, status. */
const WHERE_FIELDS = RUN_FIELDS.map(snakeCase).join(", ");

/** `--where KEY=VALUE` of the commands that pick runs by it (parseConditions); `what` they do with them. */
export const whereArg = (what: string) =>
  repeatable({
    type: "string",
    valueHint: "KEY=VALUE",
    description: `${what} the runs whose config path (or ${WHERE_FIELDS}, tag.NAME, metric.NAME) has this value; also KEY!=VALUE, and KEY<VALUE, <=, >, >= for numbers; repeatable`,
  } as const);

/** The metrics `--sort`'s help names: the table's. */
const SORT_METRICS = SWEEP_METRICS.map(snakeCase).join(", ");

/** `--sort` and `--limit` of the commands that list or compare a sweep's runs. */
export const sortArgs = {
  sort: {
    type: "string",
    valueHint: "KEY|-KEY",
    description: `Sort by a metric (${SORT_METRICS}, …), run_id, name, status, tag.NAME or config path; -KEY descending`,
  },
  limit: {
    type: "string",
    valueHint: "N",
    description: "Only the first N runs, after --sort (the top 20: --sort -sharpe_like --limit 20)",
  },
} as const;

/**
 * `KEY=VALUE` conditions of `--where` (or `KEY!=VALUE`, `KEY<VALUE`, `<=`, `>`, `>=`: the first
 * operator in the text divides it), keys as typed: the library reads `run_id` and
 * `metric.total_pnl` as the CLI names them. A config path spelled as a metric is the config's.
 */
export function parseConditions(values: readonly string[]): Condition[] {
  const conditions = values.map((text): Condition => {
    const at = text.search(/[=<>!]/);
    const op = CONDITION_OPS.find((o) => text.startsWith(o, at));
    if (at <= 0 || op === undefined) {
      throw new UsageError(
        `--where takes KEY=VALUE, KEY!=VALUE or KEY<VALUE (<=, >, >=) (got ${JSON.stringify(text)})`,
        "e.g. --where strategy.fastPeriod=5, --where 'strategy.slowPeriod>=30' or --where tag.stage=final",
      );
    }
    const condition = { key: text.slice(0, at), op, value: text.slice(at + op.length) };
    // Before any file is opened: the library's check (asUsageError says it in the CLI's words).
    checkCondition(condition);
    return condition;
  });
  // Two values under = contradict (no run has both), the same condition twice says nothing; two
  // bounds make a range and != twice excludes two values.
  const twice = conditions.find((c, i) =>
    conditions
      .slice(0, i)
      .some((d) => d.key === c.key && d.op === c.op && (c.op === "=" || d.value === c.value)),
  );
  if (twice !== undefined) {
    throw new UsageError(`--where: ${JSON.stringify(twice.key)} is given twice with ${twice.op}`);
  }
  return conditions;
}

/** `--where` conditions as given, for a message: `--where a=1 --where b=2`. */
export const describeWhere = (texts: readonly string[]): string =>
  texts.map((text) => `--where ${printable(text)}`).join(" ");

/**
 * A library error about a value the command line gave, as the usage error that names its option
 * (main reports every error through this): a `--where` key no run has (with what it can filter
 * on), a `--where` condition that would pick nothing unsaid, a `--metric` that is none (with the
 * metrics), options that would do nothing (named as flags: `excludeTypes` is `--exclude-types`).
 * Any other error comes back as it is.
 */
export function asUsageError(error: unknown): unknown {
  if (error instanceof UnknownFilterKeyError) return unknownWhereKey(error);
  if (error instanceof InvalidConditionError) {
    return new UsageError(`--where ${JSON.stringify(error.condition)}: ${error.reason}`);
  }
  if (error instanceof IneffectiveOptionError) {
    return new UsageError(
      `${error.options.map((o) => `--${kebab(o)}`).join(" and ")}${error.reason}`,
    );
  }
  // Asked for by report --metric alone (--sort has UnknownSortKeyError).
  if (error instanceof UnknownMetricError) {
    const metrics = Object.keys(METRICS).map(snakeCase).join(", ");
    return new UsageError(`--metric: ${error.message}`, `metrics: ${metrics}`);
  }
  // What it can sort by is the command line's to fix: named as the table and JSON name them.
  if (error instanceof UnknownSortKeyError) {
    const metrics = Object.keys(METRICS).map(snakeCase).join(", ");
    const params = error.params.length > 0 ? ` or a config path (${error.params.join(", ")})` : "";
    return new UsageError(
      `--sort: ${error.message}`,
      `sort by a metric (${metrics}), run_id, name, status, a tag (tag.NAME)${params}; -KEY sorts descending`,
    );
  }
  return error;
}

/** A `--where` key that no run has, as the command line's error: with what it can filter on. */
function unknownWhereKey(error: UnknownFilterKeyError): UsageError {
  const keys = [
    WHERE_FIELDS,
    ...(error.params.length > 0 ? [`a config path (${error.params.join(", ")})`] : []),
    ...(error.tags.length > 0 ? [`a tag (${error.tags.map((t) => `tag.${t}`).join(", ")})`] : []),
    `a metric (${Object.keys(METRICS)
      .map((m) => `metric.${snakeCase(m)}`)
      .join(", ")})`,
  ];
  return new UsageError(
    `--where: ${error.message}`,
    `filter on ${keys.slice(0, -1).join(", ")} or ${keys.at(-1)}`,
  );
}
