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
   * Where the source reads many runs cheaper together (a store across a network: a round trip
   * per statement), the events of each of `runs` in their order, each run's as `chunks` gives
   * them; each run's chunks are read before the next run is asked for.
   */
  eachRun?(
    runs: readonly RunRow[],
  ): AsyncIterable<{ run: RunRow; chunks: AsyncIterable<readonly Event[]> }>;
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
  /**
   * Where the source keeps metrics (report/cache.ts): its cache of them under `version`, read for
   * `runs` once, so that a listing reads one row per run instead of every event.
   */
  readMetrics?(runs: readonly RunRow[], version: number): Promise<MetricsCache>;
  close(): Promise<void>;
  /** `await using source = await openSource(…)` closes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** A source's cached metrics, as {@link RunSource.readMetrics} read them. */
export interface MetricsCache {
  /**
   * The run's metrics as the exact JSON text stored (stringifyExact's), where they were computed
   * from the content the run has now; otherwise undefined.
   */
  get(run: RunRow): string | undefined;
  /**
   * Keeps metrics computed from runs' events read after this cache was; whether it did. Never
   * throws: where the source cannot keep them (no right to, busy, read-only), they are computed
   * again next time.
   */
  store(entries: readonly ComputedMetrics[]): Promise<boolean>;
}

/** One finished run's metrics, for {@link MetricsCache.store}. */
export interface ComputedMetrics {
  run: RunRow;
  /** The events they were computed from. */
  events: bigint;
  /** The metrics as exact JSON text (stringifyExact). */
  metrics: string;
}

/** Events per array in {@link RunSource.chunks}. */
export const CHUNK_EVENTS = 4096;

/** The events of `chunks`, one at a time. */
export async function* flatten(chunks: AsyncIterable<readonly Event[]>): AsyncGenerator<Event> {
  for await (const chunk of chunks) yield* chunk;
}
