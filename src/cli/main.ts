import { type ArgsDef, type CommandDef, renderUsage, runCommand } from "citty";
import pkg from "../../package.json" with { type: "json" };
import { firstLineOf, RunNotClosedError, RuntapeError } from "../errors.ts";
import { printable } from "../text.ts";
import { COMMANDS, type CommandName, commandMeta } from "./commands.ts";
import { logger, OutputClosed, out, plain } from "./output.ts";
import { asksForHelp, checkArgs, HELP, UsageError } from "./usage.ts";

type Command = CommandDef<ArgsDef>;

const root: Command = {
  meta: {
    name: "runtape",
    version: pkg.version,
    description: "Record trading-system runs into a SQLite runs database and replay them exactly",
  },
  // For the list in `runtape --help` only: main() loads a command itself when it runs.
  subCommands: Object.fromEntries(
    Object.keys(COMMANDS).map((name) => [name, { meta: commandMeta(name as CommandName) }]),
  ),
};

const VERSION = new Set(["--version", "-v"]);

let warnsOfOpenRuns = false;
/** Runs an error line has already said are left running: the warning at exit leaves them out. */
const reportedOpen = new Set<string>();

/** Warns, at exit, of runs a command left open; registered with the first command that runs. */
async function warnOfOpenRuns(): Promise<void> {
  if (warnsOfOpenRuns) return;
  warnsOfOpenRuns = true;
  const { onExitWithOpenRuns, openRunsWarning } = await import("../recorder.ts");
  onExitWithOpenRuns((runs) => {
    const unsaid = runs.filter((r) => !reportedOpen.has(r.runId));
    if (unsaid.length > 0) logger.warn(openRunsWarning(unsaid));
    // A run left open is a command that did not finish (a strategy awaiting forever, say).
    if (!process.exitCode) process.exitCode = 1;
  });
}

/**
 * Ends the process, as a failure in one line, on an error nothing awaited that no run takes (a
 * backtest's takes its strategy's): a timer that throws after the run, a promise dropped then.
 * Open runs are flushed at exit and stay `running`.
 */
export function reportUncaught(error: unknown): void {
  // Loaded now, not at start-up (it costs `--help`), and synchronously: Bun ends a process that
  // has nothing left to do while an import is still pending, and the error would go unsaid.
  const { redactUrls } = require("../store/url.ts") as typeof import("../store/url.ts");
  const text = firstLineOf(error);
  const what = `an error nothing awaited (a timer's, a dropped promise's): ${text}`;
  const typed =
    error instanceof RuntapeError ? error : new RuntapeError(what, "UNCAUGHT", { cause: error });
  process.exit(report(typed, process.argv.includes("--verbose"), 1, redactUrls));
}

/**
 * Fails, in one line, a command that can never finish: Bun ran out of work while the command
 * waited on a promise nothing will settle (a strategy's top-level await, a factory that never
 * returns), where it would exit 0 without a word.
 */
export function reportStalled(): void {
  const why =
    "the command cannot finish: it waits on a promise that nothing will settle (a strategy's top-level await, or a promise it returned?)";
  // Only if a command loaded the recorder: a module loaded now would be loaded for nothing.
  const { closeOpenRuns } = require("../recorder.ts") as typeof import("../recorder.ts");
  const closed = closeOpenRuns("failed", { error: why });
  const marked =
    closed.length === 0
      ? ""
      : ` (${closed.map((r) => `run ${r.runId}`).join(", ")} ${closed.length === 1 ? "is" : "are"} marked failed)`;
  process.exitCode = report(
    new RuntapeError(`${why}${marked}`, "STALLED"),
    false,
    1,
    (text) => text,
  );
}

/**
 * Runs the CLI on `argv` (without the executable) and returns the exit code: 0 success,
 * 1 failure, 2 usage error, 129/130/143 hung up or interrupted; `diff` and `inspect --check`
 * answer with 0 and 1 and fail with 2. Errors become one line on stderr.
 */
