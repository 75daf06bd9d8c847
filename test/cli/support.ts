import { expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { catalog, EVENT_TYPES, type EventType } from "../../src/index.ts";
import { rawDb, rowCounts } from "../helpers.ts";
import { command, type Via } from "./run.ts";

/** Any escape sequence (colour, cursor, line clearing). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: escape sequences start with ESC
export const ESCAPE = /\u001b\[/;
/** A colour (SGR) escape sequence. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: escape sequences start with ESC
export const COLOUR = /\u001b\[[0-9;]*m/;

/** The lines of a command's output (the last one ends with a newline, which adds no line). */
export function lines(text: string): string[] {
  return text === "" ? [] : text.replace(/\n$/, "").split("\n");
}

/** Nanoseconds since the epoch (not before 1970) as runtape shows them: ISO-8601, nine fractional digits. */
export const iso = (ns: bigint) =>
  `${new Date(Number(ns / 1_000_000n)).toISOString().slice(0, 19)}.${String(ns % 1_000_000_000n).padStart(9, "0")}Z`;

/** Events stored per type for `runId`, counted with SQL. */
export function typeCounts(path: string, runId: string): Record<EventType, number> {
  const rows = rowCounts(path, runId);
  return Object.fromEntries(EVENT_TYPES.map((t) => [t, rows[catalog[t].table] ?? 0])) as Record<
    EventType,
    number
  >;
}

/** Events stored for `runId`, or 0 while the file or its tables do not exist yet. */
export function storedEvents(path: string, runId: string): number {
  try {
    return Object.values(typeCounts(path, runId)).reduce((a, b) => a + b, 0);
  } catch {
    return 0;
  }
}

export interface StoredRun {
  run_id: string;
  name: string;
  ts_start: bigint;
  ts_end: bigint | null;
  status: string;
  config: string | null;
  metadata: string | null;
}

/** The `runs` rows of a database, as a second connection sees them, in insertion order. */
export function storedRuns(path: string): StoredRun[] {
  const db = rawDb(path);
  try {
    return db.query("SELECT * FROM runs ORDER BY rowid").all() as StoredRun[];
  } finally {
    db.close();
  }
}

/** Waits (bounded) until `check` holds; the bound only guards against a hang, it is no timing claim. */
export async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 3000; i++) {
    if (check()) return;
    await Bun.sleep(10);
  }
  throw new Error(`gave up waiting for ${what}`);
}

const sha256 = (bytes: Uint8Array) => new Bun.CryptoHasher("sha256").update(bytes).digest("hex");

/**
 * The bytes a database holds: its file and its write-ahead log. A read-only open may leave an
 * empty -wal (and an -shm, which readers write) where there was none: SQLite's, and no content.
 */
export function databaseBytes(path: string): { db: string; wal: string } {
  const wal = `${path}-wal`;
  return {
    db: sha256(readFileSync(path)),
    wal: sha256(existsSync(wal) ? readFileSync(wal) : new Uint8Array()),
  };
}

/** `script` gives a command a pseudo-terminal; where it is missing, terminal tests are skipped. */
const SCRIPT = Bun.which("script");

/** A test that needs a pseudo-terminal; where `script` is missing it is skipped, saying why. */
export function terminalTest(name: string, fn: () => Promise<void>): void {
  if (SCRIPT !== null) test(name, fn);
  else test.skip(`${name} (skipped: needs \`script\` from util-linux for a pseudo-terminal)`, fn);
}

const quote = (arg: string) => `'${arg.replaceAll("'", `'\\''`)}'`;

/**
 * Runs `runtape args…` at a pseudo-terminal (stdin, stdout and stderr all the terminal, unless
 * `redirect` sends some elsewhere, e.g. `2>err.txt`) and returns what the terminal showed.
 */
export async function atTerminal(
  args: readonly string[],
  options: { via: Via; cwd: string; env?: Record<string, string>; redirect?: string },
): Promise<{ code: number; screen: string }> {
  const line = `${(await command(args, options.via)).map(quote).join(" ")} ${options.redirect ?? ""}`;
  const proc = Bun.spawn([SCRIPT ?? "script", "-qec", line, "/dev/null"], {
    cwd: options.cwd,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    // A user's terminal: none of the test runner's variables (NODE_ENV=test, CI) that quiet consola.
    env: { PATH: process.env.PATH, HOME: process.env.HOME, TERM: "xterm", ...options.env },
  });
  const [screen, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  return { code, screen };
}

/**
 * Runs an in-process command with Bun.gc replaced by a spy that collects nothing (a collection
 * that took time could have the next one skipped), and checks what a recording that collects
 * (the Recorder's collectGarbage) asks for: one full collection per 16,384 events of the run it
 * made, and at least one. The command must print the run id first on stdout.
 */
export async function expectCollections(
  db: string,
  run: () => Promise<{ code: number; stdout: string }>,
): Promise<void> {
  const forced: (boolean | undefined)[] = [];
  const { gc } = Bun;
  Bun.gc = (force?: boolean) => {
    forced.push(force);
  };
  let result: { code: number; stdout: string };
  try {
    result = await run();
  } finally {
    Bun.gc = gc;
  }
  expect(result.code).toBe(0);
  const runId = lines(result.stdout)[0] as string;
  const events = Object.values(typeCounts(db, runId)).reduce((n, k) => n + k, 0);
  expect(forced.length).toBeGreaterThan(0);
  expect(forced).toEqual(Array(Math.floor(events / 16_384)).fill(true));
}
