import { closeSync, openSync, readSync } from "node:fs";
import { defineCommand } from "citty";
import { fileWriteError } from "../errors.ts";
import { formatCount } from "../format.ts";
import { encodeRunId } from "../formats/layout.ts";
import { GENERATOR_META } from "../report/html.ts";
import { metricKey } from "../report/sweep.ts";
import { openSource } from "../store/index.ts";
import { parseConditions, parseInteger, parseNames, repeated, sortArgs, whereArg } from "./args.ts";
import { commandMeta } from "./commands.ts";
import { logger, out } from "./output.ts";
import { Progress } from "./progress.ts";
import { commonArgs, runArgs, UsageError } from "./usage.ts";

/** What a comparison's progress bar says of each step. */
const STEPS = { metrics: "computing metrics", curves: "reading equity curves" } as const;

export default defineCommand({
  meta: commandMeta("report"),
  args: {
    ...runArgs,
    output: {
      type: "string",
      alias: "o",
      valueHint: "FILE",
      description: "HTML file to write (default report-<run>.html, or compare.html)",
    },
    runs: {
      type: "string",
      valueHint: "A,B,…",
      description: "Compare these runs: equity overlaid, metrics, heatmap over two parameters",
    },
    where: whereArg("Compare"),
    ...sortArgs,
    metric: {
      type: "string",
      valueHint: "NAME",
      description:
        "Metric of the comparison's heatmap and of the runs its equity chart names (default total_pnl)",
    },
    open: { type: "boolean", description: "Open the file in the default browser" },
    ...commonArgs,
  },
  async run({ args, rawArgs }) {
    const runIds = parseNames(args.runs, "--runs", "run id");
    if (args.output === "") throw new UsageError("--output needs a file name");
    const where = parseConditions(repeated(rawArgs, "where"));
    const comparing = runIds !== undefined || where.length > 0;
    if (comparing && args.run !== undefined) {
      throw new UsageError("--run reports one run; --runs and --where compare several");
    }
    const metric = args.metric === undefined ? undefined : metricKey(args.metric);
    for (const flag of ["metric", "sort", "limit"] as const) {
      if (!comparing && args[flag] !== undefined) {
        throw new UsageError(`--${flag} applies to a comparison (--runs or --where)`);
      }
    }
    const limit = parseInteger(args.limit, "--limit", 1);
    // ECharts takes a few hundred milliseconds to load: only once the command line is sound.
    const { compareRuns, renderRunReport, reportRun } = await import("../report.ts");
    const source = await openSource(args.db);
    let html: string;
    let file: string;
    // Thousands of runs take seconds in each step: a bar per step at a terminal, as record's.
    let bar: { step: string; progress: Progress } | undefined;
    try {
      if (comparing) {
        html = await compareRuns(source, {
          runIds,
          where,
          sort: args.sort,
          limit,
          metric,
          origin: { source: source.label, written: new Date() },
          onProgress: (done, total, step) => {
            if (bar?.step !== step) bar = { step, progress: new Progress(STEPS[step], "runs") };
            bar.progress.update(done, total);
          },
        });
        file = args.output ?? "compare.html";
      } else {
        const report = await reportRun(source, args.run);
        html = renderRunReport(report, { source: source.label, written: new Date() });
        // One name per id (a/b and a_b must not share one), as export names its partitions.
        file = args.output ?? `report-${encodeRunId(report.run.runId)}.html`;
      }
    } finally {
      bar?.progress.clear();
      await source.close();
    }
    checkOverwrite(file);
    let bytes: number;
    try {
      bytes = await Bun.write(file, html);
    } catch (error) {
      throw fileWriteError(`cannot write ${file}`, error, "REPORT_WRITE");
    }
    logger.success(`wrote ${file} (${formatCount(Math.round(bytes / 1024))} KB)`);
    out(`${file}\n`);
    if (args.open) openInBrowser(file);
    return 0;
  },
});

/**
 * Lets a report replace only an earlier report (its head holds runtape's generator mark): `-o
 * runs.db` (the file it reads, or any other) or `-o index.html` would otherwise replace recorded
 * runs or a page of the user's own without a word. A file that cannot be read is left to the
 * write, which says why.
 */
function checkOverwrite(file: string): void {
  const head = Buffer.alloc(1024);
  let length: number;
  try {
    const fd = openSync(file, "r");
    try {
      length = readSync(fd, head, 0, head.length, 0);
    } finally {
      closeSync(fd);
    }
  } catch {
    return;
  }
  if (length === 0 || head.toString("latin1", 0, length).includes(GENERATOR_META)) return;
  throw new UsageError(
    `${file} exists and is not a runtape report: name another --output, or remove it first`,
  );
}

/** Hands the file to the desktop's opener; a machine without one gets a warning, not a failure. */
function openInBrowser(file: string): void {
  const opener =
    process.platform === "darwin" ? "open" : process.platform === "win32" ? "explorer" : "xdg-open";
  try {
    Bun.spawn([opener, file], { stdio: ["ignore", "ignore", "ignore"] }).unref();
  } catch {
    logger.warn(`could not start ${opener}: open ${file} yourself`);
  }
}
