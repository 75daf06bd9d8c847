/** What `runtape inspect` shows of a store: the same answers as for a file, from the store. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openRunsDb } from "../db.ts";
import { StoreDigestError } from "../errors.ts";
import { sumCounts } from "../inspect/queries.ts";
import {
  type CheckFinding,
  inspectRun,
  type RunDetail,
  type RunListEntry,
  toListEntry,
} from "../inspect.ts";
import { batches } from "./batches.ts";
import { ContentDigest } from "./content.ts";
import { withSource, withStore } from "./index.ts";
import { type PgStore, pageContent } from "./postgres.ts";
import { pull } from "./pull.ts";
import { storedDigests } from "./push.ts";
import type { RunSource } from "./source.ts";

/**
 * All runs of a source (an open RunSource, or a path or store URL opened for the call), newest
 * first, as the run list shows them.
 */
export async function listSourceSummaries(source: string | RunSource): Promise<RunListEntry[]> {
  return withSource(source, "listSourceSummaries", async (source) => {
    const entries: RunListEntry[] = [];
    for (const run of await source.listRuns()) {
      const events = run.events ?? sumCounts(await source.countEvents(run.run_id));
      entries.push(toListEntry(run, events));
    }
    return entries;
  });
}

/**
 * A stored run in detail (of an open PgStore, or a store URL opened for the call), exactly as
 * inspect shows it for a file: the run is copied into a temporary runs database (checked against
 * its digest) and inspected there, so one implementation answers for both. The copy is removed
 * afterwards.
 */
export async function inspectStoredRun(store: string | PgStore, runId: string): Promise<RunDetail> {
  return withStore(store, "inspectStoredRun", (store) => inspectIn(store, runId));
}

async function inspectIn(store: PgStore, runId: string): Promise<RunDetail> {
  const dir = mkdtempSync(join(tmpdir(), "runtape-inspect-"));
  try {
    const path = join(dir, "run.db");
    await pull(store, path, { runs: [runId] }).catch((error) => {
      // Pulling is how inspect reads the run, not what the user asked for: say what it means.
      if (!(error instanceof StoreDigestError)) throw error;
      throw new StoreDigestError(
        runId,
        store.label,
        "its rows were changed in the store after the push",
      );
    });
    const db = openRunsDb(path);
    try {
      return inspectRun(db, runId);
    } finally {
      db.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Checks a store (an open PgStore, or a store URL opened for the call): every run's rows against
 * the digest they were published with (a row changed, lost or added by hand shows), and runs that
 * no push published.
 */
export async function checkStore(store: string | PgStore): Promise<CheckFinding[]> {
  return withStore(store, "checkStore", checkIn);
}

async function checkIn(store: PgStore): Promise<CheckFinding[]> {
  const findings: CheckFinding[] = [];
  // Small runs a batch at a time (a statement a table for the batch), a large one page by page.
  for (const batch of batches(await store.listRuns())) {
    const digests = await storedDigests(store, batch);
    const published = batch.filter((id) => digests.has(id));
    const pages = published.length > 1 ? await store.pagesOfRuns(published) : undefined;
    for (const runId of batch) {
      const stored = digests.get(runId);
      if (stored === undefined) {
        findings.push({
          kind: "integrity",
          runId,
          message: `run ${JSON.stringify(runId)} was not published by a push`,
        });
        continue;
      }
      const digest = new ContentDigest();
      if (pages === undefined) {
        for await (const piece of store.content(runId)) digest.add(piece);
      } else {
        for (const page of pages.get(runId) ?? []) {
          for (const piece of pageContent(page, runId)) digest.add(piece);
        }
      }
      if (digest.hex() !== stored) {
        findings.push({
          kind: "integrity",
          runId,
          message: `run ${JSON.stringify(runId)} differs from what was pushed (its rows were changed in the store)`,
        });
      }
    }
  }
  return findings;
}
