/**
 * Facts about runs proven from their stored rows, without building events: that a run's rows all
 * decode and its sequence numbers are whole (inspect --check), or that two runs hold the same
 * events (diff). Decoding is a pure function of a row, so equal rows are equal events, and a row
 * that passes replay's checks is one replay takes. Each answer is all or nothing: where a row fails
 * or anything is not proven, the caller takes the event path, which says exactly what is wrong.
 */
import type { Statement } from "bun:sqlite";
import { inSnapshot, type RunsDb } from "./db.ts";
import { defaultCatalog, type EventType } from "./events/catalog.ts";
import type { SqlValue } from "./events/fields.ts";
import { countEvents, sumCounts } from "./inspect/queries.ts";
import { rowCheck, selectColumns } from "./replay.ts";
import { getRun, hasSequence } from "./runs.ts";
import { SEQ_COLUMN } from "./schema.ts";
import { startThread } from "./thread.ts";

type Row = Record<string, SqlValue>;

/** A run of a database: both resolved. */
export interface StoredRun {
  db: RunsDb;
  runId: string;
}

/**
 * One table's rows of a run as the event path reads them, in `seq` order (`bySeq`) or as stored;
 * finalize when done.
 */
function tableRows(
  db: RunsDb,
  type: string,
  runId: string,
  bySeq = true,
): [Iterator<Row>, Statement] {
  const columns = selectColumns(db, type).join(", ");
  const statement = db.sqlite.prepare(
    bySeq
      ? `SELECT ${SEQ_COLUMN}, ${columns} FROM ${db.catalog.table(type)} WHERE run_id = ? ORDER BY ${SEQ_COLUMN}`
      : `SELECT ${columns} FROM ${db.catalog.table(type)} WHERE run_id = ?`,
  );
  return [statement.iterate(runId) as Iterator<Row>, statement];
}

/**
 * Whether `seq` follows `last` in its table: an integer (an integral REAL would also place the
 * row, but is not worth proving) greater than the one before, so that no two rows of a table tie.
 */
const follows = (seq: SqlValue, last: bigint): seq is bigint =>
  typeof seq === "bigint" && seq > last;

/**
 * The events per type of the run when every row decodes and, where runtape recorded it, its
 * sequence numbers are those of its recorder (1 to the run's size, each once); undefined where
 * that is not so. Reads each row once, checks it as replay would (a Python-written run's rows are
 * placed by ts_created_ns, which the checks cover); memory is a bit per event.
 */
export function cleanRun(run: StoredRun): Record<string, number> | undefined {
  const { db, runId } = run;
  return inSnapshot(db, () => {
    const types = db.catalog.typesAt(db.version);
    if (!hasSequence(db, runId)) return checkedRows(run, types);
    const size = Number(sumCounts(countEvents(db, runId)));
    const seen = new Uint8Array(Math.ceil(size / 8));
    // `size` distinct numbers from 1 to `size`: each once, no gap.
    return checkedRows(run, types, (seq) => {
      if (seq > size) return false;
      const i = seq - 1;
      const bit = 1 << (i & 7);
      if ((seen[i >> 3] as number) & bit) return false; // another table has it
      seen[i >> 3] = (seen[i >> 3] as number) | bit;
      return true;
    });
  });
}

/**
 * The rows per type of `types` when each decodes and its `seq` passes `take` (as a number, above
 * the one before in its table), else undefined. Without `take`, rows as stored and no `seq`. The
 * caller holds the read transaction.
 */
function checkedRows(
  { db, runId }: StoredRun,
  types: readonly string[],
  take?: (seq: number) => boolean,
): Record<string, number> | undefined {
  const counts: Record<string, number> = {};
  for (const type of types) {
    const check = rowCheck(db, type);
    const [rows, statement] = tableRows(db, type, runId, take !== undefined);
    let n = 0;
    try {
      let last = 0n;
      for (let next = rows.next(); !next.done; next = rows.next()) {
        if (take) {
          const seq = next.value[SEQ_COLUMN] as SqlValue;
          if (!follows(seq, last) || !take(Number(seq))) return undefined;
          last = seq;
        }
        if (!check(next.value)) return undefined;
        n++;
      }
    } finally {
      statement.finalize();
    }
    counts[type] = n;
  }
  return counts;
}

/**
 * The events per type of two runs when their stored rows prove that they hold the same events,
 * compared field by field except `ignore`, leaving out `excludeTypes`; undefined where that is not
 * proven (a row differs or fails a check, a run carries no sequence numbers, the files' layouts
 * differ). Equal `seq` and `ts_event_ns` in every table (always compared) are the same merge, so
 * the same order. The same run of the same handle is read once. The caller holds a read
 * transaction on each side. Large finished runs are read by two threads, the tables shared out.
 */
