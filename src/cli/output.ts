import { fstatSync, writeSync } from "node:fs";
import type { ArgsDef } from "citty";
import type { ConsolaInstance } from "consola";
import { RuntapeError } from "../errors.ts";
import { type Int64Style, snakeCaseKeys, stringifyExact } from "../json.ts";

// Nothing here touches process.stdout or process.stderr, loads node:tty or consola before it is
// needed: in a compiled binary each costs more than all the rest of `runtape --help`.

/**
 * Whether `fd` is a terminal. A character device stands for one: the only other kind a command's
 * output meets is /dev/null, where colour harms no one.
 */
function isTerminal(fd: number): boolean {
  try {
    return fstatSync(fd).isCharacterDevice();
  } catch {
    return false;
  }
}

let stderrTty: boolean | undefined;

/** Whether stderr is a terminal, where progress may be redrawn. */
export const stderrIsTerminal = (): boolean => (stderrTty ??= isTerminal(2));

/** Whether stderr may carry colour: a terminal, and no NO_COLOR. */
const useColor = () => stderrIsTerminal() && !process.env.NO_COLOR;

// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI colour codes start with ESC
const ANSI = /\u001b\[[0-9;]*m/g;

function createLogger(level: number): ConsolaInstance {
  const { createConsola } = require("consola") as typeof import("consola");
  const color = useColor();
  // consola colours by whether stdout is a terminal, whatever stream it writes to: at a terminal,
  // `runtape record 2>log` would put colour codes into the log. Its lines are stripped instead.
  const stream = color
    ? process.stderr
    : ({
        write: (text: string) => process.stderr.write(text.replace(ANSI, "")),
      } as NodeJS.WriteStream);
  return createConsola({
    level,
    stdout: stream,
    stderr: stream,
    formatOptions: { colors: color, date: false, compact: true },
  });
}

// Explicit: consola would go quiet under test runners (NODE_ENV=test is inherited by children).
let level = 3;
let consola: ConsolaInstance | undefined;

/**
 * Logs, progress and errors: always stderr, so stdout carries data only. consola is loaded when
 * the first line is logged; setting the level does not load it.
 */
export const logger = new Proxy({} as ConsolaInstance, {
  get(_, key) {
    if (key === "level") return level;
    consola ??= createLogger(level);
    const value = Reflect.get(consola, key);
    return typeof value === "function" ? value.bind(consola) : value;
  },
  set(_, key, value) {
    if (key !== "level") return false;
    level = value;
    if (consola !== undefined) consola.level = value;
    return true;
  },
});

/** Text without colour codes when `fd` (stdout by default) is not a terminal or NO_COLOR is set. */
export function plain(text: string, fd: 1 | 2 = 1): string {
  return !process.env.NO_COLOR && isTerminal(fd) ? text : text.replace(ANSI, "");
}

/** Raised when stdout's reader went away (`| head`): the command ends quietly. */
export class OutputClosed extends Error {
  override name = "OutputClosed";
}

let outputClosed = false;

/** Where `out` writes instead of fd 1 while set: in-process CLI tests read the output through it. */
let capture: ((text: string) => void) | undefined;

/** Sends stdout to `sink` (or back to fd 1 with undefined); for tests that call `main` in-process. */
export function captureOutput(sink: ((text: string) => void) | undefined): void {
  capture = sink;
  outputClosed = false;
}

/**
 * Writes text or bytes to stdout synchronously. A blocking write is the backpressure a streaming replay needs,
 * and a closed pipe fails right here (as OutputClosed) instead of later in an async sink.
 */
export function out(data: string | Uint8Array): void {
  if (outputClosed) throw new OutputClosed();
  if (capture !== undefined) {
    capture(typeof data === "string" ? data : new TextDecoder().decode(data));
    return;
  }
  const bytes = typeof data === "string" ? Buffer.from(data) : data;
  for (let offset = 0; offset < bytes.length; ) {
    try {
      offset += writeSync(1, bytes, offset);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === "EAGAIN") {
        Bun.sleepSync(1); // stdout is a non-blocking pipe that is full: wait for the reader
        continue;
      }
      // The reader is gone: EPIPE from a pipe; ECONNRESET from a socket closed with data unread
      // (the stdout that Bun and Node give a child they spawn is a socket pair).
      if (code === "EPIPE" || code === "ECONNRESET") {
        outputClosed = true;
        throw new OutputClosed();
      }
      // A full disk (`> /dev/full`), a closed descriptor: the user's to fix, said in one line.
      outputClosed = true;
      throw new RuntapeError(
        `cannot write to stdout: ${(error as Error).message.replace(/, write$/, "")}`,
        "STDOUT",
      );
    }
  }
}

/** The option of every command that prints JSON or NDJSON. */
export const int64Arg = {
  int64: {
    type: "enum",
    options: ["number", "string"],
    default: "number",
    description:
      "64-bit integers as exact JSON numbers, or as strings for tools that read doubles (jq)",
  },
} as const satisfies ArgsDef;

/**
 * Prints `value` as one JSON document: keys in snake_case (see snakeCaseKeys; `opaque` values are
 * left alone), integers exact or, with `--int64 string`, as strings. Returns 0, the exit code.
 */
export function printJson(
  value: unknown,
  args: { int64?: string },
  opaque: readonly string[] = [],
): number {
  const int64 = args.int64 as Int64Style | undefined;
  out(`${stringifyExact(snakeCaseKeys(value, opaque), 2, { int64 })}\n`);
  return 0;
}

/** Rows as aligned columns; numbers (right-aligned) are detected per column. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const numeric = header.map(
    (_, i) => rows.length > 0 && rows.every((r) => /^-?[\d,.]+$/.test(r[i] ?? "")),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (numeric[i] ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}
