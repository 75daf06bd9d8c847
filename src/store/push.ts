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
import { getRun, listRuns, type RunRow, type RunStatus, resolveRunId } from "../runs.ts";
import { batches } from "./batches.ts";
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
 * or, after any failure, nothing; small runs share one, see batches.ts), with the digest of its
 * content: pushing it again sends nothing, and a different run under the same id is refused
 * (RunConflictError) unless `replace`. A run the store cannot take (that conflict, text with
 * U+0000, rows the server refuses) is left out and the others are pushed; then RunsNotPushedError
 * says which and why. Any other failure (the store lost, the file unreadable) ends the push. The
 * file is opened read-only and never changed. Rows go through COPY; a large run's are read and
 * sent as a stream.
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
    const replace = options.replace === true;
    for (const batch of batches(selectRuns(db, options))) {
      const { outcomes, failure } =
        batch.length > 1
          ? await pushBatch(db, store, batch, replace)
          : { outcomes: [await outcomeOf(() => pushRun(db, store, batch[0] as string, replace))] };
      for (const outcome of outcomes) {
        if (outcome instanceof Error) {
          refused.push(outcome);
          continue;
        }
        options.onRun?.(outcome);
        results.push(outcome);
      }
      if (failure !== undefined) throw failure;
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

/** A run pushed (or found in the store), or why the store cannot take it. */
type Outcome = PushedRun | RunNotPushed;

/**
 * The outcome of pushing one run: a run the store cannot take as it is, and never will, is
 * refused and the runs after it still go; any other failure (the store lost) ends the push.
 */
async function outcomeOf(pushOne: () => Promise<PushedRun>): Promise<Outcome> {
  try {
    return await pushOne();
  } catch (error) {
    if (!isRunNotPushed(error)) throw error;
    return error;
  }
}

/**
 * Whether the server refused rows themselves (SQLSTATE class 22, data exception, or 23, integrity
 * constraint: a partition or a check of the store's own), not the connection or the session.
 */
function refusedRows(error: unknown): error is StoreAccessError {
  if (!(error instanceof StoreAccessError)) return false;
  const { errno } = (error.cause ?? {}) as { errno?: unknown };
  return typeof errno === "string" && /^2[23]/.test(errno);
}

/**
 * Whether the server gave up the transaction for another's sake (SQLSTATE class 40: a deadlock,
 * a serialization failure): the same rows may go another time.
 */
function rolledBack(error: unknown): boolean {
  if (!(error instanceof StoreAccessError)) return false;
  const { errno } = (error.cause ?? {}) as { errno?: unknown };
  return typeof errno === "string" && errno.startsWith("40");
}

/** `error`, where the server refused the run's rows themselves, as RunRefusedError. */
function refusal(error: unknown, runId: string): unknown {
  if (!refusedRows(error)) return error;
  return new RunRefusedError(runId, error.store, error.reason, { cause: error });
}

const FINISHED: readonly RunStatus[] = ["completed", "failed", "cancelled"];

function selectRuns(db: RunsDb, options: PushOptions): RunRow[] {
  if (options.runs !== undefined) {
    return options.runs.map((id) => {
      const run = getRun(db, resolveRunId(db, id));
      if (run.status === "running") {
        throw new RuntapeError(
          `run ${JSON.stringify(run.run_id)} is still running (if its process died, \`runtape recover\` closes it)`,
          "RUN_RUNNING",
        );
      }
      return run;
    });
  }
  const wanted = options.includeUnfinished ? FINISHED : ["completed"];
  const among = options.among === undefined ? undefined : new Set(options.among);
  return listRuns(db)
    .filter((r) => wanted.includes(r.status) && (among === undefined || among.has(r.run_id)))
    .reverse(); // oldest first: the store's order of arrival follows the file's
}

/** The digest the store holds for a run, if it holds the run. */
export async function storedDigest(store: PgStore, runId: string): Promise<string | undefined> {
  return (await storedDigests(store, [runId])).get(runId);
}

/** The digests the store holds for those of `runIds` it holds, in one statement. */
export async function storedDigests(
  store: PgStore,
  runIds: readonly string[],
): Promise<Map<string, string>> {
  if (store.version === 0) return new Map();
  const rows = await store.guard(() =>
    store.sql.unsafe(`SELECT run_id, digest FROM ${PUSHES_TABLE} WHERE run_id = ANY($1::text[])`, [
      runIds,
    ]),
  );
  return new Map(rows.map((r: { run_id: string; digest: string }) => [r.run_id, r.digest]));
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

/** A run of a batch, read: its content, and whether it replaces the store's run of its id. */
interface ReadRun {
  runId: string;
  digest: ContentDigest;
  pieces: ContentPiece[];
  replacing: boolean;
}

/**
 * Pushes the small runs `runIds` (see batches.ts) with one statement for their digests and one
 * transaction for those to send. Each run still arrives whole or not at all and gets the outcome
 * it would get alone: where the server refuses the batch (rows of a run it cannot take, a run
 * another push published meanwhile, a deadlock with another push), nothing of the batch was
 * kept, and each of its runs is pushed alone to find out which. Outcomes come in the order of
 * `runIds`, a run named twice `present` the second time. A run the file cannot give (a failure
 * that is no refusal) is the batch's `failure`: the runs before it are pushed first, as they
 * would be one by one, and those after it are not.
 */
async function pushBatch(
  db: RunsDb,
  store: PgStore,
  runIds: readonly string[],
  replace: boolean,
): Promise<{ outcomes: Outcome[]; failure?: unknown }> {
  const started = performance.now();
  const stored = await storedDigests(store, runIds);
  const outcomes = new Map<string, Outcome | ReadRun>();
  let failure: unknown;
  for (const runId of runIds) {
    if (outcomes.has(runId)) continue;
    const digest = new ContentDigest();
    const pieces: ContentPiece[] = [];
    try {
      for (const piece of fileContent(db, runId)) {
        digest.add(piece);
        pieces.push(piece);
      }
    } catch (error) {
      if (!isRunNotPushed(error)) {
        failure = error;
        break;
      }
      outcomes.set(runId, error);
      continue;
    }
    const before = stored.get(runId);
    if (before !== undefined && before !== digest.hex() && !replace) {
      outcomes.set(runId, new RunConflictError(runId, store.label, "--replace overwrites it"));
    } else {
      const present = before === digest.hex();
      outcomes.set(runId, {
        runId,
        digest,
        pieces: present ? [] : pieces,
        replacing: !present && before !== undefined,
      });
    }
  }
  const read = [...outcomes.values()].filter((o): o is ReadRun => "pieces" in o);
  const sending = read.filter((r) => r.pieces.length > 0);
  try {
    if (sending.length > 0)
      await store.guard(() => store.sql.begin((tx) => sendBatch(tx, sending)));
  } catch (error) {
    if (!(error instanceof LostRace) && !refusedRows(error) && !rolledBack(error)) throw error;
    for (const { runId } of sending) {
      outcomes.set(runId, await outcomeOf(() => pushRun(db, store, runId, replace)));
    }
  }
  // Each run's share of the batch's time, by its events: the rate of each is the batch's.
  const seconds = (performance.now() - started) / 1000;
  const events = read.reduce((sum, r) => sum + r.digest.events, 0n);
  const given = new Set<string>();
  const result: Outcome[] = [];
  for (const runId of runIds) {
    const outcome = outcomes.get(runId);
    if (outcome === undefined) break; // the run the file could not give, and those after it
    const again = given.has(runId);
    given.add(runId);
    if (!("pieces" in outcome)) {
      result.push(
        again && !(outcome instanceof Error)
          ? { ...outcome, outcome: "present", seconds: 0 }
          : outcome,
      );
      continue;
    }
    const share = events > 0n ? Number(outcome.digest.events) / Number(events) : 1 / read.length;
    const sent =
      outcome.pieces.length === 0 ? "present" : outcome.replacing ? "replaced" : "pushed";
    result.push({
      runId,
      outcome: again ? "present" : sent,
      events: outcome.digest.events,
      seconds: again ? 0 : seconds * share,
    });
  }
  return { outcomes: result, failure };
}

/** The runs' content into the store inside `tx`: one COPY per table, then their digests. */
async function sendBatch(tx: TransactionSQL, runs: readonly ReadRun[]): Promise<void> {
  const replaced = runs.filter((r) => r.replacing).map((r) => r.runId);
  if (replaced.length > 0) await deleteRuns(tx, replaced);
  // Every run's pieces come in the same order of tables (runs first, which the others refer to).
  // Rows go in by run id, the order every push takes its locks in: two pushes of the same runs
  // in other orders would otherwise each wait for the other (a deadlock, one push lost).
  const tables = new Map<string, ContentPiece[]>();
  const byId = [...runs].sort((a, b) => (a.runId < b.runId ? -1 : a.runId > b.runId ? 1 : 0));
  for (const run of byId) {
    for (const piece of run.pieces) {
      const list = tables.get(piece.table);
      if (list === undefined) tables.set(piece.table, [piece]);
      else list.push(piece);
    }
  }
  for (const pieces of tables.values()) {
    const copy = startCopy(tx, pieces[0] as ContentPiece);
    for (const piece of pieces) await copy.write(piece.bytes);
    await copy.finish();
  }
  await insertPushes(
    tx,
    runs.map((r) => ({ runId: r.runId, digest: r.digest })),
  );
}

/** The pushes' rows, in order (their ordinals are the store's order of arrival). */
function insertPushes(
  tx: TransactionSQL,
  pushes: readonly { runId: string; digest: ContentDigest }[],
): Promise<unknown> {
  return tx.unsafe(
    `INSERT INTO ${PUSHES_TABLE} (run_id, digest, events, pushed_from)
     SELECT run_id, digest, events::bigint, $4 FROM unnest($1::text[], $2::text[], $3::text[])
     WITH ORDINALITY AS p(run_id, digest, events, n) ORDER BY n`,
    [
      pushes.map((p) => p.runId),
      pushes.map((p) => p.digest.hex()),
      pushes.map((p) => p.digest.events.toString()),
      hostname(),
    ],
  );
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
  await insertPushes(tx, [{ runId, digest }]);
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
