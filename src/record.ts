/**
 * The life of a recorded run, in one place: registered `running`, fed, then closed `completed`,
 * `failed` (the body threw) or `cancelled` (the signal was aborted). `recordRun` is that
 * lifecycle around any body; `recordNdjson` and `copyRun` are the two bodies the CLI needs.
 */
import { EventBus } from "./bus.ts";
import { openRunsDb, type RunsDb } from "./db.ts";
import type { RunRef } from "./diff.ts";
import { RunCancelledError } from "./errors.ts";
import { EVENT_TYPES } from "./events/catalog.ts";
import { type NdjsonInput, readNdjson } from "./ndjson.ts";
import { Recorder, type RecorderOptions, type RecordingSummary } from "./recorder.ts";
import { type ReplayOptions, replayOnto } from "./replay.ts";
import { fromJsonColumn, getRun, resolveRunId } from "./runs.ts";

/** Options of {@link recordRun}, {@link recordNdjson} and {@link copyRun}. */
export interface RunOptions extends RecorderOptions {
  /**
   * Aborting ends the run `cancelled` at once (buffered events are stored first, even while the
   * body is stuck waiting for input); the call then rejects with RunCancelledError.
   */
  signal?: AbortSignal;
  /** Called with the number of events recorded so far, after each event. */
  onProgress?: (events: number) => void;
  /** Called with the recorder once the run is registered: its id, live counts, `summary`. */
  onStart?: (recorder: Recorder) => void;
  /** The metadata a run that fails is closed with, from what the body threw. */
  failureMetadata?: (error: unknown) => Record<string, unknown>;
}

/**
 * Records one run around `body`: a fresh bus with a recorder attached is handed to `body`; the run
 * ends `completed` when it returns, `failed` (after flushing) when it throws, which rethrows, and
 * `cancelled` when `options.signal` aborts.
 */
export async function recordRun<T>(
  target: string | RunsDb,
  options: RunOptions,
  body: (bus: EventBus, recorder: Recorder) => T | Promise<T>,
): Promise<{ result: T; summary: RecordingSummary }> {
  const { signal, onProgress } = options;
  signal?.throwIfAborted();
  const recorder = Recorder.start(target, options);
  let cancelError: unknown;
  const cancel = () => {
    try {
      recorder.close("cancelled");
    } catch (error) {
      cancelError = error; // thrown from an abort listener it would reach no one
    }
  };
  signal?.addEventListener("abort", cancel, { once: true });
  options.onStart?.(recorder);
  const bus = new EventBus();
  recorder.attach(bus);
  if (onProgress) bus.subscribe(EVENT_TYPES, () => onProgress(recorder.recorded));
  let result: T;
  try {
    result = await body(bus, recorder);
  } catch (error) {
    if (signal?.aborted) throw cancelled(recorder, cancelError);
    try {
      recorder.close("failed", options.failureMetadata?.(error));
    } catch (closeError) {
      // Both matter: what broke the strategy, and why the run could not be closed (it stays
      // `running`, for `recover`).
      throw new AggregateError([error, closeError], "the run failed and could not be closed");
    }
    throw error;
  } finally {
    signal?.removeEventListener("abort", cancel);
  }
  if (signal?.aborted) throw cancelled(recorder, cancelError);
  return { result, summary: recorder.close("completed") };
}

const cancelled = (recorder: Recorder, closeError: unknown) =>
  closeError === undefined ? new RunCancelledError(recorder.summary) : closeError;

/**
 * Records the NDJSON events of `input` (one event per line; fields the model fills itself may be
 * left out) as one run. At the first invalid line the run keeps the events before it, ends
 * `failed`, and the NdjsonError is rethrown.
 */
export async function recordNdjson(
  target: string | RunsDb,
  input: NdjsonInput,
  options: RunOptions = {},
): Promise<RecordingSummary> {
  const { summary } = await recordRun(target, options, async (_bus, recorder) => {
    for await (const event of readNdjson(input, { defaults: true })) {
      recorder.record(event);
      options.onProgress?.(recorder.recorded);
    }
  });
  return summary;
}

/**
 * Copies a run (the latest unless `source.run` names one) into `target` under the same id, name,
 * config and metadata, replaying it through a bus and recording it again. The replay filters
 * apply, so a copy may hold part of the run; `speed` paces it like a live run.
 */
export async function copyRun(
  source: RunRef,
  target: string | RunsDb,
  options: Omit<RunOptions, "runId" | "name" | "config" | "metadata"> &
    Omit<ReplayOptions, "run" | "stats"> & { speed?: number } = {},
): Promise<RecordingSummary> {
  const db = typeof source.db === "string" ? openRunsDb(source.db) : source.db;
  try {
    const run = getRun(db, resolveRunId(db, source.run));
    const { summary } = await recordRun(
      target,
      {
        ...options,
        runId: run.run_id,
        name: run.name,
        config: fromJsonColumn(run.config, `config of run ${run.run_id}`),
        metadata: fromJsonColumn(run.metadata, `metadata of run ${run.run_id}`),
      },
      (bus) => replayOnto(bus, db, { ...options, run: run.run_id }),
    );
    return summary;
  } finally {
    if (db !== source.db) db.close();
  }
}
