/**
 * HTML output: one self-contained page per report. Everything is inline (charts as SVG, the style
 * sheet, one small script that only sorts tables), and a Content-Security-Policy forbids the page
 * any request, so it opens the same from a mail attachment, offline or with JavaScript off.
 */
import pkg from "../../package.json" with { type: "json" };
import { EVENT_TYPES } from "../events/catalog.ts";
import { counted, formatCount, formatDuration, isoNs, formatNumber as number } from "../format.ts";
import { stringifyExact } from "../json.ts";
import { redactUrls } from "../store/url.ts";
import {
  CHART_WIDTH,
  equityChart,
  heatmapChart,
  MARK_COLUMNS,
  overlayChart,
  priceChart,
} from "./charts.ts";
import { formatMetric, METRICS, type RunMetrics, SWEEP_METRICS } from "./metrics.ts";
import type { RunReport, SymbolReport } from "./model.ts";
import {
  formatParam,
  MAX_NAMED_CURVES,
  NAMED_EXTREMES,
  namedRuns,
  type SweepEntry,
} from "./sweep.ts";

/** Round trips listed per symbol; all of them count in the metrics. */
const MAX_LISTED_TRIPS = 2000;
/** Cells of a heatmap named in its caption as means of several runs; the rest are counted. */
const MAX_LISTED_MEANS = 10;

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};
/** Text safe inside HTML elements and attribute values. */
const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);

const quantity = (x: number) => x.toLocaleString("en-US", { maximumFractionDigits: 6 });
const timeOf = (ns: bigint | null) => (ns === null ? "–" : isoNs(ns).replace(/\.0+Z$/, "Z"));

const STYLE = `
:root{color-scheme:light;--fg:#1f2328;--muted:#57606a;--line:#d0d7de;--bg:#f6f8fa;--up:#1a7f37;--down:#cf222e}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);margin:0 auto;max-width:${CHART_WIDTH + 240}px;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}h3{font-size:15px;margin:18px 0 6px}
.sub{color:var(--muted);margin:0 0 16px}
table{border-collapse:collapse;margin:6px 0;font-variant-numeric:tabular-nums;font-size:13px}
th,td{padding:3px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top;white-space:nowrap}
th{background:var(--bg);font-weight:600;white-space:nowrap}
td.n,th.n{text-align:right}
.scroll{overflow-x:auto}
.pos{color:var(--up)}.neg{color:var(--down)}
.chart svg{width:100%;height:auto;display:block}
.chart{border:1px solid var(--line);border-radius:6px;padding:6px;margin:8px 0}
pre{background:var(--bg);padding:8px;border-radius:6px;overflow:auto;max-height:320px;font-size:12px}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:0}dl.kv dt{color:var(--muted)}dl.kv dd{margin:0}
.metrics td.def{color:var(--muted);font-size:12px;white-space:normal;min-width:320px}
details summary{cursor:pointer;color:var(--muted);margin:6px 0}
.note{color:var(--muted);font-size:12px}
footer.note{margin-top:28px;border-top:1px solid var(--line);padding-top:8px}
.banner{background:#fff8c5;border:1px solid #d4a72c;border-radius:6px;padding:8px 12px;margin:0 0 12px;font-weight:600}.banner time{white-space:nowrap}
th[data-sort]{cursor:pointer}
table.sortable th{white-space:normal}
`;

// Progressive: with JavaScript on, a click on a column head sorts the table by it. The column is
// the head's index in its own row (a page has many tables). A cell with data-v (an amount
// unrounded, a duration in ns) sorts by that number, before the cells without one ("–", "open")
// whichever the direction; those sort by their text.
const SCRIPT = `
document.querySelectorAll("table.sortable th").forEach(function(th){th.dataset.sort="";th.title="sort";th.addEventListener("click",function(){
var i=th.cellIndex,body=th.closest("table").tBodies[0],rows=Array.from(body.rows),dir=th.dataset.dir==="asc"?-1:1;th.dataset.dir=dir>0?"asc":"desc";
var key=function(r){var c=r.cells[i];return{t:c.textContent,n:c.dataset.v===undefined?NaN:parseFloat(c.dataset.v)}};
rows.sort(function(a,b){var x=key(a),y=key(b);if(isNaN(x.n)!==isNaN(y.n))return isNaN(x.n)?1:-1;
return (isNaN(x.n)?x.t.localeCompare(y.t):x.n-y.n)*dir});rows.forEach(function(r){body.appendChild(r)})})});
`;

