import { defineCommand } from "citty";
import { snakeCase } from "../json.ts";
import { formatMetric, METRICS, type RunMetrics, SWEEP_METRICS } from "../report/metrics.ts";
import { listSweep } from "../report/runs.ts";
import { formatParam, formatTags, type Sweep } from "../report/sweep.ts";
import { openSource } from "../store/index.ts";
import { printable } from "../text.ts";
import { checkInt64, parseConditions, parseInteger, repeated, sortArgs, whereArg } from "./args.ts";
import { commandMeta } from "./commands.ts";
import { int64Arg, out, printJson, table } from "./output.ts";
import { Progress } from "./progress.ts";
import { commonArgs, runArgs, UsageError } from "./usage.ts";

/** The metrics the table shows, named as the JSON names them. */
const COLUMNS = SWEEP_METRICS.map(snakeCase);

export default defineCommand({
  meta: commandMeta("runs"),
  args: {
    db: runArgs.db,
    where: whereArg("Only"),
    ...sortArgs,
    json: { type: "boolean", description: "Print one JSON document instead" },
    csv: { type: "boolean", description: "Print CSV instead" },
    ...int64Arg,
    ...commonArgs,
  },
  async run({ args, rawArgs }) {
    if (args.json && args.csv) throw new UsageError("--json and --csv exclude each other");
    checkInt64(rawArgs, args.json ? undefined : args.csv ? "--csv" : "runs without --json");
    const where = parseConditions(repeated(rawArgs, "where"));
    const source = await openSource(args.db);
    // The first listing of a large sweep computes every run's metrics: seconds to minutes.
    const progress = new Progress("metrics of", "runs");
    let sweep: Sweep;
    try {
      sweep = await listSweep(source, {
        where,
        sort: args.sort,
        limit: parseInteger(args.limit, "--limit", 1),
        onProgress: (done, total) => progress.update(done, total),
      });
    } finally {
      progress.clear();
      await source.close();
    }
    // Config paths and tag names are the user's own names: kept as they are.
    if (args.json) printJson(sweep, args, ["params", "tags"]);
    else if (args.csv) out(toCsv(sweep));
    else out(`${toTable(sweep)}\n`);
    return 0;
  },
});

/** Whether some run has tags: only then do the table and CSV have a column for them. */
const tagged = (entries: Sweep["entries"]) => entries.some((e) => Object.keys(e.tags).length > 0);

function toTable({ varying, entries }: Sweep): string {
  if (entries.length === 0) return "no runs";
  const tags = tagged(entries);
  return table(
    // Headed by their keys: what --sort, --where and --json name them.
    ["run_id", "status", ...(tags ? ["tags"] : []), ...varying.map(printable), ...COLUMNS],
    entries.map((e) => [
      printable(e.runId),
      printable(e.status),
      ...(tags ? [printable(formatTags(e.tags)) || "-"] : []),
      ...varying.map((k) => printable(formatParam(e.params[k]))),
      ...SWEEP_METRICS.map((m) => formatMetric(m, e.metrics[m])),
    ]),
  );
}

const csvCell = (value: string) =>
  /[",\n\r]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;

/** Every metric at full precision, one column per key, for scripts. */
function toCsv({ varying, entries }: Sweep): string {
  const keys = Object.keys(METRICS) as (keyof RunMetrics)[];
  const tags = tagged(entries);
  const lines = [
    ["run_id", "name", "status", ...(tags ? ["tags"] : []), ...varying, ...keys.map(snakeCase)],
    ...entries.map((e) => [
      e.runId,
      e.name,
      e.status,
      ...(tags ? [formatTags(e.tags)] : []),
      ...varying.map((k) => (e.params[k] === undefined ? "" : formatParam(e.params[k]))),
      ...keys.map((m) => (e.metrics[m] === null ? "" : String(e.metrics[m]))),
    ]),
  ];
  return lines.map((cells) => `${cells.map(csvCell).join(",")}\n`).join("");
}
