/**
 * The report as a person sees it: Debian's Chromium opens it from a file:// URL with the network
 * blocked, and the test looks for errors, requests, charts, and keeps a screenshot in
 * .tmp/artifacts/ to look at.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { Browser, Page } from "playwright-core";
import { type Event, EventBus, makeEvent, Recorder, runDemo } from "../src/index.ts";
import {
  buildRunReport,
  compareRuns,
  renderComparison,
  renderRunReport,
  reportRun,
} from "../src/report.ts";
import { SqliteSource } from "../src/store/index.ts";
import { runRow, syntheticComparison, tempDir } from "./helpers.ts";

const CHROMIUM = [process.env.RUNTAPE_CHROMIUM, "chromium", "chromium-browser"]
  .filter((c): c is string => Boolean(c))
  .map((c) => Bun.which(c) ?? (c.startsWith("/") ? c : null))
  .find((c) => c !== null);
const ARTIFACTS = join(import.meta.dir, "../.tmp/artifacts");

// Generous bounds: they only keep a hung browser from hanging the suite, they claim no speed.
const browserTest = CHROMIUM
  ? (name: string, fn: () => Promise<void>) => test(name, fn, 30_000)
  : (name: string, fn: () => Promise<void>) =>
      test.skip(`${name} (skipped: no Chromium found; apt-get install chromium)`, fn);

/**
 * A million units of X held while its price swings by 30: axis labels as wide as -30,000,000, and
 * indicators with long names.
 */
const LARGE_RUN = runRow({
  run_id: "large",
  name: "a large position",
  ts_start: 1_709_562_600_000_000_000n,
  ts_end: 1_709_562_600_000_000_000n + 60n * 120n * 1_000_000_000n,
});
function largeEvents(): Event[] {
  const at = (i: number) => LARGE_RUN.ts_start + BigInt(i) * 60_000_000_000n;
  // Bands with names as long as strategies give them: the price chart's legend takes two rows.
  const bands = (close: number) =>
    Object.fromEntries(
      [-2, -1, 1, 2].map((k) => [`BOLLINGER_BAND_${k}_STDDEV_20_CLOSE`, close + k]),
    );
  const bars = (i: number) => {
    const close = 100 + 30 * Math.sin(i / 8);
    const fields = {
      ts_event_ns: at(i),
      symbol: "X",
      bar_period: "MINUTE" as const,
      open: close,
      high: close + 0.5,
      low: close - 0.5,
      close,
      volume: 1_000_000n,
    };
    return [
      makeEvent("BarReceived", fields),
      makeEvent("BarProcessed", { ...fields, indicators: bands(close) }),
    ];
  };
  const fill = makeEvent("FillEvent", {
    ts_event_ns: at(0),
    ts_broker_ns: at(0),
    associated_order_id: "o1",
    broker_order_id: null,
    symbol: "X",
    broker_fill_id: null,
    side: "BUY",
    quantity_filled: 1_000_000,
    fill_price: 100,
    commission: 5_000,
  });
  return [...bars(0), fill, ...Array.from({ length: 119 }, (_, i) => bars(i + 1)).flat()];
}

let browser: Browser | undefined;
const dir = tempDir();
const files: Record<"report" | "compare" | "large" | "ids", string> = {
  report: "",
  compare: "",
  large: "",
  ids: "",
};
/** Comparisons of this many runs, made in memory, and their files. */
const MANY = [5, 40, 1000];
const manyFile = (n: number) => join(dir, `many${n}.html`);
/** Heatmaps of a grid × grid sweep, made in memory, and their files. */
const GRIDS = [5, 60];
const gridFile = (n: number) => join(dir, `grid${n}.html`);
// Run ids as runtape makes them when none is given (time-ordered UUIDs): a long legend.
const LONG_IDS = [3, 5, 8, 13].flatMap((fast) =>
  [20, 50].map((slow) => `01a2375e-a7e1-756b-b9ad-21bb1f9f${String(fast).padStart(2, "0")}${slow}`),
);

