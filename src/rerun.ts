/**
 * A backtest re-run: the market data of a recorded run (or the demo's synthetic feed) through the
 * simulated broker and a strategy module, recorded as a new run whose config and metadata name
 * its lineage: the parent run, the strategy file's hash, the parameters, the runtape version.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import * as v from "valibot";
import pkg from "../package.json" with { type: "json" };
import type { RunsDb } from "./db.ts";
import { describeValue, firstLineOf, RuntapeError, StrategyError } from "./errors.ts";
import { defaultCatalog, type EventType } from "./events/catalog.ts";
import type { EventCatalog } from "./events/event-catalog.ts";
import { checkOptions } from "./options.ts";
import { type RunOptions, recordRun } from "./record.ts";
import type { RecordingSummary } from "./recorder.ts";
import { readJsonColumn } from "./runs.ts";
import { type BrokerParameters, brokerParameters, SimulatedBroker } from "./sim/broker.ts";
import { publishBars } from "./sim/feed.ts";
import { type DemoFeedOptions, demoFeed, simStreams } from "./sim/index.ts";
import { MAX_SEED } from "./sim/random.ts";
import { openSource, type RunSource } from "./store/index.ts";
import { loadStrategy, type Strategy, type StrategyParams, strategyContext } from "./strategy.ts";

/** The recorded run whose market data a re-run replays. */
export interface FeedRef {
  /** A runs database path or a `postgres://` URL. */
  db: string;
  /**
   * Run id or `"latest"` (the newest run). Default: the newest `completed` run, since a failed or
   * cancelled run may hold part of the bars (or none) and a running one may still grow.
   */
  run?: string;
  /** The event types replayed. Default: BarReceived. */
  types?: readonly EventType[];
}

/** Options of {@link rerun}. */
export interface RerunOptions {
  /** The recorded feed; the demo's seeded synthetic bars when absent. */
  feed?: FeedRef;
  /** The demo feed's data when there is no `feed`. */
  demo?: DemoFeedOptions;
  /** A strategy module's path, or the factory itself. */
  strategy: string | Strategy;
  params?: StrategyParams;
  /** Overrides of the simulated broker's parameters. */
  broker?: Partial<BrokerParameters>;
  /**
   * Where the new run is recorded: a path or an open database (the feed's own file is fine).
   * Default: a new database in a temporary folder, so a test never writes into its fixture; the
   * folder is removed when the process exits (at once if the re-run throws). A process that a
   * signal ends (SIGINT, SIGTERM: no `exit` event then) leaves it behind, for the system's
   * cleaning of its temporary folder: the library sets no signal handler, which would change how
   * the host answers signals; a host whose handler ends with `process.exit()` has it removed. Pass
   * `into` to keep the run.
   */
  into?: string | RunsDb;
  /**
   * Seeds the strategy's ids and the broker: a whole number from 0 to 4294967295. Default: the
   * feed run's recorded seed, else 1.
   */
  seed?: number;
  runId?: string;
  name?: string;
  /** Receives the strategy's `ctx.log` lines; they are dropped otherwise. */
  log?: (message: string) => void;
  /**
   * Store the new run on a writer thread (the Recorder's `thread` option): faster for a strategy
   * that works between events, at more CPU; in line by default.
   */
  thread?: boolean;
  /** The Recorder's `collectGarbage` option: for a process that runs the backtest and little else. */
  collectGarbage?: boolean;
  /** Called once the new run is registered, as `recordRun`'s `onStart`. */
  onStart?: RunOptions["onStart"];
  /** Aborting stops the feed and ends the new run `cancelled` at once, as `recordRun`'s `signal`. */
  signal?: AbortSignal;
}

/** The new run: a {@link RunRef} for diff, replay and golden checks, with its summary and parent. */
export interface RerunResult {
  db: string | RunsDb;
  run: string;
  summary: RecordingSummary;
  /** The feed run replayed (its source and id); null for the demo feed. */
  parent: { db: string; run: string } | null;
}

/** Event types replayed from a feed unless told otherwise. */
export const FEED_TYPES: readonly EventType[] = ["BarReceived"];

/** A module namespace (`import * as m`) where its factory was meant: the hint names the fix. */
function strategyExpected(value: unknown): string {
  const factory = (value as { default?: unknown } | null)?.default;
  const got =
    typeof value === "object" && value !== null && typeof factory === "function"
      ? "a module's namespace: pass its default export"
      : `got ${describeValue(value)}`;
  return `expected a strategy module's path or a factory function (${got})`;
}

