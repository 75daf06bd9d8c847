/**
 * `runtape merge`: runs from several runs databases (runtape- or Python-written) copied into one,
 * exactly: every merged run replays from the target to the same events, in the same order, as
 * from its source.
 */
import type { Database, Statement } from "bun:sqlite";
import { existsSync, realpathSync, statSync } from "node:fs";
import { resolve } from "node:path";
import * as v from "valibot";
import { openRunsDb, type RunsDb, sqliteCode, toDbError } from "./db.ts";
import {
  InvalidConditionError,
  MergeConflictError,
  RunNotFoundError,
  RunStillRunningError,
  RuntapeError,
} from "./errors.ts";
import { catalog, EVENT_TYPES, type EventType } from "./events/catalog.ts";
import type { SqlValue } from "./events/fields.ts";
import { countEvents, storedTypes, sumCounts } from "./inspect/queries.ts";
import { withMembers } from "./json.ts";
import { encodeEvent } from "./ndjson.ts";
import { checkOptions } from "./options.ts";
import { replay } from "./replay.ts";
import {
  CONDITION_OPS,
  type Condition,
  checkConditions,
  matches,
  normalizeConditions,
  onMetric,
  sweepRun,
} from "./report/sweep.ts";
import { findRun, hasSequence, listRuns, MAX_RUN_ID_LENGTH, type RunRow } from "./runs.ts";
import { SEQ_COLUMN } from "./schema.ts";
import { SequenceTally, sequenced } from "./sequence.ts";

/** What to do with an incoming run whose id the target holds with different content. */
export type ConflictPolicy = "fail" | "skip" | "rename";
/** Every {@link ConflictPolicy}, for parsing and listing the choices. */
export const CONFLICT_POLICIES: readonly ConflictPolicy[] = ["fail", "skip", "rename"];

/** Options of {@link mergeRuns}. */
export interface MergeOptions {
  /**
   * Only the runs with these ids (each must be in some source; `"latest"` is the newest run of all
   * the sources); default every run.
   */
  runs?: readonly string[];
  /**
   * Only the runs (among `runs` if given) that meet every condition: a config path, runId, name,
   * status or `tag.<name>` equal to the value, as `runtape runs --where` picks them. A config path
   * or tag that no run of the sources has throws UnknownFilterKeyError; a condition on a metric
   * (a merge computes none) InvalidConditionError, before any file is opened.
   */
  where?: readonly Condition[];
  /**
   * A run whose id is taken by a run with the same content is always skipped (merging again
   * changes nothing). With different content: `fail` (default) throws MergeConflictError before
   * anything is written, `skip` keeps what the target has, `rename` gives the incoming run a new
   * id (`<id>~2`, `~3`, …) and records its origin in its metadata (`merged_from`).
   */
  onConflict?: ConflictPolicy;
  /** Merge runs that are still `running` as they stand (default: refuse them, they may be live). */
  includeRunning?: boolean;
  /**
   * Called with each run once it is merged, before the next: what was written is known even when
   * a later run fails.
   */
  onRun?: (merged: MergedRun) => void;
}

const MergeArgsSchema = v.object({
  target: v.pipe(v.string("expected a file path"), v.nonEmpty("expected a file path")),
  inputs: v.array(v.pipe(v.string("expected file paths"), v.nonEmpty("expected file paths"))),
  runs: v.optional(v.array(v.string("expected run ids"))),
  where: v.optional(
    v.array(
      v.object({ key: v.string(), value: v.string(), op: v.optional(v.picklist(CONDITION_OPS)) }),
      "expected {key, value, op?} conditions",
    ),
  ),
  onConflict: v.optional(
    v.picklist(CONFLICT_POLICIES, `expected one of ${CONFLICT_POLICIES.join(", ")}`),
  ),
  includeRunning: v.optional(v.boolean()),
  onRun: v.optional(v.function()),
});

/** What became of one incoming run. */
export interface MergedRun {
  /** Its id in the target. */
  runId: string;
  source: string;
  sourceRunId: string;
  /**
   * `copied`, `renamed` (copied under a new id), `identical` (already there, skipped) or `kept`
   * (a different run of that id is there and `onConflict: "skip"` kept it).
   */
  action: "copied" | "renamed" | "identical" | "kept";
  /** Events of the run: those written where it is copied or renamed, else those its source holds. */
  events: number;
}

interface Planned {
  source: Source;
  run: RunRow;
  targetId: string;
  /** The metadata column as it will be written. */
  metadata: string | null;
  action: MergedRun["action"];
}

interface Source {
  readonly path: string;
  /** The file open for reading: opened when asked for, maybe closed since (see openSources). */
  readonly db: RunsDb;
}

