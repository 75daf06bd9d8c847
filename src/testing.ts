/**
 * Golden runs for `bun test`: record a backtest, compare it event by event with a golden run kept
 * in the repository, and fail with the first divergence. `import … from "runtape/testing"`.
 *
 * Goldens are NDJSON files: text that git diffs line by line. Fields that the comparison ignores
 * (by default the wall-clock `ts_created_ns`) are left out of them, so re-recording an unchanged
 * strategy rewrites the file identically. Updating is explicit: set RUNTAPE_UPDATE_GOLDEN=1 (or
 * pass `update: true`); a missing golden is an error, never created silently.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { EventBus } from "./bus.ts";
import {
  DEFAULT_IGNORE,
  type DiffOptions,
  type DiffResult,
  diffEvents,
  formatDiff,
  type RunRef,
} from "./diff.ts";
import { NdjsonError, RuntapeError } from "./errors.ts";
import { type Event, fieldsOf } from "./events/catalog.ts";
import { decodeEvent, encodeEvent } from "./ndjson.ts";
import { type RecorderOptions, recordRun } from "./recorder.ts";
import { replay } from "./replay.ts";

/** The environment variable that makes golden checks rewrite their goldens. */
export const UPDATE_GOLDEN_ENV = "RUNTAPE_UPDATE_GOLDEN";

/** A run recorded by {@link recordBacktest}. */
export interface RecordedRun {
  db: string;
  runId: string;
}

/**
 * Runs `body` with a bus whose events are recorded as one run, into `options.db` or a new
 * temporary database. The run ends `failed` (and the error is rethrown) if `body` throws.
 */
export async function recordBacktest(
  body: (bus: EventBus) => unknown,
  options: RecorderOptions & { db?: string } = {},
): Promise<RecordedRun> {
  const db = options.db ?? join(mkdtempSync(join(tmpdir(), "runtape-golden-")), "run.db");
  const { summary } = await recordRun(db, options, (bus) => body(bus));
  return { db, runId: summary.runId };
}

/** Options of the golden checks. */
export interface GoldenOptions extends DiffOptions {
  /** Rewrite the golden from the run instead of comparing. Default: RUNTAPE_UPDATE_GOLDEN=1. */
  update?: boolean;
}

/** Writes `run` as a golden NDJSON file, leaving out the ignored fields the model can fill. */
export function writeGolden(
  run: RunRef,
  path: string,
  ignore: readonly string[] = DEFAULT_IGNORE,
): number {
  const lines: string[] = [];
  for (const event of replay(run.db, { run: run.run })) {
    const kept = { ...event } as Record<string, unknown>;
    for (const [name, field] of fieldsOf(event.type)) {
      if (ignore.includes(name) && field.default !== undefined) delete kept[name];
    }
    lines.push(encodeEvent(kept as unknown as Event));
  }
  writeFileSync(path, lines.length > 0 ? `${lines.join("\n")}\n` : "");
  return lines.length;
}

/** The events of a golden NDJSON file; fields left out get their defaults. */
export function* readGolden(path: string): Generator<Event> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    throw new RuntapeError(
      `no golden run at ${path}: record it with ${UPDATE_GOLDEN_ENV}=1 bun test`,
      "GOLDEN_MISSING",
    );
  }
  let number = 0;
  for (const line of text.split("\n")) {
    number++;
    if (line.trim() === "") continue;
    try {
      yield decodeEvent(line, { defaults: true });
    } catch (error) {
      if (error instanceof RuntapeError) throw new NdjsonError(number, `${path}: ${error.message}`);
      throw error;
    }
  }
}

/** What a golden check did. */
export interface GoldenCheck {
  /** The golden was rewritten (update mode): nothing was compared. */
  updated: boolean;
  /** The comparison, run first and golden second; null when updated. */
  result: DiffResult | null;
  /** A readable account: the first divergence and the counts, or why it passed. */
  message: string;
}

const updating = (options: GoldenOptions) =>
  options.update ?? process.env[UPDATE_GOLDEN_ENV] === "1";

/** Compares `run` with the golden at `path` (or rewrites it in update mode). */
export function checkGolden(run: RunRef, path: string, options: GoldenOptions = {}): GoldenCheck {
  if (updating(options)) {
    const n = writeGolden(run, path, options.ignore ?? DEFAULT_IGNORE);
    return { updated: true, result: null, message: `golden ${path} rewritten with ${n} events` };
  }
  const result = diffEvents(replay(run.db, { run: run.run }), readGolden(path), options);
  const account = formatDiff(result, { a: "run", b: "golden" });
  return {
    updated: false,
    result,
    message: result.match ? account : `run differs from golden ${path}\n${account}`,
  };
}

/** Throws an Error showing the first divergence unless `run` matches the golden at `path`. */
export function expectGolden(run: RunRef, path: string, options: GoldenOptions = {}): void {
  const check = checkGolden(run, path, options);
  if (check.result !== null && !check.result.match) throw new Error(check.message);
}

/**
 * An `expect` matcher: `expect.extend(goldenMatchers)`, then
 * `expect(run).toMatchGolden("test/golden/demo.ndjson")`.
 */
export const goldenMatchers = {
  toMatchGolden(received: unknown, path: string, options: GoldenOptions = {}) {
    const check = checkGolden(received as RunRef, path, options);
    return { pass: check.result === null || check.result.match, message: () => check.message };
  },
};

declare module "bun:test" {
  interface Matchers<T> {
    /** The run (a {@link RunRef}) matches the golden NDJSON file at `path`. */
    toMatchGolden(
      path: string,
      options?: GoldenOptions,
    ): T extends Promise<unknown> ? Promise<void> : void;
  }
}