// What makes a run that is not the one asked for is refused before any run is made: a seed the
// generators would wrap or truncate (NaN ran as 0 while the config said "NaN"), a strategy that
// cannot be called (the run ended `failed`, blaming the strategy).
const RerunOptionsSchema = v.object(
  {
    strategy: v.custom<string | Strategy>(
      (s) => typeof s === "string" || typeof s === "function",
      (issue) => strategyExpected(issue.input),
    ),
    // Checked where they are used (the broker's ranges, the recorder's); the feed's keys below.
    feed: v.optional(v.unknown()),
    demo: v.optional(v.unknown()),
    params: v.optional(v.unknown()),
    broker: v.optional(v.unknown()),
    into: v.optional(v.unknown()),
    runId: v.optional(v.unknown()),
    name: v.optional(v.unknown()),
    log: v.optional(v.function("expected a function")),
    thread: v.optional(v.boolean("expected true or false")),
    collectGarbage: v.optional(v.boolean("expected true or false")),
    onStart: v.optional(v.function("expected a function")),
    signal: v.optional(v.instance(AbortSignal, "expected an AbortSignal")),
    seed: v.optional(
      v.custom<number>(
        (s) => Number.isSafeInteger(s) && (s as number) >= 0 && (s as number) <= MAX_SEED,
        (issue) =>
          `expected a whole number from 0 to ${MAX_SEED} (got ${describeValue(issue.input)})`,
      ),
    ),
  },
  "expected an object of options",
);

// A misspelt key (`rn` for `run`) would replay the newest completed run in silence.
const FEED_DB = "expected a runs database path or a postgres:// URL";
const FeedRefSchema = v.object(
  {
    db: v.string(FEED_DB),
    run: v.optional(v.string('expected a run id or "latest"')),
    // Checked as the feed opens: market data types only.
    types: v.optional(v.unknown()),
  },
  // A missing key (db, the one required) is an issue of the object's: said as db's own.
  (issue) =>
    issue.path === undefined
      ? `expected an object { db, run?, types? } (got ${describeValue(issue.input)})`
      : `${FEED_DB} (got nothing)`,
);

/** Throws RuntapeError (INVALID_OPTION) for options {@link rerun} refuses before any run. */
export function checkRerunOptions(options: RerunOptions): void {
  checkOptions(RerunOptionsSchema, options, "rerun");
  if (options.feed !== undefined) checkOptions(FeedRefSchema, options.feed, "rerun", "feed");
}

/**
 * Re-runs a strategy on a feed and records the run. The same strategy file, parameters, seed and
 * feed give the same events, ids included, on every run (all but `ts_created_ns`).
 *
 * Options that cannot make the run asked for (a `strategy` that is neither a path nor a function,
 * a `seed` that is no whole number from 0 to 4294967295) throw RuntapeError (INVALID_OPTION), and
 * a strategy that is missing, fails to load or has no factory throws StrategyError, before any run
 * is made, as does a missing feed or run, or a feed run without BarReceived events to replay (a
 * RuntapeError, EMPTY_FEED). A strategy that throws (while starting or on an event) ends the new
 * run `failed` with the error in its metadata and throws StrategyError. The feed is only read.
 * Without `into`, the run's temporary folder is removed at the process's `exit`, which a process
 * ended by SIGINT or SIGTERM never reaches: it is then left in the temporary folder (see `into`).
 */
