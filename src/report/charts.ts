/**
 * Charts as SVG text, drawn by Apache ECharts on the server: no DOM, no canvas, no script in the
 * page, so a report reads with JavaScript off and inside the compiled binary. Series arrive here
 * already thinned (see downsample.ts); ECharts draws what it is given.
 */
import { CandlestickChart, HeatmapChart, LineChart, ScatterChart } from "echarts/charts";
import {
  GridComponent,
  LegendComponent,
  TitleComponent,
  VisualMapComponent,
} from "echarts/components";
import * as echarts from "echarts/core";
import { SVGRenderer } from "echarts/renderers";
import { BAR_PERIOD_NS, type BarPeriod } from "../events/catalog.ts";
import { formatTick } from "../format.ts";
import { mergeCandles, minMaxDownsample, type Series } from "./downsample.ts";
import { drawdownOf } from "./metrics.ts";
import type { EquityCurve, FillMark, PriceSeries } from "./model.ts";

echarts.use([
  LineChart,
  CandlestickChart,
  ScatterChart,
  HeatmapChart,
  GridComponent,
  LegendComponent,
  TitleComponent,
  VisualMapComponent,
  SVGRenderer,
]);

/** Chart width in pixels; the SVG scales to the page by its viewBox. */
export const CHART_WIDTH = 960;
/** Columns of the min/max downsampling: two per pixel is finer than the eye. */
const BUCKETS = CHART_WIDTH / 2;
/**
 * Points of the grey curves of a comparison all together (each at most 4 per bucket): some
 * megabytes of page at most, where every curve at full resolution made 13 MB of 960 runs.
 */
const GREY_POINTS = 160_000;
/** Buckets of a grey curve at the least: its shape, if not its every wiggle. */
const MIN_GREY_BUCKETS = 10;

/**
 * Buckets (see minMaxDownsample) of a curve in a comparison's equity chart: the chart's width for
 * a named one, a share of GREY_POINTS for each of `greys` grey ones.
 */
export function overlayBuckets(named: boolean, greys: number): number {
  if (named) return BUCKETS;
  const share = Math.floor(GREY_POINTS / (4 * Math.max(1, greys)));
  return Math.max(MIN_GREY_BUCKETS, Math.min(BUCKETS, share));
}

/** Candles drawn at most: wider ones merge consecutive bars (first open, high, low, last close). */
const MAX_CANDLES = 240;
/**
 * Columns of fill marks per side: a mark is some 8 px wide, so one per 8 px column. Beyond, the
 * fills of a column are one mark (at their mean price, sized by their total quantity): 600
 * triangles a side on a 20,000-bar run covered every candle.
 */
export const MARK_COLUMNS = CHART_WIDTH / 8;

const COLORS = {
  up: "#1a7f37",
  down: "#cf222e",
  line: "#0969da",
  muted: "#8c959f",
  // Twelve: as many as a comparison names (MAX_NAMED_CURVES), each in a colour of its own.
  palette: [
    "#0969da",
    "#bf8700",
    "#8250df",
    "#1a7f37",
    "#cf222e",
    "#57606a",
    "#e16f24",
    "#1b7c83",
    "#bf3989",
    "#7d4e00",
    "#0a3069",
    "#6b8e23",
  ],
};

const TEXT = { fontFamily: "system-ui, sans-serif", fontSize: 11, color: "#57606a" };

/** Names every plain object has: Object.prototype's own members ("constructor", "__proto__", …). */
const INHERITED = new Set(Object.getOwnPropertyNames(Object.prototype));

/**
 * `option` with each text that names a member of every object followed by a zero-width space.
 * zrender caches text measurements in plain objects keyed by the text: "constructor" or
 * "__proto__" (an indicator's name, a symbol, a run id) reads that member as a cache entry and
 * links it in, writing `prev` and `next` onto Object.prototype itself for the rest of the process.
 */
function safeTexts(value: unknown): unknown {
  if (typeof value === "string") return INHERITED.has(value) ? `${value}\u200b` : value;
  if (Array.isArray(value)) return value.map(safeTexts);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, safeTexts(v)]));
}