/**
 * ECharts names the classes and ids of its SVG (hover styles, clip paths) after a process-wide
 * counter (`zr7-cls-53`, `zr7-c0`): the same report rendered twice would differ. Renamed in order of appearance they stay unique in the page
 * and the page becomes a function of the report alone.
 */
function stableClassNames(html: string): string {
  const names = new Map<string, string>();
  return html.replace(/\bzr\d+-[\w-]+/g, (name) => {
    let renamed = names.get(name);
    if (renamed === undefined) {
      renamed = `rt-${names.size}`;
      names.set(name, renamed);
    }
    return renamed;
  });
}

/** The mark of a page runtape wrote: `report -o` replaces such a file and no other. */
export const GENERATOR_META = '<meta name="generator" content="runtape">';

function page(title: string, body: string): string {
  return stableClassNames(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width,initial-scale=1">
${GENERATOR_META}
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body>
${body}
<script>${SCRIPT}</script>
</body></html>
`);
}

type Cell = string | { html: string; n?: boolean; v?: number | null; cls?: string };

function tableHtml(header: readonly Cell[], rows: readonly (readonly Cell[])[], cls = ""): string {
  const cell = (tag: "th" | "td", c: Cell) => {
    if (typeof c === "string") return `<${tag}>${escapeHtml(c)}</${tag}>`;
    const classes = [c.n ? "n" : "", c.cls ?? ""].filter(Boolean).join(" ");
    const value = c.v === undefined || c.v === null ? "" : ` data-v="${c.v}"`;
    return `<${tag}${classes ? ` class="${classes}"` : ""}${value}>${c.html}</${tag}>`;
  };
  return `<div class="scroll"><table${cls ? ` class="${cls}"` : ""}><thead><tr>${header.map((h) => cell("th", h)).join("")}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => cell("td", c)).join("")}</tr>`)
    .join("\n")}</tbody></table></div>`;
}

const num = (text: string, v: number | null = null, signed = false): Cell => ({
  html: escapeHtml(text),
  n: true,
  v,
  cls: signed && v !== null && v !== 0 ? (v > 0 ? "pos" : "neg") : undefined,
});
const chart = (svg: string, label: string) =>
  `<figure class="chart" role="img" aria-label="${escapeHtml(label)}">${svg}</figure>`;
/** A config or metadata column as readJsonColumn reads it: an object (bigints exact) or text. */
const json = (value: unknown) =>
  value === null
    ? "–"
    : `<pre>${escapeHtml(typeof value === "string" ? value : stringifyExact(value, 2))}</pre>`;

function metricsTable(metrics: RunMetrics): string {
  return tableHtml(
    ["Metric", { html: "Value", n: true }, "Definition"],
    (Object.keys(METRICS) as (keyof RunMetrics)[]).map((key) => [
      METRICS[key].label,
      num(formatMetric(key, metrics[key]), metrics[key], METRICS[key].signed),
      { html: escapeHtml(METRICS[key].definition), cls: "def" },
    ]),
    "metrics",
  );
}

function tradingTable(symbols: readonly SymbolReport[]): string {
  return tableHtml(
    [
      "Symbol",
      ...[
        "Orders",
        "Rejected",
        "Cancels (rej.)",
        "Modifies (rej.)",
        "Fills",
        "Traded qty",
        "Commission",
        "Realised P&L",
        "Net P&L",
        "Position",
      ].map((h) => ({ html: h, n: true })),
    ],
    symbols.map(({ trading: t }) => [
      t.symbol,
      num(formatCount(t.orders), t.orders),
      num(formatCount(t.rejections), t.rejections),
      num(
        `${formatCount(t.cancellations)} (${formatCount(t.cancellationRejections)})`,
        t.cancellations,
      ),
      num(
        `${formatCount(t.modifications)} (${formatCount(t.modificationRejections)})`,
        t.modifications,
      ),
      num(formatCount(t.fills), t.fills),
      num(quantity(t.tradedQuantity), t.tradedQuantity),
      num(number(t.commission), t.commission),
      num(number(t.realizedPnl), t.realizedPnl, true),
      num(number(t.netPnl), t.netPnl, true),
      num(quantity(t.position), t.position),
    ]),
    "sortable",
  );
}

