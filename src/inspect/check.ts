import * as v from "valibot";
import { inSnapshot, type RunsDb, withRunsDb } from "../db.ts";
import { describeValue, type RowDecodeError } from "../errors.ts";
import { EXTENSION_SCHEMA_VERSION } from "../events/event-catalog.ts";
import { counted } from "../format.ts";
import { parseJsonObject } from "../json.ts";
import { checkOptions } from "../options.ts";
import { replay } from "../replay.ts";
import { getRun, isRecordingAlive, listRuns, type RunRow, runRowProblems } from "../runs.ts";
import { SEQ_COLUMN } from "../schema.ts";
import { cleanRun } from "../stored-runs.ts";
import { startIntegrityCheck } from "./integrity.ts";

/** One problem `checkDatabase` found. */
export interface CheckFinding {
  kind: "integrity" | "foreign_key" | "orphan" | "sequence" | "status" | "counter" | "run" | "row";
  runId?: string;
  table?: string;
  message: string;
}

/** Rows that do not decode reported per run; past this many, one line counts the rest. */
const ROW_FINDINGS_PER_RUN = 20;

/**
 * Checks a runs database: SQLite's integrity and foreign-key checks, rows of no run, run rows that
 * do not fit the model, event rows that do not decode into their event (as replay would refuse
 * them), gaps or duplicates in runtape's sequence numbers, counters that disagree with the rows,
 * and statuses that contradict the data. The layout itself is checked when the file is opened.
 * With `runId` (or `"latest"`), the per-run checks look at that run only. Returns the findings;
 * none means clean. Takes a path (opened read-only for the call) or an open RunsDb.
 * Reads every row, all in one read transaction (one moment of a file others may be writing): the
 * slow, thorough look, not inspect's quick one. On a large file SQLite's integrity check runs
 * meanwhile on a thread of its own (see startIntegrityCheck).
 */
export function checkDatabase(
  target: string | RunsDb,
  options: { runId?: string } = {},
): CheckFinding[] {
  checkOptions(CheckOptionsSchema, options, "check");
  return withRunsDb(target, (db) => check(db, options));
}

const CheckOptionsSchema = v.object({ runId: v.optional(v.string("expected a run id")) });

function check(db: RunsDb, options: { runId?: string }): CheckFinding[] {
  const stale = new Map<CheckFinding, string>();
  const findings = inSnapshot(db, () => {
    const integrity = startIntegrityCheck(db);
    try {
      const findings = foreignKeyFindings(db);
      const unchecked = { unchecked: true };
      const runs =
        options.runId === undefined
          ? listRuns(db, unchecked)
          : [getRun(db, options.runId, unchecked)];
      for (const run of runs) {
        const shape = runRowFindings(run);
        findings.push(...shape);
        // A run row that does not fit leaves nothing to compare its events with.
        if (shape.length === 0) {
          const clean = provenClean(db, run.run_id);
          findings.push(...checkRun(db, run, stale, clean));
          // Only a run not proven clean has rows to find: the replay says which, as it would.
          if (clean === undefined) findings.push(...rowFindings(db, run.run_id));
        }
      }
      const problems = integrity.result().filter((message) => message !== "ok");
      return [...problems.map((message) => ({ kind: "integrity" as const, message })), ...findings];
    } finally {
      integrity.stop();
    }
  });
  // The snapshot's `running` is of its moment, the process's death of now: a recording that
  // ended in between closed its run, which a read now shows.
  return findings.filter((finding) => {
    const runId = stale.get(finding);
    if (runId === undefined) return true;
    const now = db.sqlite.query("SELECT status FROM runs WHERE run_id = ?").get(runId) as {
      status: unknown;
    } | null;
    return now?.status === "running";
  });
}

const isJsonObjectText = (text: unknown) => {
  if (text === null) return true;
  if (typeof text !== "string") return false;
  try {
    parseJsonObject(text, "config");
    return true;
  } catch {
    return false;
  }
};

/** The run row against the model: what `inspect` and `replay` take for granted. */
function runRowFindings(run: RunRow): CheckFinding[] {
  const runId = String(run.run_id);
  const bad = runRowProblems(run);
  for (const column of ["config", "metadata"] as const) {
    if (!isJsonObjectText(run[column]))
      bad.push([column, run[column], "expected a JSON object or null"]);
  }
  return bad.map(([column, value, reason]) => ({
    kind: "run",
    runId,
    table: "runs",
    message: `run ${JSON.stringify(runId)}, ${column}: ${reason} (got ${describeValue(value)})`,
  }));
}

/** Events per type of a run proven clean from its stored rows (see cleanRun), or undefined. */
function provenClean(db: RunsDb, runId: string): Record<string, number> | undefined {
  try {
    return cleanRun({ db, runId });
  } catch {
    return undefined; // the event path meets the error too, and reports it as replay does
  }
}

