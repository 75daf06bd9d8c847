import type { RunsDb } from "./db.ts";
import { RuntapeError } from "./errors.ts";
import { catalog, EVENT_TYPES, type EventType, type Side } from "./events/catalog.ts";
import { computePnl, type PnlFill } from "./pnl.ts";
import {
  getRun,
  hasSequence,
  isRecordingAlive,
  listRuns,
  type RunRow,
  type RunStatus,
} from "./runs.ts";
import { SCHEMA_VERSION, SEQ_COLUMN } from "./schema.ts";

/** One line of the run list. */
export interface RunListEntry {
  runId: string;
  name: string;
  status: RunStatus;
  /** `running`, but the process that recorded it is gone: it crashed. */
  stale: boolean;
  tsStart: bigint;
  tsEnd: bigint | null;
  durationNs: bigint | null;
  events: bigint;
}

/** Trading of one symbol in a run. */
export interface SymbolTrading {
  symbol: string;
  orders: number;
  rejections: number;
  cancellations: number;
  modifications: number;
  fills: number;
  tradedQuantity: number;
  commission: number;
  /** By the average-cost method, before commission. */
  realizedPnl: number;
  /** realizedPnl − commission. */
  netPnl: number;
  position: number;
  averageCost: number | null;
}

/** Everything `runtape inspect --run` shows. */
export interface RunDetail {
  run: RunRow;
  stale: boolean;
  counts: Record<EventType, bigint>;
  events: bigint;
  /** Events the recorder refused; null for runs the Python recorder wrote. */
  refused: bigint | null;
  symbols: string[];
  barPeriods: string[];
  firstTsEventNs: bigint | null;
  lastTsEventNs: bigint | null;
  config: unknown;
  metadata: unknown;
  trading: SymbolTrading[];
}

const tableOf = (type: EventType) => catalog[type].table;
const hasColumn = (type: EventType, column: string) => Object.hasOwn(catalog[type].fields, column);

/** Events stored for a run, by type. Index-backed: the cost is that of the run, not the file. */
export function countEvents(db: RunsDb, runId: string): Record<EventType, bigint> {
  const counts = {} as Record<EventType, bigint>;
  for (const type of EVENT_TYPES) {
    const row = db.sqlite
      .query(`SELECT COUNT(*) AS n FROM ${tableOf(type)} WHERE run_id = ?`)
      .get(runId) as { n: bigint };
    counts[type] = row.n;
  }
  return counts;
}

const sum = (counts: Record<EventType, bigint>) =>
  Object.values(counts).reduce((a, b) => a + b, 0n);

const isStale = (run: RunRow) => run.status === "running" && !isRecordingAlive(run);

/** All runs, newest first, with their event counts and whether a `running` one is stale. */
export function listRunSummaries(db: RunsDb): RunListEntry[] {
  return listRuns(db).map((run) => ({
    runId: run.run_id,
    name: run.name,
    status: run.status,
    stale: isStale(run),
    tsStart: run.ts_start,
    tsEnd: run.ts_end,
    durationNs: run.ts_end === null ? null : run.ts_end - run.ts_start,
    events: run.events ?? sum(countEvents(db, run.run_id)),
  }));
}

/** Distinct symbols of a run. Tables indexed on (run_id, symbol) are walked one symbol at a time. */
function symbolsOf(db: RunsDb, runId: string): string[] {
  const symbols = new Set<string>();
  for (const type of EVENT_TYPES) {
    if (!hasColumn(type, "symbol")) continue;
    const table = tableOf(type);
    if ("symbolIndex" in catalog[type]) {
      const next = db.sqlite.query(
        `SELECT symbol FROM ${table} WHERE run_id = ? AND symbol > ? ORDER BY symbol LIMIT 1`,
      );
      for (
        let row = next.get(runId, "") as { symbol: string } | null;
        row;
        row = next.get(runId, row.symbol) as { symbol: string } | null
      ) {
        symbols.add(row.symbol);
      }
    } else {
      for (const row of db.sqlite
        .query(`SELECT DISTINCT symbol FROM ${table} WHERE run_id = ?`)
        .all(runId)) {
        symbols.add((row as { symbol: string }).symbol);
      }
    }
  }
  return [...symbols].sort();
}

