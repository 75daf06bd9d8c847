/** Times and durations as people read them; shared by the CLI's tables and the HTML report. */

/** ns since the epoch as ISO-8601 UTC with all nine fractional digits. */
export function isoNs(ns: bigint): string {
  const ms = ns / 1_000_000n - (ns % 1_000_000n < 0n ? 1n : 0n);
  const frac = ((ns % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n;
  const base = new Date(Number(ms)).toISOString().slice(0, 19);
  return `${base}.${String(frac).padStart(9, "0")}Z`;
}

/** A duration in ns, short and readable: 850 ms, 12.3 s, 4 min 05 s, 2 h 10 min. */
export function formatDuration(ns: bigint): string {
  const ms = Number(ns / 1_000_000n);
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(Math.floor(s % 60)).padStart(2, "0")} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}

/** A number with thousands separators and exactly `digits` decimals: 12,345.60. */
export const formatNumber = (x: number, digits = 2) =>
  x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
