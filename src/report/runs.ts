import * as v from "valibot";
import { checkOptions } from "../options.ts";
import type { RunRow } from "../runs.ts";
import { withSource } from "../store/index.ts";
import type { RunSource } from "../store/source.ts";
import { metricsOf } from "./cache.ts";
import type { RunMetrics } from "./metrics.ts";
import {
  CONDITION_OPS,
  type Condition,
  checkConditions,
  checkSortKey,
  isMetric,
  libraryKey,
  matches,
  normalizeConditions,
  onMetric,
  RUN_FIELDS,
  type Sweep,
  type SweepEntry,
  sortEntries,
  sweepRun,
  varyingParams,
} from "./sweep.ts";

/** Options of {@link listSweep}. */
export interface SweepOptions {
  /**
   * Keep the runs that meet every condition on a config path, runId, name, status, `tag.<name>`
   * or `metric.<name>` (see {@link matches}); a config path or tag that none of the runs has, or
   * an unknown metric, throws UnknownFilterKeyError.
   */
  where?: readonly Condition[];
  /**
   * A metric (`totalPnl`, or `total_pnl` as the CLI names it) or config path; `-key` for
   * descending. Default: newest run first.
   */
  sort?: string;
  /** Only these runs (ids, or `"latest"`), in this order (before `where` and `sort`). */
  runIds?: readonly string[];
  /**
   * Only the first `limit` runs, after `sort` (the top 20 by a metric): a whole number ≥ 1. The
   * parameters that vary are still those of every run picked.
   */
  limit?: number;
  /**
   * Hears of each run whose metrics are known (`"metrics"`, read from the cache or computed from
   * its events) and, in compareRuns, of each run whose equity curve is read (`"curves"`): for a
   * progress bar over thousands of runs.
   */
  onProgress?: (done: number, total: number, step: "metrics" | "curves") => void;
}

const SweepOptionsSchema = v.object({
  where: v.optional(
    v.array(
      v.object(
        {
          key: v.string(
            `expected a key (a config path, ${RUN_FIELDS.join(", ")}, tag.NAME or metric.NAME)`,
          ),
          value: v.string("expected the value as text"),
          op: v.optional(v.picklist(CONDITION_OPS, `expected one of ${CONDITION_OPS.join(" ")}`)),
        },
        "expected a condition { key, value, op? }",
      ),
      "expected an array of conditions { key, value, op? }",
    ),
  ),
  sort: v.optional(v.string("expected a metric or config path (-key: descending)")),
  runIds: v.optional(
    v.array(v.string("expected run ids"), 'expected an array of run ids (or "latest")'),
  ),
  limit: v.optional(
    v.pipe(
      v.number("expected a whole number ≥ 1"),
      v.safeInteger("expected a whole number ≥ 1"),
      v.minValue(1, "expected a whole number ≥ 1"),
    ),
  ),
  onProgress: v.optional(v.function()),
});

/**
 * The runs of `source` (an open RunSource, or a path or store URL opened for the call) that meet
 * every condition of `where` (see {@link SweepOptions}), among `runIds` where given, in their
 * order: what a command acting on a selection of runs acts on. Throws UnknownFilterKeyError for
 * a config path or tag that none of them has, or an unknown metric, and RuntapeError
 * (INVALID_OPTION) for options of the wrong shape. A condition on a metric computes the metrics
 * of the runs the others pick (see {@link listSweep}; `onProgress` hears of it).
 */
export async function pickRuns(
  source: string | RunSource,
  options: Pick<SweepOptions, "runIds" | "where" | "onProgress"> = {},
): Promise<RunRow[]> {
  checkOptions(SweepOptionsSchema, options, "pickRuns");
  return withSource(source, "pickRuns", async (source) => (await select(source, options)).runs);
}