/** Every event row of the run through the catalog's decoders, as a replay reads it. */
function rowFindings(db: RunsDb, runId: string): CheckFinding[] {
  const findings: CheckFinding[] = [];
  const stats = { runId, events: 0, skipped: 0 };
  const onInvalidRow = (error: RowDecodeError) => {
    if (findings.length < ROW_FINDINGS_PER_RUN) {
      findings.push({
        kind: "row",
        runId,
        table: error.table,
        message: `run ${JSON.stringify(runId)}: ${error.message}`,
      });
    }
  };
  for (const _ of replay(db, { run: runId, onInvalidRow, stats })) {
    // Only the rows that fail matter here.
  }
  const more = stats.skipped - ROW_FINDINGS_PER_RUN;
  if (more > 0) {
    findings.push({
      kind: "row",
      runId,
      message: `run ${JSON.stringify(runId)}: ${counted(more, "more row")} ${more === 1 ? "does" : "do"} not decode`,
    });
  }
  return findings;
}

/**
 * Foreign-key violations. Rows that name no run are grouped per table and run, as orphans: one
 * finding for a deleted run's million rows, not a million.
 */
function foreignKeyFindings(db: RunsDb): CheckFinding[] {
  const findings: CheckFinding[] = [];
  const orphans = new Map<string, { table: string; runId: string; rows: number }>();
  for (const v of db.sqlite.query("PRAGMA foreign_key_check").iterate() as IterableIterator<{
    table: string;
    rowid: bigint | null;
    parent: string;
  }>) {
    const row =
      v.parent === "runs"
        ? (db.sqlite.query(`SELECT run_id FROM "${v.table}" WHERE rowid = ?`).get(v.rowid) as {
            run_id: string;
          } | null)
        : null;
    if (row === null) {
      findings.push({
        kind: "foreign_key",
        table: v.table,
        message: `${v.table} row ${v.rowid} refers to a missing ${v.parent} row`,
      });
      continue;
    }
    const key = `${v.table}\u0000${row.run_id}`;
    const group = orphans.get(key) ?? { table: v.table, runId: row.run_id, rows: 0 };
    group.rows++;
    orphans.set(key, group);
  }
  for (const { table, runId, rows } of orphans.values()) {
    findings.push({
      kind: "orphan",
      runId,
      table,
      message: `${table} has ${counted(rows, "row")} of unknown run ${JSON.stringify(runId)}`,
    });
  }
  return findings;
}

/**
 * The run's status, sequence numbers and counter. `clean`: the events per type of a run whose
 * sequence numbers are proven whole (see cleanRun), which leaves only the counter to compare. A
 * finding that its recording process is gone goes into `stale` too, to be read again.
 */
function checkRun(
  db: RunsDb,
  run: RunRow,
  stale: Map<CheckFinding, string>,
  clean?: Record<string, number>,
): CheckFinding[] {
  const findings: CheckFinding[] = [];
  const runId = run.run_id;
  const say = (kind: CheckFinding["kind"], message: string) => {
    const finding = { kind, runId, message: `run ${JSON.stringify(runId)}: ${message}` };
    findings.push(finding);
    return finding;
  };
  if (run.status === "running" && run.ts_end !== null)
    say("status", "is running but has an end time");
  if (run.status !== "running" && run.ts_end === null)
    say("status", `is ${run.status} but has no end time`);
  if (run.status === "running" && !isRecordingAlive(run)) {
    const gone = `is running, but its recording process (pid ${run.pid}) is gone: \`runtape recover\` closes it`;
    stale.set(say("status", gone), runId);
  }
  // Sequence numbers and counters exist only where runtape recorded the run.
  if (db.version < EXTENSION_SCHEMA_VERSION || run.events === null) return findings;
  if (clean !== undefined) {
    const n = Object.values(clean).reduce((sum, k) => sum + BigInt(k), 0n);
    if (n !== run.events) say("counter", `holds ${n} events, its counter says ${run.events}`);
    return findings;
  }
  const types = db.catalog.typesAt(db.version);
  const union = types
    .map((t) => `SELECT ${SEQ_COLUMN} AS s FROM ${db.catalog.table(t)} WHERE run_id = ?`)
    .join(" UNION ALL ");
  const stats = db.sqlite
    .query(
      `SELECT COUNT(*) AS n, COUNT(s) AS numbered, COUNT(DISTINCT s) AS distinct_, MIN(s) AS lo, MAX(s) AS hi FROM (${union})`,
    )
    .get(...types.map(() => runId)) as {
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
  // Distinct numbers from 1 to their count leave no gap.
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
