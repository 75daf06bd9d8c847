import { defineCommand } from "citty";
import type { RunsDb } from "../db.ts";
import { EVENT_TYPES, type Event } from "../events/catalog.ts";
import { counted, isoNs } from "../format.ts";
import type { Int64Style } from "../json.ts";
import { encodeEvent, encodeEventInt64Strings } from "../ndjson.ts";
import { Pacer } from "../pacing.ts";
import { type CopySummary, copyRun } from "../record.ts";
import { checkReplayOptions, type ReplayOptions, type ReplayStats } from "../replay.ts";
import { replayNdjson } from "../replay-ndjson.ts";
import { isStoreUrl, type RunSource, type SqliteSource } from "../store/index.ts";
import { fieldText } from "../text.ts";
import {
  checkInt64,
  given,
  parseInteger,
  parseNames,
  parsePositive,
  parseRunId,
  parseTime,
  parseTypes,
} from "./args.ts";
import { cancellableRun, withFailedRun } from "./cancel.ts";
import { commandMeta } from "./commands.ts";
import { checkTargetArg } from "./database.ts";
import { int64Arg, out } from "./output.ts";
import { Progress } from "./progress.ts";
import { openSourceArg } from "./source.ts";
import { commonArgs, parseChoice, runArgs, UsageError } from "./usage.ts";

export default defineCommand({
  meta: commandMeta("replay"),
  args: {
    ...runArgs,
    types: { type: "string", valueHint: "T,…", description: "Only these event types" },
    "exclude-types": {
      type: "string",
      valueHint: "T,…",
      description: "Leave these event types out",
    },
    symbols: {
      type: "string",
      valueHint: "S,…",
      description: "Only these symbols (with the whole lifecycle of their orders)",
    },
    from: { type: "string", valueHint: "T", description: "From ts_event_ns (ns or ISO-8601)" },
    to: { type: "string", valueHint: "T", description: "Up to ts_event_ns (ns or ISO-8601)" },
    limit: { type: "string", valueHint: "N", description: "At most N events" },
    speed: {
      type: "string",
      valueHint: "X",
      description: "Pace by the gaps in ts_event_ns, X times faster (default: as fast as possible)",
    },
    format: {
      type: "enum",
      options: ["ndjson", "pretty"],
      default: "ndjson",
      description: "Output format",
    },
    into: {
      type: "string",
      valueHint: "DB",
      description:
        "Re-record the events as a run in DB (status, times and metadata kept, plus a lineage note)",
    },
    "run-id": {
      type: "string",
      valueHint: "ID",
      description: "With --into: the copy's id (default: the source run's)",
    },
    threads: {
      type: "string",
      valueHint: "N",
      description: "NDJSON of a large run encoded by 1 (default) or 2 threads",
    },
    "skip-invalid": {
      type: "boolean",
      description: "Pass over rows that do not decode (counted on stderr) instead of stopping",
    },
    ...int64Arg,
    ...commonArgs,
  },
  async run({ args, rawArgs }) {
    if (args.into !== undefined && given(rawArgs, "format")) {
      throw new UsageError("--format applies to replay on stdout, not to --into");
    }
    checkInt64(
      rawArgs,
      args.into !== undefined ? "--into" : args.format === "pretty" ? "--format pretty" : undefined,
    );
    if (args.into === undefined && args["run-id"] !== undefined) {
      throw new UsageError("--run-id names the copy that --into makes: give --into DB too");
    }
    const copyId = parseRunId(args["run-id"], "--run-id");
    const types = parseTypes(args.types, "--types");
    const excludeTypes = parseTypes(args["exclude-types"], "--exclude-types");
    const options: ReplayOptions = {
      run: args.run,
      types,
      excludeTypes,
      symbols: parseNames(args.symbols, "--symbols", "symbol"),
      from: parseTime(args.from, "--from"),
      to: parseTime(args.to, "--to"),
      limit: parseInteger(args.limit, "--limit", 0),
      onInvalidRow: args["skip-invalid"] ? "skip" : "throw",
    };
    // Before any file is opened, as the library will again (asUsageError names the flags).
    checkReplayOptions(options);
    const speed = parsePositive(args.speed, "--speed");
    const threads = parseChoice(args.threads, "--threads", ["1", "2"] as const);
    if (threads !== undefined && (args.into !== undefined || speed !== undefined)) {
      throw new UsageError("--threads applies to NDJSON on stdout as fast as possible");
    }
    if (args.into !== undefined) checkTargetArg(args.into);
    if (args.into !== undefined && isStoreUrl(args.db)) {
      throw new UsageError(
        "--into copies from a runs database file",
        "`runtape pull URL --run ID --into DB` copies a run from a store",
      );
    }
    const source = await openSourceArg(args.db, args);
    try {
      options.run = await source.resolveRunId(options.run);
      if (args.into !== undefined) {
        // A store URL with --into was refused above.
        return await replayInto((source as SqliteSource).db, args.into, options, speed, copyId);
      }
      return await replayToStdout(
        source,
        options,
        speed,
        args.format === "pretty" ? undefined : args.int64 === "string" ? "string" : "number",
        threads === "2" ? 2 : threads === "1" ? 1 : undefined,
      );
    } finally {
      await source.close();
    }
  },
});

