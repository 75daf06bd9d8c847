import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { formatCount } from "../src/format.ts";
import {
  type Event,
  type EventInput,
  type EventType,
  InvalidConditionError,
  inspectRun,
  makeEvent,
  openRunsDb,
  Recorder,
  UnknownFilterKeyError,
  UnknownMetricError,
  UnknownSortKeyError,
} from "../src/index.ts";
import { removeRuns, renameRun } from "../src/manage.ts";
import { MARK_COLUMNS, onPriceScale, priceChart } from "../src/report/charts.ts";
import { computeMetrics, formatMetric, METRICS, type RunMetrics } from "../src/report/metrics.ts";
import { sortEntries, sweepRun } from "../src/report/sweep.ts";
import {
  buildRunReport,
  compareRuns,
  flattenConfig,
  listSweep,
  matches,
  mergeCandles,
  minMaxDownsample,
  openSource,
  pickRuns,
  renderComparison,
  renderRunReport,
  reportRun,
} from "../src/report.ts";
import type { RunRow } from "../src/runs.ts";
import { rsi, sma } from "../src/sim/strategy.ts";
import { SqliteSource } from "../src/store/index.ts";
import {
  FIXTURE_DIR,
  fixtureCopy,
  fixtureTest,
  processedBar,
  recordSweep,
  runRow,
  syntheticComparison,
  tempDir,
} from "./helpers.ts";

const MINUTE = 60_000_000_000n;
const T = 1_709_562_600_000_000_000n;
const at = (i: number) => T + BigInt(i) * MINUTE;

const e = <K extends EventType>(type: K, input: EventInput<K>) => makeEvent(type, input);
const bar = (i: number, close: number, symbol = "X"): Event =>
  e("BarReceived", {
    ts_event_ns: at(i),
    symbol,
    bar_period: "MINUTE",
    open: close,
    high: close + 1,
    low: close - 1,
    close,
    volume: 100n,
  });
const fill = (i: number, side: "BUY" | "SELL", qty: number, price: number, commission: number) =>
  e("FillEvent", {
    ts_event_ns: at(i),
    ts_broker_ns: at(i),
    associated_order_id: `o${i}`,
    broker_order_id: null,
    symbol: "X",
    broker_fill_id: null,
    side,
    quantity_filled: qty,
    fill_price: price,
    commission,
  });
const submit = (id: string, symbol: string) =>
  e("OrderSubmissionRequest", {
    ts_event_ns: at(0),
    system_order_id: id,
    symbol,
    order_type: "MARKET",
    side: "BUY",
    quantity: 1,
    limit_price: null,
    stop_price: null,
    action: null,
    signal: null,
  });
const rejected = (type: "OrderRejected" | "CancellationRejected", id: string) =>
  e(type, {
    ts_event_ns: at(0),
    ts_broker_ns: at(0),
    associated_order_id: id,
    rejection_reason: "UNKNOWN",
    rejection_message: "no",
  });

const RUN = runRow({
  run_id: "crafted",
  name: "crafted <run>",
  ts_start: T,
  ts_end: T + 1_000_000_000n,
  config: '{"strategy":{"fast":3,"slow":9},"symbols":["X"]}',
});

/**
 * Six bar times of X. Worked by hand (average cost, commission apart):
 *  t1 close 100, BUY 10 @ 100 (c 1): long 10 @ 100              equity 10·0 − 1 = −1
 *  t2 close 104, BUY 10 @ 102 (c 1), a partial fill: 20 @ 101   equity 20·3 − 2 = 58
 *  t3 close 98, SELL 30 @ 99 (c 3): realises 20·(99 − 101) = −40, short 10 @ 99
 *                                                               equity −40 + 10 − 5 = −35
 *  t4 close 95                                                  equity −40 + 40 − 5 = −5
 *  t5 close 96, BUY 4 @ 96 (c 0.5): realises 4·3 = 12, short 6  equity −28 + 18 − 5.5 = −15.5
 *  t6 close 97, BUY 6 @ 97 (c 0.5): realises 6·2 = 12, flat     equity −16 − 6 = −22
 * Trip 1: LONG 20, entry 101, exit 99, gross −40, commission 1 + 1 + 3·20/30 = 4, net −44.
 * Trip 2: SHORT 10, entry 99, exit (4·96 + 6·97)/10 = 96.6, gross 24, commission 1 + 1 = 2, net 22.
 */
function craftedEvents(): Event[] {
  return [
    submit("a", "X"),
    submit("b", "Y"),
    rejected("OrderRejected", "b"),
    rejected("OrderRejected", "nowhere"), // its request is not in the run: counted nowhere
    bar(1, 100),
    fill(1, "BUY", 10, 100, 1),
    bar(2, 104),
    fill(2, "BUY", 10, 102, 1),
    bar(3, 98),
    fill(3, "SELL", 30, 99, 3),
    bar(4, 95),
    bar(5, 96),
    fill(5, "BUY", 4, 96, 0.5),
    bar(6, 97),
    fill(6, "BUY", 6, 97, 0.5),
  ];
}

