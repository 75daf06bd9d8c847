import * as v from "valibot";
import { asRunsDb, type RunsDb, toDbError } from "../db.ts";
import {
  describeValue,
  RunConflictError,
  RunNotFoundError,
  RuntapeError,
  StoreDigestError,
} from "../errors.ts";
import { checkOptions } from "../options.ts";
import { getRun } from "../runs.ts";
import { shellWord } from "../text.ts";
import { batches } from "./batches.ts";
import { ContentDigest, copyColumns } from "./content.ts";
import { PgStore, pageContent, type StoredPage } from "./postgres.ts";
import { fileDigest, storedDigests } from "./push.ts";

/** Options of {@link pull}. */
export interface PullOptions {
  /** These runs; default every run in the store. */
  runs?: readonly string[];
  /** Called as each run is done, for progress lines. */
  onRun?: (result: PulledRun) => void;
}

const PullOptionsSchema = v.object({
  runs: v.optional(v.array(v.string("expected run ids"), "expected an array of run ids")),
  onRun: v.optional(v.function()),
});

/** What happened to one run. */
export interface PulledRun {
  runId: string;
  /** `present`: the file already held exactly this run. */
  outcome: "pulled" | "present";
  events: bigint;
  /** Wall time since the run before was done: runs read together count their reading to the first. */
  seconds: number;
}

/**
 * Copies runs from a store into a runs database (created when missing), each in one SQLite
 * transaction and checked against the digest it was pushed with. A run the file already holds
 * is left alone when it is the same, refused (RunConflictError) when it is not. Small runs are
 * read a batch at a time (a statement a table for the batch): across a network each statement is
 * a round trip, and sweeps of thousands of small runs made thousands of them.
 */
export async function pull(
  from: string | PgStore,
  into: string | RunsDb,
  options: PullOptions = {},
): Promise<PulledRun[]> {
  checkOptions(PullOptionsSchema, options, "pull");
  if (typeof from !== "string" && !(from instanceof PgStore)) {
    throw new RuntapeError(
      `pull: expected a store URL or an open PgStore (got ${describeValue(from)})`,
      "INVALID_OPTION",
    );
  }
  const store = typeof from === "string" ? await PgStore.open(from) : from;
  try {
    const runs =
      options.runs === undefined
        ? (await store.listRuns()).reverse()
        : await store.resolveRuns(options.runs);
    const db = asRunsDb(into, { mode: "write" });
    try {
      const results: PulledRun[] = [];
      let since = performance.now();
      for (const batch of batches(runs)) {
        const read = await readBatch(store, db, batch);
        for (const runId of batch) {
          const result = await pullRun(store, db, runId, read, since);
          since = performance.now();
          options.onRun?.(result);
          results.push(result);
        }
      }
      return results;
    } catch (error) {
      // The store is PostgreSQL: an SQLite failure is the file's (a corrupt page of it, say).
      throw toDbError(db.path, error);
    } finally {
      if (typeof into === "string") db.close();
    }
  } finally {
    if (typeof from === "string") await store.close();
  }
}

/** What a batch read of the store: its runs' pushed digests, and the rows of those it copies. */
interface BatchRead {
  digests: ReadonlyMap<string, string>;
  pages: ReadonlyMap<string, readonly StoredPage[]>;
}

/**
 * Reads a batch's digests (one statement) and, where it holds several runs, the rows of those the
 * file does not hold yet (one statement a table; a run the file holds is compared by digest,
 * never copied). A run alone, the large among them, is read as it is copied, a page at a time.
 */
async function readBatch(store: PgStore, db: RunsDb, batch: string[]): Promise<BatchRead> {
  const digests = await storedDigests(store, batch);
  if (batch.length === 1) return { digests, pages: new Map() };
  return { digests, pages: await store.pagesOfRuns(batch.filter((id) => !hasRun(db, id))) };
}

async function pullRun(
  store: PgStore,
  db: RunsDb,
  runId: string,
  read: BatchRead,
  started: number,
): Promise<PulledRun> {
  const stored = read.digests.get(runId);
  const seconds = () => (performance.now() - started) / 1000;
  if (hasRun(db, runId)) {
    const local = fileDigest(db, runId);
    if (local.hex() === stored) {
      return { runId, outcome: "present", events: local.events, seconds: seconds() };
    }
    throw new RunConflictError(
      runId,
      db.path,
      `\`runtape rm ${shellWord(db.path)} --run ${shellWord(runId)} --yes\` removes the file's copy, or pull into another file`,
    );
  }
  // Gone from the store since it was listed: as pulling it alone by its id says.
  const pages = read.pages.get(runId);
  if (pages !== undefined && !pages.some((page) => page.table === "runs")) {
    throw new RunNotFoundError(runId);
  }
  const digest = new ContentDigest();
  // The network is read inside the write transaction: the run appears whole or not at all. A run
  // not read with its batch (streamed, or gone from the file since) is read here a page at a time.
  db.sqlite.exec("BEGIN IMMEDIATE");
  try {
    for await (const page of pages ?? store.pages(runId)) {
      for (const piece of pageContent(page, runId)) digest.add(piece);
      // The file numbers its rows itself: every store column but `id`.
      const columns = copyColumns(page).filter((c) => c !== "id");
      const insert = db.sqlite.prepare(
        `INSERT INTO ${page.table} (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`,
      );
      try {
        for (const row of page.rows) {
          insert.run(...((page.type !== undefined ? [runId, ...row] : row) as never[]));
        }
      } finally {
        insert.finalize();
      }
    }
    if (stored !== undefined && digest.hex() !== stored) {
      throw new StoreDigestError(runId, store.label, "nothing pulled");
    }
    db.sqlite.exec("COMMIT");
  } catch (error) {
    db.sqlite.exec("ROLLBACK");
    throw toDbError(db.path, error);
  }
  return { runId, outcome: "pulled", events: digest.events, seconds: seconds() };
}

function hasRun(db: RunsDb, runId: string): boolean {
  try {
    getRun(db, runId);
    return true;
  } catch (error) {
    if (error instanceof RunNotFoundError) return false;
    throw error;
  }
}
