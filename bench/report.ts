/**
 * Figures of `runtape report` and `runtape runs`, for `bun run bench` (or alone:
 * `bun bench/report.ts [--quick]`). Prints its lines on stderr and returns the figures.
 *
 * - A sweep of 1,000 runs listed with cached metrics, against the plain way to read the same
 *   facts: one SELECT of the runs and one of the cached rows, parsed. Interleaved, median of 5.
 * - The first listing, which computes and caches every run's metrics.
 * - The report of one large run: time to build and render, and the size of the HTML file.
 */
import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EventBus, Recorder, runDemo } from "../src/index.ts";
import { listSweep, renderRunReport, reportRun } from "../src/report.ts";
import { SqliteSource } from "../src/store/index.ts";

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const log = (line: string) => process.stderr.write(`${line}\n`);

function record(path: string, runId: string, bars: number, strategy = {}): void {
  const recorder = Recorder.start(path, { runId, config: { strategy } });
  const bus = new EventBus();
  recorder.attach(bus);
  runDemo(bus, { bars, symbols: ["AAA"], strategy });
  recorder.close("completed");
}

async function time(fn: () => unknown): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

export async function benchReport(quick: boolean) {
  const dir = mkdtempSync(join(tmpdir(), "runtape-bench-report-"));
  try {
    const runs = quick ? 100 : 1000;
    const sweep = join(dir, "sweep.db");
    for (let i = 0; i < runs; i++) {
      record(sweep, `run-${i}`, 60, {
        fastPeriod: 2 + (i % 10),
        slowPeriod: 20 + Math.floor(i / 10),
      });
    }
    const list = async () => {
      const source = SqliteSource.open(sweep);
      try {
        return await listSweep(source, { sort: "-totalPnl" });
      } finally {
        await source.close();
      }
    };
    const firstMs = await time(list);
    const plain = () => {
      const db = new Database(sweep, { readonly: true });
      try {
        const rows = db.query("SELECT * FROM runs").all() as { config: string | null }[];
        const cached = db.query("SELECT metrics FROM runtape_run_metrics").all() as {
          metrics: string;
        }[];
        for (const r of rows) if (r.config !== null) JSON.parse(r.config);
        return cached.map((c) => JSON.parse(c.metrics));
      } finally {
        db.close();
      }
    };
    const listed: number[] = [];
    const baseline: number[] = [];
    for (let i = 0; i < 5; i++) {
      listed.push(await time(list));
      baseline.push(await time(plain));
    }
    log(
      `  runs: ${runs} runs listed in ${median(listed).toFixed(1)} ms cached (plain SELECTs ${median(baseline).toFixed(1)} ms); first listing ${firstMs.toFixed(0)} ms`,
    );

    const bars = quick ? 20_000 : 200_000;
    const big = join(dir, "big.db");
    record(big, "big", bars);
    const source = SqliteSource.open(big);
    let html = "";
    let events = 0;
    const reportMs = await time(async () => {
      const report = await reportRun(source, "big");
      events = report.events;
      html = renderRunReport(report);
    });
    await source.close();
    log(
      `  report: ${events.toLocaleString("en-US")} events in ${(reportMs / 1000).toFixed(2)} s, HTML ${(html.length / 1024 / 1024).toFixed(2)} MB`,
    );
    return {
      sweep_runs: runs,
      runs_list_ms: median(listed),
      runs_list_baseline_ms: median(baseline),
      runs_list_ratio: median(listed) / median(baseline),
      runs_first_list_ms: firstMs,
      report_events: events,
      report_s: reportMs / 1000,
      report_html_mb: html.length / 1024 / 1024,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  console.log(JSON.stringify(await benchReport(process.argv.includes("--quick")), null, 2));
}
