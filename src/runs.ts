import { readFileSync, readlinkSync } from "node:fs";
import { hostname } from "node:os";
import { type RunsDb, withRunsDb } from "./db.ts";
import {
  describeValue,
  InvalidRunIdError,
  RunNotFoundError,
  RunRowError,
  RuntapeError,
} from "./errors.ts";
import { EXTENSION_SCHEMA_VERSION } from "./events/event-catalog.ts";
import { parseJsonObject, storedText, stringifyExact } from "./json.ts";
import { hasUnprintable, INVISIBLE } from "./text.ts";

/** Every status a run can have, in the runs table's `status` column. */
export const RUN_STATUSES = ["running", "completed", "failed", "cancelled"] as const;
/** Where a run stands; `running` with a dead recording process means the process crashed. */
export type RunStatus = (typeof RUN_STATUSES)[number];

/** A row of the `runs` table, plus runtape's bookkeeping where the run was recorded by runtape. */
export interface RunRow {
  run_id: string;
  name: string;
  ts_start: bigint;
  ts_end: bigint | null;
  status: RunStatus;
  /** JSON text, or null for an empty object. */
  config: string | null;
  /** JSON text, or null for an empty object. */
  metadata: string | null;
  /** Recording process, when runtape recorded the run. */
  pid: number | null;
  host: string | null;
  /** Events stored and refused, when runtape recorded the run (null for Python-written runs). */
  events: bigint | null;
  refused: bigint | null;
  /** Bar periods seen, sorted, when runtape recorded the run. */
  bar_periods: string[] | null;
}

const hasExtension = (db: RunsDb) => db.version >= EXTENSION_SCHEMA_VERSION;

function selectRuns(db: RunsDb, where: string): string {
  return hasExtension(db)
    ? `SELECT r.*, x.pid, x.host, x.events, x.refused, x.bar_periods FROM runs r
       LEFT JOIN runtape_runs x ON x.run_id = r.run_id ${where}`
    : `SELECT r.*, NULL AS pid, NULL AS host, NULL AS events, NULL AS refused, NULL AS bar_periods FROM runs r ${where}`;
}

/** A row of the runs query as a RunRow (pid as a number, bar periods as a list). */
export function toRunRow(raw: Record<string, unknown>): RunRow {
  const periods = typeof raw.bar_periods === "string" ? raw.bar_periods : null;
  return {
    ...(raw as unknown as RunRow),
    pid: raw.pid == null ? null : Number(raw.pid),
    bar_periods: periods === null ? null : periods.split(",").filter(Boolean),
  };
}

/**
 * What in a run's row breaks the model, column by column: the types every reader takes for
 * granted (a start time it subtracts, a status it compares). Its JSON columns are parsed, and
 * refused, where they are read.
 */
export function runRowProblems(run: RunRow): [column: string, value: unknown, reason: string][] {
  const bad: [string, unknown, string][] = [];
  if (typeof run.run_id !== "string") bad.push(["run_id", run.run_id, "expected text"]);
  if (typeof run.name !== "string") bad.push(["name", run.name, "expected text"]);
  if (typeof run.ts_start !== "bigint") bad.push(["ts_start", run.ts_start, "expected an integer"]);
  if (run.ts_end !== null && typeof run.ts_end !== "bigint")
    bad.push(["ts_end", run.ts_end, "expected an integer or null"]);
  if (!(RUN_STATUSES as readonly unknown[]).includes(run.status))
    bad.push(["status", run.status, `expected one of ${RUN_STATUSES.join(", ")}`]);
  return bad;
}

/** Options of {@link listRuns} and {@link getRun}. */
export interface RunReadOptions {
  /**
   * Return a run whose row breaks the model as it is, for the commands that must see it to mend
   * it (`inspect --check` reports it, `rm` removes it). Default false: RunRowError.
   */
  unchecked?: boolean;
}

function checkedRun(db: RunsDb, raw: Record<string, unknown>, options: RunReadOptions): RunRow {
  const run = toRunRow(raw);
  if (options.unchecked) return run;
  const [problem] = runRowProblems(run);
  if (problem !== undefined) throw new RunRowError(db.path, String(run.run_id), ...problem);
  return run;
}

/**
 * All runs of a runs database (a path, opened read-only for the call, or an open RunsDb), newest
 * start first. Throws RunRowError for a run whose row breaks the model
 * (see {@link RunReadOptions.unchecked}).
 */
export function listRuns(target: string | RunsDb, options: RunReadOptions = {}): RunRow[] {
  return withRunsDb(target, (db) => {
    if (db.version === 0) return [];
    const rows = db.sqlite.query(selectRuns(db, "ORDER BY r.ts_start DESC, r.rowid DESC")).all();
    return (rows as Record<string, unknown>[]).map((raw) => checkedRun(db, raw, options));
  });
}