export async function rerun(options: RerunOptions): Promise<RerunResult> {
  checkRerunOptions(options);
  const loaded =
    typeof options.strategy === "string" ? await loadStrategy(options.strategy) : undefined;
  const source = options.feed === undefined ? undefined : await openSource(options.feed.db);
  try {
    const types = options.feed?.types ?? FEED_TYPES;
    const parent =
      source === undefined
        ? null
        : { db: source.label, run: await feedRun(source, options.feed?.run, types) };
    const seed = options.seed ?? (await recordedSeed(source, parent?.run)) ?? 1;
    const broker = brokerParameters(options.broker);
    const demo = demoFeed(options.demo);
    const file = loaded?.file ?? null;
    const lineage = {
      parent_run_id: parent?.run ?? null,
      parent_source: parent?.db ?? null,
      strategy: file,
      strategy_sha256: loaded?.sha256 ?? null,
      params: options.params ?? {},
      runtape_version: pkg.version,
    };
    const feedConfig =
      parent === null
        ? { demo: { ...demo, start: undefined, start_ns: demo.start.toString() } }
        : { types };
    const temporary = options.into === undefined ? temporaryDb() : undefined;
    const into = options.into ?? (temporary as string);
    const { summary } = await recordRun(
      into,
      {
        runId: options.runId,
        name: options.name ?? `backtest of ${file ?? "a strategy"}`,
        thread: options.thread,
        collectGarbage: options.collectGarbage,
        onStart: options.onStart,
        signal: options.signal,
        config: { mode: "backtest", seed, broker, feed: feedConfig, lineage },
        metadata: { lineage },
        failureMetadata: (error) => ({
          error: error instanceof Error ? error.message : String(error),
        }),
      },
      async (bus) => {
        const strategy = loaded?.strategy ?? (options.strategy as Strategy);
        const streams = simStreams(seed);
        // The broker subscribes first: an order fills on the bars after the one it was placed on.
        const simulated = new SimulatedBroker(bus, streams.broker, broker);
        const watch = watchStrategy(file ?? "(function)", options.signal);
        const { ctx, detach } = strategyContext(bus, {
          random: streams.strategy,
          params: options.params,
          log: options.log,
          file: file ?? undefined,
          onRejected: watch.fail,
        });
        try {
          let returned: unknown;
          try {
            // Raced: a strategy that never finishes starting is still stopped by a failure or abort.
            returned = await Promise.race([strategy(ctx), watch.stopped]);
          } catch (error) {
            if (error instanceof StrategyError || options.signal?.aborted) throw error;
            throw new StrategyError(
              file ?? "(function)",
              `threw while starting: ${firstLineOf(error)}`,
            );
          }
          // Handlers returned as an object, a generator whose body never ran: a module written
          // for another framework, which would record a run of bars and not one decision. A
          // function is what `(ctx) => ctx.bus.subscribe(…)` returns: the unsubscribe, fine.
          if (returned !== undefined && typeof returned !== "function") {
            throw new StrategyError(
              file ?? "(function)",
              `its factory returned ${returnedValue(returned)}: a factory subscribes to ctx.bus and returns nothing (or what subscribe returns)`,
            );
          }
          if (source === undefined || parent === null) {
            for (const done of publishBars(bus, streams.market, demo)) {
              if (done % 64 === 0) await watch.pause();
            }
          } else {
            for await (const chunk of source.chunks({ run: parent.run, types })) {
              for (const event of chunk) bus.publish(event);
              await watch.pause();
            }
          }
          // The last events' async handlers settle, and the timers due fire, before the run closes.
          await watch.pause(true);
        } catch (error) {
          throw strategyErrorIn(error) ?? error;
        } finally {
          watch.release();
          detach();
          simulated.detach();
        }
      },
    ).catch((error: unknown) => {
      // The error names no file: a temporary one would be left behind, found by no one.
      if (temporary !== undefined) removeTemporaryDb(temporary);
      throw error;
    });
    return { db: into, run: summary.runId, summary, parent };
  } finally {
    await source?.close();
  }
}

/**
 * What stops a strategy's run early: `signal`'s abort, or its first failure that no call returns
 * (an async handler's rejection, given to `fail`; a timer's throw or a dropped promise's
 * rejection, from the process's listeners, held until `release`). `pause` lets them (and signals)
 * in, then throws the first; `stopped` rejects with it.
 */
function watchStrategy(file: string, signal: AbortSignal | undefined) {
  let failure: { error: unknown } | undefined;
  let reject: (error: unknown) => void = () => {};
  const stopped = new Promise<never>((_, r) => {
    reject = r;
  });
  // Once the strategy has started nothing races it: pause() reports the failure instead.
  stopped.catch(() => {});
  let released = false;
  const fail = (error: unknown) => {
    // A handler's rejection after the run has ended goes on unhandled, as any error left behind.
    if (released) throw error;
    if (failure !== undefined) return;
    failure = { error };
    reject(error);
  };
  const uncaught = (error: unknown) =>
    fail(
      new StrategyError(
        file,
        `an error nothing awaited (a timer's, a dropped promise's): ${firstLineOf(error)}`,
        undefined,
        { cause: error },
      ),
    );
  const aborted = () => fail(signal?.reason);
  process.on("uncaughtException", uncaught);
  process.on("unhandledRejection", uncaught);
  signal?.addEventListener("abort", aborted, { once: true });
  return {
    stopped,
    fail,
    /** With `timers`, also until the timers due by now have fired (setTimeout's 1 ms: once a run). */
    async pause(timers = false): Promise<void> {
      await new Promise((resolve) => (timers ? setTimeout(resolve, 0) : setImmediate(resolve)));
      if (failure !== undefined) throw failure.error;
    },
    release(): void {
      released = true;
      process.off("uncaughtException", uncaught);
      process.off("unhandledRejection", uncaught);
      signal?.removeEventListener("abort", aborted);
    },
  };
}

