import { RuntapeError } from "../errors.ts";
import { counted } from "../format.ts";
import type { Recorder } from "../recorder.ts";
import { onTermination, type Signal } from "./signals.ts";

/**
 * What a command that records a run needs so that SIGINT, SIGTERM or SIGHUP end the run
 * `cancelled` instead of killing it mid-write: hand `options` to the library call (its signal, and
 * `onStart` to learn the run), and call `release` once that call has settled. On a signal,
 * `say(signal, recorder)` tells in one line what was cancelled before the process exits with the
 * signal's code.
 */
export function cancellableRun(say: (signal: Signal, recorder: Recorder | undefined) => void) {
  const abort = new AbortController();
  let recorder: Recorder | undefined;
  const release = onTermination((signal, code) => {
    // The abort closes the run `cancelled` at once: what feeds it may be waiting on anything
    // (stdin, a strategy's promise).
    abort.abort();
    say(signal, recorder);
    process.exit(code);
  });
  return {
    options: {
      signal: abort.signal,
      onStart: (started: Recorder) => {
        recorder = started;
      },
    },
    /** The run's recorder, once it has started. */
    recorder: () => recorder,
    release,
  };
}

/** `error` as the CLI reports it: a run that ended `failed` by it says what it kept. */
export function withFailedRun(error: unknown, recorder: Recorder | undefined): unknown {
  if (!(error instanceof RuntapeError) || recorder?.status !== "failed") return error;
  const { runId, events } = recorder.summary;
  const kept = events === 0 ? "" : ` kept its first ${counted(events, "event")} and`;
  return new RuntapeError(`${error.message} (run ${runId}${kept} is marked failed)`, error.code);
}