/**
 * The run `runId` (or `"latest"`, the newest, as {@link resolveRunId} takes it) of a runs
 * database (a path or an open RunsDb); throws RunNotFoundError, and RunRowError as
 * {@link listRuns}.
 */
export function getRun(
  target: string | RunsDb,
  runId: string,
  options: RunReadOptions = {},
): RunRow {
  return withRunsDb(target, (db) => {
    const run = findRun(db, runId === "latest" ? resolveRunId(db, runId) : runId, options);
    if (run === undefined) throw new RunNotFoundError(runId);
    return run;
  });
}

/** The run `runId`, or undefined where there is none; throws RunRowError as {@link listRuns}. */
export function findRun(
  db: RunsDb,
  runId: string,
  options: RunReadOptions = {},
): RunRow | undefined {
  const raw =
    db.version === 0 ? null : db.sqlite.query(selectRuns(db, "WHERE r.run_id = ?")).get(runId);
  return raw == null ? undefined : checkedRun(db, raw as Record<string, unknown>, options);
}

/** Longest run id accepted, in characters. */
export const MAX_RUN_ID_LENGTH = 200;

/** Words that select a run instead of naming one. */
const SELECTORS = new Set(["latest"]);

/**
 * Why `id` cannot be a run id, or undefined when it can: a run id is 1 to 200 characters (code
 * points), not all spaces, none of them a control or invisible character, and not a selector word
 * (`latest`).
 */
export function runIdProblem(id: string): string | undefined {
  if (id.length === 0) return "it is empty";
  if (!id.isWellFormed()) return "it is not valid Unicode (a lone surrogate)";
  // Code points, not UTF-16 units: 🚀 is one, a joined emoji (👨‍👩‍👧) one per emoji and joiner.
  const characters = [...id].length;
  if (characters > MAX_RUN_ID_LENGTH)
    return `it has ${characters} characters, at most ${MAX_RUN_ID_LENGTH} are allowed`;
  if (INVISIBLE.test(id)) return "it contains an invisible character";
  if (hasUnprintable(id)) return "it contains a control character";
  if (id.trim().length === 0) return "it is blank";
  if (SELECTORS.has(id)) return `"${id}" selects a run and cannot name one`;
  return undefined;
}

/** Throws InvalidRunIdError where {@link runIdProblem} finds one. */
export function checkRunId(id: string): void {
  const problem = runIdProblem(id);
  if (problem !== undefined) throw new InvalidRunIdError(id, problem);
}

/**
 * Resolves `"latest"` (or nothing) to the newest run's id; checks that a given id exists. Takes a
 * path or an open RunsDb.
 */
export function resolveRunId(target: string | RunsDb, run?: string): string {
  return withRunsDb(target, (db) => {
    // Only that it exists: whoever reads the run checks its row.
    if (run !== undefined && run !== "latest") return getRun(db, run, { unchecked: true }).run_id;
    const latest =
      db.version === 0
        ? null
        : (db.sqlite
            .query("SELECT run_id FROM runs ORDER BY ts_start DESC, rowid DESC LIMIT 1")
            .get() as { run_id: string } | null);
    if (latest == null) throw new RuntapeError(`${db.path} holds no runs`, "NO_RUNS");
    return latest.run_id;
  });
}

let thisHost: string | undefined;

/**
 * Where this process runs, as runtape_runs.host keeps it for a recording: the host name and, on
 * Linux, the PID namespace (`box pid:[4026531836]`). Two containers of one pod share a host name
 * and a volume, not their pids: a pid from the other one says nothing here.
 */
export function recorderHost(): string {
  if (thisHost === undefined) {
    let namespace = "";
    try {
      namespace = ` ${readlinkSync("/proc/self/ns/pid")}`;
    } catch {
      // no /proc (macOS): the host name alone, as before
    }
    thisHost = hostname() + namespace;
  }
  return thisHost;
}

/**
 * Whether a pid recorded on `host` names a process of this host and PID namespace. A host kept
 * before runtape noted the namespace (a name alone) is taken by its name.
 */
export function isThisHost(host: string | null): boolean {
  if (host === null) return false;
  return host.includes(" ") ? host === recorderHost() : host === hostname();
}

/**
 * Whether the process that recorded a `running` run is still alive: its pid names a process (not
 * one that has ended and waits to be reaped), and one that started no later than the run where
 * Linux's /proc tells. Unknown (another host or PID namespace, or a run without runtape's
 * bookkeeping) counts as alive, so nothing closes a run it cannot judge.
 */
