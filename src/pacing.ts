import { describeValue, RuntapeError } from "./errors.ts";

/** setTimeout fires at once for delays beyond a signed 32-bit count of milliseconds. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** At full speed, give timers and abort signals a turn this often. */
const EVENTS_PER_TURN = 4096;

/**
 * Decides when each event of a replay is due. At a speed factor, event times are measured from
 * the first event's `ts_event_ns` and the wall clock at that moment (1 = the original pace, 60 =
 * sixty times faster): due times are absolute, so timer lateness does not add up over a long run,
 * and an event older than the one before it is simply due at once — pacing only waits, it never
 * reorders. Without a speed (or 0, or Infinity) nothing waits. The signal cancels any wait.
 */
export class Pacer {
  readonly #speed: number | undefined;
  readonly #signal: AbortSignal | undefined;
  #firstTs: bigint | undefined;
  #firstMs = 0;
  #sinceTurn = 0;

  constructor(speed: number | undefined, signal?: AbortSignal) {
    if (speed !== undefined && !(speed >= 0)) {
      throw new RuntapeError(
        `speed: expected a number ≥ 0 (got ${describeValue(speed)})`,
        "INVALID_OPTION",
      );
    }
    this.#speed = speed === 0 || speed === Number.POSITIVE_INFINITY ? undefined : speed;
    this.#signal = signal;
  }

  /**
   * Undefined when the event at `ts` is due now, else a promise that resolves when it is due.
   * Throws (or rejects with) the signal's reason once it is aborted.
   */
  wait(ts: bigint): Promise<void> | undefined {
    this.#signal?.throwIfAborted();
    if (this.#speed !== undefined) {
      if (this.#firstTs === undefined) {
        this.#firstTs = ts;
        this.#firstMs = performance.now();
        return undefined;
      }
      const dueMs = this.#firstMs + Number(ts - this.#firstTs) / 1e6 / this.#speed;
      if (dueMs > performance.now()) return this.#sleepUntil(dueMs);
    }
    if (++this.#sinceTurn < EVENTS_PER_TURN) return undefined;
    this.#sinceTurn = 0;
    return new Promise((resolve) => setImmediate(resolve));
  }

  async #sleepUntil(dueMs: number): Promise<void> {
    this.#sinceTurn = 0;
    for (let left = dueMs - performance.now(); left > 0; left = dueMs - performance.now()) {
      await sleep(Math.min(left, MAX_TIMER_MS), this.#signal);
    }
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener("abort", abort);
      resolve();
    }
    function abort() {
      clearTimeout(timer);
      reject(signal?.reason);
    }
    signal?.addEventListener("abort", abort, { once: true });
  });
}
