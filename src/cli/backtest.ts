import { defineCommand } from "citty";
import { compareDecisions, formatComparison } from "../compare.ts";
import { counted, isDecimal } from "../format.ts";
import { type RerunOptions, rerun } from "../rerun.ts";
import { type BrokerParameters, brokerParameterProblem } from "../sim/broker.ts";
import { MAX_SEED } from "../sim/random.ts";
import { isStoreUrl } from "../store/index.ts";
import type { StrategyParams } from "../strategy.ts";
import { printable } from "../text.ts";
import { onceEach, parseInteger, parseNames, parseRunId, parseTypes, repeated } from "./args.ts";
import { cancellableRun, withFailedRun } from "./cancel.ts";
import { commandMeta } from "./commands.ts";
import { checkTargetArg } from "./database.ts";
import { logger, out } from "./output.ts";
import { commonArgs, fileArg, repeatable, UsageError } from "./usage.ts";

/** The broker's options: flag -> the parameter it sets, and its help. */
const BROKER_FLAGS = {
  "broker-commission": { key: "commissionPerUnit", hint: "X", help: "Commission per unit" },
  "broker-min-commission": { key: "minimumCommission", hint: "X", help: "Minimum per order" },
  "broker-participation": {
    key: "participation",
    hint: "X",
    help: "Share of a bar's volume one order may fill (partial fills)",
  },
  "broker-expiry-bars": {
    key: "expiryBars",
    hint: "N",
    help: "Bars after which limit orders expire",
  },
  "broker-max-order-value": {
    key: "maxOrderValue",
    hint: "X",
    help: "Largest order value accepted",
  },
} as const satisfies Record<string, { key: keyof BrokerParameters; hint: string; help: string }>;

const brokerArgs = Object.fromEntries(
  Object.entries(BROKER_FLAGS).map(([flag, { hint, help }]) => [
    flag,
    { type: "string", valueHint: hint, description: help },
  ]),
) as {
  [F in keyof typeof BROKER_FLAGS]: { type: "string"; valueHint: string; description: string };
};

export default defineCommand({
  meta: commandMeta("backtest"),
  args: {
    strategy: {
      type: "string",
      required: true,
      valueHint: "FILE",
      description: "Strategy module: its default export is a factory (ctx) => void",
    },
    param: repeatable({
      type: "string",
      valueHint: "K=V",
      description: "A strategy parameter (repeatable; decimal numbers are parsed)",
    }),
    feed: {
      type: "string",
      valueHint: "DB|URL",
      description: "Replay the market data of a recorded run (default: the demo feed)",
    },
    run: {
      type: "string",
      valueHint: "ID|latest",
      description: "The feed's run (default: its newest completed run)",
    },
    types: {
      type: "string",
      valueHint: "T,…",
      description: "Event types replayed from the feed (default BarReceived)",
    },
    into: {
      type: "string",
      valueHint: "DB",
      description: "Record the new run here (default: the feed's file, else ./runs.db)",
    },
    seed: {
      type: "string",
      valueHint: "N",
      description: "Seed of ids and broker (default: the feed's, else 1)",
    },
    symbols: { type: "string", valueHint: "A,B,…", description: "Demo feed: symbols" },
    bars: { type: "string", valueHint: "N", description: "Demo feed: bars per symbol" },
    ...brokerArgs,
    "run-id": { type: "string", description: "Id of the new run (default: a new UUID)" },
    name: { type: "string", description: "Name of the new run" },
    compare: {
      type: "boolean",
      description: "Compare the new run's decisions with the feed run's: first divergence, P&L",
    },
    log: { type: "boolean", description: "Show the strategy's ctx.log lines on stderr" },
    thread: {
      type: "boolean",
      description: "Store the events on a thread of their own while the strategy runs (more CPU)",
    },
    ...commonArgs,
  },
  async run({ args, rawArgs }) {
    if (args.strategy === "") throw new UsageError("--strategy needs a file");
    const runId = parseRunId(args["run-id"], "--run-id") ?? Bun.randomUUIDv7();
    const feed = args.feed;
    if (feed === undefined) {
      for (const flag of ["run", "types", "compare"] as const) {
        if (args[flag] !== undefined && args[flag] !== false) {
          throw new UsageError(`--${flag} needs --feed`);
        }
      }
    } else if (args.symbols !== undefined || args.bars !== undefined) {
      throw new UsageError(
        `--${args.symbols === undefined ? "bars" : "symbols"} applies to the demo feed, not to --feed`,
      );
    }
    const into = args.into ?? (feed === undefined || isStoreUrl(feed) ? fileArg.default : feed);
    checkTargetArg(into);
    const run = cancellableRun((signal, recorder) => {
      if (recorder === undefined) {
        logger.fail(`${signal}: backtest cancelled before its run began`);
        return;
      }
      const { runId, events } = recorder.summary;
      logger.fail(
        `${signal}: backtest run ${printable(runId)} cancelled with ${counted(events, "event")}`,
      );
      out(`${runId}\n`);
    });
    const options: RerunOptions = {
      strategy: args.strategy,
      params: parseParams(rawArgs),
      feed:
        feed === undefined
          ? undefined
          : { db: feed, run: args.run, types: parseTypes(args.types, "--types") },
      demo: {
        symbols: parseNames(args.symbols, "--symbols", "symbol"),
        bars: parseInteger(args.bars, "--bars", 1, 100_000_000),
      },
      broker: parseBroker(args),
      seed: parseInteger(args.seed, "--seed", 0, MAX_SEED),
      into,
      runId,
      name: args.name,
      log: args.log ? (line) => logger.log(`${args.strategy}: ${line}`) : undefined,
      thread: args.thread === true,
      // As `record` does. A strategy whose heap is slow to collect has collections skipped
      // (see the Recorder's collectGarbage), so they cost it at most about a tenth of its time.
      collectGarbage: true,
      ...run.options,
    };
    let result: Awaited<ReturnType<typeof rerun>>;
    try {
      result = await rerun(options);
    } catch (error) {
      throw withFailedRun(error, run.recorder());
    } finally {
      run.release();
    }
    logger.success(
      `backtest run ${result.run}: ${counted(result.summary.events, "event")} into ${into}`,
    );
    out(`${result.run}\n`);
    if (args.compare && result.parent !== null) {
      out(formatComparison(await compareDecisions(result.parent, { db: into, run: result.run })));
    }
    return 0;
  },
});