/** First and last ts_event_ns of a run: per symbol on the bar tables, per run elsewhere (indexed). */
function timeRange(
  db: RunsDb,
  runId: string,
  symbols: readonly string[],
): [bigint | null, bigint | null] {
  let first: bigint | null = null;
  let last: bigint | null = null;
  const take = (lo: bigint | null, hi: bigint | null) => {
    if (lo !== null && (first === null || lo < first)) first = lo;
    if (hi !== null && (last === null || hi > last)) last = hi;
  };
  for (const type of EVENT_TYPES) {
    const table = tableOf(type);
    // MIN and MAX in separate queries: together they defeat SQLite's one-seek index optimisation.
    const edge = (fn: "MIN" | "MAX", bySymbol: boolean) =>
      db.sqlite.query(
        `SELECT ${fn}(ts_event_ns) AS t FROM ${table} WHERE run_id = ?${bySymbol ? " AND symbol = ?" : ""}`,
      );
    const at = (fn: "MIN" | "MAX", ...params: string[]) =>
      (edge(fn, params.length > 1).get(...params) as { t: bigint | null }).t;
    if ("symbolIndex" in catalog[type]) {
      for (const symbol of symbols) take(at("MIN", runId, symbol), at("MAX", runId, symbol));
    } else {
      take(at("MIN", runId), at("MAX", runId));
    }
  }
  return [first, last];
}

/** Bar periods of a run the recorder did not note them for (a Python-written run): a scan. */
function scanBarPeriods(db: RunsDb, runId: string, symbols: readonly string[]): string[] {
  const periods = new Set<string>();
  for (const type of EVENT_TYPES) {
    if (!hasColumn(type, "bar_period")) continue;
    const query = db.sqlite.query(
      `SELECT DISTINCT bar_period FROM ${tableOf(type)} WHERE run_id = ? AND symbol = ?`,
    );
    for (const symbol of symbols) {
      for (const row of query.all(runId, symbol))
        periods.add((row as { bar_period: string }).bar_period);
    }
  }
  return [...periods].sort();
}

const parseJson = (text: string | null): unknown => {
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text; // not JSON: show it as it is stored
  }
};

/** Trading per symbol: orders, rejections, fills, quantity, commission and average-cost P&L. */
function tradingOf(db: RunsDb, runId: string): SymbolTrading[] {
  const bySymbol = new Map<string, SymbolTrading & { fillList: PnlFill[] }>();
  const entry = (symbol: string) => {
    let e = bySymbol.get(symbol);
    if (e === undefined) {
      e = {
        symbol,
        orders: 0,
        rejections: 0,
        cancellations: 0,
        modifications: 0,
        fills: 0,
        tradedQuantity: 0,
        commission: 0,
        realizedPnl: 0,
        netPnl: 0,
        position: 0,
        averageCost: null,
        fillList: [],
      };
      bySymbol.set(symbol, e);
    }
    return e;
  };
  // Counts per symbol; responses carry no symbol and take their request's.
  const counts: [
    keyof SymbolTrading & ("orders" | "rejections" | "cancellations" | "modifications"),
    string,
  ][] = [
    [
      "orders",
      "SELECT symbol, COUNT(*) AS n FROM order_submissions WHERE run_id = $run GROUP BY symbol",
    ],
    [
      "rejections",
      "SELECT s.symbol, COUNT(*) AS n FROM orders_rejected r JOIN order_submissions s ON s.system_order_id = r.associated_order_id AND s.run_id = $run WHERE r.run_id = $run GROUP BY s.symbol",
    ],
    [
      "cancellations",
      "SELECT symbol, COUNT(*) AS n FROM order_cancellations WHERE run_id = $run GROUP BY symbol",
    ],
    [
      "modifications",
      "SELECT symbol, COUNT(*) AS n FROM order_modifications WHERE run_id = $run GROUP BY symbol",
    ],
  ];
  for (const [key, sql] of counts) {
    for (const { symbol, n } of db.sqlite.query(sql).all({ $run: runId }) as {
      symbol: string;
      n: bigint;
    }[]) {
      entry(symbol)[key] = Number(n);
    }
  }
  const order = hasSequence(db, runId) ? SEQ_COLUMN : "id";
  const fills = db.sqlite.query(
    `SELECT symbol, side, quantity_filled, fill_price, commission FROM fills WHERE run_id = ? ORDER BY ${order}`,
  );
  for (const row of fills.iterate(runId) as IterableIterator<
    PnlFill & { symbol: string; side: Side }
  >) {
    const e = entry(row.symbol);
    e.fills++;
    e.fillList.push(row);
  }
  return [...bySymbol.values()]
    .sort((a, b) => (a.symbol < b.symbol ? -1 : 1))
    .map(({ fillList, ...e }) => {
      const pnl = computePnl(fillList);
      return { ...e, ...pnl };
    });
}

