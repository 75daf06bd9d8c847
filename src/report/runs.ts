import type { RunRow } from "../runs.ts";
import type { RunSource } from "../store/source.ts";
import { metricsOf } from "./cache.ts";
import type { RunMetrics } from "./metrics.ts";
import {
  type Condition,
  checkConditions,
  checkSortKey,
  libraryKey,
  libraryWhereKey,
  matches,
  onMetric,
  type Sweep,
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
   * Hears of each run whose metrics are known (`"metrics"`, read from the cache or computed from
   * its events) and, in compareRuns, of each run whose equity curve is read (`"curves"`): for a
   * progress bar over thousands of runs.
   */
  onProgress?: (done: number, total: number, step: "metrics" | "curves") => void;
}

/**
 * The runs of `source` that meet every condition of `where` (see {@link SweepOptions}), among
 * `runIds` where given, in their order: what a command acting on a selection of runs acts on.
 * Throws UnknownFilterKeyError for a config path or tag that none of them has, or an unknown
 * metric. A condition on a metric computes the metrics of the runs the others pick (see
 * {@link listSweep}; `onProgress` hears of it).
 */
export async function pickRuns(
  source: RunSource,
  options: Pick<SweepOptions, "runIds" | "where" | "onProgress">,
): Promise<RunRow[]> {
  return (await select(source, options)).runs;
}

/** {@link pickRuns}, with the metrics of the runs picked where a condition needed them. */
async function select(
  source: RunSource,
  options: Pick<SweepOptions, "runIds" | "where" | "onProgress">,
): Promise<{ runs: RunRow[]; metrics?: RunMetrics[] }> {
  const all =
    options.runIds === undefined
      ? await source.listRuns()
      : await Promise.all(
          options.runIds.map(async (id) => source.getRun(await source.resolveRunId(id))),
        );
  // Keys as the CLI's table and JSON name them (run_id, metric.total_pnl) mean the same here.
  const where = (options.where ?? []).map((c) => ({ ...c, key: libraryWhereKey(c.key) }));
  checkConditions(all.map(sweepRun), where);
  const plain = where.filter((c) => !onMetric(c));
  const byMetric = where.filter(onMetric);
  const runs = all.filter((run) => matches(sweepRun(run), plain));
  if (byMetric.length === 0) return { runs };
  const metrics = await metricsIn(source, runs, options.onProgress);
  const kept = runs.flatMap((run, i) =>
    matches({ ...sweepRun(run), metrics: metrics[i] }, byMetric) ? [i] : [],
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
 * Runs with their metrics (cached in a runs database file after the first computation) and the
 * config parameters that differ between the runs listed.
 */
export async function listSweep(source: RunSource, options: SweepOptions = {}): Promise<Sweep> {
  const picked = await select(source, options);
  const wanted = picked.runs;
  const sort = options.sort?.replace(
    /^(-?)(.*)$/s,
    (_, sign: string, key: string) => sign + libraryKey(key),
  );
  if (sort !== undefined) checkSortKey(wanted.map(sweepRun), sort);
  const metrics = picked.metrics ?? (await metricsIn(source, wanted, options.onProgress));
  let entries = wanted.map((run, i) => ({ ...sweepRun(run), metrics: metrics[i] as RunMetrics }));
  if (sort !== undefined) entries = sortEntries(entries, sort);
  return { varying: varyingParams(entries), entries };
}
