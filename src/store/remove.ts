import { sumCounts } from "../inspect/queries.ts";
import type { RemovedRun } from "../manage.ts";
import type { PgStore } from "./postgres.ts";
import { deleteRun } from "./push.ts";

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
  const removed: RemovedRun[] = [];
  const ids = await Promise.all(runIds.map((id) => store.resolveRunId(id)));
  for (const runId of new Set(ids)) {
    const run = await store.getRun(runId);
    const events = sumCounts(await store.countEvents(runId));
    removed.push({ runId: run.run_id, name: run.name, status: run.status, events });
  }
  if (!options.dryRun) {
    await store.guard(() =>
      store.sql.begin(async (tx) => {
        for (const run of removed) await deleteRun(tx, run.runId);
      }),
    );
  }
  return removed;
}
