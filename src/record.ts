/**
 * The life of a recorded run, in one place: registered `running`, fed, then closed `completed`,
 * `failed` (the body threw) or `cancelled` (the signal was aborted). `recordRun` is that
 * lifecycle around any body; `recordNdjson` and `copyRun` are the two bodies the CLI needs.
 */
import { resolve } from "node:path";
import * as v from "valibot";
import { EventBus } from "./bus.ts";
import { asRunsDb, type RunsDb } from "./db.ts";
import type { RunRef } from "./diff.ts";
import { EmptyInputError, RunCancelledError, RunNotClosedError } from "./errors.ts";
import { EVENT_TYPES, type Event } from "./events/catalog.ts";
import { nowNs } from "./events/clock.ts";
import { parseStoredObject, storedJson, withMembers } from "./json.ts";
import {
  checkNdjsonInput,
  filledFields,
  type NdjsonInput,
  readNdjsonNotingFirst,
} from "./ndjson.ts";
import { Pacer } from "./pacing.ts";
import {
  checkRecorderOptions,
  Recorder,
  type RecorderOptions,
  RecorderOptionsSchema,
  type RecordingSummary,
} from "./recorder.ts";
import { type ReplayOptions, replayOnto } from "./replay.ts";
import { getRun, resolveRunId } from "./runs.ts";

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
  /** Members set in the metadata of a run that fails (the rest kept), from what the body threw. */
  failureMetadata?: (error: unknown) => Record<string, unknown>;
}

const RunOptionsSchema = v.object({
  ...RecorderOptionsSchema.entries,
  signal: v.optional(v.instance(AbortSignal, "expected an AbortSignal")),
  onProgress: v.optional(v.function()),
  onStart: v.optional(v.function()),
  failureMetadata: v.optional(v.function()),
});

/**
 * Records one run around `body`: a fresh bus with a recorder attached is handed to `body`; the run
 * ends `completed` when it returns, `failed` (after flushing) when it throws, which rethrows, and
 * `cancelled` when `options.signal` aborts. A body may close the run itself, with the values only
 * its end knows (Recorder.close: a copy's status, times, metadata); the run then stays as the body
 * closed it. If the run cannot be closed (a full disk refuses its last batch, or `failed` after
 * the body threw), the call rejects with RunNotClosedError and the run stays `running`.
 */
export async function recordRun<T>(
  target: string | RunsDb,
  options: RunOptions,
  body: (bus: EventBus, recorder: Recorder) => T | Promise<T>,
): Promise<{ result: T; summary: RecordingSummary }> {
  const { signal, onProgress, onStart, failureMetadata, ...recorderOptions } = options;
  signal?.throwIfAborted();
  const recorder = Recorder.start(target, recorderOptions);
  let cancelError: unknown;
  const cancel = () => {
    try {
      recorder.close("cancelled");
    } catch (error) {
      cancelError = error; // thrown from an abort listener it would reach no one
    }
  };
  signal?.addEventListener("abort", cancel, { once: true });
  onStart?.(recorder);
  const bus = new EventBus();
  recorder.attach(bus);
  if (onProgress) bus.subscribe(EVENT_TYPES, () => onProgress(recorder.recorded));
  let result: T;
  try {
    result = await body(bus, recorder);
  } catch (error) {
    if (signal?.aborted) throw cancelled(recorder, cancelError);
    try {
      recorder.close("failed", failureMetadata?.(error));
    } catch (closeError) {
      throw new RunNotClosedError(recorder.runId, error, closeError);
    }
    throw error;
  } finally {
    signal?.removeEventListener("abort", cancel);
  }
  if (signal?.aborted) throw cancelled(recorder, cancelError);
  try {
    return { result, summary: recorder.close("completed") };
  } catch (error) {
    // The last batch, stored at close, met the full disk: the run stays running, as above.
    if (recorder.status === "running") throw new RunNotClosedError(recorder.runId, error, error);
    throw error;
  }
}

const cancelled = (recorder: Recorder, closeError: unknown) =>
  closeError === undefined ? new RunCancelledError(recorder.summary) : closeError;

/**
 * Records the NDJSON events of `input` (one event per line; fields the model fills itself may be
 * left out) as one run. Options the recorder refuses, and an input that is no NdjsonInput (a
 * string: pass `Bun.file(path).stream()`), throw RuntapeError (INVALID_OPTION) before anything is
 * read. The first event is read before the run is registered: an invalid first line throws its
 * NdjsonError with no run made (and `signal` aborted while the first line is awaited rejects with
 * its reason), and an input without events (nothing, or blank lines) throws EmptyInputError with
 * no run made either. At a later invalid line the run keeps the events before it, ends `failed`,
 * and the NdjsonError is rethrown.
 */