beforeAll(async () => {
  if (!CHROMIUM) return;
  const path = join(dir, "runs.db");
  // The demo run as `runtape record` makes it, and a small sweep of 2 × 2 parameters beside it.
  const runs: [string, { fastPeriod: number; slowPeriod: number }, number][] = [
    ["demo-1", { fastPeriod: 5, slowPeriod: 20 }, 500],
    ...[3, 8].flatMap((fast) =>
      [20, 40].map((slow): [string, { fastPeriod: number; slowPeriod: number }, number] => [
        `f${fast}-s${slow}`,
        { fastPeriod: fast, slowPeriod: slow },
        150,
      ]),
    ),
  ];
  runs.push(
    ...LONG_IDS.map((id): [string, { fastPeriod: number; slowPeriod: number }, number] => [
      id,
      { fastPeriod: Number(id.slice(-4, -2)), slowPeriod: Number(id.slice(-2)) },
      60,
    ]),
  );
  for (const [runId, strategy, bars] of runs) {
    const recorder = Recorder.start(path, { runId, config: { strategy } });
    const bus = new EventBus();
    recorder.attach(bus);
    runDemo(bus, { strategy, bars });
    recorder.close("completed");
  }
  const source = SqliteSource.open(path);
  try {
    files.report = join(dir, "report.html");
    writeFileSync(files.report, renderRunReport(await reportRun(source, "demo-1")));
    files.ids = join(dir, "ids.html");
    writeFileSync(files.ids, await compareRuns(source, { runIds: LONG_IDS }));
    files.compare = join(dir, "compare.html");
    writeFileSync(
      files.compare,
      await compareRuns(source, { runIds: ["f3-s20", "f3-s40", "f8-s20", "f8-s40"] }),
    );
  } finally {
    await source.close();
  }
  for (const n of MANY) {
    writeFileSync(manyFile(n), renderComparison(syntheticComparison(n)));
  }
  for (const n of GRIDS) {
    const c = syntheticComparison(n * n, n);
    writeFileSync(gridFile(n), renderComparison({ ...c, curves: c.curves.slice(0, 1) }));
  }
  files.large = join(dir, "large.html");
  writeFileSync(files.large, renderRunReport(buildRunReport(LARGE_RUN, largeEvents())));
  const { chromium } = await import("playwright-core");
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    timeout: 60_000,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
    ],
  });
}, 60_000); // a guard against a hung browser start on a loaded machine, not a timing claim

afterAll(async () => {
  await browser?.close();
});

/** Opens `file` offline; returns the page, its console errors and every request it made. */
async function open(file: string, javaScriptEnabled = true) {
  const context = await (browser as Browser).newContext({
    offline: true,
    javaScriptEnabled,
    viewport: { width: 1100, height: 900 },
  });
  const page = await context.newPage();
  const errors: string[] = [];
  const requests: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("request", (r) => requests.push(r.url()));
  // Anything but the report itself is refused, should the page ever ask.
  const own = pathToFileURL(file).href;
  await context.route("**/*", (route) =>
    route.request().url() === own ? route.continue() : route.abort(),
  );
  await page.goto(own, { waitUntil: "load" });
  return { page, errors, requests, own };
}

/** Per chart: drawn area and the number of drawn path points, so an empty chart shows as zero. */
async function charts(page: Page) {
  return page.$$eval("figure.chart svg", (svgs) =>
    svgs.map((svg) => {
      const box = svg.getBoundingClientRect();
      const paths = [...svg.querySelectorAll("path")].map((p) => p.getAttribute("d") ?? "");
      return {
        width: Math.round(box.width),
        height: Math.round(box.height),
        points: paths.reduce((n, d) => n + (d.match(/[ML]/g)?.length ?? 0), 0),
      };
    }),
  );
}

/**
 * Per chart, what a reader would find wrong with its texts: those drawn past the chart's box (an
 * SVG shows nothing there), legend entries closer to the next on their row than its symbol needs
 * (25 px), and how far the legend's last row reaches below the plot's highest axis label.
 */