export function isRecordingAlive(run: RunRow): boolean {
  if (run.status !== "running") return false;
  if (run.pid === null || !isThisHost(run.host)) return true;
  try {
    process.kill(run.pid, 0);
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    if ((error as { code?: string }).code !== "EPERM") return false;
  }
  const stat = processStat(run.pid);
  if (stat === undefined) return true;
  // A zombie answers signals until its parent reaps it, which a parent that never waits never does.
  if (stat.state === "Z" || stat.state === "X") return false;
  // A pid is handed out again once its process has ended (after a reboot, say): a process that
  // started after the run did cannot be the one recording it. A start time that is no integer
  // (a broken row, read unchecked to be removed) cannot judge it.
  if (typeof run.ts_start !== "bigint") return true;
  return stat.startNs <= run.ts_start + START_SLACK_NS;
}

/**
 * How much later than the run a process may seem to start and still be its recorder: the start is
 * known to the clock tick, the boot time to the second, and the wall clock may have been adjusted.
 */
const START_SLACK_NS = 2_000_000_000n;
/** Linux's USER_HZ, the unit of /proc's process times: 100 on every architecture Bun runs on. */
const TICKS_PER_SECOND = 100n;

/**
 * Process `pid`'s state letter (R, S, Z…) and when it started, in nanoseconds since the epoch,
 * from Linux's /proc; undefined where there is no /proc, or it does not show the process.
 */
function processStat(pid: number): { state: string; startNs: bigint } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    // Field 2, the command name, is in parentheses and may hold spaces and parentheses itself.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const [state] = fields;
    const startTicks = fields[22 - 3];
    const bootSeconds = /^btime (\d+)$/m.exec(readFileSync("/proc/stat", "latin1"))?.[1];
    if (state === undefined || startTicks === undefined || bootSeconds === undefined) {
      return undefined;
    }
    const startNs =
      BigInt(bootSeconds) * 1_000_000_000n +
      (BigInt(startTicks) * 1_000_000_000n) / TICKS_PER_SECOND;
    return { state, startNs };
  } catch {
    return undefined;
  }
}

/**
 * Whether runtape recorded the run, so that its rows carry sequence numbers (exact order). Takes
 * a path or an open RunsDb.
 */
export function hasSequence(target: string | RunsDb, runId: string): boolean {
  return withRunsDb(target, (db) => {
    if (!hasExtension(db)) return false;
    return db.sqlite.query("SELECT 1 FROM runtape_runs WHERE run_id = ?").get(runId) !== null;
  });
}

/** JSON text for the `config`/`metadata` columns: an empty or absent object is NULL, as in the model. */
function toJsonColumn(value: Record<string, unknown> | null | undefined): string | null {
  if (value == null || Object.keys(value).length === 0) return null;
  return stringifyExact(value);
}

/**
 * {@link toJsonColumn} of a value from outside (a caller's config or metadata), checked: a plain
 * object, null or undefined, that JSON can write. Throws RuntapeError (INVALID_OPTION) naming
 * `what` otherwise, where the text would have been NULL (a number), not an object (a list), or an
 * untyped TypeError (a cycle).
 */
export function jsonColumnOf(value: unknown, what: string): string | null {
  const stored = storedText(value);
  if (stored !== undefined) return stored;
  if (value != null) {
    const proto = typeof value === "object" ? Object.getPrototypeOf(value) : undefined;
    if (Array.isArray(value) || (proto !== Object.prototype && proto !== null)) {
      throw new RuntapeError(
        `${what}: expected an object (got ${describeValue(value)})`,
        "INVALID_OPTION",
      );
    }
  }
  try {
    return toJsonColumn(value as Record<string, unknown> | null | undefined);
  } catch (error) {
    throw new RuntapeError(
      `${what}: cannot be written as JSON: ${(error as Error)?.message ?? String(error)}`,
      "INVALID_OPTION",
      { cause: error },
    );
  }
}

/** A `config`/`metadata` column as an object (null when empty); throws if it holds no JSON object. */
export function fromJsonColumn(text: string | null, what: string): Record<string, unknown> | null {
  return text === null ? null : parseJsonObject(text, what);
}

/**
 * A `config`/`metadata` column as every reader shows it: the object as {@link fromJsonColumn}
 * reads it (integers beyond 2^53 exact, as bigints), null when empty, or the stored text as it is
 * where another writer left something that is no JSON object, which a listing must still show.
 */
export function readJsonColumn(text: string | null): Record<string, unknown> | string | null {
  try {
    return fromJsonColumn(text, "column");
  } catch (error) {
    if (!(error instanceof RuntapeError)) throw error;
    return text;
  }
}
