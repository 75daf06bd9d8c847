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
import { ContentDigest, copyColumns } from "./content.ts";
import { PgStore, pageContent } from "./postgres.ts";
import { fileDigest, storedDigest } from "./push.ts";

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
  seconds: number;
}

/**
 * Copies runs from a store into a runs database (created when missing), each in one SQLite
 * transaction and checked against the digest it was pushed with. A run the file already holds
 * is left alone when it is the same, refused (RunConflictError) when it is not.
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
        ? (await store.listRuns()).map((r) => r.run_id).reverse()
        : await Promise.all(options.runs.map((id) => store.resolveRunId(id)));
    const db = asRunsDb(into, { mode: "write" });
    try {
      const results: PulledRun[] = [];
      for (const runId of runs) {
        const result = await pullRun(store, db, runId);
        options.onRun?.(result);
        results.push(result);
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

async function pullRun(store: PgStore, db: RunsDb, runId: string): Promise<PulledRun> {
  const started = performance.now();
  const stored = await storedDigest(store, runId);
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
  const digest = new ContentDigest();
  // The network is read inside the write transaction: the run appears whole or not at all.
  db.sqlite.exec("BEGIN IMMEDIATE");
  try {
    for await (const page of store.pages(runId)) {
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
