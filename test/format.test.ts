import { describe, expect, test } from "bun:test";
import { counted, formatCount, formatDuration, formatNumber, formatTick } from "../src/format.ts";

// The CLI's counts and money were printed with toLocaleString("en-US"): the output stays the same.
describe("number formatting", () => {
  const intl = (x: number, digits: number) =>
    x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });

  test("counts: thousands separators as en-US puts them, numbers and bigints", () => {
    const counts = [
      0, 7, 999, 1000, 1001, 65_536, 999_999, 1_000_000, 12_345_678, -1, -1234, -1_000_000,
    ];
    for (const n of counts) expect([n, formatCount(n)]).toEqual([n, n.toLocaleString("en-US")]);
    for (const n of [0n, 1000n, 2n ** 63n - 1n, -(2n ** 63n)]) {
      expect([n, formatCount(n)]).toEqual([n, n.toLocaleString("en-US")]);
    }
  });

  test("a count and its noun: singular for one, numbers and bigints alike", () => {
    const cases: [number | bigint, string][] = [
      [0, "0 runs"],
      [1, "1 run"],
      [2, "2 runs"],
      [1n, "1 run"],
      [1234n, "1,234 runs"],
      [-1, "-1 runs"],
    ];
    for (const [n, text] of cases) expect([n, counted(n, "run")]).toEqual([n, text]);
  });

  test("amounts with fixed decimals, as en-US rounds and groups them", () => {
    let seed = 7;
    const random = () => {
      seed = (seed * 16807) % 2147483647;
      return seed / 2147483647;
    };
    const amounts = [
      0,
      -0,
      0.125,
      1.005,
      0.5,
      -0.001,
      -1234.5,
      999.995,
      0.999,
      9.9999,
      1e15 - 0.25, // the last grouped in full
      123456.789,
      1e-7,
      -2.5e-9,
    ];
    for (let i = 0; i < 2000; i++) amounts.push((random() - 0.5) * 10 ** Math.floor(random() * 12));
    for (const digits of [0, 2, 3]) {
      for (const x of amounts)
        expect([x, digits, formatNumber(x, digits)]).toEqual([x, digits, intl(x, digits)]);
    }
  });

  test("non-finite amounts are left to Intl", () => {
    for (const x of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      expect(formatNumber(x)).toBe(intl(x, 2));
    }
  });

  test("amounts from 10^15, where a double keeps no cents, in four significant digits", () => {
    // Grouped in full, the P&L of a run of extreme prices filled a report's table with 300 digits.
    expect(formatNumber(1e15)).toBe("1e+15");
    expect(formatNumber(1.6647244856505745e20, 3)).toBe("1.665e+20");
    expect(formatNumber(945_731_922_982_384.6)).toBe("945,731,922,982,384.60");
    expect(formatNumber(1e21)).toBe("1e+21");
    expect(formatNumber(-3e25)).toBe("-3e+25");
    expect(formatNumber(1.5e22)).toBe("1.5e+22");
    expect(formatNumber(-3.595386269724631e299)).toBe("-3.595e+299");
    expect(formatNumber(Number.MAX_VALUE, 3)).toBe("1.798e+308");
    // An axis' ticks by the same rule; below it, grouped with the decimals the axis gave them.
    expect(formatTick(1.0000000000000006e299)).toBe("1e+299");
    expect(formatTick(-4e299)).toBe("-4e+299");
    expect(formatTick(-30_000_000)).toBe("-30,000,000");
    expect(formatTick(123_456_787.5)).toBe("123,456,787.5");
  });
});

test("durations in the unit that reads best, a negative one (exit stamped before entry) alike", () => {
  const cases: [bigint, string][] = [
    [57_700_000n, "57 ms"],
    [1_500_000_000n, "1.5 s"],
    [180_000_000_000n, "3 min 00 s"],
    [-180_000_000_000n, "-3 min 00 s"],
    [7_260_000_000_000n, "2 h 01 min"],
  ];
  for (const [ns, text] of cases) expect([ns, formatDuration(ns)]).toEqual([ns, text]);
});
