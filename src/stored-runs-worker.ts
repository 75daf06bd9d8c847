/** The job of sameRuns (src/stored-runs.ts) on a second thread: some tables, its own connections. */
import { inSnapshot, openRunsDb } from "./db.ts";
import { sameTables, type TablesJob } from "./stored-runs.ts";
import { serveThread } from "./thread.ts";

serveThread((job: TablesJob) => {
  const a = openRunsDb(job.a.path);
  try {
    const b = job.same ? a : openRunsDb(job.b.path);
    try {
      const compare = () =>
        sameTables({ db: a, runId: job.a.runId }, { db: b, runId: job.b.runId }, job) ?? null;
      return inSnapshot(a, () => inSnapshot(b, compare));
    } finally {
      if (b !== a) b.close();
    }
  } finally {
    a.close();
  }
});