/** Sources kept open at once: the few a merge reads side by side, not one per file. */
const OPEN_SOURCES = 4;

/**
 * The files at `paths` as sources, each opened when its `db` is asked for and closed when
 * OPEN_SOURCES others have been used since: a merge of a thousand files held a thousand
 * connections (~0.4 MB and three descriptors each: 446 MB, and past `ulimit -n` 1024 "cannot
 * open the database file" for a sound file). A caller keeps `db` only while it reads it.
 */
function openSources(paths: readonly string[]): { sources: Source[]; close(): void } {
  const open = new Map<string, RunsDb>();
  const sources = paths.map((path) => ({
    path,
    get db(): RunsDb {
      let db = open.get(path);
      if (db === undefined) {
        db = openRunsDb(path);
        const [oldest] = open.keys();
        if (oldest !== undefined && open.size >= OPEN_SOURCES) {
          open.get(oldest)?.close();
          open.delete(oldest);
        }
      } else {
        open.delete(path); // to the end: the most recently used
      }
      open.set(path, db);
      return db;
    },
  }));
  return {
    sources,
    close() {
      for (const db of open.values()) db.close();
      open.clear();
    },
  };
}

/** A run whose content can be compared: where it is read from and the row it has (or will have). */
interface Content {
  from: Source;
  runId: string;
  row: RunRow;
  metadata: string | null;
}

/**
 * Copies runs from the runs databases `inputs` into the one at `target` (created if missing;
 * a Python-written one is brought to runtape's layout). Decides everything before writing
 * anything, so a conflict or a running run leaves the target as it was; each run is then copied
 * in one transaction, which decides again for that run: a run another process wrote into the
 * target meanwhile is then `identical`, `kept` or `renamed`, or a MergeConflictError that leaves
 * the runs merged before it (see `onRun`). Runs runtape recorded are copied row for row with
 * their `seq`; Python-written runs gain the publication order replay reconstructs as their `seq`,
 * so they replay the same.
 * Sources are only read, each run from one snapshot, so a source being written keeps working.
 * Memory stays flat whatever the size of the runs.
 */
export function mergeRuns(
  target: string,
  inputs: readonly string[],
  options: MergeOptions = {},
): MergedRun[] {
  checkOptions(MergeArgsSchema, { target, inputs, ...options }, "merge");
  const where = mergeConditions(options.where ?? []);
  // Each path resolved once: comparing every input with every other took 8 s for 1,000 files.
  const targetFile = fileOf(target);
  const paths = new Map<string, string>();
  for (const path of inputs) {
    const file = fileOf(path);
    if (file === targetFile) {
      throw new RuntapeError(
        `${path} is the target of the merge; it cannot be a source`,
        "MERGE_SELF",
      );
    }
    if (!paths.has(file)) paths.set(file, path);
  }
  const { sources, close } = openSources([...paths.values()]);
  try {
    const plan = planMerge(target, sources, where, options);
    const out = plan.some(writes) ? openRunsDb(target, { mode: "write" }) : undefined;
    const attached = out === undefined ? undefined : attachment(out);
    try {
      return plan.map((planned) => {
        const merged =
          attached !== undefined && writes(planned)
            ? copyRun(attached, planned, options.onConflict ?? "fail")
            : mergedRun(planned, sourceEvents(planned));
        options.onRun?.(merged);
        return merged;
      });
    } finally {
      out?.close();
    }
  } finally {
    close();
  }
}

const mergedRun = (p: Planned, events: number): MergedRun => ({
  runId: p.targetId,
  source: p.source.path,
  sourceRunId: p.run.run_id,
  action: p.action,
  events,
});

const sourceEvents = (p: Planned) => Number(sumCounts(countEvents(p.source.db, p.run.run_id)));

/** Whether a planned run is written into the target. */
const writes = (p: Planned) => p.action === "copied" || p.action === "renamed";

/** The file a path names, links resolved (its absolute path where it does not exist yet). */
function fileOf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}

/**
 * `where` as the library names its keys, checked before any file is opened: InvalidConditionError
 * for a condition that picks nothing (see checkCondition) or one on a metric, which is computed
 * from a run's events (and cached in its file), not what a merge reads.
 */
function mergeConditions(where: readonly Condition[]): Condition[] {
  const metric = where.find(onMetric);
  if (metric !== undefined) {
    throw new InvalidConditionError(
      `${metric.key}${metric.op ?? "="}${metric.value}`,
      "merge cannot pick runs by a metric: it computes none; pick them by config, run field or tag, or list them by the metric first (`runtape runs --where … --json`; listSweep) and merge those by id (`--run`; the runs option)",
    );
  }
  return normalizeConditions(where);
}

