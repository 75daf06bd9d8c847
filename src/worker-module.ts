/**
 * Where the modules of runtape's worker threads are. A compiled binary is one bundle at its root,
 * in which each worker is an entry point of its own (scripts/build.ts reads this list) that keeps
 * its path from the project's root.
 */

/** The worker modules, by their path from the project's root. */
export const WORKER_MODULES = [
  "src/replay-worker.ts",
  "src/inspect/integrity-worker.ts",
  "src/stored-runs-worker.ts",
  "src/recorder-worker.ts",
] as const;

/** The URL to start the worker `path` (one of {@link WORKER_MODULES}) from, in source or binary. */
export function workerModule(path: (typeof WORKER_MODULES)[number]): URL {
  return import.meta.url.includes("/$bunfs/")
    ? new URL(`./${path}`, import.meta.url)
    : new URL(`../${path}`, import.meta.url);
}
