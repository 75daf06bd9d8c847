/**
 * What `runtape report` and `runtape runs` show, from the library: a run's report as data or as a
 * self-contained HTML page, a sweep of runs with the parameters that differ and their metrics,
 * and a page comparing runs. The analysis (report/model.ts, metrics.ts, trips.ts) is pure over
 * event streams; this file only reads the runs for it, from a runs database or a store
 * (`openSource`).
 */
import { RuntapeError } from "./errors.ts";
import { reportOf, reportsOf } from "./report/cache.ts";
import { overlayBuckets } from "./report/charts.ts";
import { minMaxDownsample } from "./report/downsample.ts";
import { type Comparison, type PageOrigin, renderComparison } from "./report/html.ts";
import type { RunMetrics } from "./report/metrics.ts";
import type { RunReport } from "./report/model.ts";
import { listSweep, type SweepOptions } from "./report/runs.ts";
import { metricKey, namedRuns } from "./report/sweep.ts";
import { withSource } from "./store/index.ts";
import type { RunSource } from "./store/source.ts";

export { METRICS_VERSION } from "./report/cache.ts";
export { type Candles, mergeCandles, minMaxDownsample, type Series } from "./report/downsample.ts";
export {
  type Comparison,
  type PageOrigin,
  renderComparison,
  renderRunReport,
} from "./report/html.ts";
export { computeMetrics, drawdownOf, METRICS, type RunMetrics } from "./report/metrics.ts";
export type {
  EquityCurve,
  FillMark,
  PriceSeries,
  RunReport,
  SymbolReport,
} from "./report/model.ts";
export { buildRunReport, RunReportBuilder } from "./report/model.ts";
export { listSweep, pickRuns, type SweepOptions } from "./report/runs.ts";
export {
  CONDITION_OPS,
  type Condition,
  type ConditionOp,
  flattenConfig,
  matches,
  type ParamValue,
  type Sweep,
  type SweepEntry,
} from "./report/sweep.ts";
export { type RoundTrip, RoundTripTracker, type TripFill } from "./report/trips.ts";
// The runs a report reads: a file or a store, opened (and awaited) here as from `runtape`.
export { openSource, type RunSource } from "./store/index.ts";

/**
 * The report of one run (an id, or `"latest"`), read from a runs database or a store: an open
 * RunSource, or a path or store URL opened for the call.
 */
export async function reportRun(source: string | RunSource, runId = "latest"): Promise<RunReport> {
  return withSource(source, "reportRun", async (source) =>
    reportOf(source, await source.getRun(await source.resolveRunId(runId))),
  );
}

/**
 * A page comparing runs: their equity overlaid, the metrics, a heatmap of `metric` over two
 * parameters; with `origin`, a footer naming the source and the time of writing.
 */
export async function compareRuns(
  source: string | RunSource,
  options: SweepOptions & { metric?: keyof RunMetrics; origin?: PageOrigin } = {},
): Promise<string> {
  // Opened once here where it is a path or URL, not once per run reported.
  return withSource(source, "compareRuns", (source) => comparison(source, options));
}

async function comparison(
  source: RunSource,
  options: SweepOptions & { metric?: keyof RunMetrics; origin?: PageOrigin },
): Promise<string> {
  const metric = metricKey(options.metric ?? "totalPnl");
  const { metric: _, origin, ...sweepOptions } = options;
  const sweep = await listSweep(source, sweepOptions);
  if (sweep.entries.length === 0) throw new RuntapeError("no runs to compare", "NO_RUNS");
  const named = new Set(namedRuns(sweep.entries, metric));
  const greys = sweep.entries.length - named.size;
  const curves: Comparison["curves"] = [];
  // A run removed since the sweep was listed is passed over, as reportsOf passes it over.
  const rows = new Map((await source.listRuns()).map((run) => [run.run_id, run]));
  const runs = sweep.entries.flatMap((e) => rows.get(e.runId) ?? []);
  for await (const report of reportsOf(source, runs)) {
    // Of each report only its curve, and of that only what the chart draws: the rest goes now,
    // so that memory holds one report at a time, whatever the number of runs.
    const { runId } = report.run;
    const { t, equity } = report.equity;
    const drawn = minMaxDownsample({ x: t, y: equity }, overlayBuckets(named.has(runId), greys));
    curves.push({ name: runId, curve: { t: drawn.x as number[], equity: drawn.y as number[] } });
    options.onProgress?.(curves.length, sweep.entries.length, "curves");
  }
  return renderComparison({ ...sweep, curves, metric }, origin);
}