describe("report model of a crafted run", () => {
  const report = buildRunReport(RUN, craftedEvents());

  test("equity is marked to market at every bar time, drawdown from the running peak", () => {
    expect(report.equity.t).toEqual([1, 2, 3, 4, 5, 6].map((i) => Number(at(i) / 1_000_000n)));
    expect(report.equity.equity).toEqual([-1, 58, -35, -5, -15.5, -22]);
    expect(report.equity.commission).toEqual([1, 2, 5, 5, 5.5, 6]);
    expect(report.equity.exposed).toEqual([true, true, true, true, true, false]);
  });

  test("round trips through a partial fill and a reversal, commission shared by quantity", () => {
    const [x] = report.symbols;
    expect(x?.trips).toEqual([
      {
        symbol: "X",
        side: "LONG",
        quantity: 20,
        entryNs: at(1),
        exitNs: at(3),
        entryPrice: 101,
        exitPrice: 99,
        grossPnl: -40,
        commission: 4,
        netPnl: -44,
        fills: 3,
      },
      {
        symbol: "X",
        side: "SHORT",
        quantity: 10,
        entryNs: at(3),
        exitNs: at(6),
        entryPrice: 99,
        exitPrice: 96.6,
        grossPnl: 24,
        commission: 2,
        netPnl: 22,
        fills: 3,
      },
    ]);
  });

  test("a BUY fill of −4 is a SELL of 4, in the trips as in the P&L", () => {
    const run = (side: "BUY" | "SELL", quantity: number) =>
      buildRunReport(RUN, [
        bar(1, 100),
        fill(1, "BUY", 10, 100, 0),
        bar(2, 110),
        fill(2, side, quantity, 110, 0),
        bar(3, 120),
        fill(3, "SELL", 6, 120, 0),
      ]);
    const negative = run("BUY", -4);
    expect(negative.symbols[0]?.trips).toEqual(run("SELL", 4).symbols[0]?.trips as never);
    expect(negative.symbols[0]?.trips[0]).toMatchObject({ exitPrice: 116, grossPnl: 160 });
    expect(negative.metrics).toEqual(run("SELL", 4).metrics);
  });

  test("without bars, an open position is marked at the last fill's price, not the first", () => {
    // Long 10 @ 100, 20 @ 105, then 15 @ 105 after selling 5 @ 120 (+75): marked at 120, +225.
    const report = buildRunReport(RUN, [
      fill(1, "BUY", 10, 100, 0),
      fill(2, "BUY", 10, 110, 0),
      fill(3, "SELL", 5, 120, 0),
    ]);
    expect(report.equity.equity).toEqual([0, 100, 300]);
    expect([report.metrics.totalPnl, report.metrics.maxDrawdown]).toEqual([300, 0]);
  });

  test("a position is marked by its symbol's shortest bar period: an hour's bar may carry a later close", () => {
    const hour = (i: number, close: number) => ({ ...bar(i, close), bar_period: "HOUR" }) as Event;
    const report = buildRunReport(RUN, [
      hour(0, 130), // the hour's bar first (stamped with its start): it marks until a minute's comes
      fill(0, "BUY", 10, 100, 0),
      bar(1, 101),
      hour(1, 130),
      bar(2, 102),
    ]);
    expect(report.equity.equity).toEqual([300, 10, 20]);
  });

  test("the page counts a symbol's trips as the metrics do: closed ones, the open one apart", () => {
    expect(renderRunReport(report)).toContain("Round trips of X (2 closed)</summary>");
    const open = buildRunReport(RUN, [...craftedEvents(), fill(7, "BUY", 1, 97, 0)]);
    expect(renderRunReport(open)).toContain("Round trips of X (2 closed, 1 open)</summary>");
  });

  test("a longer period's bar marks once the shorter period has stopped: its bars no longer freeze the mark", () => {
    const second = (i: number, close: number) =>
      ({
        ...bar(0, close),
        ts_event_ns: T + BigInt(i) * 1_000_000_000n,
        bar_period: "SECOND",
      }) as Event;
    // Long 1 @ 100; one second's bar (101), then minute bars 150, 200 and, an hour on, 210: +110.
    const report = buildRunReport(RUN, [
      fill(0, "BUY", 1, 100, 0),
      second(1, 101),
      bar(1, 150),
      bar(2, 200),
      bar(60, 210),
    ]);
    expect(report.equity.equity).toEqual([0, 1, 50, 100, 110]);
  });

  test("metrics against the hand-computed values", () => {
    const m = report.metrics;
    expect(m.totalPnl).toBe(-22);
    expect(m.realizedPnl).toBe(-16);
    expect(m.commission).toBe(6);
    expect(m.maxDrawdown).toBe(93); // from the peak 58 at t2 to −35 at t3
    expect(m.roundTrips).toBe(2);
    expect(m.winRate).toBe(0.5);
    expect(m.profitFactor).toBe(22 / 44);
    expect(m.exposure).toBe(5 / 6);
    // Equity changes 59, −93, 30, −10.5, −6.5.
    expect(m.meanReturn).toBeCloseTo(-4.2, 12);
    expect(m.stdReturn).toBeCloseTo(57.215164073871186, 9);
    expect(m.sharpeLike).toBeCloseTo(-0.07340711274684679, 12);
  });

  test("changes of 1e299 have a finite spread: their squares would overflow", () => {
    const curve = (scale: number) => ({
      t: [1, 2, 3, 4],
      equity: [0, 1, -1, 2].map((e) => e * scale),
      commission: [0, 0, 0, 0],
      exposed: [true, true, true, true],
    });
    // Changes 1, −2, 3: mean 2/3, sample variance (1/9 + 64/9 + 49/9) / 2 = 19/3.
    const huge = computeMetrics(curve(1e299), []);
    expect((huge.stdReturn as number) / 1e299).toBeCloseTo(Math.sqrt(19 / 3), 12);
    expect(huge.sharpeLike).toBeCloseTo(computeMetrics(curve(1), []).sharpeLike as number, 12);
    const infinite = computeMetrics({ ...curve(1), equity: [0, 1, Infinity, 2] }, []);
    expect([infinite.sharpeLike, formatMetric("sharpeLike", infinite.sharpeLike)]).toEqual([
      null,
      "–",
    ]);
  });

  test("extreme amounts read alike in tables and on axes: four significant digits from 10^15", () => {
    const events = [
      bar(1, 1e299),
      fill(1, "BUY", 4, 1e299, 0),
      bar(2, 1e299),
      fill(2, "SELL", 4, 0, 0),
      bar(3, 2e299),
    ];
    const html = renderRunReport(buildRunReport(RUN, events));
    const texts = [...html.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1] as string);
    const exponents = texts.filter((t) => /e[+-]\d/.test(t));
    expect(exponents).toContain("-4e+299");
    // Not ECharts' own 1.0000000000000006e+299.
    expect(exponents.filter((t) => !/^-?\d(\.\d{1,3})?e[+-]\d+$/.test(t))).toEqual([]);
    expect(formatMetric("profitFactor", 1.6647244856505745e20)).toBe("1.665e+20");
    expect(formatMetric("roundTrips", 14_122)).toBe("14,122");
  });

  test("the legend's sell-fill icon points down, as the sell marks do", () => {
    const html = renderRunReport(report);
    // The sell's icon in the legend: a triangle in the sell colour.
    const legend =
      /<path d="M([\d.]+) ([\d.]+)L([\d.]+) ([\d.]+)L([\d.]+) ([\d.]+)Z"[^>]*fill="#cf222e"[^>]*ecmeta_ssr_type="legend"/g;
    const icons = [...html.matchAll(legend)].map((m) => m.slice(1).map(Number));
    expect(icons.length).toBeGreaterThan(0);
    for (const [, y1, , y2, , y3] of icons) {
      // Two corners at the top, one at the bottom.
      const ys = [y1, y2, y3] as number[];
      expect(ys.filter((y) => y === Math.min(...ys)).length).toBe(2);
    }
  });

  test("per-symbol table: orders and rejections joined through the order id", () => {
    const trading = Object.fromEntries(report.symbols.map((s) => [s.symbol, s.trading]));
    expect(trading.X).toMatchObject({
      orders: 1,
      rejections: 0,
      fills: 5,
      tradedQuantity: 60,
      commission: 6,
      realizedPnl: -16,
      netPnl: -22,
      position: 0,
      averageCost: null,
    });
    expect(trading.Y).toMatchObject({ orders: 1, rejections: 1, fills: 0 });
    expect(report.counts.OrderRejected).toBe(2);
    expect(report.events).toBe(15);
  });

  test("counts in the per-symbol table and the notes are grouped by thousands, as amounts are", () => {
    const busy = [
      ...Array.from({ length: 1_050 }, (_, i) => submit(`o${i}`, "X")),
      ...Array.from({ length: 1_200 }, (_, i) => bar(i + 1, 100)),
    ];
    const html = renderRunReport(buildRunReport(RUN, busy));
    expect(html).toContain(">1,050</td>"); // orders of X
    expect(html).toContain("MINUTE (1,200 bars)");
  });

  test("a profit factor with winning trips and no losing one is ∞, not the – of a run without trips", () => {
    const won = buildRunReport(RUN, [
      bar(1, 100),
      fill(1, "BUY", 5, 100, 0),
      fill(2, "SELL", 5, 110, 0),
      bar(2, 110),
    ]);
    expect(won.metrics).toMatchObject({ roundTrips: 1, winRate: 1 });
    expect(won.metrics.profitFactor).toBe(Number.POSITIVE_INFINITY);
    expect(formatMetric("profitFactor", won.metrics.profitFactor)).toBe("∞");
  });

  test("an open position at the end is an open trip, marked in the equity", () => {
    const open = buildRunReport(RUN, [bar(1, 100), fill(1, "SELL", 5, 100, 0), bar(2, 90)]);
    expect(open.equity.equity).toEqual([0, 50]);
    expect(open.symbols[0]?.trips).toMatchObject([{ side: "SHORT", exitNs: null, grossPnl: 0 }]);
    expect(open.metrics).toMatchObject({ roundTrips: 0, winRate: null, profitFactor: null });
  });

  test("a run without events has a report with empty series and no ratios", () => {
    const empty = buildRunReport(RUN, []);
    expect(empty.metrics).toEqual({
      totalPnl: 0,
      realizedPnl: 0,
      commission: 0,
      maxDrawdown: 0,
      roundTrips: 0,
      winRate: null,
      profitFactor: null,
      exposure: null,
      meanReturn: null,
      stdReturn: null,
      sharpeLike: null,
    });
    expect(renderRunReport(empty)).toContain("nothing to draw");
  });
});