function render(height: number, option: Record<string, unknown>): string {
  const chart = echarts.init(null, null, {
    renderer: "svg",
    ssr: true,
    width: CHART_WIDTH,
    height,
  });
  try {
    // Times in UTC, as the page writes them: not the time zone of the machine that made it.
    chart.setOption({
      animation: false,
      useUTC: true,
      textStyle: TEXT,
      color: COLORS.palette,
      ...(safeTexts(option) as Record<string, unknown>),
    });
    return chart.renderToSVGString();
  } finally {
    chart.dispose();
  }
}

/**
 * The width of `text` in pixels at `size` px, as a wide sans-serif draws it (DejaVu Sans, Linux's
 * usual system-ui). ECharts, measuring without a canvas, took Arial's narrower widths and laid out
 * legend entries that ran into each other and axis labels that ran off the chart's edge; it now
 * measures by this (below), as the margins here do. Where the font is narrower, a little room is
 * left over.
 */
function textWidth(text: string, size = 12): number {
  let em = 0;
  for (const c of text) em += charEm(c);
  return em * size;
}

function charEm(c: string): number {
  if (c >= "0" && c <= "9") return 0.64;
  if (c >= "A" && c <= "Z") return 0.72;
  if (c >= "a" && c <= "z") return 0.6;
  if (" .,:;'|!".includes(c)) return 0.34;
  if ("-_()[]/".includes(c)) return 0.5;
  return c.charCodeAt(0) < 128 ? 0.84 : 1;
}

// Process-wide: ECharts keeps one platform. Only its measuring without a canvas changes.
echarts.setPlatformAPI({
  measureText: (text, font) => ({
    width: textWidth(text, Number(/(\d+(?:\.\d+)?)px/.exec(font ?? "")?.[1] ?? 12)),
  }),
});

/**
 * The left margin of charts whose value axes span `values`: room for the widest label, which the
 * axis' rounder ends (two significant digits) stand for, and 70 px at the least. The grids of one
 * chart share it, so that their time axes stay aligned.
 */
function leftFor(...values: readonly (readonly (number | null)[])[]): number {
  let low = 0;
  let high = 0;
  for (const list of values) {
    for (const v of list) {
      if (v === null || !Number.isFinite(v)) continue;
      if (v < low) low = v;
      if (v > high) high = v;
    }
  }
  const label = (v: number) => textWidth(formatTick(Number(v.toPrecision(2))));
  return Math.max(70, Math.ceil(Math.max(label(low), label(high))) + 10);
}

/** The gap between a legend's items, and the height of a row of them as ECharts lays them out. */
const LEGEND_GAP = 16;
const LEGEND_ROW_PX = 32;

/**
 * How far a chart's plots move down for its legend of `names`: a row for each past the first, its
 * items (a 25 px symbol, 5 px, the name) wrapped LEGEND_GAP apart as ECharts wraps them, measured
 * as ECharts measures them (textWidth).
 */
function legendDrop(names: readonly string[]): number {
  const width = CHART_WIDTH - 10;
  let rows = 1;
  let used = 0;
  for (const name of names) {
    const item = 30 + textWidth(name);
    if (used > 0 && used + LEGEND_GAP + item > width) {
      rows++;
      used = item;
    } else used += (used > 0 ? LEGEND_GAP : 0) + item;
  }
  return LEGEND_ROW_PX * (rows - 1);
}

const pairs = (s: Series) => s.x.map((x, i) => [x, s.y[i] ?? null]);
const timeAxis = (gridIndex: number, show = true) => ({
  type: "time",
  gridIndex,
  // A new day reads as its date (Mar 5), not as the bare day of the month ECharts writes.
  axisLabel: { show, hideOverlap: true, formatter: { day: "{MMM} {d}" } },
  splitLine: { show: false },
});
/** A value axis; a short panel gets few ticks, so that their labels do not overlap. */
const valueAxis = (gridIndex: number, splitNumber = 5) => ({
  type: "value",
  gridIndex,
  scale: true,
  splitNumber,
  axisLabel: { formatter: formatTick },
  splitLine: { lineStyle: { color: "#eaeef2" } },
});

