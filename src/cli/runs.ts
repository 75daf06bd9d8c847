import { defineCommand } from "citty";
import { stringifyExact } from "../json.ts";
import { formatMetric, METRICS, type RunMetrics, SWEEP_METRICS } from "../report/metrics.ts";
import { listSweep } from "../report/runs.ts";
import { formatParam, type Sweep } from "../report/sweep.ts";
import { openSource } from "../store/index.ts";
import { commonArgs, parseConditions, repeatedOption, runArgs, UsageError } from "./args.ts";
import { out, table } from "./output.ts";

/** The metrics the table shows, by their keys (what --sort takes). */
const COLUMNS = SWEEP_METRICS;

export default defineCommand({
  meta: {
    name: "runs",
    description: "A sweep as a table: each run, the config parameters that differ, its metrics",
  },
  args: {
    db: runArgs.db,
    where: {
      type: "string",
      valueHint: "KEY=VALUE",
      description:
        "Only runs whose config path (or runId, name, status) has this value; repeatable",
    },
    sort: {
      type: "string",
      valueHint: "KEY|-KEY",
      description: `Sort by a metric (${COLUMNS.join(", ")}, …) or config path; -KEY descending`,
    },
    json: { type: "boolean", description: "Print one JSON document instead" },
    csv: { type: "boolean", description: "Print CSV instead" },
    ...commonArgs,
  },
  async run({ args, rawArgs }) {
    if (args.json && args.csv) throw new UsageError("--json and --csv exclude each other");
    const where = parseConditions(repeatedOption(rawArgs, "where"));
    const source = await openSource(args.db);
    let sweep: Sweep;
    try {
      sweep = await listSweep(source, { where, sort: args.sort });
    } finally {
      await source.close();
    }
    if (args.json) out(`${stringifyExact(sweep, 2)}\n`);
    else if (args.csv) out(toCsv(sweep));
    else out(`${toTable(sweep)}\n`);
    return 0;
  },
});

function toTable({ varying, entries }: Sweep): string {
  if (entries.length === 0) return "no runs";
  return table(
    // Headed by their keys: what --sort, --where and --json name them.
    ["runId", "status", ...varying, ...COLUMNS],
    entries.map((e) => [
      e.runId,
      e.status,
      ...varying.map((k) => formatParam(e.params[k])),
      ...COLUMNS.map((m) => formatMetric(m, e.metrics[m])),
    ]),
  );
}

const csvCell = (value: string) =>
  /[",\n\r]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;

/** Every metric at full precision, one column per key, for scripts. */
function toCsv({ varying, entries }: Sweep): string {
  const keys = Object.keys(METRICS) as (keyof RunMetrics)[];
  const lines = [
    ["runId", "name", "status", ...varying, ...keys],
    ...entries.map((e) => [
      e.runId,
      e.name,
      e.status,
      ...varying.map((k) => (e.params[k] === undefined ? "" : formatParam(e.params[k]))),
      ...keys.map((m) => (e.metrics[m] === null ? "" : String(e.metrics[m]))),
    ]),
  ];
  return lines.map((cells) => `${cells.map(csvCell).join(",")}\n`).join("");
}
