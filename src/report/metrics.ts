import { formatCount, formatNumber } from "../format.ts";
import type { EquityCurve } from "./model.ts";
import type { RoundTrip } from "./trips.ts";

/** The summary of a run; money in price × quantity units, as the fills are. */
export interface RunMetrics {
  totalPnl: number;
  realizedPnl: number;
  commission: number;
  maxDrawdown: number;
  roundTrips: number;
  /** null without a closed trip. */
  winRate: number | null;
  /** null without a losing trip (nothing to divide by). */
  profitFactor: number | null;
  exposure: number | null;
  /** null with fewer than two points of the curve. */
  meanReturn: number | null;
  stdReturn: number | null;
  /** null where the standard deviation is zero or undefined. */
  sharpeLike: number | null;
}

/** What the report says and shows of a metric. */
export interface MetricInfo {
  label: string;
  /** Printed beside the numbers. */
  definition: string;
  /** Which way a run is better by it (a heatmap's green end); null where neither is. */
  better: "higher" | "lower" | null;
  /** Whether zero parts good from bad (P&L): its sign is coloured, a heatmap is centred on 0. */
  signed: boolean;
}

/** Label, definition and reading of each metric. */
export const METRICS: Readonly<Record<keyof RunMetrics, MetricInfo>> = {
  totalPnl: {
    label: "Total P&L",
    definition:
      "Equity at the end of the run: realised P&L + unrealised P&L of open positions marked at the last close of their shortest bar period that goes on (the last fill price without bars) − all commission.",
    better: "higher",
    signed: true,
  },
  realizedPnl: {
    label: "Realised P&L",
    definition:
      "P&L of closed quantity by the average-cost method (as `runtape inspect`), before commission.",
    better: "higher",
    signed: true,
  },
  commission: {
    label: "Commission",
    definition: "Sum of the commission of every fill.",
    better: "lower",
    signed: false,
  },
  maxDrawdown: {
    label: "Max drawdown",
    definition:
      "Largest fall of the equity curve from its running peak (the peak starts at 0, the equity before the first fill).",
    better: "lower",
    signed: false,
  },
  roundTrips: {
    label: "Round trips",
    definition:
      "Closed trips: a position from flat back to flat; a fill through zero closes one trip and opens the next.",
    better: null,
    signed: false,
  },
  winRate: {
    label: "Win rate",
    definition: "Share of closed round trips whose P&L net of commission is above zero.",
    better: "higher",
    signed: false,
  },
  profitFactor: {
    label: "Profit factor",
    definition:
      "Net P&L of the winning round trips ÷ |net P&L of the losing ones|: ∞ with wins and no loss.",
    better: "higher",
    signed: false,
  },
  exposure: {
    label: "Exposure",
    definition: "Share of the points of the equity curve at which some position was open.",
    better: null,
    signed: false,
  },
  meanReturn: {
    label: "Mean per-bar P&L",
    definition:
      "Mean change of equity between consecutive points of the curve (one point per bar time with a bar or a fill).",
    better: "higher",
    signed: true,
  },
  stdReturn: {
    label: "Std of per-bar P&L",
    definition: "Sample standard deviation of those changes.",
    better: null,
    signed: false,
  },
  sharpeLike: {
    label: "Sharpe-like ratio",
    definition:
      "Mean ÷ standard deviation of the per-bar equity changes: per bar, not annualised, no risk-free rate, in P&L rather than percent (the run records no capital). Compare it between runs of the same bars only.",
    better: "higher",
    signed: true,
  },
};

/** The metrics a sweep's table shows, terminal and HTML alike. */
export const SWEEP_METRICS: readonly (keyof RunMetrics)[] = [
  "totalPnl",
  "maxDrawdown",
  "roundTrips",
  "winRate",
  "profitFactor",
  "exposure",
  "sharpeLike",
];

/** Drawdown at each point of `equity`: equity − running peak (≤ 0), the peak starting at 0. */
export function drawdownOf(equity: readonly number[]): number[] {
  let peak = 0;
  return equity.map((e) => {
    peak = Math.max(peak, e);
    // At the peak itself: no drawdown, also where the peak is infinite (∞ − ∞ would be NaN).
    return e === peak ? 0 : e - peak;
  });
}

/**
 * The sample standard deviation of `values` about `mean`, the deviations scaled by the largest
 * so that squaring them cannot overflow (changes of 1e200 are finite, their squares are not).
 */
function sampleStd(values: readonly number[], mean: number): number {
  let scale = 0;
  for (const v of values) scale = Math.max(scale, Math.abs(v - mean));
  if (scale === 0 || !Number.isFinite(scale)) return scale;
  let sum = 0;
  for (const v of values) sum += ((v - mean) / scale) ** 2;
  return scale * Math.sqrt(sum / (values.length - 1));
}

// A ratio of an infinite curve (prices beyond the float range) has no value to show: "–".
const finiteOrNull = (x: number): number | null => (Number.isFinite(x) ? x : null);

/** The metrics of a run from its equity curve (at full resolution) and round trips. */
export function computeMetrics(curve: EquityCurve, trips: readonly RoundTrip[]): RunMetrics {
  const { equity } = curve;
  const closed = trips.filter((t) => t.exitNs !== null);
  const wins = closed.filter((t) => t.netPnl > 0);
  const gains = wins.reduce((sum, t) => sum + t.netPnl, 0);
  const losses = closed.filter((t) => t.netPnl < 0).reduce((sum, t) => sum - t.netPnl, 0);
  const changes = equity.slice(1).map((e, i) => e - (equity[i] as number));
  const mean = changes.length === 0 ? null : changes.reduce((a, b) => a + b, 0) / changes.length;
  const std = mean === null || changes.length < 2 ? null : sampleStd(changes, mean);
  const commission = curve.commission.at(-1) ?? 0;
  const totalPnl = equity.at(-1) ?? 0;
  return {
    totalPnl,
    realizedPnl: trips.reduce((sum, t) => sum + t.grossPnl, 0),
    commission,
    maxDrawdown: drawdownOf(equity).reduce((deepest, d) => Math.max(deepest, -d), 0),
    roundTrips: closed.length,
    winRate: closed.length === 0 ? null : wins.length / closed.length,
    // Gains without a loss: infinitely many times their losses, the best a run can do, which null
    // (no trade won or lost) would have shown as "–" and sorted last.
    profitFactor: losses > 0 ? gains / losses : gains > 0 ? Number.POSITIVE_INFINITY : null,
    exposure:
      curve.exposed.length === 0
        ? null
        : curve.exposed.filter(Boolean).length / curve.exposed.length,
    meanReturn: mean,
    stdReturn: std,
    sharpeLike: mean === null || std === null || std === 0 ? null : finiteOrNull(mean / std),
  };
}

/** A metric as the report shows it. */
export function formatMetric(key: keyof RunMetrics, value: number | null): string {
  if (value === null) return "–";
  switch (key) {
    case "roundTrips":
      return formatCount(value);
    case "winRate":
    case "exposure":
      return `${(value * 100).toFixed(1)} %`;
    case "sharpeLike":
    case "profitFactor":
      return formatNumber(value, 3);
    default:
      return formatNumber(value);
  }
}