/** Equity (net of commission) and commission paid above, drawdown beneath, on one time axis. */
export function equityChart(curve: EquityCurve): string {
  const thin = (y: readonly number[]) => pairs(minMaxDownsample({ x: curve.t, y }, BUCKETS));
  const drawdown = drawdownOf(curve.equity);
  const left = leftFor(curve.equity, curve.commission, drawdown);
  return render(380, {
    legend: { top: 0, itemGap: 24, data: ["equity", "commission paid", "drawdown"] },
    grid: [
      { left, right: 20, top: 30, height: 210 },
      { left, right: 20, top: 280, height: 70 },
    ],
    xAxis: [timeAxis(0, false), timeAxis(1)],
    yAxis: [valueAxis(0), valueAxis(1, 2)],
    series: [
      {
        name: "equity",
        type: "line",
        data: thin(curve.equity),
        showSymbol: false,
        lineStyle: { width: 1.5, color: COLORS.line },
        itemStyle: { color: COLORS.line },
      },
      {
        name: "commission paid",
        type: "line",
        data: thin(curve.commission),
        showSymbol: false,
        lineStyle: { width: 1, type: "dashed", color: COLORS.muted },
        itemStyle: { color: COLORS.muted },
      },
      {
        name: "drawdown",
        type: "line",
        xAxisIndex: 1,
        yAxisIndex: 1,
        data: thin(drawdown),
        showSymbol: false,
        lineStyle: { width: 1, color: COLORS.down },
        itemStyle: { color: COLORS.down },
        areaStyle: { color: COLORS.down, opacity: 0.25 },
      },
    ],
  });
}

/** Values of an indicator that decide its scale at most: a sample of a long run is as telling. */
const SCALE_SAMPLE = 5000;

/** Values of an indicator below which the range alone decides its scale. */
const MIN_TRACKED = 50;

const medianOf = (values: number[]): number => {
  values.sort((a, b) => a - b);
  return values[Math.floor(values.length / 2)] ?? Number.NaN;
};

/**
 * Whether an indicator is a price (a moving average, a band), drawn over the candles, or a figure
 * of a scale of its own (an RSI, 0 to 100), drawn in a panel beneath. A price stays within the
 * bars' range: 9 in 10 of its values lie between the lowest low and the highest high, give or
 * take a tenth of their span. And it tracks its bar: it is typically nearer that bar's close than
 * a close is to the run's median close (judged on MIN_TRACKED values at least). Where prices
 * hover about 50, an RSI may pass the first test (a median within the range was all it took, and
 * drew it over the candles) but not the second.
 */
export function onPriceScale(
  line: { t: readonly number[]; y: readonly (number | null)[] },
  bars: Pick<PriceSeries, "t" | "low" | "high" | "close">,
): boolean {
  const closeAt = new Map(bars.t.map((t, i) => [t, bars.close[i] as number]));
  const step = Math.max(1, Math.floor(line.t.length / SCALE_SAMPLE));
  const points: [number, number][] = [];
  for (let i = 0; i < line.t.length; i += step) {
    const value = line.y[i];
    const close = closeAt.get(line.t[i] as number);
    if (value !== null && value !== undefined && close !== undefined) points.push([value, close]);
  }
  // No value yet (a slow average of a short run): nothing to draw, and no empty panel for it.
  if (points.length === 0) return true;
  let low = Number.POSITIVE_INFINITY;
  let high = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < bars.t.length; i++) {
    low = Math.min(low, bars.low[i] as number);
    high = Math.max(high, bars.high[i] as number);
  }
  const pad = Math.max(high - low, Math.abs(high) * 1e-6) / 10;
  const within = points.filter(([v]) => v >= low - pad && v <= high + pad).length;
  if (within < 0.9 * points.length) return false;
  // A few values (a slow average's tail of a short run, lagging a trend) tell too little.
  if (points.length < MIN_TRACKED) return true;
  const closes = bars.close.filter((_, i) => i % step === 0);
  const typical = medianOf([...closes]);
  const offBar = medianOf(points.map(([v, close]) => Math.abs(v - close)));
  return offBar <= medianOf(closes.map((close) => Math.abs(close - typical)));
}

/** A triangle pointing down, as the sell marks do. */
const SELL_ICON = "path://M0,0L2,0L1,2Z";

/** A mark of one or more fills of a side: [time, price, quantity, fills]. */
type Mark = [number, number, number, number];

/**
 * The marks of one side: each fill, or, with more than MARK_COLUMNS of them, the fills of each
 * time column as one, at their quantity-weighted mean time and price, their quantities summed.
 */
