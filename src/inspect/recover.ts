import { hostname } from "node:os";
import * as v from "valibot";
import { type RunsDb, withRunsDb } from "../db.ts";
import { RuntapeError } from "../errors.ts";
import { checkOptions } from "../options.ts";
import { getRun, isRecordingAlive, isThisHost, listRuns, type RunRow } from "../runs.ts";
import { countEvents, sumCounts } from "./queries.ts";

/** A run closed by {@link recoverRuns}. */
export interface RecoveredRun {
  runId: string;
  /** Events the run holds. */
  events: bigint;
  /** Its new ts_end: when its last recorded event was built (`ts_created_ns`), never before ts_start. */
  tsEnd: bigint;
}

/**
 * When the run's last recorded event was built. `ts_end` is wall-clock time like `ts_start`, and
 * so is `ts_created_ns`; `ts_event_ns` is market time (in a backtest, years before the run).
 */
function lastCreatedNs(db: RunsDb, runId: string): bigint | null {
  let last: bigint | null = null;
  for (const type of db.catalog.typesAt(db.version)) {
    const row = db.sqlite
      .query(`SELECT MAX(ts_created_ns) AS t FROM ${db.catalog.table(type)} WHERE run_id = ?`)
      .get(runId) as { t: bigint | null };
    if (row.t !== null && (last === null || row.t > last)) last = row.t;
  }
  return last;
}

/**
 * Whether nothing can ever tell if the process recording the run lives: runtape did not record it
 * (the Python recorder did), so no pid is on file. Only the user can say that it has ended.
 */
export const unjudgeable = (run: RunRow): boolean => run.pid === null;

/** Why a `running` run cannot be closed: its recorder may still be writing it. */
export function whyAlive(run: RunRow): string {
  if (unjudgeable(run)) return "runtape did not record it, so nothing tells whether it still runs";
  if (!isThisHost(run.host)) {
    const [name] = (run.host ?? "(unknown)").split(" ");
    const where =
      name === hostname() ? `in another PID namespace on host ${name}` : `on host ${name}`;
    return `its process ${run.pid} runs ${where}, which cannot be checked from here`;
  }
  return `process ${run.pid} is still recording it`;
}

/**
 * Closes runs left `running` by a process that died: status `failed`, `ts_end` the time of the
 * last recorded event, the event counter set to the rows stored. Runs whose recording process is
 * alive, or runs on another host, are never touched: naming one throws a RuntapeError (code
 * NOT_STALE), as does naming a run that is not running. A run runtape did not record (the Python
 * recorder's: no pid on file, so nothing can tell whether its process lives) is closed only when
 * named: naming it asserts that its process has ended. Without a run id, such runs and live ones
 * are passed over ({@link unjudgeableRuns} lists the former). An open RunsDb must be open for
 * writing, unless `dryRun`: then it says what it would close, with every check, and writes
 * nothing. A path is read first, and opened for writing only where there is a run to close (a
 * Python-written file is migrated only then), as `runtape recover` does.
 */
export function recoverRuns(
  target: string | RunsDb,
  options: { runId?: string; dryRun?: boolean } = {},
): RecoveredRun[] {
  checkOptions(RecoverOptionsSchema, options, "recover");
  if (typeof target !== "string") return withRunsDb(target, (db) => recover(db, options));
  const planned = withRunsDb(target, (db) => recover(db, { ...options, dryRun: true }));
  if (options.dryRun || planned.length === 0) return planned;
  return withRunsDb(target, (db) => recover(db, options), {
    mode: "write",
    create: false,
    initialize: false,
  });
}

const RecoverOptionsSchema = v.object({
  runId: v.optional(v.string("expected a run id")),
  dryRun: v.optional(v.boolean()),
});

function recover(db: RunsDb, options: { runId?: string; dryRun?: boolean }): RecoveredRun[] {
  if (!db.writable && !options.dryRun) {
    throw new RuntapeError(`${db.path} was opened read-only`, "READ_ONLY");
  }
  let candidates: RunRow[];
  if (options.runId === undefined) {
    candidates = listRuns(db).filter((run) => run.status === "running" && !isRecordingAlive(run));
  } else {
    const run = getRun(db, options.runId);
    const name = JSON.stringify(run.run_id);
    if (run.status !== "running")
      throw new RuntapeError(`run ${name} is ${run.status}, not running`, "NOT_STALE");
    if (!unjudgeable(run) && isRecordingAlive(run))
      throw new RuntapeError(`run ${name} is not stale: ${whyAlive(run)}`, "NOT_STALE");
    candidates = [run];
  }
  const closing = candidates.map((run) => {
    const events = sumCounts(countEvents(db, run.run_id));
    // Events ingested from a file keep their original creation time, which may predate the run.
    const built = lastCreatedNs(db, run.run_id);
    const tsEnd = built !== null && built > run.ts_start ? built : run.ts_start;
    return { runId: run.run_id, events, tsEnd };
  });
  if (options.dryRun || closing.length === 0) return closing;
  const close = db.sqlite.query(
    "UPDATE runs SET status = 'failed', ts_end = ? WHERE run_id = ? AND status = 'running'",
  );
  const setCounter = db.sqlite.query("UPDATE runtape_runs SET events = ? WHERE run_id = ?");
  for (const { runId, events, tsEnd } of closing) {
    db.sqlite
      .transaction(() => {
        close.run(tsEnd, runId);
        setCounter.run(events, runId);
      })
      .immediate();
  }
  return closing;
}

/**
 * The ids of the `running` runs that {@link recoverRuns} passes over unless named because nothing
 * tells whether their process lives (runtape did not record them), newest start first. Takes a
 * path (opened read-only for the call) or an open RunsDb.
 */
export function unjudgeableRuns(target: string | RunsDb): string[] {
  return listRuns(target)
    .filter((run) => run.status === "running" && unjudgeable(run))
    .map((run) => run.run_id);
}
