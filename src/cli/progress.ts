import { formatCount } from "../format.ts";
import { printable } from "../text.ts";
import { logger, stderrIsTerminal } from "./output.ts";

const REDRAW_MS = 100;
const WIDTH = 24;

const rate = (n: number, seconds: number) => {
  const r = seconds > 0 ? n / seconds : 0;
  return r >= 1e6
    ? `${(r / 1e6).toFixed(2)}M/s`
    : r >= 1e3
      ? `${(r / 1e3).toFixed(1)}k/s`
      : `${r.toFixed(0)}/s`;
};

/**
 * Progress of a long command on stderr: a redrawn bar with rate and ETA when stderr is a
 * terminal, otherwise nothing until the one-line summary at the end.
 */
export class Progress {
  readonly #started = performance.now();
  // The first update draws at once: 0 would hold it back until the process is 100 ms old, and a
  // compiled binary's first step may be over by then.
  #drawnAt = Number.NEGATIVE_INFINITY;
  #drawn = false;

  constructor(
    readonly label: string,
    readonly unit = "events",
  ) {}

  /** `done` of `total` (if known) units are through. Cheap to call often. */
  update(done: number, total?: number): void {
    if (!stderrIsTerminal() || logger.level < 3) return; // no terminal, or --quiet
    const now = performance.now();
    if (now - this.#drawnAt < REDRAW_MS) return;
    this.#drawnAt = now;
    const seconds = (now - this.#started) / 1000;
    let line = `${this.label} ${formatCount(done)} ${this.unit} ${rate(done, seconds)}`;
    if (total !== undefined && total > 0) {
      const share = Math.min(1, done / total);
      const filled = Math.round(share * WIDTH);
      const eta = share > 0 ? (seconds / share - seconds).toFixed(0) : "?";
      line = `${this.label} [${"#".repeat(filled)}${"-".repeat(WIDTH - filled)}] ${(share * 100).toFixed(0)}% ${formatCount(done)}/${formatCount(total)} ${this.unit} ${rate(done, seconds)} ETA ${eta}s`;
    }
    process.stderr.write(`\r\u001b[2K${line}`);
    this.#drawn = true;
  }

  /** Clears the bar and logs `summary` with the elapsed time and rate. */
  finish(summary: string, done: number): void {
    this.clear();
    const seconds = (performance.now() - this.#started) / 1000;
    logger.success(`${printable(summary)} in ${seconds.toFixed(2)} s (${rate(done, seconds)})`);
  }

  /** Clears the bar and logs `summary` as a failure: what was cancelled did not succeed. */
  cancel(summary: string): void {
    this.clear();
    logger.fail(printable(summary));
  }

  /** Clears the bar, for a command that says what it did in a line of its own. */
  clear(): void {
    if (this.#drawn) process.stderr.write("\r\u001b[2K");
  }
}