function marksOf(fills: readonly FillMark[], side: "BUY" | "SELL"): Mark[] {
  const mine = fills.filter((f) => f.side === side);
  if (mine.length <= MARK_COLUMNS) return mine.map((f) => [f.t, f.price, f.quantity, 1]);
  const t0 = (mine[0] as FillMark).t;
  const span = Math.max(1, (mine.at(-1) as FillMark).t - t0);
  const columns = new Map<number, Mark>();
  for (const f of mine) {
    const column = Math.min(MARK_COLUMNS - 1, Math.floor(((f.t - t0) / span) * MARK_COLUMNS));
    // Weighted sums here, divided below; a fill of no quantity still counts, by a tiny weight.
    const w = Math.max(Math.abs(f.quantity), 1e-9);
    const sum = columns.get(column) ?? [0, 0, 0, 0];
    columns.set(column, [sum[0] + w * f.t, sum[1] + w * f.price, sum[2] + w, sum[3] + 1]);
  }
  return [...columns.values()].map(([t, price, q, n]) => [t / q, price / q, q, n]);
}

/** Bar periods an axis spans at the least: one bar is a candle among room, not 1.5 days wide. */
const MIN_PERIODS = 6;

/**
 * The price of one symbol and period (candles, merged when there are many bars), its indicators
 * as lines (those off the price scale in a panel beneath) and every fill marked: an up triangle
 * per buy, a down triangle per sell, sized by quantity.
 */
export function priceChart(series: PriceSeries, fills: readonly FillMark[]): string {
  const candles = mergeCandles({ ...series, x: series.t }, MAX_CANDLES);
  const names = Object.keys(series.indicators).sort();
  const lines = new Map(
    names.map((n) => {
      const { t = [], y = [] } = series.indicators[n] ?? {};
      return [n, minMaxDownsample({ x: t, y }, BUCKETS)] as const;
    }),
  );
  // Decided on the values as recorded, each beside its own bar's close.
  const overlay = names.filter((n) =>
    onPriceScale(series.indicators[n] ?? { t: [], y: [] }, series),
  );
  const below = names.filter((n) => !overlay.includes(n));
  const hasPanel = below.length > 0;
  const sides = { BUY: marksOf(fills, "BUY"), SELL: marksOf(fills, "SELL") };
  const gathered = sides.BUY.length + sides.SELL.length < fills.length;
  const biggest = [...sides.BUY, ...sides.SELL].reduce((max, m) => Math.max(max, m[2]), 1);
  // Gathered marks are many and close together: smaller and lighter, so the candles show.
  const [least, most] = gathered ? [4, 6] : [6, 8];
  const marks = (side: "BUY" | "SELL") => ({
    name: side === "BUY" ? "buy fill" : "sell fill",
    type: "scatter",
    symbol: "triangle",
    symbolRotate: side === "BUY" ? 0 : 180,
    symbolSize: (value: number[]) => least + most * Math.sqrt((value[2] ?? 0) / biggest),
    itemStyle: {
      color: side === "BUY" ? COLORS.up : COLORS.down,
      opacity: gathered ? 0.6 : 0.85,
    },
    data: sides[side],
    z: 5,
  });
  const left = leftFor(candles.low, candles.high, ...[...lines.values()].map((l) => l.y));
  // A run of few bars: the axis spans MIN_PERIODS bar periods about them.
  const period = Number(BAR_PERIOD_NS[series.period as BarPeriod] ?? 0n) / 1e6;
  const first = series.t[0] ?? 0;
  const last = series.t.at(-1) ?? 0;
  const pad = (MIN_PERIODS * period - (last - first)) / 2;
  const extent = pad > 0 ? { min: first - pad, max: last + pad } : {};
  // ECharts sizes a lone candle by the axis, not by its period: 70 % of a period's width at most.
  const candleWidth = pad > 0 ? (0.7 * (CHART_WIDTH - left - 20)) / MIN_PERIODS : undefined;
  const time = (grid: number, show = true) => ({ ...timeAxis(grid, show), ...extent });
  const line = (name: string, grid: number) => ({
    name,
    type: "line",
    xAxisIndex: grid,
    yAxisIndex: grid,
    showSymbol: false,
    connectNulls: false,
    lineStyle: { width: 1.2 },
    z: 3,
    data: pairs(lines.get(name) ?? { x: [], y: [] }),
  });
  const legend = legendDrop(["price", ...names, "buy fill", "sell fill"]);
  return render((hasPanel ? 420 : 320) + legend, {
    legend: {
      top: 0,
      itemGap: LEGEND_GAP,
      // The legend draws a symbol unrotated: the sell's down triangle is a path of its own.
      data: ["price", ...overlay, ...below, "buy fill", { name: "sell fill", icon: SELL_ICON }],
    },
    grid: hasPanel
      ? [
          { left, right: 20, top: 30 + legend, height: 250 },
          { left, right: 20, top: 310 + legend, height: 80 },
        ]
      : [{ left, right: 20, top: 30 + legend, height: 250 }],
    xAxis: hasPanel ? [time(0, false), time(1)] : [time(0)],
    yAxis: hasPanel ? [valueAxis(0), valueAxis(1, 2)] : [valueAxis(0)],
    series: [
      {
        name: "price",
        type: "candlestick",
        barMaxWidth: candleWidth,
        data: candles.x.map((x, i) => [
          x,
          candles.open[i],
          candles.close[i],
          candles.low[i],
          candles.high[i],
        ]),
        itemStyle: {
          color: COLORS.up,
          color0: COLORS.down,
          borderColor: COLORS.up,
          borderColor0: COLORS.down,
        },
      },
      ...overlay.map((n) => line(n, 0)),
      ...below.map((n) => line(n, 1)),
      marks("BUY"),
      marks("SELL"),
    ],
  });
}