/** {@link pickRuns}, with the metrics of the runs picked where a condition needed them. */
async function select(
  source: RunSource,
  options: Pick<SweepOptions, "runIds" | "where" | "onProgress">,
): Promise<{ runs: RunRow[]; metrics?: RunMetrics[] }> {
  const every = await source.listRuns();
  let all = every;
  if (options.runIds !== undefined) {
    // Each run once, however it is named ("latest" and its id).
    const ids = new Set<string>();
    for (const id of options.runIds) ids.add(await source.resolveRunId(id));
    all = await Promise.all([...ids].map((id) => source.getRun(id)));
  }
  // Keys as the CLI's table and JSON name them (run_id, metric.total_pnl) mean the same here.
  const where = normalizeConditions(options.where ?? []);
  // Against every run of the source: a key is known if any run has it, named or not.
  checkConditions(every.map(sweepRun), where);
  const plain = where.filter((c) => !onMetric(c));
  const byMetric = where.filter(onMetric);
  const runs = all.filter((run) => matches(sweepRun(run), plain));
  if (byMetric.length === 0) return { runs };
  const metrics = await metricsIn(source, runs, options.onProgress);
  const kept = runs.flatMap((run, i) =>
    metrics[i] !== undefined && matches({ ...sweepRun(run), metrics: metrics[i] }, byMetric)
      ? [i]
      : [],
  );
  return {
    runs: kept.map((i) => runs[i] as RunRow),
    metrics: kept.map((i) => metrics[i] as RunMetrics),
  };
}

const metricsIn = (
  source: RunSource,
  runs: readonly RunRow[],
  onProgress: SweepOptions["onProgress"],
) => metricsOf(source, runs, onProgress && ((done, total) => onProgress(done, total, "metrics")));

/**
 * Runs of `source` (an open RunSource, or a path or store URL opened for the call) with their
 * metrics (cached in the file or store after the first computation) and the config parameters
 * that differ between the runs listed.
 */
export async function listSweep(
  source: string | RunSource,
  options: SweepOptions = {},
): Promise<Sweep> {
  checkOptions(SweepOptionsSchema, options, "listSweep");
  return withSource(source, "listSweep", (source) => sweepOf(source, options));
}

async function sweepOf(source: RunSource, options: SweepOptions): Promise<Sweep> {
  const picked = await select(source, options);
  const wanted = picked.runs;
  const sort = options.sort?.replace(
    /^(-?)(.*)$/s,
    (_, sign: string, key: string) => sign + libraryKey(key),
  );
  const runs = wanted.map(sweepRun);
  if (sort !== undefined) checkSortKey(runs, sort);
  // Of every run picked, not only of those the limit keeps: the top 20 still show each parameter
  // the sweep varies (and a comparison keeps its heatmap's two).
  const varying = varyingParams(runs);
  const { limit } = options;
  // Where the order does not depend on them, only the runs the limit keeps need their metrics:
  // the newest 20 of 4,000 runs seen for the first time take 20 computations, not 4,000.
  const first = limit !== undefined && !isMetric(sort?.replace(/^-/, "") ?? "");
  const metrics =
    picked.metrics ?? (first ? undefined : await metricsIn(source, wanted, options.onProgress));
  // A run removed while the metrics were computed has none: it is left out, as it now is.
  let entries = runs
    .map((run, i) => ({ ...run, metrics: metrics?.[i] }))
    .filter((e) => metrics === undefined || e.metrics !== undefined);
  if (sort !== undefined) entries = sortEntries(entries, sort);
  if (limit !== undefined) entries = entries.slice(0, limit);
  if (metrics === undefined) {
    const rows = new Map(wanted.map((run) => [run.run_id, run]));
    const kept = entries.map((e) => rows.get(e.runId) as RunRow);
    const computed = await metricsIn(source, kept, options.onProgress);
    entries = entries
      .map((e, i) => ({ ...e, metrics: computed[i] }))
      .filter((e) => e.metrics !== undefined);
  }
  return { varying, entries: entries as SweepEntry[] };
}