/**
 * The run on stdout as NDJSON (with `int64`, numbers or strings) or, without, pretty lines; a
 * large run's NDJSON by `threads` threads (default one).
 */
async function replayToStdout(
  source: RunSource,
  options: ReplayOptions,
  speed: number | undefined,
  int64: Int64Style | undefined,
  threads: 1 | 2 | undefined,
): Promise<number> {
  const stats = { runId: options.run as string, events: 0, skipped: 0, workerSlices: 0 };
  const progress = new Progress("replaying");
  const total = Math.min(
    await runSize(source, stats.runId),
    options.limit ?? Number.POSITIVE_INFINITY,
  );
  if (speed === undefined && int64 !== undefined) {
    for await (const block of replayNdjson(source, { ...options, int64, threads, stats })) {
      out(block);
      progress.update(stats.events, total);
    }
  } else if (speed === undefined) {
    // Pretty lines, a chunk of events per write.
    for await (const events of source.chunks({ ...options, stats })) {
      out(events.map((event) => `${pretty(event)}\n`).join(""));
      progress.update(stats.events, total);
    }
  } else {
    const format =
      int64 === undefined ? pretty : int64 === "string" ? encodeEventInt64Strings : encodeEvent;
    const pacer = new Pacer(speed);
    for await (const event of source.events({ ...options, stats })) {
      const due = pacer.wait(event.ts_event_ns);
      if (due !== undefined) await due;
      out(`${format(event)}\n`);
      progress.update(stats.events, total);
    }
  }
  return finish(progress, stats, stats.workerSlices > 0 ? " on 2 threads" : "");
}

function finish(progress: Progress, stats: ReplayStats, threads = ""): number {
  const skipped = stats.skipped > 0 ? ` (${counted(stats.skipped, "invalid row")} skipped)` : "";
  const summary = `replayed ${counted(stats.events, "event")} of run ${stats.runId}${threads}${skipped}`;
  progress.finish(summary, stats.events);
  return 0;
}

/** Events stored for a run, for the progress bar's total. */
async function runSize(source: RunSource, runId: string): Promise<number> {
  const counted = (await source.getRun(runId)).events;
  if (counted !== null) return Number(counted);
  return Number(Object.values(await source.countEvents(runId)).reduce((a, b) => a + b, 0n));
}

async function replayInto(
  db: RunsDb,
  target: string,
  options: ReplayOptions,
  speed: number | undefined,
  runId: string | undefined,
): Promise<number> {
  const progress = new Progress("replaying");
  const copy = cancellableRun((signal, recorder) => {
    if (recorder === undefined) return;
    const { runId, events } = recorder.summary;
    progress.cancel(`${signal}: copy of ${runId} cancelled with ${counted(events, "event")}`);
  });
  let summary: CopySummary;
  try {
    const { run, ...filters } = options;
    summary = await copyRun({ db, run }, target, {
      ...filters,
      runId,
      speed,
      // As `record` does: this process copies and does nothing else (1M mixed events: a peak of
      // ~85 MB, where it was ~130 MB).
      collectGarbage: true,
      ...copy.options,
      onProgress: (events) => progress.update(events),
    });
  } catch (error) {
    throw withFailedRun(error, copy.recorder());
  } finally {
    copy.release();
  }
  const skipped =
    summary.skipped > 0 ? ` (${counted(summary.skipped, "invalid row")} skipped)` : "";
  // The run copied is the source's (options.run, resolved); the copy's id is said where it differs.
  const source = options.run as string;
  const as = summary.runId === source ? "" : ` as ${summary.runId}`;
  progress.finish(
    `copied ${counted(summary.events, "event")} of run ${source} into ${target}${as}${skipped}`,
    summary.events,
  );
  out(`${summary.runId}\n`);
  return 0;
}

const TYPE_WIDTH = Math.max(...EVENT_TYPES.map((t) => t.length));

/** One event as a readable line: time, type, then the other fields as name=value. */
function pretty(event: Event): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(event)) {
    if (key === "type" || key === "ts_event_ns" || value === null) continue;
    const shown =
      typeof value === "object"
        ? Object.entries(value)
            .map(([k, v]) => `${k}:${v}`)
            .join(",")
        : String(value);
    parts.push(fieldText(key, shown));
  }
  return `${isoNs(event.ts_event_ns)}  ${event.type.padEnd(TYPE_WIDTH)}  ${parts.join(" ")}`;
}
