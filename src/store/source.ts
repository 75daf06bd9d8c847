/**
 * The read side of every place runs are kept, a runs database file or a PostgreSQL store: what
 * inspect, replay, diff, merge, export and the report need, and nothing about where it lives.
 */
import type { Event, EventType } from "../events/catalog.ts";
import type { SqlValue } from "../events/fields.ts";
import type { ReplayOptions } from "../replay.ts";
import type { RunRow } from "../runs.ts";

/** Where runs are read from. Open one with `openSource(pathOrUrl)`; close it when done. */
export interface RunSource {
  readonly kind: "sqlite" | "postgres";
  /** The path, or the URL without its password: what messages name. */
  readonly label: string;
  /** All runs, newest start first. */
  listRuns(): Promise<RunRow[]>;
  /** The run `runId`; throws RunNotFoundError. */
  getRun(runId: string): Promise<RunRow>;
  /** Resolves `"latest"` (or nothing) to the newest run's id; checks that a given id exists. */
  resolveRunId(run?: string): Promise<string>;
  /** Events stored for a run (or `"latest"`), by type; throws RunNotFoundError for a run not there. */
  countEvents(runId: string): Promise<Record<EventType, bigint>>;
  /**
   * The events of one run in publication order, equal to what `replay` gives for the file the run
   * was recorded in (see {@link ReplayOptions} for the filters; `stats` fills in as it goes).
   */
  events(options?: ReplayOptions): AsyncIterable<Event>;
  /** The same events in arrays, for consumers that go through millions (one await per array). */
  chunks(options?: ReplayOptions): AsyncIterable<readonly Event[]>;
  /**
   * Where the source can hand out stored rows without building events: a run's rows of each of
   * `types`, table after table, from one snapshot (see storedRows in src/replay.ts), passed to
   * `take` in arrays of at most {@link CHUNK_EVENTS}, each awaited before the next is read.
   * Resolves false, reading nothing, for a run whose order only replay reconstructs.
   */
  eachStoredRow?(
    runId: string,
    types: readonly EventType[],
    take: (type: EventType, rows: readonly SqlValue[][]) => Promise<void>,
  ): Promise<boolean>;
  close(): Promise<void>;
  /** `await using source = await openSource(…)` closes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Events per array in {@link RunSource.chunks}. */
export const CHUNK_EVENTS = 4096;

/** The events of `chunks`, one at a time. */
export async function* flatten(chunks: AsyncIterable<readonly Event[]>): AsyncGenerator<Event> {
  for await (const chunk of chunks) yield* chunk;
}
