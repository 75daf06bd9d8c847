import * as v from "valibot";
import type { EventBus } from "../bus.ts";
import { BAR_PERIODS, type BarPeriod, EVENT_TYPES } from "../events/catalog.ts";
import { checkOptions } from "../options.ts";
import { strategyContext } from "../strategy.ts";
import { DEFAULT_BROKER, SimulatedBroker } from "./broker.ts";
import { publishBars } from "./feed.ts";
import { Random } from "./random.ts";
import crossover, { parameters, type StrategyParameters } from "./strategy.ts";

/** The data and parameters of a demo backtest; every field has a default. */
export interface DemoOptions {
  /** Same seed, same run (but for the wall-clock `ts_created_ns`). Default 1. */
  seed?: number;
  /** Default AAPL, MSFT, NVDA. */
  symbols?: readonly string[];
  /** Bars per symbol. Default 500. */
  bars?: number;
  /** Default MINUTE. */
  barPeriod?: BarPeriod;
  /** Time of the first bar, ns since the epoch. Default 2024-03-04T14:30:00Z. */
  start?: bigint;
  /** Overrides of the strategy's parameters. */
  strategy?: Partial<StrategyParameters>;
  /** Called after each bar time (every symbol's bar and all it caused) with the times done and the total. */
  onBar?: (index: number, total: number) => void;
}

/**
 * The seeded streams of a simulated run, one per part, so that the market does not depend on what
 * the strategy does with it: a changed strategy parameter changes the orders, never the bars. A
 * re-run on a recorded feed draws the same strategy and broker streams as the demo it replays.
 */
export function simStreams(seed: number): { market: Random; strategy: Random; broker: Random } {
  const seeds = new Random(seed);
  return { market: seeds.fork(), strategy: seeds.fork(), broker: seeds.fork() };
}

/** The demo feed's data: which symbols, how many bars, of what period, from when. */
export type DemoFeedOptions = Pick<DemoOptions, "symbols" | "bars" | "barPeriod" | "start">;

/** The demo feed's data with the defaults filled in. */
export function demoFeed(options: DemoFeedOptions = {}) {
  const o = resolve(options);
  return { symbols: o.symbols, bars: o.bars, barPeriod: o.barPeriod, start: o.start };
}

/** What a demo run published. */
export interface DemoResult {
  bars: number;
  events: number;
}

const DEFAULTS = {
  seed: 1,
  symbols: ["AAPL", "MSFT", "NVDA"],
  bars: 500,
  barPeriod: "MINUTE" as BarPeriod,
  start: 1_709_562_600_000_000_000n,
};

const wholeNumber = (min: number, what: string) =>
  v.pipe(v.number(what), v.safeInteger(what), v.minValue(min, what));

/** What the CLI's demo flags allow (`--bars 0` is refused: a run of nothing). */
const DemoOptionsSchema = v.object({
  seed: v.optional(wholeNumber(0, "expected a whole number ≥ 0")),
  symbols: v.optional(
    v.pipe(
      v.array(v.pipe(v.string(), v.nonEmpty()), "expected an array of symbols"),
      v.minLength(1, "expected at least one symbol"),
    ),
  ),
  bars: v.optional(wholeNumber(1, "expected a whole number ≥ 1")),
  barPeriod: v.optional(v.picklist(BAR_PERIODS, `expected one of ${BAR_PERIODS.join(", ")}`)),
  start: v.optional(v.bigint("expected a bigint (ns since the epoch)")),
  strategy: v.optional(
    v.record(v.string(), v.number(), "expected an object of the strategy's numeric parameters"),
  ),
  onBar: v.optional(v.function()),
});

/** The options with the defaults filled in; throws RuntapeError (INVALID_OPTION) for a bad one. */
function resolve(options: DemoOptions) {
  checkOptions(DemoOptionsSchema, options, "demo");
  const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  const o = { ...DEFAULTS, ...defined } as typeof DEFAULTS & DemoOptions;
  return { ...o, strategy: { ...parameters, ...options.strategy } };
}

/**
 * The demo backtest on `bus`, one bar time per step: seeded synthetic bars, the crossover
 * strategy and the simulated broker, all talking through the bus. Each step yields the bar times
 * done and the total. Attach a Recorder to the bus first to record it. When the generator ends
 * or is stopped, the broker and the strategy leave the bus.
 */
export function* demoSteps(bus: EventBus, options: DemoOptions = {}): Generator<[number, number]> {
  const o = resolve(options);
  const streams = simStreams(o.seed);
  // The broker subscribes first: an order fills on the bars after the one it was placed on.
  const broker = new SimulatedBroker(bus, streams.broker, DEFAULT_BROKER);
  const strategy = strategyContext(bus, { random: streams.strategy, params: o.strategy });
  crossover(strategy.ctx);
  const parts = [broker, strategy];
  try {
    for (const done of publishBars(bus, streams.market, demoFeed(o))) yield [done, o.bars];
  } finally {
    // Ended or abandoned: leave the bus as it was given, ready for another run.
    for (const part of parts) part.detach();
  }
}

/**
 * Runs the built-in demo backtest on `bus` to the end (see {@link demoSteps}). A default run
 * publishes every event type of the catalog.
 */
export function runDemo(bus: EventBus, options: DemoOptions = {}): DemoResult {
  let events = 0;
  const stopCounting = bus.subscribe(EVENT_TYPES, () => {
    events++;
  });
  try {
    let bars = 0;
    for (const [done, total] of demoSteps(bus, options)) {
      bars = done;
      options.onBar?.(done, total);
    }
    return { bars: bars * resolve(options).symbols.length, events };
  } finally {
    stopCounting();
  }
}

/** The config of a demo run as recorded in the run's `config` JSON. */
export function demoConfig(options: DemoOptions = {}): Record<string, unknown> {
  const o = resolve(options);
  return {
    mode: "backtest",
    demo: true,
    seed: o.seed,
    symbols: o.symbols,
    bars: o.bars,
    bar_period: o.barPeriod,
    start_ns: o.start.toString(),
    strategy: o.strategy,
    // A copy: the caller owns the config it is handed, and the defaults are frozen.
    broker: { ...DEFAULT_BROKER },
  };
}
