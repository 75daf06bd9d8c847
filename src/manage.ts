/**
 * Managing the runs of a database: removing, renaming and tagging runs, reclaiming space. Each
 * operation is one write transaction: a process killed midway leaves the file as before or as
 * after, never between. A run whose recording process is alive (or cannot be judged) is never
 * removed or renamed under it.
 */
import { statSync } from "node:fs";
import { cacheTables } from "./cache-table.ts";
import { inSnapshot, type RunsDb, toDbError } from "./db.ts";
import { DuplicateRunError, RuntapeError } from "./errors.ts";
import { EXTENSION_SCHEMA_VERSION } from "./events/event-catalog.ts";
import { countEvents, sumCounts } from "./inspect/queries.ts";
import { unjudgeable, whyAlive } from "./inspect/recover.ts";
import { stringifyExact, withMembers } from "./json.ts";
import {
  checkRunId,
  fromJsonColumn,
  getRun,
  isRecordingAlive,
  type RunRow,
  resolveRunId,
} from "./runs.ts";
import { EXTENSION_TABLE } from "./schema.ts";
import { shellWord } from "./text.ts";

/** A run {@link removeRuns} removed (or, in a dry run, would remove). */
export interface RemovedRun {
  runId: string;
  name: string;
  status: string;
  events: bigint;
}

function writable(db: RunsDb): void {
  if (!db.writable) throw new RuntapeError(`${db.path} was opened read-only`, "READ_ONLY");
}

function notAlive(db: RunsDb, run: RunRow, doing: string): void {
  if (isRecordingAlive(run)) {
    // Only the user can tell that such a run has ended: the message says how to say so.
    const remedy = unjudgeable(run)
      ? `; \`runtape recover ${shellWord(db.path)} --run ${shellWord(run.run_id)}\` closes it if its process has ended`
      : "";
    throw new RuntapeError(
      `cannot ${doing} run ${JSON.stringify(run.run_id)}: ${whyAlive(run)}${remedy}`,
      "RUN_ALIVE",
    );
  }
}

/** Every table that holds rows of a run, the `runs` table last. */
function runTables(db: RunsDb): string[] {
  return [
    ...db.catalog.typesAt(db.version).map((type) => db.catalog.table(type)),
    ...(db.version >= EXTENSION_SCHEMA_VERSION ? [EXTENSION_TABLE] : []),
    ...cacheTables(db),
    "runs",
  ];
}

/** Runs `body` in one write transaction, turning SQLite failures into typed errors. */
function inWrite<T>(db: RunsDb, body: () => T): T {
  writable(db);
  try {
    return db.sqlite.transaction(body).immediate();
  } catch (error) {
    throw toDbError(db.path, error);
  }
}

/**
 * Removes the runs `runIds` (ids, or `"latest"`) with all their events, in one transaction; with `dryRun`, only says
 * what it would remove. Throws RunNotFoundError for an unknown id and RuntapeError (RUN_ALIVE) for
 * a run still being recorded; then nothing is removed.
 */
export function removeRuns(
  db: RunsDb,
  runIds: readonly string[],
  options: { dryRun?: boolean } = {},
): RemovedRun[] {
  const remove = () => {
    // A run whose row breaks the model may go too: removing it is how it is mended.
    const ids = new Set(runIds.map((id) => resolveRunId(db, id)));
    const runs = [...ids].map((id) => getRun(db, id, { unchecked: true }));
    for (const run of runs) notAlive(db, run, "remove");
    const removed = runs.map((run) => ({
      runId: run.run_id,
      name: run.name,
      status: run.status,
      events: sumCounts(countEvents(db, run.run_id)),
    }));
    if (options.dryRun) return removed;
    for (const table of runTables(db)) {
      const statement = db.sqlite.query(`DELETE FROM "${table}" WHERE run_id = ?`);
      for (const run of runs) statement.run(run.run_id);
    }
    return removed;
  };
  return options.dryRun ? inSnapshot(db, remove) : inWrite(db, remove);
}

/**
 * Gives the run `from` the id `to` in every table, in one transaction; with `dryRun`, only checks
 * that it could (the database may be open for reading). Throws InvalidRunIdError for an id that
 * breaks the rules, DuplicateRunError when `to` exists (`from` itself too), RuntapeError
 * (RUN_ALIVE) while the run is being recorded.
 */
export function renameRun(
  db: RunsDb,
  from: string,
  to: string,
  options: { dryRun?: boolean } = {},
): void {
  checkRunId(to);
  const rename = () => {
    const run = getRun(db, from);
    notAlive(db, run, "rename");
    if (db.sqlite.query("SELECT 1 FROM runs WHERE run_id = ?").get(to) !== null) {
      throw new DuplicateRunError(to);
    }
    if (options.dryRun) return;
    for (const table of runTables(db)) {
      db.sqlite.query(`UPDATE "${table}" SET run_id = ? WHERE run_id = ?`).run(to, from);
    }
  };
  if (options.dryRun) inSnapshot(db, rename);
  else inWrite(db, rename);
}