function planMerge(
  target: string,
  sources: Source[],
  where: readonly Condition[],
  options: MergeOptions,
): Planned[] {
  const wanted = options.runs === undefined ? undefined : wantedRuns(sources, options.runs);
  if (where.length > 0) {
    checkConditions(
      sources.flatMap((source) => listRuns(source.db).map(sweepRun)),
      where,
    );
  }
  const existing = openExisting(target);
  try {
    const taken = new Map<string, Content>();
    for (const run of existing === undefined ? [] : listRuns(existing)) {
      taken.set(run.run_id, {
        from: { path: target, db: existing as RunsDb },
        runId: run.run_id,
        row: run,
        metadata: run.metadata,
      });
    }
    const same = sameContent();
    const plan: Planned[] = [];
    const found = new Set<string>();
    // Past the first conflict the plan goes on only to count the others, for the one error.
    let conflict: MergeConflictError | undefined;
    let more = 0;
    for (const source of sources) {
      for (const run of listRuns(source.db).reverse()) {
        if (wanted !== undefined && !wanted.has(run.run_id)) continue;
        found.add(run.run_id);
        if (!matches(sweepRun(run), where)) continue;
        if (run.status === "running" && !options.includeRunning) {
          if (conflict !== undefined) continue;
          throw new RunStillRunningError(run.run_id, source.path);
        }
        let step: Planned;
        try {
          step = placeRun(source, run, taken, same, options.onConflict ?? "fail");
        } catch (error) {
          if (!(error instanceof MergeConflictError)) throw error;
          if (conflict === undefined) conflict = error;
          else more++;
          continue;
        }
        plan.push(step);
        if (writes(step)) {
          taken.set(step.targetId, {
            from: source,
            runId: run.run_id,
            row: run,
            metadata: step.metadata,
          });
        }
      }
    }
    if (conflict !== undefined) {
      throw new MergeConflictError(conflict.runId, conflict.source, conflict.other, false, more);
    }
    const missing = [...(wanted ?? [])].find((id) => !found.has(id));
    if (missing !== undefined) throw new RunNotFoundError(missing);
    return plan;
  } finally {
    existing?.close();
  }
}

/** The ids of `runs`, `"latest"` resolved to the newest run of all the sources. */
function wantedRuns(sources: readonly Source[], runs: readonly string[]): Set<string> {
  const wanted = new Set(runs);
  if (wanted.delete("latest")) {
    // Each source's newest first (as resolveRunId orders them); of those, the newest.
    const newest = sources
      .map((source) => listRuns(source.db)[0])
      .reduce<RunRow | undefined>(
        (best, run) =>
          run !== undefined && (best === undefined || run.ts_start > best.ts_start) ? run : best,
        undefined,
      );
    if (newest === undefined) throw new RuntapeError("the sources hold no runs", "NO_RUNS");
    wanted.add(newest.run_id);
  }
  return wanted;
}

/** Whether two runs hold the same content; each run's digest is taken once. */
function sameContent(): (a: Content, b: Content) => boolean {
  const digests = new Map<Content, string>();
  return (a, b) => {
    if (!sameRow(a, b) || !sameCounts(a, b)) return false;
    const digest = (c: Content) => digests.get(c) ?? digests.set(c, contentDigest(c)).get(c);
    return digest(a) === digest(b);
  };
}

/**
 * Where an incoming run goes: its own id, a new one, or nowhere (already there). `meanwhile`:
 * `taken` is the target as another process left it after the plan (the conflict says so).
 */
function placeRun(
  source: Source,
  run: RunRow,
  taken: { get(id: string): Content | undefined },
  same: (a: Content, b: Content) => boolean,
  policy: ConflictPolicy,
  meanwhile = false,
): Planned {
  const incoming: Content = { from: source, runId: run.run_id, row: run, metadata: run.metadata };
  const step = (targetId: string, metadata: string | null, action: Planned["action"]): Planned => ({
    source,
    run,
    targetId,
    metadata,
    action,
  });
  const there = taken.get(run.run_id);
  if (there === undefined) return step(run.run_id, run.metadata, "copied");
  if (same(incoming, there)) return step(run.run_id, run.metadata, "identical");
  // Named where the other run is: the target, or a source merged before this one.
  if (policy === "fail") {
    throw new MergeConflictError(run.run_id, source.path, there.from.path, meanwhile);
  }
  if (policy === "skip") return step(run.run_id, run.metadata, "kept");
  const renamed = { ...incoming, metadata: withOrigin(run.metadata, source.path, run.run_id) };
  for (let n = 2; ; n++) {
    const id = renamedId(run.run_id, n);
    const other = taken.get(id);
    if (other === undefined) return step(id, renamed.metadata, "renamed");
    // Renamed by an earlier merge of the same run: merging again changes nothing.
    if (same(renamed, other)) return step(id, renamed.metadata, "identical");
  }
}