/** A run in detail: counts, symbols, periods, time range, config, metadata and trading. */
export function inspectRun(db: RunsDb, runId: string): RunDetail {
  const run = getRun(db, runId);
  const counts = countEvents(db, runId);
  const symbols = symbolsOf(db, runId);
  const [firstTsEventNs, lastTsEventNs] = timeRange(db, runId, symbols);
  const barPeriods = run.bar_periods ?? scanBarPeriods(db, runId, symbols);
  return {
    run,
    stale: isStale(run),
    counts,
    events: sum(counts),
    refused: run.refused,
    symbols,
    barPeriods,
    firstTsEventNs,
    lastTsEventNs,
    config: parseJson(run.config),
    metadata: parseJson(run.metadata),
    trading: tradingOf(db, runId),
  };
}

/** One problem `checkDatabase` found. */
export interface CheckFinding {
  kind: "integrity" | "foreign_key" | "orphan" | "sequence" | "status" | "counter";
  runId?: string;
  table?: string;
  message: string;
}

/**
 * Checks a runs database: SQLite's integrity and foreign-key checks, rows of no run, gaps or
 * duplicates in runtape's sequence numbers, counters that disagree with the rows, and statuses
 * that contradict the data. Returns the findings; none means clean.
 */
export function checkDatabase(db: RunsDb): CheckFinding[] {
  const findings: CheckFinding[] = [];
  for (const row of db.sqlite.query("PRAGMA integrity_check").all() as {
    integrity_check: string;
  }[]) {
    if (row.integrity_check !== "ok")
      findings.push({ kind: "integrity", message: row.integrity_check });
  }
  const violations = db.sqlite.query("PRAGMA foreign_key_check").all() as {
    table: string;
    rowid: bigint;
    parent: string;
  }[];
  // Rows of an unknown run are reported below, grouped per run, as orphans.
  for (const row of violations.filter((v) => v.parent !== "runs")) {
    findings.push({
      kind: "foreign_key",
      table: row.table,
      message: `${row.table} row ${row.rowid} refers to a missing ${row.parent} row`,
    });
  }
  for (const type of EVENT_TYPES) {
    const table = tableOf(type);
    const orphans = db.sqlite
      .query(
        `SELECT run_id, COUNT(*) AS n FROM ${table} WHERE run_id NOT IN (SELECT run_id FROM runs) GROUP BY run_id`,
      )
      .all() as { run_id: string; n: bigint }[];
    for (const o of orphans) {
      findings.push({
        kind: "orphan",
        runId: o.run_id,
        table,
        message: `${table} has ${o.n} row(s) of unknown run ${JSON.stringify(o.run_id)}`,
      });
    }
  }
  for (const run of listRuns(db)) findings.push(...checkRun(db, run));
  return findings;
}

