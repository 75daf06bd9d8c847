/**
 * Where an export puts its files: `DIR/<table>/run_id=<id>/part-0.<ext>` per event table and run,
 * the Hive layout that DuckDB, Polars and pyarrow read as one dataset with `run_id` as a column,
 * and `DIR/runs.<ext>` beside them.
 */
import { join } from "node:path";
import { describeValue, RuntapeError } from "../errors.ts";

/** Longest file name most file systems take, in bytes. */
const MAX_NAME_BYTES = 255;

// Kept as they are: letters, digits, `_ . ~ -`, and everything beyond ASCII (readable in a
// listing). Everything else, `%` included, becomes %XX: what the Hive readers decode.
const UNSAFE = /[^A-Za-z0-9_.~\-\u0080-\u{10FFFF}]/gu;

const percentEncoded = (c: string) =>
  `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`;

/** A run id as a path segment value: reversible with {@link decodeRunId}, whatever it holds. */
export function encodeRunId(runId: string): string {
  // A trailing dot too: Windows drops it from a folder name, so `a.` would be read back as `a`.
  return runId.replace(UNSAFE, percentEncoded).replace(/\.$/, percentEncoded);
}

/** The run id a path segment value stands for. */
export function decodeRunId(segment: string): string {
  return decodeURIComponent(segment);
}

/** The partition directory name of `runId`; throws where no file system would take it. */
function partitionName(runId: string): string {
  const name = `run_id=${encodeRunId(runId)}`;
  const bytes = Buffer.byteLength(name);
  if (bytes > MAX_NAME_BYTES) {
    throw new RuntapeError(
      `run id ${describeValue(runId)} makes a directory name of ${bytes} bytes (at most ${MAX_NAME_BYTES}): give the run a shorter id (runtape rename) to export it`,
      "RUN_ID_TOO_LONG",
    );
  }
  return name;
}

/** The partition directory of `runId` in `table`'s folder. */
export function partitionPath(dir: string, table: string, runId: string): string {
  return join(dir, table, partitionName(runId));
}

/**
 * A name as a file system that ignores case and Unicode normalization sees it (macOS and Windows
 * by default): `SMA-1` and `sma-1`, or `é` composed and decomposed, are one folder there.
 */
const folded = (name: string) => [...name.normalize("NFD")].map(foldCase).join("").normalize("NFC");

// One character for one, as those file systems fold case (simple case folding): the full mapping
// of toUpperCase would make `ﬁ` "FI" and `ß` "SS", names they keep apart.
const foldCase = (c: string) => {
  const lower = c.toLowerCase();
  return lower.length === c.length ? lower : c;
};

/**
 * Throws for run ids that no export can hold side by side: one too long for a folder name, or
 * two whose folders are one where case or normalization is ignored, where one run's files would
 * silently replace the other's. Checked on every system: an export is copied between machines.
 */
export function checkPartitions(runIds: readonly string[]): void {
  const seen = new Map<string, string>();
  for (const runId of runIds) {
    const key = folded(partitionName(runId));
    const other = seen.get(key);
    if (other !== undefined) {
      throw new RuntapeError(
        `runs ${describeValue(other)} and ${describeValue(runId)} differ only in letter case or Unicode normalization, so they would share one folder of the export on macOS and Windows: give one of them another id (runtape rename) to export both`,
        "RUN_ID_CLASH",
      );
    }
    seen.set(key, runId);
  }
}

/** The one file of a partition. */
export const partFile = (partition: string, extension: string) =>
  join(partition, `part-0.${extension}`);

/** The file of the runs rows. */
export const runsFile = (dir: string, extension: string) => join(dir, `runs.${extension}`);