/** `<id>~<n>`, the id shortened where need be to stay within the run id rules' length. */
function renamedId(id: string, n: number): string {
  const suffix = `~${n}`;
  let base = id.slice(0, MAX_RUN_ID_LENGTH - suffix.length);
  // Not half a surrogate pair: the id stays valid text.
  if (/[\uD800-\uDBFF]$/.test(base)) base = base.slice(0, -1);
  return base + suffix;
}

/** The target opened read-only for planning; none while it is missing or an empty file to fill. */
function openExisting(target: string): RunsDb | undefined {
  if (!existsSync(target) || statSync(target).size === 0) return undefined;
  return openRunsDb(target);
}

/** The metadata of a renamed run: its own, plus where it came from. */
function withOrigin(metadata: string | null, path: string, runId: string): string {
  const origin = { merged_from: { file: resolve(path), run_id: runId } };
  try {
    // Its numbers as stored: Python's 10.0 stays a float, a 20-digit seed keeps its digits.
    return withMembers(metadata, origin, "metadata") as string;
  } catch {
    // not a JSON object: kept as the text it is
    return withMembers(null, { metadata, ...origin }, "metadata") as string;
  }
}

const sameRow = (a: Content, b: Content) =>
  a.row.name === b.row.name &&
  a.row.ts_start === b.row.ts_start &&
  a.row.ts_end === b.row.ts_end &&
  a.row.status === b.row.status &&
  a.row.config === b.row.config &&
  a.metadata === b.metadata;

function sameCounts(a: Content, b: Content): boolean {
  const ca = countEvents(a.from.db, a.runId);
  const cb = countEvents(b.from.db, b.runId);
  return EVENT_TYPES.every((t) => ca[t] === cb[t]);
}

/** A digest of a run's events, in replay order, as exact NDJSON. */
function contentDigest(content: Content): string {
  const hasher = new Bun.CryptoHasher("sha256");
  for (const event of replay(content.from.db, { run: content.runId })) {
    hasher.update(encodeEvent(event));
    hasher.update("\n");
  }
  return hasher.digest("hex");
}

const SOURCE = "merge_source";

/** The target, with the source of the runs being copied attached to it as {@link SOURCE}. */
interface Attachment {
  readonly out: RunsDb;
  /** Attaches `source` in place of the one attached (if another). */
  attach(source: Source): void;
}

/**
 * The target's attachment of sources, each attached once for all its runs (the plan takes a
 * source's runs one after the other): attaching per run opened the source's WAL again for each,
 * and the first transaction after each ATTACH or DETACH reloaded the schemas, 45% of a 4,000-run
 * merge. Between transactions the attached file holds no lock, so a writer still recording into
 * the source goes on as before; each run is still read from one snapshot, its transaction's.
 * Closing the target ends the attachment.
 */
function attachment(out: RunsDb): Attachment {
  let attached: Source | undefined;
  return {
    out,
    attach(source) {
      if (attached === source) return;
      if (attached !== undefined) out.sqlite.run(`DETACH DATABASE ${SOURCE}`);
      attached = undefined;
      try {
        out.sqlite.run(`ATTACH DATABASE ? AS ${SOURCE}`, [source.path]);
      } catch (error) {
        throw toDbError(source.path, error);
      }
      attached = source;
    },
  };
}

/**
 * Copies one planned run into the target in one transaction, placed again inside it: another
 * process may have written a run of that id (or of the renamed id) since the plan was made.
 */
function copyRun(attached: Attachment, planned: Planned, policy: ConflictPolicy): MergedRun {
  const { out } = attached;
  const sqlite = out.sqlite;
  attached.attach(planned.source);
  const taken = {
    get(id: string): Content | undefined {
      const row = findRun(out, id);
      return row === undefined
        ? undefined
        : { from: { path: out.path, db: out }, runId: id, row, metadata: row.metadata };
    },
  };
  try {
    return sqlite
      .transaction(() => {
        const { source, run } = planned;
        const p = placeRun(source, run, taken, sameContent(), policy, true);
        if (!writes(p)) return mergedRun(p, sourceEvents(p));
        sqlite.run(
          `INSERT INTO main.runs (run_id, name, ts_start, ts_end, status, config, metadata)
           SELECT ?, name, ts_start, ts_end, status, config, ? FROM ${SOURCE}.runs WHERE run_id = ?`,
          [p.targetId, p.metadata, p.run.run_id],
        );
        const events = hasSequence(p.source.db, p.run.run_id)
          ? copyRows(out, p)
          : copyInReplayOrder(out, p);
        return mergedRun(p, events);
      })
      .immediate();
  } catch (error) {
    throw toDbError(sourceIsCorrupt(sqlite, error) ? planned.source.path : out.path, error);
  }
}

