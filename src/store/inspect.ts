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
import { ContentDigest } from "./content.ts";
import type { PgStore } from "./postgres.ts";
import { pull } from "./pull.ts";
import { storedDigest } from "./push.ts";
import type { RunSource } from "./source.ts";

/** All runs of a source, newest first, as the run list shows them. */
export async function listSourceSummaries(source: RunSource): Promise<RunListEntry[]> {
  const entries: RunListEntry[] = [];
  for (const run of await source.listRuns()) {
    entries.push(toListEntry(run, run.events ?? sumCounts(await source.countEvents(run.run_id))));
  }
  return entries;
}

/**
 * A stored run in detail, exactly as inspect shows it for a file: the run is copied into a
 * temporary runs database (checked against its digest) and inspected there, so one implementation
 * answers for both. The copy is removed afterwards.
 */
export async function inspectStoredRun(store: PgStore, runId: string): Promise<RunDetail> {
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
 * Checks a store: every run's rows against the digest they were published with (a row changed,
 * lost or added by hand shows), and runs that no push published.
 */
export async function checkStore(store: PgStore): Promise<CheckFinding[]> {
  const findings: CheckFinding[] = [];
  for (const run of await store.listRuns()) {
    const runId = run.run_id;
    const stored = await storedDigest(store, runId);
    if (stored === undefined) {
      findings.push({
        kind: "integrity",
        runId,
        message: `run ${JSON.stringify(runId)} was not published by a push`,
      });
      continue;
    }
    const digest = new ContentDigest();
    for await (const piece of store.content(runId)) digest.add(piece);
    if (digest.hex() !== stored) {
      findings.push({
        kind: "integrity",
        runId,
        message: `run ${JSON.stringify(runId)} differs from what was pushed (its rows were changed in the store)`,
      });
    }
  }
  return findings;
}