async function textFaults(page: Page) {
  return page.$$eval("figure.chart svg", (svgs) =>
    svgs.map((svg) => {
      const chart = svg.getBoundingClientRect();
      const texts = [...svg.querySelectorAll("text")].map((t) => ({
        text: t.textContent ?? "",
        anchor: t.getAttribute("text-anchor"),
        box: t.getBoundingClientRect(),
      }));
      const legend = texts.filter((t) => t.anchor === "start");
      const axis = texts.filter((t) => t.anchor === "end");
      const crowded = legend.filter((a) =>
        legend.some(
          (b) =>
            Math.abs(a.box.top - b.box.top) < 2 &&
            b.box.left > a.box.left &&
            b.box.left - a.box.right < 25,
        ),
      );
      return {
        texts: texts.map((t) => t.text),
        outside: texts
          .filter((t) => t.box.left < chart.left - 0.5 || t.box.right > chart.right + 0.5)
          .map((t) => t.text),
        crowded: crowded.map((t) => t.text),
        intoPlot: Math.max(
          0,
          Math.max(...legend.map((t) => t.box.bottom)) - Math.min(...axis.map((t) => t.box.top)),
        ),
      };
    }),
  );
}

describe("the report in Chromium", () => {
  browserTest(
    "axis labels of large amounts and a legend of long names stay clear of the plots",
    async () => {
      const { page, errors } = await open(files.large);
      const faults = await textFaults(page);
      expect(faults.flatMap((f) => f.texts)).toContain("-30,000,000");
      expect(faults.filter((f) => f.outside.length + f.crowded.length + f.intoPlot > 0)).toEqual(
        [],
      );
      expect(errors).toEqual([]);
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, "report-large.png") });
      await page.context().close();
    },
  );

  browserTest("a comparison of runs with long ids keeps its legend's entries apart", async () => {
    const { page, errors } = await open(files.ids);
    const faults = await textFaults(page);
    expect(faults.flatMap((f) => f.texts)).toContain(LONG_IDS[0]);
    expect(faults.filter((f) => f.outside.length + f.crowded.length + f.intoPlot > 0)).toEqual([]);
    expect(errors).toEqual([]);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, "compare-ids.png"), fullPage: true });
    await page.context().close();
  });

  browserTest(
    "the demo run's report renders every chart offline, no error, no request",
    async () => {
      const { page, errors, requests, own } = await open(files.report);
      const drawn = await charts(page);
      expect(drawn).toHaveLength(4); // equity, then AAPL, MSFT, NVDA
      for (const c of drawn) {
        expect(c.width).toBeGreaterThan(500);
        expect(c.height).toBeGreaterThan(200);
        expect(c.points).toBeGreaterThan(500);
      }
      expect(await page.locator("table.metrics tbody tr").count()).toBe(11);
      expect(errors).toEqual([]);
      expect(requests).toEqual([own]);
      // With JavaScript on, a click on a column head sorts: the per-symbol table by fills.
      const fills = page.locator("table.sortable").first().locator("tbody tr td:nth-child(6)");
      await page.locator("table.sortable").first().locator("th", { hasText: "Fills" }).click();
      const values = (await fills.allTextContents()).map(Number);
      expect(values).toEqual([...values].sort((a, b) => a - b));
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, "report-demo.png"), fullPage: true });
      await page.context().close();
    },
  );

  browserTest(
    "a round-trip table sorts by a click on its head, durations by their length",
    async () => {
      const { page, errors } = await open(files.report);
      // The second symbol's trips: not the first sortable table of the page.
      const details = page.locator("details", { hasText: "Round trips of MSFT" });
      await details.locator("summary").click();
      const table = details.locator("table.sortable");
      const rows = table.locator("tbody tr");
      expect(await rows.count()).toBeGreaterThan(3);
      await table.locator("th", { hasText: "Duration" }).click();
      const durations = await rows.evaluateAll((trs) =>
        trs.map((tr) => Number(tr.children[8]?.getAttribute("data-v") ?? Number.NaN)),
      );
      // Closed trips by duration (in ns), the open one (no duration) last.
      const closed = durations.filter(Number.isFinite);
      expect(closed.length).toBeGreaterThan(3);
      expect(durations).toEqual([
        ...[...closed].sort((a, b) => a - b),
        ...durations.filter((d) => !Number.isFinite(d)),
      ]);
      expect(new Set(closed).size).toBeGreaterThan(1);
      await table.locator("th", { hasText: "Net P&L" }).click();
      const pnl = await rows.evaluateAll((trs) =>
        trs.map((tr) => Number(tr.children[7]?.getAttribute("data-v") ?? Number.NaN)),
      );
      expect(pnl).toEqual([...pnl].sort((a, b) => a - b));
      expect(errors).toEqual([]);
      await page.context().close();
    },
  );

  browserTest("with JavaScript off the charts and tables are all there", async () => {
    const { page, errors } = await open(files.report, false);
    expect((await charts(page)).filter((c) => c.points > 500)).toHaveLength(4);
    expect(await page.locator("table.metrics tbody tr").count()).toBe(11);
    expect(errors).toEqual([]);
    await page.context().close();
  });

  browserTest(
    "the comparison page: overlaid equity and a heatmap over the two parameters",
    async () => {
      const { page, errors, requests, own } = await open(files.compare);
      const drawn = await charts(page);
      expect(drawn).toHaveLength(2);
      expect(await page.locator("svg text", { hasText: "strategy.fastPeriod" }).count()).toBe(1);
      expect(
        await page
          .locator("h2", { hasText: "by strategy.fastPeriod and strategy.slowPeriod" })
          .count(),
      ).toBe(1);
      // The metrics table fits the page's width, its heads wrapped, with no column scrolled away.
      const overflow = await page
        .locator("table.sortable")
        .evaluate((table) => table.scrollWidth - (table.parentElement?.clientWidth ?? 0));
      expect(overflow).toBeLessThanOrEqual(0);
      expect(errors).toEqual([]);
      expect(requests).toEqual([own]);
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, "compare-sweep.png"), fullPage: true });
      await page.context().close();
    },
  );

  browserTest(
    "equity curves of 5, 40 and 1,000 runs: one chart as tall at 40 as at 1,000, its legend clear of the plot",
    async () => {
      const heights: number[] = [];
      for (const n of MANY) {
        const { page, errors } = await open(manyFile(n));
        const figure = page.locator('figure[aria-label="Equity curves of the runs overlaid"]');
        const faults = (await textFaults(page)).at(-1);
        expect([n, faults?.outside, faults?.crowded, faults?.intoPlot]).toEqual([n, [], [], 0]);
        heights.push(Math.round((await figure.boundingBox())?.height ?? 0));
        expect(errors).toEqual([]);
        mkdirSync(ARTIFACTS, { recursive: true });
        await figure.screenshot({ path: join(ARTIFACTS, `compare-${n}-curves.png`) });
        await page.context().close();
      }
      expect(heights[1]).toBeLessThan(500);
      expect(heights[2]).toBe(heights[1] as number);
    },
  );

  browserTest(
    "heatmaps of 5 × 5 and 60 × 60 runs: as tall as a page's chart at most, labels only where they can be read",
    async () => {
      const drawn: { height: number; labels: number }[] = [];
      for (const n of GRIDS) {
        const { page, errors } = await open(gridFile(n));
        const figure = page.locator('figure[aria-label="Heatmap of Total P&L"]');
        // A cell's label is a number drawn inside the plot: its text is anchored in the middle.
        const labels = await figure
          .locator('svg text[text-anchor="middle"]')
          .evaluateAll(
            (texts) => texts.filter((t) => /^-?[\d,]+\.\d\d$/.test(t.textContent ?? "")).length,
          );
        drawn.push({ height: Math.round((await figure.boundingBox())?.height ?? 0), labels });
        expect(errors).toEqual([]);
        mkdirSync(ARTIFACTS, { recursive: true });
        await figure.screenshot({ path: join(ARTIFACTS, `heatmap-${n}x${n}.png`) });
        await page.context().close();
      }
      // A label per cell, and the two ends of the colour scale, which stay.
      expect(drawn[0]?.labels).toBe(25 + 2);
      expect(drawn[1]?.labels).toBe(2);
      expect(drawn[1]?.height).toBeLessThan(650);
    },
  );
});