export function sameRuns(
  a: StoredRun,
  b: StoredRun,
  ignore: ReadonlySet<string>,
  excludeTypes: ReadonlySet<string>,
): Record<string, number> | undefined {
  if (a.db.catalog !== b.db.catalog || a.db.version !== b.db.version) return undefined;
  if (!hasSequence(a.db, a.runId) || !hasSequence(b.db, b.runId)) return undefined;
  const types = a.db.catalog.typesAt(a.db.version).filter((type) => !excludeTypes.has(type));
  const job: TablesJob = {
    a: { path: a.db.path, runId: a.runId },
    b: { path: b.db.path, runId: b.runId },
    same: a.db === b.db && a.runId === b.runId,
    ignore: [...ignore],
    types: [],
  };
  const [beside, here] = shareOut(a, b, types);
  const thread =
    beside.length > 0
      ? startThread<Record<string, number> | null>("src/stored-runs-worker.ts", {
          ...job,
          types: beside,
        })
      : undefined;
  try {
    const mine = sameTables(a, b, { ...job, types: thread ? here : types });
    if (mine === undefined || thread === undefined) return mine;
    let theirs = thread.result();
    // The thread read its own moment of each file: it holds only if the rows were the same then.
    const counted = [countEvents(a.db, a.runId), countEvents(b.db, b.runId)];
    if (
      theirs &&
      beside.some((t) => counted.some((c) => Number(c[t as EventType]) !== theirs?.[t]))
    )
      theirs = undefined;
    theirs ??= sameTables(a, b, { ...job, types: beside });
    if (theirs === null || theirs === undefined) return undefined;
    return Object.fromEntries(types.map((t) => [t, (mine[t] ?? theirs[t]) as number]));
  } finally {
    thread?.stop();
  }
}

/** Runs, both sides in this many events or more, whose reading two threads share. */
const SHARED_FROM_EVENTS = 200_000;

/**
 * The tables of `types` a second thread reads (about half the rows, largest tables first), and
 * those left here; none beside where a thread cannot do as well: small runs, runs still being
 * recorded (the thread's moment of the file would be another), other catalogs, immutable storage.
 */
function shareOut(a: StoredRun, b: StoredRun, types: string[]): [string[], string[]] {
  const shareable = [a, b].every(
    ({ db, runId }) =>
      db.catalog === defaultCatalog &&
      db.access !== "immutable" &&
      getRun(db, runId).status !== "running",
  );
  if (!shareable) return [[], types];
  const counts = countEvents(a.db, a.runId);
  const total = types.reduce((n, t) => n + Number(counts[t as EventType]), 0);
  if (total < SHARED_FROM_EVENTS) return [[], types];
  const beside: string[] = [];
  let taken = 0;
  for (const type of [...types].sort(
    (x, y) => Number(counts[y as EventType]) - Number(counts[x as EventType]),
  )) {
    const n = Number(counts[type as EventType]);
    if (taken + n <= total / 2) {
      beside.push(type);
      taken += n;
    }
  }
  return [beside, types.filter((t) => !beside.includes(t))];
}

/** What a thread needs to compare some tables of two runs (see src/stored-runs-worker.ts). */
export interface TablesJob {
  a: { path: string; runId: string };
  b: { path: string; runId: string };
  /** One run of one file, compared with itself. */
  same: boolean;
  ignore: string[];
  types: string[];
}

/** {@link sameRuns} over the tables of `job.types` only. */
export function sameTables(
  a: StoredRun,
  b: StoredRun,
  job: TablesJob,
): Record<string, number> | undefined {
  // One run read twice in one snapshot is the same rows twice: one reading, checked, will do.
  if (job.same) return checkedRows(a, job.types, () => true);
  const ignore = new Set(job.ignore);
  const counts: Record<string, number> = {};
  for (const type of job.types) {
    const fields = a.db.catalog.fields(type).map(([name]) => name);
    const compared = [SEQ_COLUMN, ...fields.filter((f) => f === "ts_event_ns" || !ignore.has(f))];
    const equal = rowEquality(compared);
    const checkA = rowCheck(a.db, type);
    // B's compared values equal A's, which pass: only the others are left to check.
    const checkB = rowCheck(b.db, type, (field) => !compared.includes(field));
    const [left, statementA] = tableRows(a.db, type, a.runId);
    const [right, statementB] = tableRows(b.db, type, b.runId);
    let n = 0;
    try {
      let last = 0n;
      for (;;) {
        const x = left.next();
        const y = right.next();
        if (x.done || y.done) {
          if (x.done && y.done) break;
          return undefined;
        }
        const seq = x.value[SEQ_COLUMN] as SqlValue;
        if (!follows(seq, last) || !equal(x.value, y.value)) return undefined;
        if (!checkA(x.value) || !checkB(y.value)) return undefined;
        last = seq;
        n++;
      }
    } finally {
      statementA.finalize();
      statementB.finalize();
    }
    counts[type] = n;
  }
  return counts;
}

/**
 * Whether two rows hold the same values in `columns`, compiled once per table: a fixed chain of
 * `===` instead of a loop over names, on the path that reads every row of two runs. `===` holds
 * bigints by value; NaN (never stored) would only send the caller the long way.
 */
function rowEquality(columns: readonly string[]): (x: Row, y: Row) => boolean {
  const terms = columns.map((c) => `x[${JSON.stringify(c)}] === y[${JSON.stringify(c)}]`);
  return new Function("x", "y", `return ${terms.join(" && ")};`) as (x: Row, y: Row) => boolean;
}