function tripsTable(s: SymbolReport): string {
  const listed = s.trips.slice(-MAX_LISTED_TRIPS);
  const note =
    listed.length < s.trips.length
      ? `<p class="note">The last ${formatCount(listed.length)} of ${formatCount(s.trips.length)} round trips; the metrics count all of them.</p>`
      : "";
  const rows = listed.map((t) => [
    t.side,
    num(quantity(t.quantity), t.quantity),
    timeOf(t.entryNs),
    num(number(t.entryPrice, 4), t.entryPrice),
    t.exitNs === null ? "open" : timeOf(t.exitNs),
    num(t.exitPrice === null ? "–" : number(t.exitPrice, 4), t.exitPrice),
    num(number(t.commission), t.commission),
    num(number(t.netPnl), t.netPnl, true),
    t.exitNs === null
      ? num("–")
      : num(formatDuration(t.exitNs - t.entryNs), Number(t.exitNs - t.entryNs)),
  ]);
  const header = [
    "Side",
    { html: "Qty", n: true },
    "Entry",
    { html: "Entry price", n: true },
    "Exit",
    { html: "Exit price", n: true },
    { html: "Commission", n: true },
    { html: "Net P&L", n: true },
    { html: "Duration", n: true },
  ];
  // The metrics count closed trips: the open one, if any, is said apart.
  const open = s.trips.at(-1)?.exitNs === null ? 1 : 0;
  const count = `${formatCount(s.trips.length - open)} closed${open ? ", 1 open" : ""}`;
  return `<details><summary>Round trips of ${escapeHtml(s.symbol)} (${count})</summary>${note}${tableHtml(header, rows, "sortable")}</details>`;
}

/**
 * A warning atop the page of a run that did not complete: its figures are of part of a run. The
 * error is the one runtape records in the metadata of a failed run (`error`), where there is one.
 */
function statusBanner(report: RunReport): string {
  const { status, metadata } = report.run;
  if (status === "completed") return "";
  // A time is kept on one line: a wrapped one reads as two.
  const upTo = `its figures cover the events up to <time>${timeOf(report.lastNs)}</time>`;
  const error =
    typeof metadata === "object" && metadata !== null && "error" in metadata
      ? (metadata as { error: unknown }).error
      : undefined;
  const text =
    status === "running"
      ? `This run is still being recorded (or its recorder stopped without closing it): ${upTo}.`
      : status === "failed"
        ? `This run failed${typeof error === "string" ? `: ${escapeHtml(error)}` : ""}. Only ${upTo}.`
        : status === "cancelled"
          ? `This run was cancelled: ${upTo}.`
          : `This run's status is “${escapeHtml(status)}”, not completed: ${upTo}.`;
  return `<p class="banner" role="alert">${text}</p>`;
}

const memberOf = (value: unknown, key: string): unknown =>
  typeof value === "object" && value !== null && Object.hasOwn(value, key)
    ? (value as Record<string, unknown>)[key]
    : undefined;
const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * The strategy's parameters of a run, as `key=value` text: those its lineage records (a
 * backtest's, in config or metadata), else the demo's `strategy` object in its config; null
 * where it records none. They told runs apart only at the end of a config box cut at 320 px.
 */
function paramsOf(run: RunReport["run"]): string | null {
  const params = [
    memberOf(memberOf(run.config, "lineage"), "params"),
    memberOf(memberOf(run.metadata, "lineage"), "params"),
    memberOf(run.config, "strategy"),
  ].find(isObject);
  if (params === undefined) return null;
  const text = (v: unknown) =>
    typeof v === "object" && v !== null ? stringifyExact(v) : String(v);
  return Object.entries(params)
    .map(([k, v]) => `${k}=${text(v)}`)
    .join(", ");
}

/** Where a page came from, for its footer: the caller knows, the report does not. */
export interface PageOrigin {
  /** The database (or store) the runs were read from; a URL's password is never shown. */
  source: string;
  /** When the page was written. */
  written: Date;
}

/** The page's last word: what wrote it, from what and when; and that its times are UTC. */
function footer(origin: PageOrigin | undefined): string {
  const written =
    origin === undefined
      ? ""
      : `Written by runtape ${escapeHtml(pkg.version)} from <code>${escapeHtml(redactUrls(origin.source))}</code> at ${origin.written.toISOString().replace(/\.\d+Z$/, "Z")}. `;
  return `<footer class="note">${written}All times, the charts' axes included, are UTC.</footer>`;
}

/** What a price chart's marks stand for: each fill, or those of a column of the chart. */
function fillsNote(fills: SymbolReport["fills"]): string {
  const buys = fills.filter((f) => f.side === "BUY").length;
  const sells = fills.length - buys;
  const gathered =
    Math.max(buys, sells) > MARK_COLUMNS
      ? `; a side of more than ${MARK_COLUMNS} is drawn as one mark per column of the chart, at its fills' mean price, sized by their total quantity`
      : "";
  return `${counted(fills.length, "fill")}: ${formatCount(buys)} ▲ buy, ${formatCount(sells)} ▼ sell, sized by quantity${gathered}`;
}