function checkRun(db: RunsDb, run: RunRow): CheckFinding[] {
  const findings: CheckFinding[] = [];
  const runId = run.run_id;
  const say = (kind: CheckFinding["kind"], message: string) =>
    findings.push({ kind, runId, message: `run ${JSON.stringify(runId)}: ${message}` });
  if (run.status === "running" && run.ts_end !== null)
    say("status", "is running but has an end time");
  if (run.status !== "running" && run.ts_end === null)
    say("status", `is ${run.status} but has no end time`);
  if (isStale(run))
    say(
      "status",
      `is running, but its recording process (pid ${run.pid}) is gone: \`runtape recover\` closes it`,
    );
  if (db.version < SCHEMA_VERSION || run.events === null) return findings;
  const union = EVENT_TYPES.map(
    (t) => `SELECT ${SEQ_COLUMN} AS s FROM ${tableOf(t)} WHERE run_id = ?`,
  ).join(" UNION ALL ");
  const stats = db.sqlite
    .query(
      `SELECT COUNT(*) AS n, COUNT(s) AS numbered, COUNT(DISTINCT s) AS distinct_, MIN(s) AS lo, MAX(s) AS hi FROM (${union})`,
    )
    .get(...EVENT_TYPES.map(() => runId)) as {
    n: bigint;
    numbered: bigint;
    distinct_: bigint;
    lo: bigint | null;
    hi: bigint | null;
  };
  if (stats.numbered < stats.n)
    say("sequence", `${stats.n - stats.numbered} event(s) have no sequence number`);
  if (stats.distinct_ < stats.numbered)
    say("sequence", `${stats.numbered - stats.distinct_} duplicate sequence number(s)`);
  if (stats.numbered > 0n && (stats.lo !== 1n || stats.hi !== stats.distinct_)) {
    say(
      "sequence",
      `sequence numbers run from ${stats.lo} to ${stats.hi} over ${stats.distinct_} events: there are gaps`,
    );
  }
  if (stats.n !== run.events)
    say("counter", `holds ${stats.n} events, its counter says ${run.events}`);
  return findings;
}

/** A run closed by {@link recoverRuns}. */
export interface RecoveredRun {
  runId: string;
  events: bigint;
  tsEnd: bigint;
}

/**
 * Closes runs left `running` by a process that died: status `failed`, `ts_end` the time of the
 * last recorded event. Never touches a run whose recording process is alive (or cannot be
 * judged): naming such a run throws; otherwise it is passed over.
 */
export function recoverRuns(db: RunsDb, options: { runId?: string } = {}): RecoveredRun[] {
  if (!db.writable) throw new RuntapeError(`${db.path} was opened read-only`, "READ_ONLY");
  const candidates =
    options.runId === undefined
      ? listRuns(db).filter((r) => r.status === "running")
      : [getRun(db, options.runId)];
  const recovered: RecoveredRun[] = [];
  for (const run of candidates) {
    if (options.runId !== undefined) {
      if (run.status !== "running")
        throw new RuntapeError(
          `run ${JSON.stringify(run.run_id)} is ${run.status}, not running`,
          "NOT_STALE",
        );
      if (isRecordingAlive(run)) {
        const who =
          run.pid === null
            ? "no recording process is on file"
            : `process ${run.pid} on ${run.host} is still recording it`;
        throw new RuntapeError(
          `run ${JSON.stringify(run.run_id)} is not stale: ${who}`,
          "NOT_STALE",
        );
      }
    } else if (isRecordingAlive(run)) {
      continue;
    }
    const events = sum(countEvents(db, run.run_id));
    const [, last] = timeRange(db, run.run_id, symbolsOf(db, run.run_id));
    const tsEnd = last ?? run.ts_start;
    db.sqlite
      .transaction(() => {
        db.sqlite
          .query(
            "UPDATE runs SET status = 'failed', ts_end = ? WHERE run_id = ? AND status = 'running'",
          )
          .run(tsEnd, run.run_id);
        db.sqlite
          .query("UPDATE runtape_runs SET events = ? WHERE run_id = ?")
          .run(events, run.run_id);
      })
      .immediate();
    recovered.push({ runId: run.run_id, events, tsEnd });
  }
  return recovered;
}
