import { defineCommand } from "citty";
import { EVENT_TYPES } from "../events/catalog.ts";
import { formatCount, formatDuration, formatNumber, isoNs } from "../format.ts";
import {
  type CheckFinding,
  checkDatabase,
  inspectRun,
  listRunSummaries,
  type RunDetail,
  type RunListEntry,
} from "../inspect.ts";
import { stringifyExact } from "../json.ts";
import { databaseSizes } from "../manage.ts";
import { resolveRunId } from "../runs.ts";
import { PgStore } from "../store/index.ts";
import { checkStore, inspectStoredRun, listSourceSummaries } from "../store/inspect.ts";
import { printable } from "../text.ts";
import { checkInt64 } from "./args.ts";
import { commandMeta } from "./commands.ts";
import { int64Arg, out, printJson, table } from "./output.ts";
import { openSourceArg } from "./source.ts";
import { commonArgs, runArgs, UsageError } from "./usage.ts";

export default defineCommand({
  meta: commandMeta("inspect"),
  args: {
    ...runArgs,
    run: { ...runArgs.run, description: "Show this run in detail (ID or latest)" },
    json: { type: "boolean", description: "Print one JSON document (exact integers) instead" },
    ...int64Arg,
    check: {
      type: "boolean",
      description:
        "Check integrity (SQLite, layout, every row decoded, sequences, counters, statuses; with --run that run's rows); exit 0 clean, 1 findings, 2 error",
    },
    sizes: {
      type: "boolean",
      description: "Show the file's size and each table's (with its indexes), largest first",
    },
    ...commonArgs,
  },
  async run({ args, rawArgs }) {
    checkInt64(rawArgs, args.json ? undefined : "inspect without --json");
    if (args.sizes && (args.check || args.run !== undefined)) {
      throw new UsageError(
        `--sizes is about the whole file: not with ${args.check ? "--check" : "--run"}`,
      );
    }
    const source = await openSourceArg(args.db, args);
    if (source instanceof PgStore) return await inspectStore(source, args);
    const db = source.db;
    try {
      if (args.check) {
        const runId = args.run === undefined ? undefined : resolveRunId(db, args.run);
        return printFindings(checkDatabase(db, { runId }), args.db, args);
      }
      if (args.sizes) return printSizes(databaseSizes(db), args);
      if (args.run === undefined) return printList(listRunSummaries(db), args);
      const detail = inspectRun(db, resolveRunId(db, args.run));
      return printDetail(detail, args);
    } finally {
      db.close();
    }
  },
});

/** inspect of a store URL: the run list, a run in detail, or the check of every run's digest. */
async function inspectStore(
  store: PgStore,
  args: {
    db: string;
    run?: string;
    json?: boolean;
    check?: boolean;
    sizes?: boolean;
    int64?: string;
  },
): Promise<number> {
  try {
    if (args.sizes) throw new UsageError("--sizes reads a runs database file, not a store");
    if (args.check) return printFindings(await checkStore(store), store.label, args);
    if (args.run === undefined) return printList(await listSourceSummaries(store), args);
    const detail = await inspectStoredRun(store, await store.resolveRunId(args.run));
    return printDetail(detail, args);
  } finally {
    await store.close();
  }
}

/** How a command asked for JSON: `--json` and `--int64`. */
type JsonArgs = { json?: boolean; int64?: string };

function printDetail(detail: RunDetail, args: JsonArgs): number {
  // The config and metadata are the user's; counts are keyed by event type.
  if (args.json) return printJson(detail, args, ["config", "metadata", "counts"]);
  return print(renderDetail(detail));
}

function printList(runs: RunListEntry[], args: JsonArgs): number {
  if (args.json) return printJson(runs, args);
  const rows = runs.map((r) => [
    printable(r.runId),
    printable(r.name),
    r.stale ? "running (process gone)" : r.status,
    isoNs(r.tsStart).slice(0, 19).replace("T", " "),
    r.durationNs === null ? "-" : formatDuration(r.durationNs),
    formatCount(r.events),
  ]);
  return print(table(["RUN", "NAME", "STATUS", "START (UTC)", "DURATION", "EVENTS"], rows));
}

const mb = (bytes: number) => (bytes / 1e6).toFixed(2);

function printSizes(sizes: ReturnType<typeof databaseSizes>, args: JsonArgs): number {
  if (args.json) return printJson(sizes, args);
  const rows = sizes.tables.map((t) => [t.table, mb(t.bytes), mb(t.indexBytes)]);
  return print(
    `file  ${mb(sizes.fileBytes)} MB (with its write-ahead log)\n\n${table(["TABLE", "MB", "OF WHICH INDEXES"], rows)}`,
  );
}

function printFindings(findings: CheckFinding[], label: string, args: JsonArgs): number {
  if (args.json) printJson({ ok: findings.length === 0, findings }, args);
  else if (findings.length === 0) print(`${label}: no problems found`);
  else print(findings.map((f) => `${f.kind}: ${printable(f.message)}`).join("\n"));
  return findings.length === 0 ? 0 : 1;
}

function print(text: string): number {
  out(`${text}\n`);
  return 0;
}

function renderDetail(d: RunDetail): string {
  const status = d.stale
    ? "running (process gone: recover it with `runtape recover`)"
    : d.run.status;
  const lines = [
    `run       ${printable(d.run.run_id)}`,
    `name      ${printable(d.run.name)}`,
    `status    ${status}`,
    `started   ${isoNs(d.run.ts_start)}`,
    `ended     ${d.run.ts_end === null ? "-" : `${isoNs(d.run.ts_end)} (${formatDuration(d.run.ts_end - d.run.ts_start)})`}`,
    `events    ${formatCount(d.events)}${d.refused ? ` (${d.refused} refused)` : ""}`,
    `symbols   ${printable(d.symbols.join(", ")) || "-"}`,
    `periods   ${printable(d.barPeriods.join(", ")) || "-"}`,
    `from      ${d.firstTsEventNs === null ? "-" : `${isoNs(d.firstTsEventNs)} (${d.firstTsEventNs})`}`,
    `to        ${d.lastTsEventNs === null ? "-" : `${isoNs(d.lastTsEventNs)} (${d.lastTsEventNs})`}`,
    `config    ${d.config === null ? "-" : printable(stringifyExact(d.config))}`,
    `metadata  ${d.metadata === null ? "-" : printable(stringifyExact(d.metadata))}`,
    "",
    table(
      ["EVENT TYPE", "COUNT"],
      EVENT_TYPES.map((t) => [t, formatCount(d.counts[t])]),
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
          printable(t.symbol),
          formatCount(t.orders),
          formatCount(t.rejections),
          formatCount(t.fills),
          formatCount(t.tradedQuantity),
          formatNumber(t.commission),
          formatNumber(t.realizedPnl),
          formatCount(t.position),
        ]),
      ),
    );
  }
  return lines.join("\n");
}