/**
 * Whether a copy failed on a malformed source: one statement reads the source and writes the
 * target, and SQLite's "database disk image is malformed" names neither, so a corrupt source was
 * blamed on a sound target. Checked only once the copy failed: quick_check reads the whole source.
 */
function sourceIsCorrupt(sqlite: Database, error: unknown): boolean {
  if (!sqliteCode(error)?.startsWith("SQLITE_CORRUPT")) return false;
  try {
    return sqlite.query(`PRAGMA ${SOURCE}.quick_check(1)`).values()[0]?.[0] !== "ok";
  } catch (check) {
    return sqliteCode(check)?.startsWith("SQLITE_CORRUPT") === true; // too malformed to be checked
  }
}

/** A run runtape recorded: its rows as they are stored, `seq` included, SQLite to SQLite. */
function copyRows(out: RunsDb, p: Planned): number {
  let events = 0;
  const source = p.source.db;
  // Tables and columns an older source lacks are empty: the target's defaults fill them.
  for (const type of storedTypes(source)) {
    const stored = source.catalog.fieldsAt(type, source.version).map(([name]) => name);
    const columns = [...stored, SEQ_COLUMN].join(", ");
    const table = catalog[type].table;
    events += out.sqlite.run(
      `INSERT INTO main.${table} (run_id, ${columns})
       SELECT ?, ${columns} FROM ${SOURCE}.${table} WHERE run_id = ? ORDER BY ${SEQ_COLUMN}`,
      [p.targetId, p.run.run_id],
    ).changes;
  }
  out.sqlite.run(
    `INSERT INTO main.runtape_runs (run_id, pid, host, events, refused, last_ts_event_ns, bar_periods)
     SELECT ?, pid, host, events, refused, last_ts_event_ns, bar_periods FROM ${SOURCE}.runtape_runs WHERE run_id = ?`,
    [p.targetId, p.run.run_id],
  );
  return events;
}

/**
 * A Python-written run: its rows as they are stored, numbered with `seq` in the order replay
 * reconstructs, so that the target replays them by sequence in that same order. Replay takes each
 * table's rows in `id` order, so its k-th event of a type is the k-th row of that table: the row
 * is copied, not the event written again (an integer among the indicators stays an integer for
 * Python).
 */
function copyInReplayOrder(out: RunsDb, p: Planned): number {
  const source = p.source.db;
  const tables = new Map<
    EventType,
    { names: string[]; select: Statement; rows: Iterator<unknown>; insert: Statement }
  >();
  const tableOf = (type: EventType) => {
    let table = tables.get(type);
    if (table === undefined) {
      const names = source.catalog.fieldsAt(type, source.version).map(([name]) => name);
      const name = catalog[type].table;
      const select = out.sqlite.prepare(
        `SELECT ${names.join(", ")} FROM ${SOURCE}.${name} WHERE run_id = ? ORDER BY id`,
      );
      const columns = ["run_id", ...names, SEQ_COLUMN];
      const insert = out.sqlite.prepare(
        `INSERT INTO main.${name} (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`,
      );
      table = { names, select, rows: select.iterate(p.run.run_id), insert };
      tables.set(type, table);
    }
    return table;
  };
  const tally = new SequenceTally();
  try {
    for (const [seq, event] of sequenced(source, p.run.run_id)) {
      const { names, rows, insert } = tableOf(event.type);
      const row = rows.next();
      // Replay read the same rows: it cannot have more of a table than the table has.
      if (row.done) throw new Error(`merge: ${event.type} #${seq} has no row in ${p.source.path}`);
      const stored = row.value as Record<string, SqlValue>;
      insert.run(p.targetId, ...names.map((name) => stored[name] as SqlValue), seq);
      tally.add(event);
    }
  } finally {
    for (const { select, insert } of tables.values()) {
      select.finalize();
      insert.finalize();
    }
  }
  out.sqlite.run(
    "INSERT INTO main.runtape_runs (run_id, events, last_ts_event_ns, bar_periods) VALUES (?, ?, ?, ?)",
    [p.targetId, tally.events, tally.lastTsEventNs, tally.barPeriods],
  );
  return tally.events;
}