/** What {@link changeTags} does, or with `dryRun` would do, to a run's tags. */
export interface TagChange {
  runId: string;
  /** Every tag the run has after. */
  tags: Record<string, string>;
  /** Whether its metadata changes: false when every tag already was as asked. */
  changed: boolean;
}

/**
 * Sets tags on runs: string values under `tags` in each one's metadata (an empty value removes
 * the tag); the rest of the metadata keeps its stored text. Writes only when a tag changes; with
 * `dryRun`, says what would change and writes nothing (the database may be open for reading).
 * One transaction for all the runs, each tagged or none; throws RuntapeError (INVALID_JSON) when the stored metadata is not a JSON
 * object, RuntapeError (TAGS_NOT_PAIRS) when its `tags` are something else than an object (a
 * list, a string: replacing them would lose them), and RuntapeError (RUN_ALIVE) while the run is
 * being recorded (its close may replace the metadata).
 */
export function changeTags(
  db: RunsDb,
  runIds: readonly string[],
  tags: Readonly<Record<string, string>>,
  options: { dryRun?: boolean } = {},
): TagChange[] {
  const change = (runId: string): TagChange => {
    const run = getRun(db, runId);
    notAlive(db, run, "tag");
    const metadata = fromJsonColumn(run.metadata, `metadata of run ${run.run_id}`) ?? {};
    const current = metadata.tags ?? {};
    if (typeof current !== "object" || current === null || Array.isArray(current)) {
      throw new RuntapeError(
        `cannot tag run ${JSON.stringify(run.run_id)}: its metadata.tags is not key=value pairs (${stringifyExact(current)})`,
        "TAGS_NOT_PAIRS",
      );
    }
    const merged = { ...current } as Record<string, string>;
    for (const [key, value] of Object.entries(tags)) {
      if (value === "") delete merged[key];
      else merged[key] = value;
    }
    const was = current as Record<string, unknown>;
    const changed = Object.entries(tags).some(([key, value]) =>
      value === "" ? Object.hasOwn(was, key) : was[key] !== value,
    );
    if (changed && !options.dryRun) {
      // The rest of the metadata keeps its stored text: a Python float `10.0` must not become `10`.
      const next = withMembers(
        run.metadata,
        { tags: Object.keys(merged).length > 0 ? merged : undefined },
        `metadata of run ${run.run_id}`,
      );
      db.sqlite.query("UPDATE runs SET metadata = ? WHERE run_id = ?").run(next, run.run_id);
    }
    return { runId: run.run_id, tags: merged, changed };
  };
  const changeAll = () => runIds.map(change);
  return options.dryRun ? inSnapshot(db, changeAll) : inWrite(db, changeAll);
}

/** What {@link vacuum} did: the file's size before and after, in bytes. */
export interface VacuumResult {
  before: number;
  after: number;
}

const fileBytes = (path: string) => {
  let total = 0;
  for (const suffix of ["", "-wal"]) {
    try {
      total += statSync(path + suffix).size;
    } catch {
      // no write-ahead log: nothing to add
    }
  }
  return total;
};

/**
 * Rebuilds the file without its free pages (SQLite's VACUUM) and empties the write-ahead log, so
 * that removed runs give their space back. Refuses while a run is being recorded (RUN_ALIVE).
 */
export function vacuum(db: RunsDb): VacuumResult {
  writable(db);
  const before = fileBytes(db.path);
  const live = (
    db.sqlite.query("SELECT run_id FROM runs WHERE status = 'running'").all() as {
      run_id: string;
    }[]
  ).map((r) => getRun(db, r.run_id));
  for (const run of live) notAlive(db, run, "vacuum while recording");
  try {
    db.sqlite.exec("VACUUM");
    db.sqlite.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  } catch (error) {
    throw toDbError(db.path, error);
  }
  return { before, after: fileBytes(db.path) };
}

/** Bytes a table (with its indexes) takes in the file. */
export interface TableSize {
  table: string;
  bytes: number;
  /** Of which its indexes. */
  indexBytes: number;
}

/**
 * The file's size and each table's share (pages of the table and its indexes), largest first,
 * like `du` for a runs database. Reads SQLite's dbstat table.
 */
export function databaseSizes(db: RunsDb): { fileBytes: number; tables: TableSize[] } {
  const rows = db.sqlite
    .query(
      `SELECT m.tbl_name AS tbl, m.type AS kind, SUM(s.pgsize) AS bytes
       FROM dbstat s JOIN sqlite_master m ON m.name = s.name GROUP BY m.tbl_name, m.type`,
    )
    .all() as { tbl: string; kind: string; bytes: bigint | number }[];
  const tables = new Map<string, TableSize>();
  for (const row of rows) {
    const size = tables.get(row.tbl) ?? { table: row.tbl, bytes: 0, indexBytes: 0 };
    size.bytes += Number(row.bytes);
    if (row.kind === "index") size.indexBytes += Number(row.bytes);
    tables.set(row.tbl, size);
  }
  return {
    fileBytes: fileBytes(db.path),
    tables: [...tables.values()].sort((a, b) => b.bytes - a.bytes || (a.table < b.table ? -1 : 1)),
  };
}