/** The report of one run as one self-contained HTML page. */
export function renderRunReport(report: RunReport, origin?: PageOrigin): string {
  const { run, metrics } = report;
  const params = paramsOf(run);
  const duration = run.tsEnd === null ? "–" : formatDuration(run.tsEnd - run.tsStart);
  const header = `${statusBanner(report)}<h1>${escapeHtml(run.name)}</h1>
<p class="sub">Run <code>${escapeHtml(run.runId)}</code> · ${escapeHtml(run.status)} · ${counted(report.events, "event")}</p>
<dl class="kv">
<dt>Started</dt><dd>${timeOf(run.tsStart)}</dd>
<dt>Ended</dt><dd>${timeOf(run.tsEnd)} (${duration})</dd>
<dt>Event times</dt><dd>${timeOf(report.firstNs)} → ${timeOf(report.lastNs)}</dd>
<dt>Symbols</dt><dd>${escapeHtml(report.symbols.map((s) => s.symbol).join(", ") || "–")}</dd>
${params === null ? "" : `<dt>Parameters</dt><dd><code>${escapeHtml(params)}</code></dd>\n`}</dl>`;
  const counts = tableHtml(
    ["Event type", { html: "Count", n: true }],
    EVENT_TYPES.map((t) => [t, num(formatCount(report.counts[t]), report.counts[t])]),
  );
  const symbols = report.symbols
    .map((s) => {
      const charts = s.prices
        .filter((p) => p.t.length > 0)
        .map((p) =>
          chart(priceChart(p, s.fills), `${s.symbol} ${p.period} price with indicators and fills`),
        );
      const periods = s.prices
        .map((p) => `${p.period} (${formatCount(p.t.length)} bars)`)
        .join(", ");
      return `<h3 id="sym-${escapeHtml(s.symbol)}">${escapeHtml(s.symbol)}</h3>
<p class="note">${periods || "no bars"} · ${fillsNote(s.fills)}</p>
${charts.join("\n")}
${tripsTable(s)}`;
    })
    .join("\n");
  const body = `${header}
<h2>Summary</h2>
${metricsTable(metrics)}
<h2>Equity, marked to market</h2>
<p class="note">Realised + unrealised P&L − commission at each bar time; drawdown from the running peak beneath.</p>
${report.equity.t.length > 0 ? chart(equityChart(report.equity), "Equity curve and drawdown") : "<p>No bars or fills: nothing to draw.</p>"}
<h2>Per symbol</h2>
${tradingTable(report.symbols)}
${symbols}
<h2>Run</h2>
<h3>Config</h3>${json(run.config)}
<h3>Metadata</h3>${json(run.metadata)}
<h3>Events</h3>${counts}
${footer(origin)}`;
  return page(`${run.name} · ${run.runId} · runtape report`, body);
}

/** What a comparison page shows. */
export interface Comparison {
  /** Config paths that differ between the runs: the table's parameter columns. */
  varying: string[];
  entries: SweepEntry[];
  /** Equity curves by run id, for the overlay. */
  curves: { name: string; curve: Pick<RunReport["equity"], "t" | "equity"> }[];
  /**
   * The metric of the heatmap, drawn when exactly two parameters vary, and of the equity chart's
   * highest and lowest runs, named in colour when there are more than MAX_NAMED_CURVES.
   */
  metric: keyof RunMetrics;
}

/** The metrics table of a sweep: run, varying parameters, metrics. */
function sweepTable(varying: readonly string[], entries: readonly SweepEntry[]): string {
  return tableHtml(
    [
      "Run",
      ...varying,
      ...SWEEP_METRICS.map((m) => ({ html: escapeHtml(METRICS[m].label), n: true })),
    ],
    entries.map((e) => [
      e.runId,
      ...varying.map((k) => {
        const v = e.params[k];
        return typeof v === "number" || typeof v === "bigint"
          ? num(String(v), Number(v))
          : formatParam(v);
      }),
      ...SWEEP_METRICS.map((m) =>
        num(formatMetric(m, e.metrics[m]), e.metrics[m], METRICS[m].signed),
      ),
    ]),
    "sortable",
  );
}

/**
 * The cells of a heatmap of `metric` over two parameters, each [x, y, value, runs]: the mean
 * where runs share a cell (a re-run, a copy), and how many they are.
 */
