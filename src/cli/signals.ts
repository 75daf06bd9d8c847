// SIGHUP too: a terminal or ssh session closed under a recording ends it as Ctrl-C does.
const EXIT_CODES = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 } as const;
export type Signal = keyof typeof EXIT_CODES;

/**
 * Runs `handler` on SIGHUP, SIGINT or SIGTERM (with the conventional exit code, 128 + signal
 * number) instead of dying mid-write. Returns the function that restores the default behaviour.
 */
export function onTermination(handler: (signal: Signal, exitCode: number) => void): () => void {
  const listeners = (Object.keys(EXIT_CODES) as Signal[]).map((signal) => {
    const listener = () => handler(signal, EXIT_CODES[signal]);
    process.on(signal, listener);
    return [signal, listener] as const;
  });
  return () => {
    for (const [signal, listener] of listeners) process.off(signal, listener);
  };
}