export async function recordNdjson(
  target: string | RunsDb,
  input: NdjsonInput,
  options: RunOptions = {},
): Promise<RecordingSummary> {
  // Before the first line is awaited: a wrong option or input is refused at once, no line taken.
  checkNdjsonInput(input, "recordNdjson");
  checkRecorderOptions(options, "recordNdjson", RunOptionsSchema);
  const events = readNdjsonNotingFirst(input);
  try {
    // Input of another format fails at its first line: refused so, it leaves no failed run of no
    // events behind, as a refused option leaves none.
    const first = await untilAborted(events.next(), options.signal);
    // Recorded, it would read as a completed recording of nothing.
    if (first.done === true) throw new EmptyInputError();
    const { summary } = await recordRun(target, options, async (_bus, recorder) => {
      // The first event was read before the run started: a ts_created_ns the line left out, made
      // from the clock then, would precede the run's ts_start. Made again now, it follows it.
      if (filledFields(first.value).includes("ts_created_ns")) {
        (first.value as { ts_created_ns: bigint }).ts_created_ns = nowNs();
      }
      // A file's stream hands over chunk after chunk without a turn of the event loop, where a
      // signal handler or a timer that aborts the signal would run: the pacer gives them one.
      const pacer = new Pacer(undefined, options.signal);
      for (let next = first as IteratorResult<Event>; !next.done; next = await events.next()) {
        const event = next.value;
        const turn = pacer.wait(event.ts_event_ns);
        if (turn !== undefined) await turn;
        recorder.record(event);
        options.onProgress?.(recorder.recorded);
      }
    });
    return summary;
  } finally {
    // Where the run could not start (a duplicate id) the input is let go; ended, this does nothing.
    events.return(undefined).catch(() => {});
  }
}

/** `promise`, or a rejection with `signal`'s reason as soon as it is aborted. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(signal.reason);
    signal.addEventListener("abort", abort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", abort));
  });
}

/** What {@link copyRun} copied: the copy's summary, and the source's rows it skipped as invalid. */
export interface CopySummary extends RecordingSummary {
  skipped: number;
}

/** The replay filters a copy was made with, as its lineage states them. */
const FILTERS = ["types", "excludeTypes", "symbols", "from", "to", "limit"] as const;

/**
 * Copies a run (the latest unless `source.run` names one) into `target`, replaying it through a
 * bus and recording it again: under the same id (or `runId`), name and config, and the source's
 * metadata plus a `lineage` entry (source file and run, the filters applied, whether the copy is
 * filtered, when it was made). A copy keeps the run's start time; a copy of a closed run keeps its
 * status and end time too, and one of a run still `running` ends `completed`, now.
 * The replay filters apply, so a copy may hold part of the run; `speed` paces it like a live run.
 * Rows skipped with `onInvalidRow: "skip"` are counted in the summary and in the lineage
 * (`skipped_invalid_rows`, and the copy is `filtered`).
 */
export async function copyRun(
  source: RunRef,
  target: string | RunsDb,
  options: Omit<RunOptions, "name" | "config" | "metadata"> &
    Omit<ReplayOptions, "run" | "stats"> & { speed?: number } = {},
): Promise<CopySummary> {
  const db = asRunsDb(source?.db);
  try {
    const run = getRun(db, resolveRunId(db, source.run));
    const filters = Object.fromEntries(
      FILTERS.filter((f) => options[f] !== undefined).map((f) => [f, options[f]]),
    );
    const lineage = {
      source_file: resolve(db.path),
      source_run: run.run_id,
      source_status: run.status,
      filtered: Object.keys(filters).length > 0,
      filters,
      copied_at_ns: nowNs(),
    };
    // Checked as any config is, then kept as its text: merge, push and pull copy it byte for byte.
    parseStoredObject(run.config, `config of run ${run.run_id}`);
    const config = run.config === null ? null : storedJson(run.config);
    // The source's text with the lineage set: a Python float `10.0` must not come back as `10`.
    const metadata = withMembers(run.metadata, { lineage }, `metadata of run ${run.run_id}`);
    const { speed, types, excludeTypes, symbols, from, to, limit, onInvalidRow, ...runOptions } =
      options;
    const replayOptions = { speed, types, excludeTypes, symbols, from, to, limit, onInvalidRow };
    const { result: stats, summary } = await recordRun(
      target,
      {
        ...runOptions,
        runId: options.runId ?? run.run_id,
        name: run.name,
        config,
        metadata: storedJson(metadata as string), // never null: it holds the lineage
      },
      async (bus, recorder) => {
        const stats = await replayOnto(bus, db, {
          ...replayOptions,
          signal: options.signal,
          run: run.run_id,
        });
        // What only the end of the copy knows, written in the transaction that closes it: a copy
        // killed before that stays `running` (for `recover`), never closed with values of its own.
        // When the run started is a fact of it, kept. A copy of a run still `running` (being
        // recorded, or left so by a process that died) is of one moment of it: its status and end
        // are the copy's own, completed now.
        const skipped =
          stats.skipped > 0
            ? { lineage: { ...lineage, filtered: true, skipped_invalid_rows: stats.skipped } }
            : undefined;
        if (run.status === "running")
          recorder.close("completed", skipped, { tsStart: run.ts_start });
        else recorder.close(run.status, skipped, { tsStart: run.ts_start, tsEnd: run.ts_end });
        return stats;
      },
    );
    return { ...summary, skipped: stats.skipped };
  } finally {
    if (db !== source.db) db.close();
  }
}
