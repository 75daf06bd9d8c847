import { fstatSync, statSync } from "node:fs";
import { isatty } from "node:tty";
import { defineCommand } from "citty";
import type { EventBus } from "../bus.ts";
import { EmptyInputError, RunsNotPushedError, RuntapeError } from "../errors.ts";
import { BAR_PERIODS } from "../events/catalog.ts";
import { counted, formatCount } from "../format.ts";
import type { NdjsonInput } from "../ndjson.ts";
import { type RunOptions, recordNdjson, recordRun } from "../record.ts";
import type { RecordingSummary } from "../recorder.ts";
import { type DemoOptions, demoConfig, demoSteps } from "../sim/index.ts";
import { MAX_SEED } from "../sim/random.ts";
import { push } from "../store/push.ts";
import { parseInteger, parseJsonArg, parseNames, parseRunId } from "./args.ts";
import { cancellableRun, withFailedRun } from "./cancel.ts";
import { commandMeta } from "./commands.ts";
import { checkTargetArg } from "./database.ts";
import { logger, out } from "./output.ts";
import { Progress } from "./progress.ts";
import { describePush } from "./push.ts";
import { checkStoreUrl, openStoreArg } from "./source.ts";
import { readStdin } from "./stdin.ts";
import { commonArgs, fileArg, parseChoice, UsageError } from "./usage.ts";

export default defineCommand({
  meta: commandMeta("record"),
  args: {
    db: { ...fileArg, description: "Runs database (created if missing)" },
    input: {
      type: "string",
      valueHint: "FILE|-",
      description: "Record the NDJSON events of FILE (- for stdin) instead of the demo",
    },
    run: {
      type: "string",
      valueHint: "ID",
      description: "Id of the new run (default: a new time-ordered UUID)",
    },
    // Not an alias of --run: citty's usage shows aliases after one dash (-run-id), which it would
    // then read as the short flags -r -u -n….
    "run-id": {
      type: "string",
      valueHint: "ID",
      description: "The same as --run, as backtest names it",
    },
    name: { type: "string", description: "Run name (default: the run id, or the demo's name)" },
    config: { type: "string", valueHint: "JSON", description: "Run config, a JSON object" },
    metadata: { type: "string", valueHint: "JSON", description: "Run metadata, a JSON object" },
    seed: { type: "string", valueHint: "N", description: "Demo: random seed (default 1)" },
    symbols: { type: "string", valueHint: "A,B,…", description: "Demo: symbols" },
    bars: { type: "string", valueHint: "N", description: "Demo: bars per symbol" },
    period: {
      type: "enum",
      options: [...BAR_PERIODS],
      description: "Demo: bar period (default MINUTE)",
    },
    push: {
      type: "string",
      valueHint: "URL",
      description: "When the run completes, push it to this store (postgres://…)",
    },
    journal: {
      type: "string",
      valueHint: "wal|rollback",
      description:
        "The file's journal: wal (default; readers beside the recorder) or rollback (half the bytes written; readers hold its writes back)",
    },
    thread: {
      type: "boolean",
      description:
        "Store the events on a thread of their own while the next are read (faster for --input -, more CPU)",
    },
    ...commonArgs,
  },
  async run({ args }) {
    checkTargetArg(args.db);
    const journal = parseChoice(args.journal, "--journal", ["wal", "rollback"] as const);
    const config = parseJsonArg(args.config, "--config");
    const metadata = parseJsonArg(args.metadata, "--metadata");
    const demo = {
      seed: parseInteger(args.seed, "--seed", 0, MAX_SEED),
      symbols: parseNames(args.symbols, "--symbols", "symbol"),
      bars: parseInteger(args.bars, "--bars", 1, 100_000_000),
      barPeriod: args.period as (typeof BAR_PERIODS)[number] | undefined,
    };
    const demoFlags = Object.entries(demo).filter(([, v]) => v !== undefined);
    if (args.input !== undefined && demoFlags.length > 0) {
      throw new UsageError(`--${demoFlags[0]?.[0]} applies to the demo, not to --input`);
    }

    // A bad URL is refused before anything is recorded; the store itself is reached at the end.
    if (args.push !== undefined) checkStoreUrl(args.push);
    const input = args.input === undefined ? undefined : await openInput(args.input);
    const progress = new Progress("recording", input === undefined ? "bar times" : "events");
    const run = cancellableRun((signal, recorder) => {
      if (recorder === undefined) return;
      const { runId, events } = recorder.summary;
      progress.cancel(`${signal}: run ${runId} cancelled with ${counted(events, "event")}`);
      out(`${runId}\n`);
    });
    const options: RunOptions = {
      runId: runIdArg(args.run, args["run-id"]),
      name: args.name ?? (input === undefined ? "demo backtest" : undefined),
      config: config ?? (input === undefined ? demoConfig(demo) : undefined),
      metadata,
      journal,
      thread: args.thread === true,
      // This process records and does nothing else: a collection per batch gives each stored
      // batch's room back (1M mixed events from NDJSON: ~85 MB, not ~124), for ~5–10% more time.
      collectGarbage: true,
      ...run.options,
    };
    let summary: RecordingSummary;
    try {
      summary =
        input === undefined
          ? (await recordRun(args.db, options, (bus) => recordDemo(bus, demo, progress))).summary
          : await recordNdjson(args.db, input.stream, {
              ...options,
              onProgress: (events) => (events & 1023) === 0 && progress.update(events),
            });
    } catch (error) {
      if (error instanceof EmptyInputError) throw new EmptyInputError(`--input: ${input?.name}`);
      throw withFailedRun(error, run.recorder());
    } finally {
      run.release();
    }
    progress.finish(
      `recorded ${counted(summary.events, "event")} into run ${summary.runId}${summary.refused > 0 ? ` (${formatCount(summary.refused)} refused)` : ""}`,
      summary.events,
    );
    if (args.push !== undefined) await pushRecorded(args.db, args.push, summary.runId, args);
    try {
      out(`${summary.runId}\n`);
    } catch (error) {
      if (!(error instanceof RuntapeError)) throw error;
      throw new RuntapeError(
        `run ${summary.runId} is recorded in ${args.db} (${counted(summary.events, "event")}), but its id could not be printed: ${error.message}`,
        error.code,
      );
    }
    return 0;
  },
});

