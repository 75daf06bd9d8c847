/**
 * What `runtape inspect` shows, as plain data: the run list, one run in detail with per-symbol
 * trading and P&L, the thorough integrity check and the recovery of crashed runs.
 * Everything that looks at one run goes through indexes that lead with run_id, so its cost is
 * that of the run (mostly far less), whatever else the file holds.
 */
import { inSnapshot, type RunsDb, withRunsDb } from "./db.ts";
import type { EventType } from "./events/catalog.ts";
import { countEvents as countStored, sumCounts } from "./inspect/queries.ts";
import { cachedSummary, computeSummary, storeSummary } from "./inspect/summary.ts";
import {
  getRun,
  isRecordingAlive,
  listRuns,
  type RunRow,
  type RunStatus,
  readJsonColumn,
  resolveRunId,
} from "./runs.ts";
import type { SymbolTrading } from "./trading.ts";

export { type CheckFinding, checkDatabase } from "./inspect/check.ts";
export { type RecoveredRun, recoverRuns, unjudgeableRuns } from "./inspect/recover.ts";
export type { SymbolTrading } from "./trading.ts";

/**
 * Events stored for the run `runId` (or `"latest"`), by type (0 for types newer than the file),
 * of a runs database: a path (opened read-only for the call) or an open RunsDb. Throws
 * RunNotFoundError for a run the file does not hold: no run is not a run of no events.
 */
export function countEvents(target: string | RunsDb, runId: string): Record<EventType, bigint> {
  return withRunsDb(target, (db) => inSnapshot(db, () => countStored(db, resolveRunId(db, runId))));
}

/** One line of the run list. */
export interface RunListEntry {
  runId: string;
  name: string;
  status: RunStatus;
  /** A recording process is still writing the run (or, for want of a pid on file, may be). */
  alive: boolean;
  /** `running`, but the process that recorded it is gone: it crashed; `runtape recover` closes it. */
  stale: boolean;
  tsStart: bigint;
  tsEnd: bigint | null;
  durationNs: bigint | null;
  /** Events stored. */
  events: bigint;
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
  /** Parsed JSON (the stored text where it is not JSON); null when absent. */
  config: unknown;
  metadata: unknown;
  /** Per symbol, sorted by symbol. */
  trading: SymbolTrading[];
}

/**
 * All runs of a runs database (a path, opened read-only for the call, or an open RunsDb), newest
 * first. runtape keeps each run's event count; only runs the Python recorder wrote have theirs
 * counted (through the run_id indexes).
 */
export function listRunSummaries(target: string | RunsDb): RunListEntry[] {
  return withRunsDb(target, (db) =>
    inSnapshot(db, () =>
      listRuns(db).map((run) =>
        toListEntry(run, run.events ?? sumCounts(countStored(db, run.run_id))),
      ),
    ),
  );
}

/** A run's line in the run list, given its event count. */
export function toListEntry(run: RunRow, events: bigint): RunListEntry {
  const alive = isRecordingAlive(run);
  return {
    runId: run.run_id,
    name: run.name,
    status: run.status,
    alive,
    stale: run.status === "running" && !alive,
    tsStart: run.ts_start,
    tsEnd: run.ts_end,
    durationNs: run.ts_end === null ? null : run.ts_end - run.ts_start,
    events,
  };
}

/**
 * A run (its id, or `"latest"`) in detail: counts, symbols, periods, time range, config,
 * metadata and trading, from a runs database path (opened read-only for the call) or an open
 * RunsDb. Read in one transaction, so that a run being recorded meanwhile shows one consistent
 * moment. A finished run's summary of its events is read from the file's cache where it holds
 * one, else computed and then stored there (where runtape may write).
 */
export function inspectRun(target: string | RunsDb, runId: string): RunDetail {
  return withRunsDb(target, (db) => detailOf(db, runId));
}

function detailOf(db: RunsDb, runId: string): RunDetail {
  const [run, summary, cached] = db.sqlite.transaction(() => {
    const run = getRun(db, runId);
    const cached = cachedSummary(db, run);
    return [run, cached ?? computeSummary(db, run), cached !== undefined] as const;
  })();
  if (!cached) storeSummary(db, run, summary);
  return {
    run,
    stale: run.status === "running" && !isRecordingAlive(run),
    counts: summary.counts,
    events: sumCounts(summary.counts),
    refused: run.refused,
    symbols: summary.symbols,
    barPeriods: summary.barPeriods,
    firstTsEventNs: summary.firstTsEventNs,
    lastTsEventNs: summary.lastTsEventNs,
    config: readJsonColumn(run.config),
    metadata: readJsonColumn(run.metadata),
    trading: summary.trading,
  };
}