/**
 * Equity curves of several runs on one time axis. Those of `named` (in its order) get a colour
 * and a legend entry; the others are drawn thin and grey, all in one series (a gap between runs),
 * behind them. The legend has the named only, so the chart's height does not grow with the runs.
 */
export function overlayChart(
  curves: readonly { name: string; curve: Pick<EquityCurve, "t" | "equity"> }[],
  named: readonly string[],
): string {
  const left = leftFor(...curves.map(({ curve }) => curve.equity));
  const legend = legendDrop(named);
  const byName = new Map(curves.map((c) => [c.name, c.curve]));
  const others = new Set(named);
  const grey = curves.filter((c) => !others.has(c.name));
  const thin = (curve: Pick<EquityCurve, "t" | "equity">, isNamed: boolean) =>
    pairs(minMaxDownsample({ x: curve.t, y: curve.equity }, overlayBuckets(isNamed, grey.length)));
  // Slate reads as one of the grey curves: not a colour of a named one among them.
  const palette = grey.length > 0 ? COLORS.palette.filter((c) => c !== "#57606a") : COLORS.palette;
  return render(360 + legend, {
    legend: { top: 0, type: "plain", itemGap: LEGEND_GAP, data: [...named] },
    grid: { left, right: 20, top: 40 + legend, bottom: 30 },
    xAxis: timeAxis(0),
    yAxis: valueAxis(0),
    series: [
      ...(grey.length > 0
        ? [
            {
              name: "other runs",
              type: "line",
              showSymbol: false,
              silent: true,
              z: 1,
              lineStyle: { width: 0.6, color: COLORS.muted, opacity: 0.45 },
              // A gap (null) after each curve parts it from the next; a run without a curve (only
              // rejections) adds no point at all, else a time of 0 would stretch the axis to 1970.
              data: grey.flatMap(({ curve }) => {
                const end = curve.t.at(-1);
                return end === undefined ? [] : [...thin(curve, false), [end, null]];
              }),
            },
          ]
        : []),
      ...named.map((name, i) => {
        const color = palette[i % palette.length];
        return {
          name,
          type: "line",
          showSymbol: false,
          z: 3,
          lineStyle: { width: grey.length > 0 ? 1.6 : 1.2, color },
          itemStyle: { color },
          data: thin(byName.get(name) ?? { t: [], equity: [] }, true),
        };
      }),
    ],
  });
}

/** Height of a heatmap's cells at most, and of all its rows together at most: beyond, cells shrink. */
const HEATMAP_ROW_PX = 48;
const HEATMAP_ROWS_PX = 480;
const HEATMAP_MARGIN = { left: 110, right: 110, top: 10, bottom: 50 };
/** A label of a cell is drawn only where its cell is at least this tall (an 11 px text). */
const LABEL_MIN_PX = 16;

