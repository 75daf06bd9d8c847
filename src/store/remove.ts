import { RunNotFoundError, RuntapeError } from "../errors.ts";
import { sumCounts } from "../inspect/queries.ts";
import type { RemovedRun } from "../manage.ts";
import type { RunRow } from "../runs.ts";
import type { PgStore } from "./postgres.ts";
import { deleteRuns } from "./push.ts";

/**
 * Removes runs and all their rows from a store in one transaction; with `dryRun`, only says what
 * it would remove. An unknown id throws RunNotFoundError before anything is removed. A store holds
 * the runs that were pushed to it, finished ones: no recorder writes there.
 */
export async function removeStoredRuns(
  store: PgStore,
  runIds: readonly string[],
  options: { dryRun?: boolean } = {},
): Promise<RemovedRun[]> {
  // One listing for every id, not a query or two per run: rm --where picks thousands.
  const runs = await store.listRuns();
  const byId = new Map(runs.map((run) => [run.run_id, run]));
  const picked = new Map<string, RunRow>();
  for (const id of runIds) {
    const run = id === "latest" ? runs[0] : byId.get(id);
    if (run === undefined) {
      if (id === "latest") throw new RuntapeError(`${store.label} holds no runs`, "NO_RUNS");
      throw new RunNotFoundError(id);
    }
    picked.set(run.run_id, run);
  }
  const removed: RemovedRun[] = [];
  for (const run of picked.values()) {
    // Counted by the push (runtape_runs); counted from the tables where it was not.
    const events = run.events ?? sumCounts(await store.countEvents(run.run_id));
    removed.push({ runId: run.run_id, name: run.name, status: run.status, events });
  }
  if (!options.dryRun && removed.length > 0) {
    await store.guard(() =>
      store.sql.begin((tx) =>
        deleteRuns(
          tx,
          removed.map((r) => r.runId),
        ),
      ),
    );
  }
  return removed;
}
