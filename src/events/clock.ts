// Anchor the monotonic nanosecond counter to the wall clock once, so timestamps have nanosecond
// resolution and never go backwards within a process, as `ts_created_ns` requires.
const origin = BigInt(Date.now()) * 1_000_000n - BigInt(Bun.nanoseconds());

/** Wall-clock time in nanoseconds since the Unix epoch; never decreases within a process. */
export function nowNs(): bigint {
  return origin + BigInt(Bun.nanoseconds());
}

/** A new random (version 4) UUID in lower case, as order and fill ids are. */
export function newUuid(): string {
  return crypto.randomUUID();
}
