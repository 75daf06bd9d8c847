import { hostname } from "node:os";
import type { TransactionSQL } from "bun";
import * as v from "valibot";
import { asRunsDb, type RunsDb, toDbError } from "../db.ts";
import {
  describeValue,
  RunConflictError,
  type RunNotPushed,
  RunRefusedError,
  RunsNotPushedError,
  RuntapeError,
  StoreAccessError,
  UnstorableValueError,
} from "../errors.ts";
import { catalog, EVENT_TYPES, type EventType } from "../events/catalog.ts";
import { checkOptions } from "../options.ts";
import { getRun, listRuns, type RunStatus, resolveRunId } from "../runs.ts";
import { ContentDigest, type ContentPiece, copyColumns, fileContent } from "./content.ts";
import { PUSHES_TABLE } from "./pg-schema.ts";
import { PgStore } from "./postgres.ts";

/** Options of {@link push}. */
export interface PushOptions {
  /** These runs (ids, or `"latest"`; any status but running); default every finished run of the file. */
  runs?: readonly string[];
  /** Without `runs`: failed and cancelled runs too, not only completed ones. */
  includeUnfinished?: boolean;
  /**
   * Without `runs`: only runs among these ids (as `--where` picks them), under the rule above:
   * running runs and (without `includeUnfinished`) failed and cancelled ones are still left out.
   */
  among?: readonly string[];
  /** Overwrite a run the store holds with other content (one transaction: never half of each). */
  replace?: boolean;
  /** Called as each run is done, for progress lines. */
  onRun?: (result: PushedRun) => void;
}

const PushOptionsSchema = v.object({
  runs: v.optional(v.array(v.string("expected run ids"), "expected an array of run ids")),
  includeUnfinished: v.optional(v.boolean()),
  among: v.optional(v.array(v.string("expected run ids"), "expected an array of run ids")),
  replace: v.optional(v.boolean()),
  onRun: v.optional(v.function()),
});

/** What happened to one run. */
export interface PushedRun {
  runId: string;
  /** `present`: the store already held exactly this run, nothing was sent. */
  outcome: "pushed" | "present" | "replaced";
  events: bigint;
  /** Wall time of this run's push, in seconds. */
  seconds: number;
}

/**
 * Sends runs of a runs database to a store. Each run is published in one transaction (all of it
 * or, after any failure, nothing), with the digest of its content: pushing it again sends nothing,
 * and a different run under the same id is refused (RunConflictError) unless `replace`. A run the
 * store cannot take (that conflict, text with U+0000, rows the server refuses) is left out and the
 * others are pushed; then RunsNotPushedError says which and why. Any other failure (the store
 * lost, the file unreadable) ends the push. The file is opened read-only and never changed. Rows
 * go through COPY, read and sent as a stream.
 */
export async function push(
  from: string | RunsDb,
  to: string | PgStore,
  options: PushOptions = {},
): Promise<PushedRun[]> {
  checkOptions(PushOptionsSchema, options, "push");
  if (options.runs !== undefined && options.among !== undefined) {
    // `runs` sends exactly those runs; `among` narrows the rule that applies without them.
    throw new RuntapeError("push: runs and among exclude each other", "INVALID_OPTION");
  }
  if (typeof to !== "string" && !(to instanceof PgStore)) {
    throw new RuntapeError(
      `push: expected a store URL or an open PgStore (got ${describeValue(to)})`,
      "INVALID_OPTION",
    );
  }
  const db = asRunsDb(from);
  const store = typeof to === "string" ? await PgStore.open(to, { mode: "write" }) : to;
  try {
    const results: PushedRun[] = [];
    const refused: RunNotPushed[] = [];
    for (const runId of selectRuns(db, options)) {
      let result: PushedRun;
      try {
        result = await pushRun(db, store, runId, options.replace === true);
      } catch (error) {
        // The store cannot take this run as it is, and never will: the runs after it still go.
        if (!isRunNotPushed(error)) throw error;
        refused.push(error);
        continue;
      }
      options.onRun?.(result);
      results.push(result);
    }
    if (refused.length > 0) throw new RunsNotPushedError(refused, results);
    return results;
  } catch (error) {
    // The store is PostgreSQL: an SQLite failure is the file's (a corrupt page of it, say).
    throw toDbError(db.path, error);
  } finally {
    if (typeof to === "string") await store.close();
    if (typeof from === "string") db.close();
  }
}

const isRunNotPushed = (error: unknown): error is RunNotPushed =>
  error instanceof RunConflictError ||
  error instanceof UnstorableValueError ||
  error instanceof RunRefusedError;

/**
 * `error`, where the server refused the run's rows themselves (SQLSTATE class 22, data exception,
 * or 23, integrity constraint: a partition or a check of the store's own), as RunRefusedError.
 */
function refusal(error: unknown, runId: string): unknown {
  if (!(error instanceof StoreAccessError)) return error;
  const { errno } = (error.cause ?? {}) as { errno?: unknown };
  if (typeof errno !== "string" || !/^2[23]/.test(errno)) return error;
  return new RunRefusedError(runId, error.store, error.reason, { cause: error });
}

const FINISHED: readonly RunStatus[] = ["completed", "failed", "cancelled"];

function selectRuns(db: RunsDb, options: PushOptions): string[] {
  if (options.runs !== undefined) {
    return options.runs.map((id) => {
      const run = getRun(db, resolveRunId(db, id));
      if (run.status === "running") {
        throw new RuntapeError(
          `run ${JSON.stringify(run.run_id)} is still running (if its process died, \`runtape recover\` closes it)`,
          "RUN_RUNNING",
        );
      }
      return run.run_id;
    });
  }
  const wanted = options.includeUnfinished ? FINISHED : ["completed"];
  const among = options.among === undefined ? undefined : new Set(options.among);
  return listRuns(db)
    .filter((r) => wanted.includes(r.status) && (among === undefined || among.has(r.run_id)))
    .map((r) => r.run_id)
    .reverse(); // oldest first: the store's order of arrival follows the file's
}