/**
 * Every `--param k=v` (or `--param=k=v`): decimal numbers as numbers, integers beyond 2^53 as
 * exact bigints (as a config's are), the rest as text.
 */
function parseParams(rawArgs: readonly string[]): StrategyParams {
  const pairs = repeated(rawArgs, "param").map((value) => {
    const eq = value.indexOf("=");
    if (eq <= 0) throw new UsageError(`--param takes KEY=VALUE (got ${JSON.stringify(value)})`);
    const key = value.slice(0, eq);
    if (key.trim() === "") {
      throw new UsageError(
        `--param: a parameter's name cannot be blank (got ${JSON.stringify(value)})`,
      );
    }
    // Assigned to an object, __proto__ would set its prototype: the parameter would vanish unsaid.
    if (key === "__proto__") {
      throw new UsageError('"__proto__" cannot be a parameter\'s name');
    }
    return [key, paramValue(key, value.slice(eq + 1))] as const;
  });
  onceEach(
    pairs.map(([key]) => key),
    "--param",
  );
  return Object.fromEntries(pairs);
}

function paramValue(key: string, text: string): StrategyParams[string] {
  if (!isDecimal(text)) return text;
  const n = Number(text);
  if (/^\s*[+-]?\d+\s*$/.test(text) && !Number.isSafeInteger(n)) return BigInt(text.trim());
  if (!Number.isFinite(n)) {
    throw new UsageError(`--param ${key}: ${text.trim()} is beyond the range of a double`);
  }
  return n;
}

function parseBroker(args: Record<string, unknown>): Partial<BrokerParameters> {
  const broker: Partial<BrokerParameters> = {};
  for (const [flag, { key }] of Object.entries(BROKER_FLAGS)) {
    const text = args[flag] as string | undefined;
    if (text === undefined) continue;
    const n = Number(text);
    if (!isDecimal(text) || !Number.isFinite(n)) {
      throw new UsageError(`--${flag} takes a number (got ${JSON.stringify(text)})`);
    }
    broker[key] = n;
    const problem = brokerParameterProblem({ [key]: n });
    if (problem !== undefined) {
      throw new UsageError(`--${flag} takes ${problem.expected} (got ${JSON.stringify(text)})`);
    }
  }
  return broker;
}
