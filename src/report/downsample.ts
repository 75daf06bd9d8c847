/**
 * Series thinned for drawing, never for numbers: a chart a few hundred pixels wide cannot show
 * more than a few points per pixel column, and an SVG of millions of points would be megabytes.
 */

/** Points of a series: x ascending, y where null is a gap (a warm-up NaN, say). */
export interface Series {
  x: readonly number[];
  y: readonly (number | null)[];
}

/**
 * Min/max per bucket (the M4 scheme): the range of x is cut into `buckets` equal columns, and
 * each keeps its first, lowest, highest and last point, in x order. A line through them draws the
 * same pixels as the full series at that width, so every peak and trough stays; LTTB, which picks
 * by triangle area, can drop a spike and with it the maximum drawdown. At most 4 points per bucket
 * (5 where a gap is kept: the first null y of the bucket); a series that small is returned as is.
 */
export function minMaxDownsample(series: Series, buckets: number): Series {
  const { x, y } = series;
  const n = x.length;
  if (n <= 4 * buckets || n < 2) return { x: [...x], y: [...y] };
  const x0 = x[0] as number;
  const span = (x[n - 1] as number) - x0;
  const bucketOf = (v: number) =>
    span > 0 ? Math.min(buckets - 1, Math.floor(((v - x0) / span) * buckets)) : 0;
  const keepX: number[] = [];
  const keepY: (number | null)[] = [];
  let i = 0;
  while (i < n) {
    const bucket = bucketOf(x[i] as number);
    const first = i;
    let lo = -1;
    let hi = -1;
    let gap = -1;
    for (; i < n; i++) {
      if (bucketOf(x[i] as number) !== bucket) break;
      const v = y[i];
      if (v === null || v === undefined) {
        if (gap === -1) gap = i;
        continue;
      }
      if (lo === -1 || v < (y[lo] as number)) lo = i;
      if (hi === -1 || v > (y[hi] as number)) hi = i;
    }
    const last = i - 1;
    const picks = [first, lo, hi, gap, last].filter((p) => p !== -1).sort((a, b) => a - b);
    let previous = -1;
    for (const p of picks) {
      if (p === previous) continue;
      keepX.push(x[p] as number);
      keepY.push(y[p] ?? null);
      previous = p;
    }
  }
  return { x: keepX, y: keepY };
}

/** Candles: open, high, low and close per bar, x ascending. */
export interface Candles {
  x: readonly number[];
  open: readonly number[];
  high: readonly number[];
  low: readonly number[];
  close: readonly number[];
}

/**
 * Candles merged into at most `buckets` wider candles of consecutive bars: first open, highest
 * high, lowest low, last close. Every extreme of the price stays on the chart. Each merged candle
 * sits at the time of its first bar.
 */
export function mergeCandles(candles: Candles, buckets: number): Candles {
  const n = candles.x.length;
  if (n <= buckets) return candles;
  const per = Math.ceil(n / buckets);
  const out = {
    x: [] as number[],
    open: [] as number[],
    high: [] as number[],
    low: [] as number[],
    close: [] as number[],
  };
  for (let start = 0; start < n; start += per) {
    const end = Math.min(n, start + per);
    let high = Number.NEGATIVE_INFINITY;
    let low = Number.POSITIVE_INFINITY;
    for (let i = start; i < end; i++) {
      high = Math.max(high, candles.high[i] as number);
      low = Math.min(low, candles.low[i] as number);
    }
    out.x.push(candles.x[start] as number);
    out.open.push(candles.open[start] as number);
    out.high.push(high);
    out.low.push(low);
    out.close.push(candles.close[end - 1] as number);
  }
  return out;
}
