/**
 * Golden runs for `bun test`: record a backtest, compare it event by event with a golden run kept
 * in the repository, and fail with the first divergence. `import … from "runtape/testing"`.
 *
 * Goldens are NDJSON files: text that git diffs line by line. Fields that the comparison ignores
 * (by default the wall-clock `ts_created_ns`) are left out of them, so re-recording an unchanged
 * strategy rewrites the file identically. Updating is explicit: set RUNTAPE_UPDATE_GOLDEN=1 (or
 * pass `update: true`); a missing golden is an error, never created silently.
 */
import { onTestFinished } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import type { EventBus } from "./bus.ts";
import {
  DEFAULT_IGNORE,
  type DiffOptions,
  type DiffResult,
  diffEvents,
  formatDiff,
  type RunRef,
} from "./diff.ts";
import { describeValue, RuntapeError } from "./errors.ts";
import { type Event, fieldsOf } from "./events/catalog.ts";
import { encodeEvent, readNdjsonFile } from "./ndjson.ts";
import { recordRun } from "./record.ts";
import { onExitWithOpenRuns, openRunsWarning, type RecorderOptions } from "./recorder.ts";
import { replay } from "./replay.ts";
import {
  checkRerunOptions,
  type RerunOptions,
  type RerunResult,
  rerun as rerunInto,
} from "./rerun.ts";

onExitWithOpenRuns((runs) => process.stderr.write(`runtape: warning: ${openRunsWarning(runs)}\n`));

export type { FeedRef, RerunOptions, RerunResult } from "./rerun.ts";

/** The environment variable that makes golden checks rewrite their goldens. */
export const UPDATE_GOLDEN_ENV = "RUNTAPE_UPDATE_GOLDEN";

/** A run recorded by {@link recordBacktest}: the checks compare exactly this run. */
export interface RecordedRun extends RunRef {
  db: string;
  run: string;
}

/** Temporary databases of this process, by path: removed after their test unless a check failed. */
const temporary = new Map<string, { dir: string; keep: boolean }>();

/**
 * Runs `body` with a bus whose events are recorded as one run, into `options.db` or a new
 * temporary database. The run ends `failed` (and the error is rethrown) if `body` throws.
 * A temporary database is removed when the test ends, unless a golden check of it failed (its
 * path is then in the failure message) or the backtest threw.
 */
export async function recordBacktest(
  body: (bus: EventBus) => unknown,
  options: RecorderOptions & { db?: string } = {},
): Promise<RecordedRun> {
  const { db: given, ...recorderOptions } = options;
  const db = given ?? temporaryDb();
  try {
    const { summary } = await recordRun(db, recorderOptions, (bus) => body(bus));
    return { db, run: summary.runId };
  } catch (error) {
    keep(db);
    throw error;
  }
}

/**
 * The library's `rerun` for tests: without `into`, the run goes into a temporary database kept
 * and removed as {@link recordBacktest}'s are. The result is a run for the golden checks.
 */
export async function rerun(options: RerunOptions): Promise<RerunResult> {
  // Before the temporary database: options refused make no run, so there is nothing to keep.
  checkRerunOptions(options);
  const into = options.into ?? temporaryDb();
  try {
    return await rerunInto({ ...options, into });
  } catch (error) {
    keep(into);
    throw error;
  }
}

/** A new database in a temporary folder, removed when the test ends (unless kept). */
function temporaryDb(): string {
  const dir = mkdtempSync(join(tmpdir(), "runtape-golden-"));
  const db = join(dir, "run.db");
  const entry = { dir, keep: false };
  temporary.set(db, entry);
  removeAfterTest(db, entry);
  return db;
}

function removeAfterTest(db: string, entry: { dir: string; keep: boolean }): void {
  const remove = () => {
    temporary.delete(db);
    if (!entry.keep) rmSync(entry.dir, { recursive: true, force: true });
  };
  try {
    onTestFinished(remove);
  } catch {
    // Called outside a test (a script, a REPL): remove it when the process ends instead.
    process.once("exit", remove);
  }
}

