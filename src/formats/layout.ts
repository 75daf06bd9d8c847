/**
 * Where an export puts its files: `DIR/<table>/run_id=<id>/part-0.<ext>` per event table and run,
 * the Hive layout that DuckDB, Polars and Spark read as one dataset with `run_id` as a column,
 * and `DIR/runs.<ext>` beside them.
 */
import { join } from "node:path";
import { describeValue, RuntapeError } from "../errors.ts";

/** Longest file name most file systems take, in bytes. */
const MAX_NAME_BYTES = 255;

// Kept as they are: letters, digits, `_ . ~ -`, and everything beyond ASCII (readable in a
// listing). Everything else, `%` included, becomes %XX: what the Hive readers decode.
const UNSAFE = /[^A-Za-z0-9_.~\-\u0080-\u{10FFFF}]/gu;

/** A run id as a path segment value: reversible with {@link decodeRunId}, whatever it holds. */
export function encodeRunId(runId: string): string {
  return runId.replace(
    UNSAFE,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`,
  );
}

/** The run id a path segment value stands for. */
export function decodeRunId(segment: string): string {
  return decodeURIComponent(segment);
}

/** The partition directory of `runId` in `table`'s folder. */
export function partitionPath(dir: string, table: string, runId: string): string {
  const name = `run_id=${encodeRunId(runId)}`;
  const bytes = Buffer.byteLength(name);
  if (bytes > MAX_NAME_BYTES) {
    throw new RuntapeError(
      `run id ${describeValue(runId)} makes a directory name of ${bytes} bytes (at most ${MAX_NAME_BYTES}): give the run a shorter id (runtape rename) to export it`,
      "RUN_ID_TOO_LONG",
    );
  }
  return join(dir, table, name);
}

/** The one file of a partition. */
export const partFile = (partition: string, extension: string) =>
  join(partition, `part-0.${extension}`);

/** The file of the runs rows. */
export const runsFile = (dir: string, extension: string) => join(dir, `runs.${extension}`);
