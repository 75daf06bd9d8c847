import { defineCommand } from "citty";
import { DEFAULT_IGNORE, type DiffOptions, diffRuns, diffStreams, formatDiff } from "../diff.ts";
import { EVENT_TYPES, fieldsOf } from "../events/catalog.ts";
import { stringifyExact } from "../json.ts";
import { resolveRunId } from "../runs.ts";
import { isStoreUrl } from "../store/index.ts";
import { commonArgs, parseList, parseTypes, UsageError } from "./args.ts";
import { openDb } from "./database.ts";
import { out } from "./output.ts";
import { openSourceArg } from "./source.ts";

/** Every field any event type has. */
const FIELD_NAMES = new Set(EVENT_TYPES.flatMap((type) => fieldsOf(type).map(([name]) => name)));

export default defineCommand({
  meta: {
    name: "diff",
    description:
      "Compare two runs event by event; exit 0 when they match, 1 when they differ, 2 on error",
  },
  args: {
    a: { type: "positional", required: true, description: "First runs database" },
    b: {
      type: "positional",
      required: true,
      description: "Second runs database (may be the same file)",
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
    json: { type: "boolean", description: "Print the result as one JSON document" },
    ...commonArgs,
  },
  async run({ args }) {
    const tolerance = args.tolerance === undefined ? undefined : Number(args.tolerance);
    if (tolerance !== undefined && (args.tolerance?.trim() === "" || !(tolerance >= 0))) {
      throw new UsageError(
        `--tolerance takes a number >= 0 (got ${JSON.stringify(args.tolerance)})`,
      );
    }
    const ignore = parseList(args.ignore);
    const unknown = ignore?.find((field) => !FIELD_NAMES.has(field));
    if (unknown !== undefined) {
      throw new UsageError(
        `--ignore: no event has a field ${JSON.stringify(unknown)}`,
        "fields are the NDJSON keys of the events, e.g. ts_created_ns",
      );
    }
    const options = {
      ignore,
      tolerance: tolerance === undefined ? undefined : { abs: tolerance, rel: tolerance },
      excludeTypes: parseTypes(args["exclude-types"], "--exclude-types"),
    };
    if (isStoreUrl(args.a) || isStoreUrl(args.b)) return await diffSources(args, options);
    const a = openDb(args.a, args);
    try {
      const b = args.b === args.a ? a : openDb(args.b, args);
      try {
        const runA = resolveRunId(a, args["run-a"]);
        const runB = resolveRunId(b, args["run-b"]);
        const result = diffRuns({ db: a, run: runA }, { db: b, run: runB }, options);
        out(
          `${args.json ? stringifyExact({ runA, runB, ...result }, 2) : formatDiff(result, { a: "A", b: "B" })}\n`,
        );
        return result.match ? 0 : 1;
      } finally {
        if (b !== a) b.close();
      }
    } finally {
      a.close();
    }
  },
});

/** diff where either side is a store URL: both sides streamed through their sources. */
async function diffSources(
  args: {
    a: string;
    b: string;
    "run-a"?: string;
    "run-b"?: string;
    json?: boolean;
    verbose?: boolean;
  },
  options: DiffOptions,
): Promise<number> {
  const a = await openSourceArg(args.a, args);
  try {
    const b = args.b === args.a ? a : await openSourceArg(args.b, args);
    try {
      const runA = await a.resolveRunId(args["run-a"]);
      const runB = await b.resolveRunId(args["run-b"]);
      const excludeTypes = options.excludeTypes;
      const result = await diffStreams(
        a.events({ run: runA, excludeTypes }),
        b.events({ run: runB, excludeTypes }),
        options,
      );
      out(
        `${args.json ? stringifyExact({ runA, runB, ...result }, 2) : formatDiff(result, { a: "A", b: "B" })}\n`,
      );
      return result.match ? 0 : 1;
    } finally {
      if (b !== a) await b.close();
    }
  } finally {
    await a.close();
  }
}
