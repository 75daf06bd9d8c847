/** Times and durations as people read them; shared by the CLI's tables and the HTML report. */

/**
 * A number as people write one in decimal (`7`, `-1.5`, `2e-3`, surrounding spaces aside): not
 * hexadecimal, binary or octal (`0x10`, which Number reads as 16), nor `Infinity`.
 */
export const isDecimal = (text: string): boolean =>
  /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(text.trim());

/** ns since the epoch as ISO-8601 UTC with all nine fractional digits. */
export function isoNs(ns: bigint): string {
  const ms = ns / 1_000_000n - (ns % 1_000_000n < 0n ? 1n : 0n);
  const frac = ((ns % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n;
  const base = new Date(Number(ms)).toISOString().slice(0, 19);
  return `${base}.${String(frac).padStart(9, "0")}Z`;
}

/** A duration in ns, short and readable: 850 ms, 12.3 s, 4 min 05 s, 2 h 10 min. */
export function formatDuration(ns: bigint): string {
  // An exit stamped before its entry (a late fill of a threaded run) keeps its units.
  if (ns < 0n) return `-${formatDuration(-ns)}`;
  const ms = Number(ns / 1_000_000n);
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(Math.floor(s % 60)).padStart(2, "0")} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}

/** Commas between the thousands of a plain decimal's integer digits: -1234567.5 → -1,234,567.5. */
const group = (decimal: string) => {
  const point = decimal.indexOf(".");
  const end = point === -1 ? decimal.length : point;
  return decimal.slice(0, end).replace(/\B(?=(\d{3})+$)/g, ",") + decimal.slice(end);
};

// Not toLocaleString("en-US"): its first call loads ICU's locale data, ~2 ms of each command that
// prints a count (inspect --run is held to 30 ms in all).

/** An integer with thousands separators: 1,234,567. */
export const formatCount = (n: number | bigint) => group(String(n));

/** A count and its noun, plural unless the count is one: "1 run", "1,300 events". */
export const counted = (n: number | bigint, noun: string) =>
  `${formatCount(n)} ${n === 1 || n === 1n ? noun : `${noun}s`}`;

/** A string of decimal digits plus one, carrying: "0999" → "1000", "99" → "100". */
function plusOne(digits: string): string {
  let i = digits.length - 1;
  while (i >= 0 && digits[i] === "9") i--;
  const head = i < 0 ? "1" : digits.slice(0, i) + String(Number(digits[i]) + 1);
  return head + "0".repeat(digits.length - 1 - i);
}

/**
 * `x` with exactly `digits` decimals, rounded as Intl rounds: half away from zero on the shortest
 * decimal that reads back as `x` (1.005 → 1.01), where toFixed rounds the binary value (1.00).
 * Undefined where that decimal has an exponent.
 */
function fixed(x: number, digits: number): string | undefined {
  const shortest = String(Math.abs(x));
  if (shortest.includes("e")) return undefined;
  const [int = "", frac = ""] = shortest.split(".");
  let kept = int + frac.slice(0, digits).padEnd(digits, "0");
  if (frac.charCodeAt(digits) >= 53) kept = plusOne(kept); // the next digit is 5 or more
  const whole = kept.slice(0, kept.length - digits) || "0";
  const sign = x < 0 || Object.is(x, -0) ? "-" : "";
  return `${sign}${whole}${digits > 0 ? `.${kept.slice(kept.length - digits)}` : ""}`;
}

/**
 * From this magnitude a number is written in four significant digits and an exponent (-3.595e+299,
 * a run of extreme prices), not in 300 grouped digits: from 10^15 a double keeps no cents, and the
 * digits it does keep are more than a reader compares.
 */
const COMPACT_FROM = 1e15;

/** `x` in four significant digits and an exponent: 1.665e+20, 1e+299. */
const compact = (x: number) => x.toPrecision(4).replace(/\.?0+e/, "e");

/**
 * A number with thousands separators and exactly `digits` decimals: 12,345.60; from COMPACT_FROM
 * on, compact: 1.665e+20.
 */
export function formatNumber(x: number, digits = 2): string {
  if (Number.isFinite(x) && Math.abs(x) >= COMPACT_FROM) return compact(x);
  const plain = Number.isFinite(x) ? fixed(x, digits) : undefined;
  return plain === undefined
    ? x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })
    : group(plain);
}

/**
 * An axis' tick value: as many decimals as the axis gave it, thousands grouped; from COMPACT_FROM
 * on, compact, as the tables write it (ECharts wrote 1.0000000000000006e+299).
 */
export const formatTick = (x: number): string =>
  Number.isFinite(x) && Math.abs(x) >= COMPACT_FROM ? compact(x) : formatCount(x);