/** The digest the store holds for a run, if it holds the run. */
export async function storedDigest(store: PgStore, runId: string): Promise<string | undefined> {
  if (store.version === 0) return undefined;
  const rows = await store.guard(() =>
    store.sql.unsafe(`SELECT digest FROM ${PUSHES_TABLE} WHERE run_id = $1`, [runId]),
  );
  return rows[0]?.digest;
}

/** The digest of a run as the file holds it. */
export function fileDigest(db: RunsDb, runId: string): ContentDigest {
  const digest = new ContentDigest();
  for (const piece of fileContent(db, runId)) digest.add(piece);
  return digest;
}

/** A push that lost the race for a run id to another pusher (its runs row came first). */
class LostRace extends RuntapeError {
  constructor() {
    super("another push published the run first", "LOST_RACE");
  }
}

async function pushRun(
  db: RunsDb,
  store: PgStore,
  runId: string,
  replace: boolean,
): Promise<PushedRun> {
  const started = performance.now();
  const done = (outcome: PushedRun["outcome"], events: bigint): PushedRun => ({
    runId,
    outcome,
    events,
    seconds: (performance.now() - started) / 1000,
  });
  for (let attempt = 0; ; attempt++) {
    const stored = await storedDigest(store, runId);
    if (stored !== undefined) {
      const local = fileDigest(db, runId);
      if (local.hex() === stored) return done("present", local.events);
      if (!replace) throw new RunConflictError(runId, store.label, "--replace overwrites it");
    }
    try {
      const events = await store.guard(() =>
        store.sql.begin(async (tx) => {
          if (stored !== undefined) await deleteRun(tx, runId);
          return await send(tx, db, runId);
        }),
      );
      if (events >= ANALYZE_FROM_EVENTS) await analyze(store);
      return done(stored === undefined ? "pushed" : "replaced", events);
    } catch (error) {
      // Another process published the run meanwhile: compare with what it sent (once).
      if (!(error instanceof LostRace) || attempt > 0) throw refusal(error, runId);
    }
  }
}

/**
 * Events in one push past which the event tables' planner statistics are brought up to date at
 * once. Until autovacuum gets to it (a minute or more), the planner takes the tables for nearly
 * empty and reads a run's pages by sorting all its remaining rows for each page: a 1M-event run
 * replayed from the store in 10.6 s instead of 2.3 s.
 */
export const ANALYZE_FROM_EVENTS = 50_000n;

async function analyze(store: PgStore): Promise<void> {
  const tables = EVENT_TYPES.map((type) => catalog[type].table);
  await store.guard(() => store.sql.unsafe(`ANALYZE ${tables.join(", ")}`));
}

/** Streams the run's content into the store inside `tx`; returns the events sent. */
async function send(tx: TransactionSQL, db: RunsDb, runId: string): Promise<bigint> {
  const digest = new ContentDigest();
  let copy: TableCopy | undefined;
  // One write in flight while the next piece is read and encoded: the server ingests meanwhile.
  let sending: Promise<void> | undefined;
  for (const piece of fileContent(db, runId)) {
    digest.add(piece);
    await sending;
    if (copy?.table !== piece.table) {
      await copy?.finish();
      copy = startCopy(tx, piece);
    }
    sending = copy.write(piece.bytes);
    // Handled here too: if reading the file fails meanwhile, that error is the one to report.
    sending.catch(() => {});
  }
  await sending;
  await copy?.finish();
  await tx.unsafe(
    `INSERT INTO ${PUSHES_TABLE} (run_id, digest, events, pushed_from) VALUES ($1, $2, $3, $4)`,
    [runId, digest.hex(), digest.events, hostname()],
  );
  return digest.events;
}

interface TableCopy {
  readonly table: string;
  write(bytes: Uint8Array): Promise<void>;
  finish(): Promise<void>;
}

function startCopy(tx: TransactionSQL, piece: ContentPiece): TableCopy {
  const query = tx.unsafe(`COPY ${piece.table} (${copyColumns(piece).join(", ")}) FROM STDIN`);
  const writer = query.writable().getWriter();
  // A push that fails before `finish` ends the transaction, which aborts this COPY: not news.
  query.catch(() => {});
  return {
    table: piece.table,
    write: (bytes) => writer.write(bytes),
    async finish() {
      try {
        await writer.close();
        await query;
      } catch (error) {
        // 23505 on runs: the id was published by another push while this one waited for it.
        if (piece.table === "runs" && (error as { errno?: string }).errno === "23505") {
          throw new LostRace();
        }
        throw error;
      }
    },
  };
}

/** Removes every row of a run, bookkeeping first and `runs` last (the foreign keys point to it). */
export function deleteRun(tx: TransactionSQL, runId: string): Promise<void> {
  return deleteRuns(tx, [runId]);
}

/** {@link deleteRun} of many runs: a statement a table, whatever their number. */
export async function deleteRuns(tx: TransactionSQL, runIds: readonly string[]): Promise<void> {
  const tables = [
    PUSHES_TABLE,
    "runtape_runs",
    ...EVENT_TYPES.map((t: EventType) => catalog[t].table),
    "runs",
  ];
  for (const table of tables) {
    await tx.unsafe(`DELETE FROM ${table} WHERE run_id = ANY($1::text[])`, [runIds]);
  }
}