test("the page shows a config's and metadata's integers beyond 2^53 as stored, not rounded", () => {
  const run = {
    ...RUN,
    config: '{"seed":9007199254740993}',
    metadata: '{"lineage":{"copied_at_ns":1796297914176284616}}',
  };
  const html = renderRunReport(buildRunReport(run, []));
  expect(html).toContain("&quot;copied_at_ns&quot;: 1796297914176284616");
  expect(html).toContain("&quot;seed&quot;: 9007199254740993");
});

test("a moving average is drawn on the price scale, an RSI beneath it, also where prices hover about 50", () => {
  const cases: [number, number][] = [
    [50, 25], // the RSI's own range, which a median within the prices' range let onto it
    [300, 150], // the 20,000-bar demo's
    [100, 3],
  ];
  for (const [level, swing] of cases) {
    const t: number[] = [];
    const close: number[] = [];
    const indicators: Record<string, (number | null)[]> = { sma: [], rsi: [] };
    for (let i = 0; i < 5000; i++) {
      t.push(i * 60_000);
      close.push(level + swing * Math.sin(i / 700) + (swing / 20) * Math.sin(i * 1.7));
      const window = close.slice(-21);
      for (const [name, value] of [
        ["sma", sma(window, 20)],
        ["rsi", rsi(window, 14)],
      ] as const) {
        indicators[name]?.push(Number.isFinite(value) ? value : null);
      }
    }
    const bars = {
      t,
      close,
      low: close.map((c) => c - swing / 50),
      high: close.map((c) => c + swing / 50),
    };
    const scale = (name: string) => onPriceScale({ t, y: indicators[name] ?? [] }, bars);
    expect([level, scale("sma"), scale("rsi")]).toEqual([level, true, false]);
  }
});

test("a run that did not complete says so atop its page: failed with its error, cancelled, still running", () => {
  const events = [bar(1, 100), bar(2, 101)];
  const page = (status: RunRow["status"], metadata: string | null = null) =>
    renderRunReport(buildRunReport({ ...RUN, status, metadata }, events));
  const upTo = "its figures cover the events up to <time>2024-03-04T14:32:00Z</time>";
  expect(page("failed", '{"error":"strategy threw <RangeError>"}')).toContain(
    `<p class="banner" role="alert">This run failed: strategy threw &lt;RangeError&gt;. Only ${upTo}.</p>`,
  );
  expect(page("cancelled")).toContain(`This run was cancelled: ${upTo}.`);
  expect(page("running")).toContain(
    `This run is still being recorded (or its recorder stopped without closing it): ${upTo}.`,
  );
  expect(page("completed")).not.toContain('class="banner"');
});

test("the header names the strategy's parameters; the footer what wrote the page, from what, when, and that times are UTC", () => {
  const demo = renderRunReport(buildRunReport(RUN, []));
  expect(demo).toContain("<dt>Parameters</dt><dd><code>fast=3, slow=9</code></dd>");
  expect(demo).toContain("All times, the charts' axes included, are UTC.");
  const backtest = {
    ...RUN,
    config: '{"mode":"backtest","seed":1}',
    metadata: '{"lineage":{"params":{"fastPeriod":3,"seed":9007199254740993,"legs":[1,2]}}}',
  };
  const page = renderRunReport(buildRunReport(backtest, []), {
    source: "runs <a>.db",
    written: new Date(Date.UTC(2026, 11, 3, 12, 0, 0, 250)),
  });
  expect(page).toContain("<code>fastPeriod=3, seed=9007199254740993, legs=[1,2]</code>");
  expect(page).toMatch(
    /<footer class="note">Written by runtape \d+\.\d+\.\d+\S* from <code>runs &lt;a&gt;\.db<\/code> at 2026-12-03T12:00:00Z\. All times/,
  );
  // A store URL given as the source: named without its password, whoever passes it.
  const fromStore = renderRunReport(buildRunReport(backtest, []), {
    source: "postgres://ana:Sup3rSecret@db.example/runs",
    written: new Date(0),
  });
  expect(fromStore).toContain("from <code>postgres://ana:***@db.example/runs</code>");
  expect(fromStore).not.toContain("Sup3rSecret");
  // A comparison page has the same footer.
  const compared = renderComparison(syntheticComparison(3), {
    source: "postgres://ana:Sup3rSecret@db.example/runs",
    written: new Date(Date.UTC(2026, 11, 3, 12, 0, 0)),
  });
  expect(compared).toMatch(
    /<footer class="note">Written by runtape \S+ from <code>postgres:\/\/ana:\*\*\*@db\.example\/runs<\/code> at 2026-12-03T12:00:00Z\. All times/,
  );
});

describe("a price chart at its resolution", () => {
  const minutes = (n: number) => {
    const t = Array.from({ length: n }, (_, i) => 1_709_562_600_000 + i * 60_000);
    const close = t.map((_, i) => 100 + 10 * Math.sin(i / 500));
    const low = close.map((c) => c - 1);
    const high = close.map((c) => c + 1);
    return { period: "MINUTE", t, open: close, high, low, close, indicators: {} };
  };
  const texts = (svg: string) =>
    [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1] as string);

  test("fills of every bar of 20,000 are gathered per column: a few marks a side, the candles seen", () => {
    const series = minutes(20_000);
    const fills = series.t.map((t, i) => ({
      t,
      price: series.close[i] as number,
      quantity: 1 + (i % 3),
      side: i % 2 === 0 ? ("BUY" as const) : ("SELL" as const),
    }));
    const svg = priceChart(series, fills);
    // A mark is a scatter symbol: a triangle path placed by a matrix.
    const marks = (color: string) =>
      svg.match(
        new RegExp(`<path d="M0 -1L1 1L-1 1Z" transform="matrix[^"]*" fill="${color}"`, "g"),
      )?.length ?? 0;
    for (const color of ["#1a7f37", "#cf222e"]) {
      expect(marks(color)).toBeGreaterThan(MARK_COLUMNS / 2);
      expect(marks(color)).toBeLessThanOrEqual(MARK_COLUMNS);
    }
  });

  test("a run of one bar spans a few bar periods, not two days", () => {
    const svg = priceChart(minutes(1), []);
    const times = texts(svg).filter((t) => /\d:\d\d$|[A-Z][a-z]{2} \d/.test(t));
    expect(times.length).toBeGreaterThan(2);
    expect(times.every((t) => /^14:(2\d|3[0-3])$/.test(t))).toBe(true);
  });
});