/** Keeps a temporary database past its test; returns its path, or null for the caller's own. */
function keep(db: RunRef["db"]): string | null {
  const entry = typeof db === "string" ? temporary.get(db) : undefined;
  if (entry === undefined) return null;
  entry.keep = true;
  return db as string;
}

/** Options of the golden checks. */
export interface GoldenOptions extends DiffOptions {
  /** Rewrite the golden from the run instead of comparing. Default: RUNTAPE_UPDATE_GOLDEN=1. */
  update?: boolean;
  /** Folder a relative golden path starts from. Default: the folder of the calling test file. */
  base?: string;
}

const OWN_FILE = import.meta.path;

/**
 * The file of the first stack frame outside this module: the test (or helper) that called the
 * check. Frames look like `at fn (/path/file.ts:1:2)` or `at /path/file.ts:1:2`.
 */
function callerFile(): string | undefined {
  for (const line of (new Error().stack ?? "").split("\n").slice(1)) {
    const file = /\(?((?:\/|[A-Za-z]:\\)[^()]*?):\d+:\d+\)?$/.exec(line.trim())?.[1];
    if (file !== undefined && file !== OWN_FILE) return file;
  }
  return undefined;
}

/** Where the golden `path` lives: absolute as given, else under `base` or the caller's folder. */
function goldenPath(path: string, options: GoldenOptions): string {
  if (isAbsolute(path)) return path;
  const caller = options.base === undefined ? callerFile() : undefined;
  return resolve(options.base ?? (caller ? dirname(caller) : process.cwd()), path);
}

/** Writes `run` as a golden NDJSON file, leaving out the ignored fields the model can fill. */
export function writeGolden(
  run: RunRef,
  path: string,
  ignore: readonly string[] = DEFAULT_IGNORE,
): number {
  mkdirSync(dirname(path), { recursive: true });
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
export function readGolden(path: string): Generator<Event> {
  if (!existsSync(path)) {
    throw new RuntapeError(
      `no golden run at ${path}: record it with ${UPDATE_GOLDEN_ENV}=1 bun test`,
      "GOLDEN_MISSING",
    );
  }
  return readNdjsonFile(path);
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

/**
 * Compares `run` with the golden at `path` (or rewrites it in update mode). A relative `path`
 * starts at `options.base`, or else at the folder of the test file that calls the check.
 */
export function checkGolden(run: RunRef, path: string, options: GoldenOptions = {}): GoldenCheck {
  if (typeof run !== "object" || run === null || !("db" in run)) {
    throw new RuntapeError(
      `golden check: expected a run ({ db, run }) (got ${describeValue(run)})`,
      "INVALID_OPTION",
    );
  }
  path = goldenPath(path, options);
  if (updating(options)) {
    const n = writeGolden(run, path, options.ignore ?? DEFAULT_IGNORE);
    return { updated: true, result: null, message: `golden ${path} rewritten with ${n} events` };
  }
  const { update: _, base: __, ...diffOptions } = options;
  const result = diffEvents(replay(run.db, { run: run.run }), readGolden(path), diffOptions);
  const account = formatDiff(result, { a: "run", b: "golden" });
  if (result.match) return { updated: false, result, message: account };
  const kept = keep(run.db);
  const where = kept === null ? "" : `\nthe run is kept in ${kept}`;
  return { updated: false, result, message: `run differs from golden ${path}\n${account}${where}` };
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
    if (typeof (received as { then?: unknown } | null)?.then === "function") {
      // Its run would go on after the test, and fail the next one: awaited here, it cannot be.
      const message = () =>
        "toMatchGolden takes a run, not a promise of one: expect(await rerun(…)) or .resolves";
      // Its failure, once the test has failed here, must not fail the next test instead.
      (received as Promise<unknown>).then(undefined, () => {});
      return { pass: false, message };
    }
    const check = checkGolden(received as RunRef, path, options);
    return { pass: check.result === null || check.result.match, message: () => check.message };
  },
};

declare module "bun:test" {
  interface Matchers<T> {
    /** The run (a {@link RunRef}) matches the golden NDJSON file at `path`. */
    toMatchGolden(path: string, options?: GoldenOptions): void;
  }
}
