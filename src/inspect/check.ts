import type { RunsDb } from "../db.ts";
import { isRecordingAlive, listRuns, type RunRow } from "../runs.ts";
import { EXTENSION_SCHEMA_VERSION, SEQ_COLUMN } from "../schema.ts";

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
 * that contradict the data. Returns the findings; none means clean. Reads every row: this is the
 * slow, thorough look, not inspect's quick one.
 */
export function checkDatabase(db: RunsDb): CheckFinding[] {
  const findings: CheckFinding[] = [];
  for (const { integrity_check } of db.sqlite.query("PRAGMA integrity_check").all() as {
    integrity_check: string;
  }[]) {
    if (integrity_check !== "ok") findings.push({ kind: "integrity", message: integrity_check });
  }
  findings.push(...foreignKeyFindings(db));
  for (const run of listRuns(db)) findings.push(...checkRun(db, run));
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
      message: `${table} has ${rows} row(s) of unknown run ${JSON.stringify(runId)}`,
    });
  }
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
  if (run.status === "running" && !isRecordingAlive(run))
    say(
      "status",
      `is running, but its recording process (pid ${run.pid}) is gone: \`runtape recover\` closes it`,
    );
  // Sequence numbers and counters exist only where runtape recorded the run.
  if (db.version < EXTENSION_SCHEMA_VERSION || run.events === null) return findings;
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