test("indicators named like members of every object (constructor, __proto__, toString) are lines like any other", () => {
  // JSON.parse makes "__proto__" an own member, as reading it from a run does.
  const odd = JSON.parse('{"constructor": 1, "__proto__": 2, "toString": 3}');
  const events = [processedBar(1, odd), processedBar(2, { x: 4 })];
  const report = buildRunReport(RUN, events);
  const [series] = report.symbols[0]?.prices ?? [];
  const [t1, t2] = events.map((e) => Number(e.ts_event_ns / 1_000_000n)) as [number, number];
  expect(Object.entries(series?.indicators ?? {})).toEqual([
    ["constructor", { t: [t1], y: [1] }],
    ["__proto__", { t: [t1], y: [2] }],
    ["toString", { t: [t1], y: [3] }],
    ["x", { t: [t2], y: [4] }],
  ]);
  // Drawn, they are left as they were: the chart library's text cache once wrote `prev` and
  // `next` onto Object.prototype for the rest of the process.
  const html = renderRunReport(report);
  expect([Object.keys(Object.prototype), Object.keys(Function.prototype)]).toEqual([[], []]);
  for (const name of ["constructor", "__proto__", "toString"]) expect(html).toContain(`>${name}`);
});

describe("downsampling keeps extremes", () => {
  const series = fc
    .array(fc.option(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { nil: null }), {
      minLength: 2,
      maxLength: 3000,
    })
    .map((y) => ({ x: y.map((_, i) => i * 60_000), y }));

  test("min/max per bucket: first, last, lowest, highest and gaps kept, only points of the series", () => {
    fc.assert(
      fc.property(series, fc.integer({ min: 1, max: 200 }), (s, buckets) => {
        const thin = minMaxDownsample(s, buckets);
        // Five per bucket where a gap is kept beside first, lowest, highest and last.
        expect(thin.x.length).toBeLessThanOrEqual(Math.min(s.x.length, 5 * buckets));
        if (s.x.length <= 4 * buckets) expect(thin.x).toEqual(s.x);
        expect(thin.x[0]).toBe(s.x[0] as number);
        expect(thin.x.at(-1)).toBe(s.x.at(-1) as number);
        const finite = (ys: readonly (number | null)[]) =>
          ys.filter((v): v is number => v !== null);
        const all = finite(s.y);
        const kept = finite(thin.y);
        if (all.length > 0) {
          expect(Math.max(...kept)).toBe(Math.max(...all));
          expect(Math.min(...kept)).toBe(Math.min(...all));
        }
        expect(thin.y.includes(null)).toBe(s.y.includes(null));
        // Every kept point is a point of the series, in order.
        const index = new Map(s.x.map((x, i) => [x, i]));
        const positions = thin.x.map((x) => index.get(x) as number);
        expect(positions).toEqual([...positions].sort((a, b) => a - b));
        thin.y.forEach((y, i) => {
          expect(y).toBe(s.y[positions[i] as number] ?? null);
        });
      }),
    );
  });

  test("a one-point spike in a million points survives", () => {
    const n = 1_000_000;
    const y = Array.from({ length: n }, (_, i) => Math.sin(i / 1000));
    y[654_321] = 42;
    y[123_456] = -42;
    const thin = minMaxDownsample({ x: y.map((_, i) => i), y }, 480);
    expect(thin.x.length).toBeLessThanOrEqual(4 * 480);
    expect(thin.x).toContain(654_321);
    expect(thin.x).toContain(123_456);
  });

  test("merged candles keep the highest high and lowest low, first open and last close", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.double({ min: 1, max: 1000, noNaN: true }),
            fc.double({ min: 0, max: 10, noNaN: true }),
          ),
          {
            minLength: 1,
            maxLength: 2000,
          },
        ),
        fc.integer({ min: 1, max: 300 }),
        (bars, buckets) => {
          const candles = {
            x: bars.map((_, i) => i),
            open: bars.map(([p]) => p),
            high: bars.map(([p, d]) => p + d),
            low: bars.map(([p, d]) => p - d),
            close: bars.map(([p, d]) => p + d / 2),
          };
          const merged = mergeCandles(candles, buckets);
          expect(merged.x.length).toBeLessThanOrEqual(buckets);
          expect(Math.max(...merged.high)).toBe(Math.max(...candles.high));
          expect(Math.min(...merged.low)).toBe(Math.min(...candles.low));
          expect(merged.open[0]).toBe(candles.open[0] as number);
          expect(merged.close.at(-1)).toBe(candles.close.at(-1) as number);
        },
      ),
    );
  });
});