/** The first StrategyError in what the bus threw (several handlers may have failed on one event). */
function strategyErrorIn(error: unknown): StrategyError | undefined {
  if (error instanceof StrategyError) return error;
  if (error instanceof AggregateError) {
    return error.errors.find((e): e is StrategyError => e instanceof StrategyError);
  }
  return undefined;
}

/**
 * Refuses a feed type that is no market data (INVALID_OPTION). Decisions (orders and the broker's
 * answers) are the backtest's own to make: replayed besides, each order id would be there twice,
 * the recorded and the strategy's, for one simulated broker. A type without a role is neither.
 */
export function checkFeedTypes<T extends string>(types: readonly T[], cat: EventCatalog<T>): void {
  const other = types.find((type) => cat.role(type)?.kind !== "market");
  if (other === undefined) return;
  const why = cat.decisions().includes(other)
    ? "its strategy and broker make those anew"
    : "the catalog gives that type no market role";
  throw new RuntapeError(`a backtest replays market data, not ${other}: ${why}`, "INVALID_OPTION");
}

/**
 * The feed run replayed: `run` as named, or the newest completed run. It must hold BarReceived
 * events among `types`: the broker fills on bars, and without them a backtest records nothing.
 */
async function feedRun(
  source: RunSource,
  run: string | undefined,
  types: readonly EventType[],
): Promise<string> {
  let runId: string;
  if (run === undefined) {
    const completed = (await source.listRuns()).find((r) => r.status === "completed");
    if (completed === undefined) {
      throw new RuntapeError(`${source.label} holds no completed run to replay`, "NO_RUNS");
    }
    runId = completed.run_id;
  } else {
    runId = await source.resolveRunId(run);
  }
  checkFeedTypes(types, defaultCatalog);
  if (!types.includes("BarReceived")) {
    throw new RuntapeError(
      `run ${runId} has no BarReceived events to replay (the types replayed: ${types.join(", ")})`,
      "EMPTY_FEED",
    );
  }
  for await (const _ of source.events({ run: runId, types: ["BarReceived"], limit: 1 })) {
    return runId;
  }
  throw new RuntapeError(`run ${runId} has no BarReceived events to replay`, "EMPTY_FEED");
}

/** What a factory returned, in words: functions and generators say nothing as JSON. */
function returnedValue(value: unknown): string {
  if (typeof value !== "object" || value === null) {
    return describeValue(value);
  }
  const tag = Object.prototype.toString.call(value).slice(8, -1);
  if (tag !== "Object") return `a ${tag}`;
  const keys = Object.keys(value);
  return keys.length === 0 ? "an empty object" : `an object of ${keys.join(", ")}`;
}

/** The seed a recorded run's config names, as the demo and re-runs record it. */
async function recordedSeed(
  source: RunSource | undefined,
  run: string | undefined,
): Promise<number | undefined> {
  if (source === undefined || run === undefined) return undefined;
  const config = readJsonColumn((await source.getRun(run)).config);
  // A config that is no JSON object names no seed.
  const seed = typeof config === "object" && config !== null ? config.seed : undefined;
  return Number.isSafeInteger(seed) ? (seed as number) : undefined;
}

/**
 * Folders of re-runs made without `into`, removed when the process exits: the result names the
 * file for diff, replay and golden checks, so it must outlive the call, but it is no one's to keep
 * (each call left one in the temporary folder for good). Not on SIGINT or SIGTERM: a handler here
 * would keep the host's process alive where it expects the default (to end), or run beside its own.
 */
const temporaryDirs = new Set<string>();
let removingAtExit = false;

function temporaryDb(): string {
  const dir = mkdtempSync(join(tmpdir(), "runtape-rerun-"));
  temporaryDirs.add(dir);
  if (!removingAtExit) {
    removingAtExit = true;
    // One listener for every call: one each would trip the emitter's leak warning.
    process.once("exit", () => {
      for (const dir of temporaryDirs) removeDir(dir);
    });
  }
  return join(dir, "runs.db");
}

function removeTemporaryDb(db: string): void {
  const dir = dirname(db);
  temporaryDirs.delete(dir);
  removeDir(dir);
}

function removeDir(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch {
    // Left to the system's cleaning of its temporary folder: nothing to tell anyone at exit.
  }
}
