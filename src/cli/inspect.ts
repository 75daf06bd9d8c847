import { defineCommand } from "citty";
import { EVENT_TYPES } from "../events/catalog.ts";
import { checkDatabase, inspectRun, listRunSummaries, type RunDetail } from "../inspect.ts";
import { stringifyExact } from "../json.ts";
import { resolveRunId } from "../runs.ts";
import { commonArgs, runArgs } from "./args.ts";
import { openDb } from "./database.ts";
import { formatDuration, isoNs, out, table } from "./output.ts";

export default defineCommand({
  meta: {
    name: "inspect",
    description: "List the runs of a database, or show one run in detail",
  },
  args: {
    ...runArgs,
    run: { ...runArgs.run, description: "Show this run in detail (ID or latest)" },
    json: { type: "boolean", description: "Print one JSON document (exact integers) instead" },
    check: {
      type: "boolean",
      description:
        "Check integrity (SQLite, layout, every row decoded, sequences, counters, statuses; with --run that run's rows); exit 0 clean, 1 findings, 2 error",
    },
    ...commonArgs,
  },
  run({ args }) {
    const db = openDb(args.db, args);
    try {
      if (args.check) {
        const runId = args.run === undefined ? undefined : resolveRunId(db, args.run);
        const findings = checkDatabase(db, { runId });
        if (args.json) print(stringifyExact({ ok: findings.length === 0, findings }, 2));
        else if (findings.length === 0) print(`${args.db}: no problems found`);
        else print(findings.map((f) => `${f.kind}: ${f.message}`).join("\n"));
        return findings.length === 0 ? 0 : 1;
      }
      if (args.run === undefined) {
        const runs = listRunSummaries(db);
        if (args.json) return print(stringifyExact(runs, 2));
        const rows = runs.map((r) => [
          r.runId,
          r.name,
          r.stale ? "running (process gone)" : r.status,
          isoNs(r.tsStart).slice(0, 19).replace("T", " "),
          r.durationNs === null ? "-" : formatDuration(r.durationNs),
          r.events.toLocaleString("en-US"),
        ]);
        return print(table(["RUN", "NAME", "STATUS", "START (UTC)", "DURATION", "EVENTS"], rows));
      }
      const detail = inspectRun(db, resolveRunId(db, args.run));
      return print(args.json ? stringifyExact(detail, 2) : renderDetail(detail));
    } finally {
      db.close();
    }
  },
});

function print(text: string): number {
  out(`${text}\n`);
  return 0;
}

const money = (x: number) => x.toFixed(2);

function renderDetail(d: RunDetail): string {
  const status = d.stale
    ? "running (process gone: recover it with `runtape recover`)"
    : d.run.status;
  const lines = [
    `run       ${d.run.run_id}`,
    `name      ${d.run.name}`,
    `status    ${status}`,
    `started   ${isoNs(d.run.ts_start)}`,
    `ended     ${d.run.ts_end === null ? "-" : `${isoNs(d.run.ts_end)} (${formatDuration(d.run.ts_end - d.run.ts_start)})`}`,
    `events    ${d.events.toLocaleString("en-US")}${d.refused ? ` (${d.refused} refused)` : ""}`,
    `symbols   ${d.symbols.join(", ") || "-"}`,
    `periods   ${d.barPeriods.join(", ") || "-"}`,
    `from      ${d.firstTsEventNs === null ? "-" : `${isoNs(d.firstTsEventNs)} (${d.firstTsEventNs})`}`,
    `to        ${d.lastTsEventNs === null ? "-" : `${isoNs(d.lastTsEventNs)} (${d.lastTsEventNs})`}`,
    `config    ${d.config === null ? "-" : JSON.stringify(d.config)}`,
    `metadata  ${d.metadata === null ? "-" : JSON.stringify(d.metadata)}`,
    "",
    table(
      ["EVENT TYPE", "COUNT"],
      EVENT_TYPES.map((t) => [t, d.counts[t].toLocaleString("en-US")]),
    ),
  ];
  if (d.trading.length > 0) {
    lines.push(
      "",
      table(
        [
          "SYMBOL",
          "ORDERS",
          "REJECTED",
          "FILLS",
          "TRADED QTY",
          "COMMISSION",
          "REALISED P&L",
          "POSITION",
        ],
        d.trading.map((t) => [
          t.symbol,
          String(t.orders),
          String(t.rejections),
          String(t.fills),
          String(t.tradedQuantity),
          money(t.commission),
          money(t.realizedPnl),
          String(t.position),
        ]),
      ),
    );
  }
  return lines.join("\n");
}
