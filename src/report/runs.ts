import type { RunRow } from "../runs.ts";
import type { RunSource } from "../store/source.ts";
import { metricsOf } from "./cache.ts";
import type { RunMetrics } from "./metrics.ts";
import {
  type Condition,
  checkConditions,
  checkSortKey,
  matches,
  type Sweep,
  sortEntries,
  sweepRun,
  varyingParams,
} from "./sweep.ts";

/** Options of {@link listSweep}. */
export interface SweepOptions {
  /**
   * Keep the runs that meet every condition (config path, runId, name, status or `tag.<name>` =
   * value); a config path or tag that none of the runs has throws UnknownFilterKeyError.
   */
  where?: readonly Condition[];
  /** A metric or config path; `-key` for descending. Default: newest run first. */
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
 * Throws UnknownFilterKeyError for a config path or tag that none of them has.
 */
export async function pickRuns(
  source: RunSource,
  options: Pick<SweepOptions, "runIds" | "where">,
): Promise<RunRow[]> {
  const runs =
    options.runIds === undefined
      ? await source.listRuns()
      : await Promise.all(
          options.runIds.map(async (id) => source.getRun(await source.resolveRunId(id))),
        );
  const where = options.where ?? [];
  checkConditions(runs.map(sweepRun), where);
  return runs.filter((run) => matches(sweepRun(run), where));
}

/**
 * Runs with their metrics (cached in a runs database file after the first computation) and the
 * config parameters that differ between the runs listed.
 */
export async function listSweep(source: RunSource, options: SweepOptions = {}): Promise<Sweep> {
  const wanted = await pickRuns(source, options);
  if (options.sort !== undefined) checkSortKey(wanted.map(sweepRun), options.sort);
  const { onProgress } = options;
  const metrics = await metricsOf(
    source,
    wanted,
    onProgress && ((done, total) => onProgress(done, total, "metrics")),
  );
  let entries = wanted.map((run, i) => ({ ...sweepRun(run), metrics: metrics[i] as RunMetrics }));
  if (options.sort !== undefined) entries = sortEntries(entries, options.sort);
  return { varying: varyingParams(entries), entries };
}