export async function main(argv: readonly string[]): Promise<number> {
  const verbose = argv.includes("--verbose");
  // consola's 1 keeps errors and warnings; 3 adds the info and success lines.
  logger.level = argv.includes("--quiet") ? 1 : 3;
  let failure = 1;
  try {
    if (
      argv.some((a) => VERSION.has(a)) &&
      argv.every((a) => VERSION.has(a) || a === "--verbose")
    ) {
      if (!verbose) out(`${pkg.version}\n`);
      else {
        const [{ formatVersion }, { versionInfo }] = await Promise.all([
          import("./version.ts"),
          import("../version.ts"),
        ]);
        out(formatVersion(versionInfo()));
      }
      return 0;
    }
    const index = argv.findIndex((a) => !a.startsWith("-"));
    const name = index === -1 ? undefined : argv[index];
    if (name === undefined) {
      if (argv.some((a) => HELP.has(a))) return await printUsage(root);
      const unknown = argv.find((a) => a !== "--verbose");
      throw new UsageError(
        unknown === undefined ? "no command given" : `unknown option ${unknown}`,
        "run `runtape --help` for the commands",
      );
    }
    if (!Object.hasOwn(COMMANDS, name)) {
      throw new UsageError(
        `unknown command ${JSON.stringify(name)}`,
        `commands: ${Object.keys(COMMANDS).join(", ")}`,
      );
    }
    const before = argv.slice(0, index).filter((a) => a !== "--verbose");
    if (before.length > 0) throw new UsageError(`unknown option ${before[0]}`);
    const command = ((await COMMANDS[name as CommandName].load()) as { default: Command }).default;
    const rest = argv.slice(index + 1);
    failure = failureCode(name, rest);
    const def = (command.args ?? {}) as ArgsDef;
    if (asksForHelp(rest, def)) return await printUsage(command, root);
    if (verbose && rest.includes("--quiet")) {
      throw new UsageError("--quiet and --verbose ask for opposite things: give one");
    }
    checkArgs(rest, def);
    await warnOfOpenRuns();
    const { result } = await runCommand(command, { rawArgs: [...rest] });
    return typeof result === "number" ? result : 0;
  } catch (error) {
    // An SQLite failure deep in a command (a corrupt page met mid-read) is still one typed line.
    const { sqliteCode, toDbError } = await import("../db.ts");
    const { redactUrls } = await import("../store/url.ts");
    const { asUsageError } = await import("./args.ts");
    const typed = sqliteCode(error) ? toDbError("the database", error) : asUsageError(error);
    return report(typed, verbose, failure, redactUrls);
  }
}

/**
 * The exit code of a failure. Commands whose answer is their exit code, like cmp (diff: 0 same,
 * 1 differ; inspect --check: 0 clean, 1 findings), fail with 2, so a failure never reads as an answer.
 */
function failureCode(name: string, args: readonly string[]): number {
  return name === "diff" || (name === "inspect" && args.includes("--check")) ? 2 : 1;
}

async function printUsage(command: Command, parent?: Command): Promise<number> {
  out(`${plain(await renderUsage(command, parent))}\n`);
  return 0;
}

/** One line on stderr for `error`; the exit code it deserves. */
function report(
  error: unknown,
  verbose: boolean,
  failure: number,
  redactUrls: (text: string) => string,
): number {
  if (error instanceof OutputClosed) return 0;
  if (error instanceof RunNotClosedError) reportedOpen.add(error.runId);
  const usage = error instanceof UsageError || (error as Error)?.name === "CLIError";
  // Arguments echoed in a message may be store URLs: their passwords never reach the terminal.
  const message = redactUrls(error instanceof Error ? error.message : String(error));
  const known = usage || error instanceof RuntapeError;
  process.stderr.write(
    `runtape: ${known ? "" : "unexpected error: "}${printable(plain(message, 2))}\n`,
  );
  if (error instanceof UsageError && error.hint) {
    process.stderr.write(`  hint: ${printable(error.hint)}\n`);
  }
  // A usage error is the command line's, not the code's: its stack says nothing.
  if (verbose && !usage && error instanceof Error && error.stack) {
    logger.error(redactUrls(error.stack));
  }
  return usage ? 2 : failure;
}