describe("a run's report from the database", () => {
  const path = join(tempDir(), "runs.db");
  recordSweep(path, [{ id: "demo-1" }]);

  test("trading matches inspect's, and the trips add up to each symbol's realised P&L", async () => {
    const db = SqliteSource.open(path);
    try {
      const report = await reportRun(db, "demo-1");
      const detail = inspectRun(db.db, "demo-1");
      expect(report.symbols.map((s) => s.trading)).toEqual(detail.trading);
      expect(report.events).toBe(Number(detail.events));
      let checked = 0;
      for (const s of report.symbols) {
        const sum = s.trips.reduce((a, t) => a + t.grossPnl, 0);
        expect(sum).toBeCloseTo(s.trading.realizedPnl, 6);
        checked++;
      }
      expect(checked).toBe(3);
      const realized = detail.trading.reduce((a, t) => a + t.realizedPnl, 0);
      expect(report.metrics.realizedPnl).toBeCloseTo(realized, 6);
    } finally {
      await db.close();
    }
  });

  test("runtape/report opens its own source: the README's example, openSource awaited", async () => {
    const source = await openSource(path);
    try {
      const html = renderRunReport(await reportRun(source, "demo-1"));
      expect(html).toStartWith("<!doctype html>");
      expect(html).toContain("demo-1");
    } finally {
      await source.close();
    }
  });

  test("the HTML is one file with no external reference, its charts inline SVG, its text escaped", async () => {
    const db = SqliteSource.open(path);
    const report = await reportRun(db, "demo-1");
    const html = renderRunReport({ ...report, run: { ...report.run, name: "<b>&" } });
    // A function of the report alone: ECharts' process-wide ids do not leak into the page.
    expect(renderRunReport({ ...report, run: { ...report.run, name: "<b>&" } })).toBe(html);
    await db.close();
    expect(html).not.toMatch(/\b(src|href)\s*=\s*["']?(https?:|\/\/)/i);
    expect(html).not.toMatch(/@import|url\(\s*["']?https?:/i);
    expect(html).toContain("default-src 'none'");
    expect(html.match(/<svg\b/g)?.length).toBe(4); // equity and one price chart per symbol
    expect(html).toContain("&lt;b&gt;&amp;");
    expect(html).not.toContain("<b>&");
  });
});

describe("sweeps", () => {
  test("config flattens to dotted paths; arrays stay whole", () => {
    expect(flattenConfig('{"a":1,"s":{"fast":3,"deep":{"x":null}},"l":[1,2],"b":true}')).toEqual({
      a: 1,
      "s.fast": 3,
      "s.deep.x": null,
      l: "[1,2]",
      b: true,
    });
    expect(flattenConfig(null)).toEqual({});
    expect(flattenConfig("not json")).toEqual({ config: "not json" });
    // A column that holds no JSON object is shown as stored, as inspect shows it.
    expect(flattenConfig("5")).toEqual({ config: "5" });
    expect(flattenConfig("[1,2]")).toEqual({ config: "[1,2]" });
  });

  test("config integers beyond 2^53 flatten exactly, as inspect reads them", () => {
    expect(flattenConfig('{"seed":9007199254740993,"l":[9007199254740993]}')).toEqual({
      seed: 9007199254740993n,
      l: "[9007199254740993]",
    });
  });

  test("config paths named like members of every object are parameters; a run without one has none", () => {
    const odd = flattenConfig('{"constructor": 1, "__proto__": [2], "toString": {"x": 3}}');
    expect(Object.entries(odd)).toEqual([
      ["constructor", 1],
      ["__proto__", "[2]"],
      ["toString.x", 3],
    ]);
    const none = flattenConfig('{"a": 1}');
    const inherited = ["constructor", "__proto__", "toString"];
    expect(inherited.map((k) => none[k])).toEqual([undefined, undefined, undefined]);
    expect(flattenConfig(null).constructor).toBeUndefined();
  });

  const path = join(tempDir(), "sweep.db");
  const grid = [3, 8].flatMap((fast) =>
    [20, 40].map((slow) => ({
      id: `f${fast}-s${slow}`,
      strategy: { fastPeriod: fast, slowPeriod: slow },
    })),
  );
  recordSweep(path, grid);

  test("lists the runs with the parameters that differ, filters and sorts", async () => {
    const db = SqliteSource.open(path);
    try {
      const all = await listSweep(db);
      expect(all.varying).toEqual(["strategy.fastPeriod", "strategy.slowPeriod"]);
      expect(all.entries.map((e) => e.runId).sort()).toEqual(grid.map((g) => g.id).sort());
      const sorted = (await listSweep(db, { sort: "-totalPnl" })).entries.map(
        (e) => e.metrics.totalPnl,
      );
      expect(sorted).toEqual([...sorted].sort((a, b) => b - a));
      expect(new Set(sorted).size).toBe(4); // the parameters change the trading
      const fast3 = await listSweep(db, {
        where: [{ key: "strategy.fastPeriod", value: "3" }],
        sort: "strategy.slowPeriod",
      });
      expect(fast3.entries.map((e) => e.runId)).toEqual(["f3-s20", "f3-s40"]);
      expect(fast3.varying).toEqual(["strategy.slowPeriod"]);
      expect(
        (await listSweep(db, { where: [{ key: "runId", value: "f8-s40" }] })).entries,
      ).toHaveLength(1);
      const unknown = await listSweep(db, { sort: "-nonsense" }).catch((error) => error);
      expect(unknown).toBeInstanceOf(UnknownSortKeyError);
      expect(unknown.message).toStartWith('cannot sort by "nonsense"');
      // What it could sort by instead: the config paths of these runs.
      expect(unknown.params).toContain("strategy.fastPeriod");
      const unfiltered = await listSweep(db, {
        where: [{ key: "strategy.fast", value: "3" }],
      }).catch((error) => error);
      expect(unfiltered).toBeInstanceOf(UnknownFilterKeyError);
      expect(unfiltered.message).toBe(
        'cannot filter on "strategy.fast": no run has this config path',
      );
      expect([unfiltered.params.includes("strategy.fastPeriod"), unfiltered.tags]).toEqual([
        true,
        [],
      ]);
    } finally {
      await db.close();
    }
  });

  test.each([
    [[{ key: "strategy.slowPeriod", op: ">=", value: "40" }], ["f3-s40", "f8-s40"]],
    [[{ key: "strategy.slowPeriod", op: ">", value: "40" }], []],
    [
      [
        { key: "strategy.fastPeriod", op: ">", value: "2.5" },
        { key: "strategy.fastPeriod", op: "<=", value: "3" },
      ],
      ["f3-s20", "f3-s40"],
    ],
    [
      [{ key: "strategy.fastPeriod", op: "<", value: "1e1" }],
      ["f3-s20", "f3-s40", "f8-s20", "f8-s40"],
    ],
    [[{ key: "runId", op: "!=", value: "f3-s20" }], ["f3-s40", "f8-s20", "f8-s40"]],
    [[{ key: "runId", op: ">", value: "0" }], []], // a run id is no number
    [[{ key: "status", op: "=", value: "completed" }], ["f3-s20", "f3-s40", "f8-s20", "f8-s40"]],
  ] as const)("where %j picks %j", async (where, ids) => {
    const db = SqliteSource.open(path);
    try {
      const picked = await pickRuns(db, { where });
      expect(picked.map((r) => r.run_id).sort()).toEqual([...ids]);
    } finally {
      await db.close();
    }
  });

  test("limit keeps the first runs after the sort, computing only theirs where the order needs none; the parameters that vary stay the sweep's", async () => {
    const file = join(tempDir(), "limit.db");
    recordSweep(file, grid);
    const db = SqliteSource.open(file);
    try {
      const heard: number[][] = [];
      const newest = await listSweep(db, {
        limit: 2,
        onProgress: (done, total) => heard.push([done, total]),
      });
      expect(newest.entries.map((e) => e.runId)).toEqual(["f8-s40", "f8-s20"]);
      // Two metrics computed, not four: the newest two of a first listing.
      expect(heard).toEqual([
        [1, 2],
        [2, 2],
      ]);
      // Both of the two shown have fastPeriod 8: still a parameter of the sweep.
      expect(newest.varying).toEqual(["strategy.fastPeriod", "strategy.slowPeriod"]);
      const all = await listSweep(db, { sort: "-totalPnl" });
      expect((await listSweep(db, { sort: "-totalPnl", limit: 3 })).entries).toEqual(
        all.entries.slice(0, 3),
      );
      const slow = await listSweep(db, { sort: "strategy.slowPeriod", limit: 2 });
      expect(slow.entries.map((e) => e.params["strategy.slowPeriod"])).toEqual([20, 20]);
      expect((await listSweep(db, { limit: 10 })).entries).toHaveLength(4);
      for (const limit of [0, -1, 1.5, "2", Number.NaN]) {
        const error = await listSweep(db, { limit: limit as number }).catch((e) => e);
        expect([limit, error.code, error.message]).toEqual([
          limit,
          "INVALID_OPTION",
          expect.stringContaining("expected a whole number ≥ 1"),
        ]);
      }
      const curves: number[] = [];
      await compareRuns(db, {
        sort: "-totalPnl",
        limit: 2,
        onProgress: (_, total, step) => step === "curves" && curves.push(total),
      });
      expect(curves).toEqual([2, 2]);
    } finally {
      await db.close();
    }
  });

  test("a condition on a metric picks by the run's figure; an unknown metric is refused", async () => {
    const db = SqliteSource.open(path);
    try {
      const all = (await listSweep(db)).entries;
      const best = Math.max(...all.map((e) => e.metrics.totalPnl));
      const where = [{ key: "metric.totalPnl", op: ">=", value: String(best) }] as const;
      const picked = await pickRuns(db, { where });
      expect(picked.map((r) => r.run_id)).toEqual(
        all.filter((e) => e.metrics.totalPnl === best).map((e) => e.runId),
      );
      expect((await listSweep(db, { where })).entries.map((e) => e.metrics.totalPnl)).toEqual([
        best,
      ]);
      const luck = await pickRuns(db, { where: [{ key: "metric.luck", value: "1" }] }).catch(
        (error) => error,
      );
      expect([luck instanceof UnknownFilterKeyError, luck.message]).toEqual([
        true,
        'cannot filter on "metric.luck": no such metric',
      ]);
    } finally {
      await db.close();
    }
  });

  test("keys as the CLI names them mean the same from code: run_id, metric.total_pnl, -total_pnl", async () => {
    const db = SqliteSource.open(path);
    try {
      const camel = await listSweep(db, {
        where: [
          { key: "runId", op: "!=", value: "f3-s20" },
          { key: "metric.totalPnl", op: ">", value: "-1e300" },
        ],
        sort: "-totalPnl",
      });
      const snake = await listSweep(db, {
        where: [
          { key: "run_id", op: "!=", value: "f3-s20" },
          { key: "metric.total_pnl", op: ">", value: "-1e300" },
        ],
        sort: "-total_pnl",
      });
      expect(snake.entries.map((e) => e.runId)).toEqual(camel.entries.map((e) => e.runId));
      expect(camel.entries).toHaveLength(3);
      const page = await compareRuns(db, {
        runIds: ["f3-s20", "f8-s40"],
        metric: "sharpe_like" as never,
      });
      expect(page).toContain("Sharpe");
      const luck = compareRuns(db, { runIds: ["f3-s20"], metric: "luck" as never });
      await expect(luck).rejects.toBeInstanceOf(UnknownMetricError);
      await expect(luck).rejects.toThrow('unknown metric "luck"');
    } finally {
      await db.close();
    }
  });

  test('a tag no run has yet works under != ("not yet reviewed"), keys are known from every run, ids count once', async () => {
    const db = SqliteSource.open(path);
    try {
      const untagged = await pickRuns(db, {
        where: [{ key: "tag.reviewed", op: "!=", value: "yes" }],
      });
      expect(untagged.map((r) => r.run_id).sort()).toEqual(grid.map((g) => g.id).sort());
      await expect(
        pickRuns(db, { where: [{ key: "tag.reviewed", value: "yes" }] }),
      ).rejects.toBeInstanceOf(UnknownFilterKeyError);
      const twice = await pickRuns(db, { runIds: ["f8-s40", "latest", "f8-s40"] });
      expect(new Set(twice.map((r) => r.run_id)).size).toBe(twice.length);
      // Typed, its condition quoted as the CLI quotes it: --where "strategy.fastPeriod>abc": …
      const notNumber = pickRuns(db, {
        where: [{ key: "strategy.fastPeriod", op: ">", value: "abc" }],
      });
      await expect(notNumber).rejects.toBeInstanceOf(InvalidConditionError);
      await expect(notNumber).rejects.toThrow(
        'where "strategy.fastPeriod>abc": > compares numbers, and "abc" is none',
      );
    } finally {
      await db.close();
    }
  });

  test("!= picks a run without the tag; a number compares with a tag that reads as one", () => {
    const run = (tags: Record<string, string>) => ({
      runId: "r",
      name: "r",
      status: "completed",
      tsStart: 0n,
      params: { n: 10 },
      tags,
    });
    const untagged = run({});
    const third = run({ stage: "final", round: "3" });
    expect(matches(untagged, [{ key: "tag.stage", op: "!=", value: "final" }])).toBe(true);
    expect(matches(third, [{ key: "tag.stage", op: "!=", value: "final" }])).toBe(false);
    expect(matches(third, [{ key: "tag.round", op: ">=", value: "2" }])).toBe(true);
    expect(matches(untagged, [{ key: "tag.round", op: "<", value: "2" }])).toBe(false);
    expect(matches(third, [{ key: "n", op: ">", value: "9.5" }])).toBe(true);
    expect(matches(third, [{ key: "n", value: "10" }])).toBe(true);
  });

  test("= and != take a number however it is written; a string stays text", () => {
    const run = {
      runId: "r",
      name: "r",
      status: "completed",
      tsStart: 0n,
      params: { n: 3, big: 9007199254740993n, half: 0.5, version: "1.10" },
      tags: {},
    };
    const pick = (key: string, value: string, op?: "=" | "!=") =>
      matches(run, [{ key, value, ...(op ? { op } : {}) }]);
    expect([pick("n", "3.0"), pick("n", "3e0"), pick("n", "3.5"), pick("n", "3.0", "!=")]).toEqual([
      true,
      true,
      false,
      false,
    ]);
    expect([pick("half", ".5"), pick("half", "0.50")]).toEqual([true, true]);
    // Exact against a bigint: 2^53 + 1 is not the double 2^53.
    expect([pick("big", "9007199254740993"), pick("big", "9007199254740992")]).toEqual([
      true,
      false,
    ]);
    expect([pick("version", "1.10"), pick("version", "1.1")]).toEqual([true, false]);
  });

  test("metrics are cached in the file, used while the run is unchanged, recomputed when it changes", async () => {
    const db = SqliteSource.open(path);
    const first = (await listSweep(db)).entries;
    await db.close();
    const raw = new Database(path);
    const cached = raw
      .query("SELECT run_id, metrics FROM runtape_run_metrics ORDER BY run_id")
      .all() as {
      run_id: string;
      metrics: string;
    }[];
    expect(cached.map((r) => r.run_id)).toEqual(grid.map((g) => g.id).sort());
    // A planted value proves the listing reads the cache instead of the events.
    raw
      .query(
        "UPDATE runtape_run_metrics SET metrics = json_set(metrics, '$.totalPnl', 12345) WHERE run_id = 'f3-s20'",
      )
      .run();
    raw.close();
    const again = SqliteSource.open(path);
    const planted = (await listSweep(again, { where: [{ key: "runId", value: "f3-s20" }] }))
      .entries[0];
    expect(planted?.metrics.totalPnl).toBe(12345);
    await again.close();
    // The run changes (its event count no longer matches): the row is stale and recomputed.
    const w = new Database(path);
    w.query("UPDATE runtape_runs SET events = events + 1 WHERE run_id = 'f3-s20'").run();
    w.close();
    const third = SqliteSource.open(path);
    const recomputed = (await listSweep(third, { where: [{ key: "runId", value: "f3-s20" }] }))
      .entries[0];
    await third.close();
    expect(recomputed?.metrics).toEqual(first.find((f) => f.runId === "f3-s20")?.metrics as never);
  });

  test("metrics are cached while another process writes the file, never for a run no longer there", async () => {
    const file = join(tempDir(), "busy.db");
    recordSweep(file, [{ id: "a" }, { id: "b" }]);
    const list = async () => {
      const source = SqliteSource.open(file);
      await listSweep(source);
      await source.close();
    };
    const cached = () => {
      const raw = new Database(file);
      const rows = raw.query("SELECT run_id FROM runtape_run_metrics ORDER BY run_id").all();
      raw.close();
      return rows;
    };
    await list();
    const raw = new Database(file);
    raw.run("DELETE FROM runtape_run_metrics");
    raw.close();
    // A writer (a sweep still recording) holds the write lock as the listing stores, then commits:
    // for 300 ms, well inside the 1 s a cache write waits, so that a loaded machine cannot fail it.
    const writer = Bun.spawn(
      [
        process.execPath,
        "-e",
        `const { Database } = require("bun:sqlite");
        const db = new Database(process.env.FILE);
        db.run("BEGIN IMMEDIATE");
        db.run("CREATE TABLE another_writer (x)");
        require("node:fs").writeSync(1, "held\\n");
        Bun.sleepSync(300);
        db.run("COMMIT");`,
      ],
      { env: { ...process.env, FILE: file }, stdout: "pipe" },
    );
    const reader = writer.stdout.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe("held\n");
    await list();
    expect(await writer.exited).toBe(0);
    expect(cached()).toEqual([{ run_id: "a" }, { run_id: "b" }]);
    // A run removed after its metrics were computed gets no row: no command would remove it.
    const source = SqliteSource.open(file);
    const run = (await source.listRuns()).find((r) => r.run_id === "a") as RunRow;
    const cache = await source.readMetrics([], 1);
    const other = openRunsDb(file, { mode: "write" });
    removeRuns(other, ["a"]);
    other.close();
    expect(await cache.store([{ run, events: 0n, metrics: "{}" }])).toBe(true);
    await source.close();
    expect(cached()).toEqual([{ run_id: "b" }]);
  });

  test("metrics are cached while a run is being recorded into the file", async () => {
    const file = join(tempDir(), "live.db");
    recordSweep(file, [{ id: "done" }]);
    const live = Recorder.start(file, { runId: "live" });
    try {
      live.record(bar(0, 100));
      live.flush();
      // The run's writes sit in the file's log: a reader opens it read-only.
      expect(statSync(`${file}-wal`).size).toBeGreaterThan(0);
      const source = SqliteSource.open(file);
      expect(source.db.access).toBe("read-only");
      await listSweep(source);
      await source.close();
      const raw = new Database(file, { readonly: true });
      expect(raw.query("SELECT run_id FROM runtape_run_metrics").all()).toEqual([
        { run_id: "done" },
      ]);
      raw.close();
    } finally {
      live.close();
    }
  });

  test("a run removed while a sweep is listed or compared is left out, not an error", async () => {
    const file = join(tempDir(), "vanish.db");
    const ids = ["first", "second", "third", "fourth"];
    recordSweep(
      file,
      ids.map((id) => ({ id })),
    );
    const remove = (id: string) => {
      const db = openRunsDb(file, { mode: "write" });
      removeRuns(db, [id]);
      db.close();
    };
    // Newest first: "fourth" is done when "first" goes, before its metrics are computed.
    const sweep = await listSweep(file, {
      onProgress: (done) => done === 1 && remove("first"),
    });
    expect(sweep.entries.map((e) => e.runId)).toEqual(["fourth", "third", "second"]);
    const raw = new Database(file);
    expect(raw.query("SELECT run_id FROM runtape_run_metrics ORDER BY run_id").all()).toEqual([
      { run_id: "fourth" },
      { run_id: "second" },
      { run_id: "third" },
    ]);
    raw.close();
    // The same with the metrics cached: "second" goes as the first curve is drawn.
    const html = await compareRuns(file, {
      onProgress: (done, _, step) => step === "curves" && done === 1 && remove("second"),
    });
    expect(html).toStartWith("<!doctype html>");
  });

  test("a key holding numbers and texts sorts the same whatever the order the runs are listed in", () => {
    const values = [1, "10", "2", 2, 3, 10, 20, "a", "b", "c", Number.NaN, 5n];
    const entries = values.map((k, i) =>
      sweepRun(
        runRow({
          run_id: `r${i}`,
          name: `r${i}`,
          ts_start: 0n,
          ts_end: 1n,
          config: { k } as never,
        }),
      ),
    );
    const order = (list: typeof entries, sort: string) =>
      sortEntries(list, sort).map((e) => e.params.k);
    expect(order(entries, "k")).toEqual([
      1,
      2,
      3,
      5n,
      10,
      20,
      Number.NaN,
      "10",
      "2",
      "a",
      "b",
      "c",
    ]);
    fc.assert(
      fc.property(fc.shuffledSubarray(entries, { minLength: entries.length }), (shuffled) => {
        expect(order(shuffled, "k")).toEqual(order(entries, "k"));
        expect(order(shuffled, "-k")).toEqual(order(entries, "k").reverse());
      }),
    );
  });

  test("rm and rename carry the cached metrics along", async () => {
    const file = join(tempDir(), "manage.db");
    recordSweep(file, [{ id: "keep" }, { id: "gone" }]);
    const source = SqliteSource.open(file);
    const before = await listSweep(source);
    await source.close();
    const db = openRunsDb(file, { mode: "write" });
    renameRun(db, "keep", "kept");
    removeRuns(db, ["gone"]);
    const rows = db.sqlite.query("SELECT run_id FROM runtape_run_metrics").all();
    db.close();
    expect(rows).toEqual([{ run_id: "kept" }]);
    const after = SqliteSource.open(file);
    const [kept] = (await listSweep(after)).entries;
    await after.close();
    expect(kept?.metrics).toEqual(before.entries.find((e) => e.runId === "keep")?.metrics as never);
  });

  test("the comparison page overlays the equity curves and draws the heatmap over two parameters", async () => {
    const db = SqliteSource.open(path);
    try {
      const html = await compareRuns(db, { metric: "winRate" });
      expect(html.match(/<svg\b/g)?.length).toBe(2);
      expect(html).toContain("Win rate by strategy.fastPeriod and strategy.slowPeriod");
      for (const g of grid) expect(html).toContain(g.id);
      const two = await compareRuns(db, { runIds: ["f3-s20", "f3-s40"] });
      expect(two).toContain("exactly two parameters vary; here 1 do");
    } finally {
      await db.close();
    }
  });

  test("compareRuns tells its progress: each run's metrics, then each run's curve", async () => {
    const db = SqliteSource.open(path);
    const seen: string[] = [];
    try {
      await compareRuns(db, {
        onProgress: (done, total, step) => seen.push(`${step} ${done}/${total}`),
      });
    } finally {
      await db.close();
    }
    const steps = (step: string) => [1, 2, 3, 4].map((i) => `${step} ${i}/4`);
    expect(seen).toEqual([...steps("metrics"), ...steps("curves")]);
  });

  fixtureTest("a Python-written file is listed without a byte of it changed", async () => {
    const copy = fixtureCopy();
    const before = readFileSync(copy);
    const db = SqliteSource.open(copy);
    const sweep = await listSweep(db);
    await db.close();
    expect(sweep.entries.length).toBeGreaterThan(0);
    expect(readFileSync(copy).equals(before)).toBe(true);
  });
});

/** A chart of a comparison page by its label: its height and the texts it draws. */
function chartOf(html: string, label: string) {
  const svg = new RegExp(`aria-label="${label}">(<svg[\\s\\S]*?</svg>)`).exec(html)?.[1] ?? "";
  return {
    svg,
    height: Number(/<svg[^>]*\bheight="(\d+)"/.exec(svg)?.[1]),
    texts: [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1] as string),
  };
}

describe("a comparison of many runs (made in memory)", () => {
  const id = (i: number) => `run-${String(i).padStart(4, "0")}`;
  const overlay = (html: string) => {
    const chart = chartOf(html, "Equity curves of the runs overlaid");
    return { ...chart, named: chart.texts.filter((t) => t.startsWith("run-")) };
  };

  // 1,000 in the browser (test/report-browser.test.ts).
  test("up to 12 curves each has a colour and a legend entry; beyond, the rest grey, the 5 highest and 5 lowest named, the chart as tall at 40 as at 13", () => {
    const few = overlay(renderComparison(syntheticComparison(5)));
    expect(few.named).toEqual([0, 1, 2, 3, 4].map(id));
    const heights: number[] = [];
    for (const n of [13, 40]) {
      const html = renderComparison(syntheticComparison(n));
      const chart = overlay(html);
      // By total P&L, descending: run i ends at 10·(i − n/2).
      const named = [n - 1, n - 2, n - 3, n - 4, n - 5, 4, 3, 2, 1, 0].map(id);
      expect([n, chart.named]).toEqual([n, named]);
      expect(html).toContain(
        `${formatCount(n)} curves, one per run, in grey; in colour and named: the 5 highest and the 5 lowest by Total P&amp;L.`,
      );
      // The others all drawn, each a stroke of its own in the one grey path.
      const grey = /<path d="([^"]*)"[^>]*stroke="#8c959f"/.exec(chart.svg)?.[1] ?? "";
      expect([n, grey.match(/M/g)?.length]).toEqual([n, n - 10]);
      heights.push(chart.height);
    }
    expect(heights[0]).toBeLessThan(450);
    expect(heights).toEqual([heights[0], heights[0]] as number[]);
  });

  test("a grey run without a curve (only rejections) adds nothing to the time axis", () => {
    const c = syntheticComparison(13);
    // run-0006 is neither among the 5 highest nor the 5 lowest: grey.
    const curves = c.curves.map((k) =>
      k.name === id(6) ? { name: k.name, curve: { t: [], equity: [] } } : k,
    );
    const chart = overlay(renderComparison({ ...c, curves }));
    // The curves span an hour on 2024-03-04: the axis reads hours of it, not years since 1970.
    expect(chart.texts.filter((t) => /19[789]\d|20[01]\d/.test(t))).toEqual([]);
    expect(chart.texts).toContain("15:00");
  });
});

describe("a heatmap of many runs (made in memory)", () => {
  const heatmap = (grid: number, metric: keyof RunMetrics = "totalPnl") => {
    // One curve is enough: the heatmap is drawn from the metrics.
    const c = syntheticComparison(grid * grid, grid);
    const html = renderComparison({ ...c, curves: c.curves.slice(0, 1), metric });
    return { ...chartOf(html, `Heatmap of ${METRICS[metric].label.replace("&", "&amp;")}`), c };
  };
  /** The fill of each cell, in the order of the runs. */
  const fills = (svg: string) =>
    [...svg.matchAll(/<path d="M[^"]*" fill="([^"]*)" stroke="#fff"/g)].map((m) => m[1]);
  const RED = "rgb(207,34,46)";
  const GREEN = "rgb(26,127,55)";

  test("colours say better or worse: the deepest drawdown red, the shallowest green, the scale over their range", () => {
    const { svg, texts, c } = heatmap(5, "maxDrawdown");
    const drawdowns = c.entries.map((e) => e.metrics.maxDrawdown);
    const worst = Math.max(...drawdowns);
    const best = Math.min(...drawdowns);
    const cells = fills(svg);
    expect(cells[drawdowns.indexOf(worst)]).toBe(RED);
    expect(cells[drawdowns.indexOf(best)]).toBe(GREEN);
    // The legend's ends are the values' own: no negative drawdown.
    expect(texts).toContain(formatMetric("maxDrawdown", best));
    expect(texts).not.toContain(formatMetric("maxDrawdown", -worst));
    // P&L stays centred on 0: the largest loss (the largest amount here) red.
    const pnl = heatmap(5);
    const totals = pnl.c.entries.map((e) => e.metrics.totalPnl);
    expect(fills(pnl.svg)[totals.indexOf(Math.min(...totals))]).toBe(RED);
    expect(pnl.texts).toContain(formatMetric("totalPnl", -Math.max(...totals.map(Math.abs))));
  });

  test("a cell of runs that share their parameters (a re-run, a copy) says it is their mean, and of how many", () => {
    const c = syntheticComparison(9, 3);
    const first = c.entries[0] as (typeof c.entries)[number];
    // A re-run of the first pair of parameters, its P&L 100 higher.
    const rerun = {
      ...first,
      runId: "rerun",
      metrics: { ...first.metrics, totalPnl: first.metrics.totalPnl + 100 },
    };
    const html = renderComparison({ ...c, entries: [...c.entries, rerun], curves: [] });
    const { texts } = chartOf(html, "Heatmap of Total P&amp;L");
    expect(texts).toContain(formatMetric("totalPnl", first.metrics.totalPnl + 50));
    expect(texts).toContain("mean of 2");
    expect(html).toContain(
      "1 cell of 9 is the mean of runs with the same parameters (re-runs or copies), its label saying of how many: p.x=0, p.y=0 (2 runs).",
    );
  });

  test("a profit factor without a losing trip is ∞: the best cell's colour, its label ∞, the scale over the finite ones", () => {
    const c = syntheticComparison(9, 3);
    const entries = c.entries.map((e, i) => ({
      ...e,
      metrics: { ...e.metrics, profitFactor: i === 4 ? Number.POSITIVE_INFINITY : 1 + i / 10 },
    }));
    const html = renderComparison({ ...c, entries, curves: [], metric: "profitFactor" });
    const { svg, texts } = chartOf(html, "Heatmap of Profit factor");
    expect(texts).toContain("∞");
    // The scale spans 1 to 1.8, the finite values: ∞ and the highest of them alike green.
    expect([fills(svg)[0], fills(svg)[4], fills(svg)[8]]).toEqual([RED, GREEN, GREEN]);
  });

  // 60 × 60 in the browser (test/report-browser.test.ts).
  test("a 20 × 20 grid is no taller than 560 px and drops the cells' labels; a 5 × 5 keeps them", () => {
    const small = heatmap(5);
    const cells = (svg: string) => svg.match(/<path d="M[^"]*"[^>]*stroke="#fff"/g)?.length;
    expect(cells(small.svg)).toBe(25);
    // Each cell labelled with its total P&L (run i ends at 10·(i − 12.5)).
    expect(small.texts).toContain(formatMetric("totalPnl", 10 * (24 - 12.5)));
    const large = heatmap(20);
    expect(cells(large.svg)).toBe(400);
    expect(large.height).toBeLessThanOrEqual(560);
    // Axis labels and names only: no cell's value.
    expect(large.texts.filter((t) => t.includes(".")).length).toBeLessThan(5);
    expect(large.texts.length).toBeLessThan(50);
  });
});

describe("round trips against the Python dashboard's", () => {
  fixtureTest(
    "the reference fixture's SPX/MSFT run: every trip as the dashboard lists it",
    async () => {
      // Here the dashboard's definitions and runtape's coincide on every trip. In the other run
      // they do not, by definition: the dashboard keeps one trip through a zero crossing (runtape
      // splits it) and its trip P&L is not that of the fills (AAPL's first LONG, whose fills net
      // 1,064.41, it lists as 1,241.31); runtape's is inspect's, at fill prices by average cost.
      const runId = "2026-11-23_20-03-14_SMA Crossover";
      // Times as text before parsing: above 2^53, a JSON number would not keep them exact.
      const text = readFileSync(join(FIXTURE_DIR, "dashboard_expected.json"), "utf8").replace(
        /("(?:entry|exit)_ts":\s*)(\d+)/g,
        '$1"$2"',
      );
      const expected = (
        JSON.parse(text) as { get_roundtrips: Record<string, Record<string, number | string>[]> }
      ).get_roundtrips[runId] as Record<string, number | string>[];
      const source = SqliteSource.open(fixtureCopy());
      const report = await reportRun(source, runId);
      await source.close();
      const trips = report.symbols
        .flatMap((s) => s.trips)
        .filter((t) => t.exitNs !== null)
        .sort((a, b) => (a.entryNs < b.entryNs ? -1 : a.entryNs > b.entryNs ? 1 : 0));
      const sorted = [...expected].sort((a, b) =>
        BigInt(a.entry_ts as string) < BigInt(b.entry_ts as string) ? -1 : 1,
      );
      expect(trips).toHaveLength(23);
      const mine: unknown[][] = trips.map((t) => [
        t.symbol,
        t.side,
        t.quantity,
        String(t.entryNs),
        String(t.exitNs),
        t.grossPnl.toFixed(2),
        t.netPnl.toFixed(2),
      ]);
      expect(mine).toEqual(
        sorted.map((e) => [
          e.symbol,
          e.direction,
          e.max_position,
          e.entry_ts,
          e.exit_ts,
          Number(e.pnl_before_commission).toFixed(2),
          Number(e.pnl_after_commission).toFixed(2),
        ]),
      );
    },
  );
});