/**
 * A metric over two parameters: one cell per pair of values, coloured and, where the cells are
 * large enough for their values to be read, labelled. However many values, the chart is no taller
 * than HEATMAP_ROWS_PX of cells: a 60 × 60 grid had 12 px cells under 3,600 overlapping labels.
 */
export function heatmapChart(grid: {
  xName: string;
  yName: string;
  xValues: readonly string[];
  yValues: readonly string[];
  /** [x index, y index, value, runs]: a cell of more than one run is their mean. */
  cells: readonly (readonly [number, number, number, number])[];
  label: (value: number) => string;
  /** Which way is better (green); null: neither, one hue from least to most. */
  better: "higher" | "lower" | null;
  /** Centred on 0, good and bad to each side: else the scale spans the values' own range. */
  signed: boolean;
}): string {
  // The scale spans the finite values; an infinite one (a profit factor without a loss) takes its
  // end's colour and says ∞.
  const values = grid.cells.map((c) => c[2]).filter(Number.isFinite);
  const extent = Math.max(1e-12, ...values.map(Math.abs));
  let [min, max] = grid.signed ? [-extent, extent] : [Math.min(...values), Math.max(...values)];
  if (!(min < max)) {
    // One value (or none): a sliver around it, its two ends labelled alike.
    const v = Number.isFinite(min) ? min : 0;
    const pad = Math.max(1e-12, Math.abs(v) * 1e-9);
    [min, max] = [v - pad, v + pad];
  }
  // From the low end to the high: bad to good, or the other way round where lower is better.
  const bad = grid.better === null ? "#ddf4ff" : COLORS.down;
  const good = grid.better === null ? COLORS.line : COLORS.up;
  const ramp = grid.better === null ? [bad, good] : [bad, "#f6f8fa", good];
  if (grid.better === "lower") ramp.reverse();
  const rows = Math.max(1, grid.yValues.length);
  const rowsPx = Math.min(HEATMAP_ROW_PX * rows, HEATMAP_ROWS_PX);
  const cellWidth =
    (CHART_WIDTH - HEATMAP_MARGIN.left - HEATMAP_MARGIN.right) / Math.max(1, grid.xValues.length);
  // A mean of several runs says so on a second line: "mean of 2".
  const cellLabel = (value: number, runs: number) =>
    runs > 1 ? `${grid.label(value)}\nmean of ${runs}` : grid.label(value);
  const lines = grid.cells.some((c) => c[3] > 1) ? 2 : 1;
  const widest = Math.max(
    0,
    ...grid.cells.flatMap((c) =>
      cellLabel(c[2], c[3])
        .split("\n")
        .map((line) => textWidth(line, TEXT.fontSize)),
    ),
  );
  const labelled = rowsPx / rows >= lines * LABEL_MIN_PX && widest + 6 <= cellWidth;
  return render(HEATMAP_MARGIN.top + HEATMAP_MARGIN.bottom + 20 + rowsPx, {
    grid: HEATMAP_MARGIN,
    xAxis: {
      type: "category",
      data: grid.xValues,
      name: grid.xName,
      nameLocation: "center",
      nameGap: 28,
    },
    yAxis: { type: "category", data: grid.yValues, name: grid.yName, nameLocation: "end" },
    visualMap: {
      dimension: 2, // the value; the last, ECharts' default, is the count of runs
      min,
      max,
      calculable: false,
      // Its ends in numbers: where the cells are too small for labels, the only values shown.
      text: [grid.label(max), grid.label(min)],
      orient: "vertical",
      right: 10,
      top: "center",
      inRange: { color: ramp },
    },
    series: [
      {
        type: "heatmap",
        data: grid.cells.map(([x, y, v, runs]) => [x, y, Math.min(max, Math.max(min, v)), runs, v]),
        label: {
          show: labelled,
          formatter: (p: { value: number[] }) => cellLabel(p.value[4] ?? 0, p.value[3] ?? 1),
        },
        // A white border a cell's width or more would hide the cell: thinner on small cells.
        itemStyle: {
          borderColor: "#fff",
          borderWidth: Math.min(1, cellWidth / 12, rowsPx / rows / 12),
        },
      },
    ],
  });
}
