import { defineCommand } from "citty";
import {
  checkDiffOptions,
  DEFAULT_IGNORE,
  type DiffOptions,
  type DiffResult,
  type Divergence,
  diffRuns,
  diffStreams,
  formatDiff,
} from "../diff.ts";
import { EVENT_TYPES, type Event } from "../events/catalog.ts";
import { isDecimal } from "../format.ts";
import { filledFields, readNdjsonFile } from "../ndjson.ts";
import { resolveRunId } from "../runs.ts";
import { isStoreUrl } from "../store/index.ts";
import { checkInt64, parseInteger, parseList, parseTypes } from "./args.ts";
import { commandMeta } from "./commands.ts";
import { NDJSON_FILE, openDb } from "./database.ts";
import { int64Arg, out, printJson } from "./output.ts";
import { openSourceArg } from "./source.ts";
import { commonArgs, UsageError } from "./usage.ts";

// Events and counts keyed by event type keep their keys in --json; the rest is snake_case.
const OPAQUE = ["a", "b", "countsA", "countsB"];

type Args = {
  a: string;
  b: string;
  run?: string;
  "run-a"?: string;
  "run-b"?: string;
  json?: boolean;
  int64?: string;
  verbose?: boolean;
};

/** An event as its file gave it: without the fields the model filled in as the file was read. */
function asGiven(event: Event | null): Event | null {
  const filled = event === null ? [] : filledFields(event);
  if (filled.length === 0) return event;
  const given: Record<string, unknown> = { ...event };
  for (const field of filled) delete given[field];
  return given as unknown as Event;
}

function print(args: Args, runA: string | null, runB: string | null, result: DiffResult): number {
  if (args.json) {
    // A made-up value (ts_created_ns from the clock) would read as the file's own.
    const shown = (d: Divergence) => ({ ...d, a: asGiven(d.a), b: asGiven(d.b) });
    const divergences = result.divergences.map(shown);
    const first = result.first === null ? null : (divergences[0] ?? shown(result.first));
    printJson({ runA, runB, ...result, first, divergences }, args, OPAQUE);
  } else out(`${formatDiff(result, { a: "A", b: "B" })}\n`);
  return result.match ? 0 : 1;
}

export default defineCommand({
  meta: commandMeta("diff"),
  args: {
    a: { type: "positional", required: true, description: "First runs database or .ndjson file" },
    b: {
      type: "positional",
      required: true,
      description: "Second runs database (may be the same file) or .ndjson file",
    },
    run: {
      type: "string",
      valueHint: "ID|latest",
      description: "The run of both sides (a run and its copy), instead of --run-a and --run-b",
    },
    "run-a": { type: "string", valueHint: "ID|latest", description: "Run of A (default: latest)" },
    "run-b": { type: "string", valueHint: "ID|latest", description: "Run of B (default: latest)" },
    ignore: {
      type: "string",
      valueHint: "F,…",
      description: `Fields not compared (default ${DEFAULT_IGNORE.join(",")}; '' compares all)`,
    },
    tolerance: {
      type: "string",
      valueHint: "X",
      description: "Floats within X (absolute) or X times their magnitude (relative) are equal",
    },
    "exclude-types": {
      type: "string",
      valueHint: "T,…",
      description: "Leave these event types out",
    },
    max: {
      type: "string",
      valueHint: "N",
      description: "Show the first N divergences (default 1)",
    },
    json: { type: "boolean", description: "Print the result as one JSON document" },
    ...int64Arg,
    ...commonArgs,
  },
  async run({ args: given, rawArgs }) {
    checkInt64(rawArgs, given.json ? undefined : "diff without --json");
    if (given.run !== undefined && (given["run-a"] ?? given["run-b"]) !== undefined) {
      throw new UsageError("--run names the run of both sides: not with --run-a or --run-b");
    }
    const args = {
      ...given,
      "run-a": given.run ?? given["run-a"],
      "run-b": given.run ?? given["run-b"],
    };
    const tolerance = args.tolerance === undefined ? undefined : Number(args.tolerance);
    if (
      tolerance !== undefined &&
      (!isDecimal(args.tolerance as string) || !Number.isFinite(tolerance) || tolerance < 0)
    ) {
      throw new UsageError(
        `--tolerance takes a number >= 0 (got ${JSON.stringify(args.tolerance)})`,
      );
    }
    const ignore = parseList(args.ignore);
    const excludeTypes = parseTypes(args["exclude-types"], "--exclude-types");
    if (excludeTypes?.length === EVENT_TYPES.length) {
      throw new UsageError("--exclude-types leaves no event type to compare");
    }
    const options: DiffOptions = {
      max: parseInteger(args.max, "--max", 1),
      ignore,
      tolerance: tolerance === undefined ? undefined : { abs: tolerance, rel: tolerance },
      excludeTypes,
    };
    // Before any file is opened, as the library will again (asUsageError names the flags).
    checkDiffOptions(options);
    const streamed = [args.a, args.b].some((p) => isStoreUrl(p) || NDJSON_FILE.test(p));
    if (streamed) return await diffSources(args, options);
    const a = openDb(args.a, args);
    try {
      const b = args.b === args.a ? a : openDb(args.b, args);
      try {
        const runA = resolveRunId(a, args["run-a"]);
        const runB = resolveRunId(b, args["run-b"]);
        return print(
          args,
          runA,
          runB,
          diffRuns({ db: a, run: runA }, { db: b, run: runB }, options),
        );
      } finally {
        if (b !== a) b.close();
      }
    } finally {
      a.close();
    }
  },
});

/** A side read as a stream: a store, a runs database beside one, or an NDJSON file. */
interface Side {
  run: string | null;
  events: AsyncIterable<Event>;
  close(): Promise<void>;
}

async function openSide(
  path: string,
  run: string | undefined,
  flag: string,
  args: Args,
  options: DiffOptions,
): Promise<Side> {
  if (NDJSON_FILE.test(path)) {
    if (run !== undefined) {
      throw new UsageError(`${flag} applies to a runs database, not to ${path}`);
    }
    const events = readNdjsonFile(path);
    const stream = (async function* () {
      yield* events;
    })();
    return { run: null, events: stream, close: async () => {} };
  }
  const source = await openSourceArg(path, args);
  try {
    const id = await source.resolveRunId(run);
    const events = source.events({ run: id, excludeTypes: options.excludeTypes });
    return { run: id, events, close: () => source.close() };
  } catch (error) {
    await source.close();
    throw error;
  }
}

/** diff where either side is a store URL or an NDJSON file: both sides streamed. */
async function diffSources(args: Args, options: DiffOptions): Promise<number> {
  const sides: Side[] = [];
  try {
    // An error names the flag given: --run stands for both --run-a and --run-b.
    const flag = (side: "a" | "b") => (args.run === undefined ? `--run-${side}` : "--run");
    sides.push(await openSide(args.a, args["run-a"], flag("a"), args, options));
    sides.push(await openSide(args.b, args["run-b"], flag("b"), args, options));
    const [a, b] = sides as [Side, Side];
    return print(args, a.run, b.run, await diffStreams(a.events, b.events, options));
  } finally {
    for (const side of sides) await side.close();
  }
}