/** Pushes the run just recorded; a failure says the run is safe in the file. */
async function pushRecorded(
  db: string,
  url: string,
  runId: string,
  args: { verbose?: boolean },
): Promise<void> {
  try {
    const store = await openStoreArg(url, args, { mode: "write" });
    try {
      await push(db, store, { runs: [runId], onRun: (r) => logger.success(describePush(r)) });
    } finally {
      await store.close();
    }
  } catch (error) {
    if (!(error instanceof RuntapeError)) throw error;
    // A run the store cannot take: a later push would be refused the same way.
    const later = error instanceof RunsNotPushedError ? "" : "; `runtape push` sends it later";
    throw new RuntapeError(
      `${error.message} (run ${runId} is recorded in ${db}${later})`,
      error.code,
    );
  }
}

/** The input file (or stdin), named as the messages name it, checked to stream. */
async function openInput(input: string): Promise<{ stream: NdjsonInput; name: string }> {
  if (input === "") throw new UsageError("--input needs a file, or - for stdin");
  const stdin = input === "-";
  const name = stdin ? "stdin" : input;
  const stat = stdin ? fstatSync(0) : statSync(input, { throwIfNoEntry: false });
  if (stat === undefined) throw new RuntapeError(`--input: no file ${input}`, "INPUT_MISSING");
  // A file or a named pipe streams, and stdin as a socket or a terminal; a directory or a device
  // (/dev/null: Bun cannot poll it as a file) not.
  const streams = stat.isFile() || stat.isFIFO() || (stdin && (stat.isSocket() || isatty(0)));
  if (!streams) {
    throw new RuntapeError(
      `--input: ${name} is ${stat.isDirectory() ? "a directory" : "a device"}, not an NDJSON file or a pipe`,
      "INPUT_MISSING",
    );
  }
  return { stream: stdin ? readStdin() : Bun.file(input).stream(), name };
}

async function recordDemo(bus: EventBus, demo: DemoOptions, progress: Progress): Promise<void> {
  for (const [done, total] of demoSteps(bus, demo)) {
    progress.update(done, total);
    // Let signals in now and then: Ctrl-C must end a long demo cleanly.
    if (done % 64 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
}

/** The run id given by --run or --run-id, not both, checked in the name of the option given. */
function runIdArg(run: string | undefined, runId: string | undefined): string | undefined {
  if (run !== undefined && runId !== undefined) {
    throw new UsageError("--run and --run-id name the same thing: give one");
  }
  return run === undefined ? parseRunId(runId, "--run-id") : parseRunId(run, "--run");
}