function heatmapCells(
  entries: readonly SweepEntry[],
  [xKey, yKey]: readonly [string, string],
  metric: keyof RunMetrics,
) {
  const sortValues = (key: string) =>
    [...new Set(entries.map((e) => formatParam(e.params[key])))].sort((a, b) => {
      const [p, q] = [Number(a), Number(b)];
      return Number.isNaN(p) || Number.isNaN(q) ? a.localeCompare(b) : p - q;
    });
  const xValues = sortValues(xKey);
  const yValues = sortValues(yKey);
  const sums = new Map<string, [number, number]>();
  for (const e of entries) {
    const value = e.metrics[metric];
    if (value === null) continue;
    const key = `${xValues.indexOf(formatParam(e.params[xKey]))},${yValues.indexOf(formatParam(e.params[yKey]))}`;
    const [sum, n] = sums.get(key) ?? [0, 0];
    sums.set(key, [sum + value, n + 1]);
  }
  const cells = [...sums].map(([key, [sum, n]]) => {
    const [x, y] = key.split(",").map(Number) as [number, number];
    return [x, y, sum / n, n] as const;
  });
  return { xValues, yValues, cells };
}

/** Several runs on one page: equity curves overlaid, the metrics table, a heatmap over two parameters. */
export function renderComparison(c: Comparison, origin?: PageOrigin): string {
  const heatmap =
    c.varying.length === 2
      ? (() => {
          const [xKey, yKey] = c.varying as [string, string];
          const grid = heatmapCells(c.entries, [xKey, yKey], c.metric);
          const shared = grid.cells.filter((cell) => cell[3] > 1);
          // A mean is no run's figure: the caption says which cells are means, and of how many.
          const means =
            shared.length === 0
              ? ""
              : `<p class="note">${counted(shared.length, "cell")} of ${formatCount(grid.cells.length)} ${shared.length === 1 ? "is the mean" : "are means"} of runs with the same parameters (re-runs or copies), ${shared.length === 1 ? "its" : "their"} label saying of how many: ${shared
                  .slice(0, MAX_LISTED_MEANS)
                  .map(
                    ([x, y, , n]) =>
                      `${escapeHtml(`${xKey}=${grid.xValues[x]}, ${yKey}=${grid.yValues[y]}`)} (${n} runs)`,
                  )
                  .join(
                    "; ",
                  )}${shared.length > MAX_LISTED_MEANS ? `; and ${formatCount(shared.length - MAX_LISTED_MEANS)} more` : ""}.</p>`;
          return `<h2>${escapeHtml(METRICS[c.metric].label)} by ${escapeHtml(xKey)} and ${escapeHtml(yKey)}</h2>
${chart(heatmapChart({ xName: xKey, yName: yKey, ...grid, ...METRICS[c.metric], label: (v) => formatMetric(c.metric, v) }), `Heatmap of ${METRICS[c.metric].label}`)}
${means}`;
        })()
      : `<p class="note">A heatmap is drawn when exactly two parameters vary; here ${c.varying.length} do${c.varying.length ? ` (${escapeHtml(c.varying.join(", "))})` : ""}.</p>`;
  const drawn = new Set(c.curves.map((k) => k.name));
  const named = namedRuns(
    c.entries.filter((e) => drawn.has(e.runId)),
    c.metric,
  );
  const highest = Math.min(NAMED_EXTREMES, named.length);
  const label = escapeHtml(METRICS[c.metric].label);
  const curvesNote =
    drawn.size <= MAX_NAMED_CURVES
      ? ""
      : `<p class="note">${formatCount(drawn.size)} curves, one per run, in grey; ${
          named.length === 0
            ? `none named: no run has a ${label}.`
            : `in colour and named: the ${highest} highest and the ${named.length - highest} lowest by ${label}.`
        }</p>`;
  const body = `<h1>Comparison of ${formatCount(c.entries.length)} runs</h1>
<p class="sub">Parameters that differ: ${escapeHtml(c.varying.join(", ") || "none")}</p>
<h2>Metrics</h2>
${sweepTable(c.varying, c.entries)}
<p class="note">${(["totalPnl", "maxDrawdown", "sharpeLike"] as const).map((m) => `<b>${METRICS[m].label}</b>: ${escapeHtml(METRICS[m].definition)}`).join("<br>")}</p>
${heatmap}
<h2>Equity curves</h2>
${chart(overlayChart(c.curves, named), "Equity curves of the runs overlaid")}
${curvesNote}
${footer(origin)}`;
  return page(`Comparison of ${formatCount(c.entries.length)} runs · runtape report`, body);
}
