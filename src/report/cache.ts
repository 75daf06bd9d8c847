/**
 * Each run's metrics, computed once from its events and kept where the run is (a runs database
 * file or a store, see RunSource.readMetrics), so that listing a sweep of a thousand runs reads a
 * thousand small rows instead of every event.
 */

import { RunNotFoundError } from "../errors.ts";
import type { Event } from "../events/catalog.ts";
import { parseNumbers, stringifyExact } from "../json.ts";
import type { RunRow } from "../runs.ts";
import type { ComputedMetrics, RunSource } from "../store/source.ts";
import type { RunMetrics } from "./metrics.ts";
import { type RunReport, RunReportBuilder } from "./model.ts";

/**
 * Bumped whenever a metric's definition or its stored form changes: older rows are then
 * recomputed. 2: non-finite values are kept (1 stored them as null). 3: positions marked by
 * the shortest bar period (or the last fill without bars), float dust judged by the rounding done,
 * average costs and spreads that no longer overflow.
 */
export const METRICS_VERSION = 4;

/** The report of `run` from the events `source` holds for it. */
export function reportOf(source: RunSource, run: RunRow): Promise<RunReport> {
  return reportFrom(run, source.chunks({ run: run.run_id }));
}

/**
 * The reports of `runs` in their order, read together where the source can (RunSource.eachRun).
 * A run removed since it was listed (`rm` while a sweep is listed) has none: it is passed over,
 * as a listing made a moment later would not have it.
 */
export async function* reportsOf(
  source: RunSource,
  runs: readonly RunRow[],
): AsyncGenerator<RunReport> {
  const read =
    source.eachRun?.(runs) ??
    (async function* () {
      for (const run of runs) yield { run, chunks: source.chunks({ run: run.run_id }) };
    })();
  for await (const { run, chunks } of read) {
    try {
      yield await reportFrom(run, chunks);
    } catch (error) {
      if (!(error instanceof RunNotFoundError && error.runId === run.run_id)) throw error;
    }
  }
}

async function reportFrom(
  run: RunRow,
  chunks: AsyncIterable<readonly Event[]>,
): Promise<RunReport> {
  const builder = new RunReportBuilder(run);
  for await (const chunk of chunks) {
    for (const event of chunk) builder.add(event);
  }
  return builder.finish();
}

/**
 * How often fresh metrics are committed while the rest are computed: an interrupted first listing
 * of a large sweep (Ctrl-C at run 765 of 1,000) keeps what it computed, and a commit a second costs
 * nothing beside the computing.
 */
const COMMIT_EVERY_MS = 1000;

/**
 * The metrics of each of `runs`, from the cache where it holds and computed from the events
 * otherwise (then stored, for finished runs, where the source keeps them, a batch at a time). In
 * the order of `runs`, undefined for a run removed since it was listed; `onProgress` hears of
 * each run done.
 */
export async function metricsOf(
  source: RunSource,
  runs: readonly RunRow[],
  onProgress?: (done: number, total: number) => void,
): Promise<(RunMetrics | undefined)[]> {
  const cache = await source.readMetrics?.(runs, METRICS_VERSION);
  let fresh: ComputedMetrics[] = [];
  // A batch that could not be stored (a writer holding the file past the busy timeout, a store
  // role without the right to write) ends the storing: each later batch would fail as well.
  let storing = true;
  let committedAt = performance.now();
  const commit = async () => {
    if (cache !== undefined && storing && fresh.length > 0) storing = await cache.store(fresh);
    fresh = [];
    committedAt = performance.now();
  };
  const result: (RunMetrics | undefined)[] = [];
  const cached = runs.map((run) => cache?.get(run));
  const reports = reportsOf(
    source,
    runs.filter((_, i) => cached[i] === undefined),
  );
  // The next report, until the run it is of comes: the runs before it were removed meanwhile.
  let next: RunReport | undefined;
  for (const [i, run] of runs.entries()) {
    const text = cached[i];
    if (text !== undefined) {
      result.push(parseNumbers(text) as RunMetrics);
      onProgress?.(result.length, runs.length);
      continue;
    }
    next ??= (await reports.next()).value as RunReport | undefined;
    if (next?.run.runId !== run.run_id) {
      result.push(undefined);
      onProgress?.(result.length, runs.length);
      continue;
    }
    const { metrics, events } = next;
    next = undefined;
    if (run.status !== "running" && run.ts_end !== null) {
      fresh.push({ run, events: BigInt(events), metrics: stringifyExact(metrics) });
      if (performance.now() - committedAt >= COMMIT_EVERY_MS) await commit();
    }
    result.push(metrics);
    onProgress?.(result.length, runs.length);
  }
  await commit();
  return result;
}
