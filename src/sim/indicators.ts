/** Indicators over a window of closes; NaN until the window is full, as during a warm-up. */

/** Simple moving average of the last `period` values. */
export function sma(values: readonly number[], period: number): number {
  if (values.length < period) return Number.NaN;
  let sum = 0;
  for (let i = values.length - period; i < values.length; i++) sum += values[i] as number;
  return sum / period;
}

/** Relative strength index (simple averages) of the last `period` changes. */
export function rsi(values: readonly number[], period: number): number {
  if (values.length <= period) return Number.NaN;
  let gain = 0;
  let loss = 0;
  for (let i = values.length - period; i < values.length; i++) {
    const change = (values[i] as number) - (values[i - 1] as number);
    if (change > 0) gain += change;
    else loss -= change;
  }
  if (loss === 0) return gain === 0 ? 50 : 100;
  return 100 - 100 / (1 + gain / loss);
}
