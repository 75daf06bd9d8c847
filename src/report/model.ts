/**
 * The report of one run as plain data, built in one pass over its events in publication order
 * (what an event means comes from the catalog's roles, never from its type's name):
 * the marked-to-market equity curve, per-symbol prices, indicators, fills and trading, the round
 * trips and the summary metrics. Pure: no database, no clock; the same events give the same report.
 */
import {
  BAR_PERIOD_NS,
  BAR_PERIODS,
  type BarProcessed,
  type BarReceived,
  defaultCatalog,
  EVENT_TYPES,
  type Event,
  type EventType,
} from "../events/catalog.ts";
import { type RunRow, readJsonColumn } from "../runs.ts";
import { type SymbolTrading, TradingTally } from "../trading.ts";
import { computeMetrics, type RunMetrics } from "./metrics.ts";
import { type RoundTrip, RoundTripTracker, type TripFill } from "./trips.ts";

/** The equity curve at full resolution: one point per distinct event time with a bar or a fill. */
export interface EquityCurve {
  /** Milliseconds since the epoch (for drawing; exact times are in the events). */
  t: number[];
  /**
   * Realised + unrealised P&L − commission paid so far, open positions marked at the last close
   * of their symbol's shortest bar period that goes on (the last fill's price without bars).
   */
  equity: number[];
  /** Commission paid so far. */
  commission: number[];
  /** Whether any position was open at that point. */
  exposed: boolean[];
}

/** The bars of one symbol and period, with the indicators of its processed bars. */
export interface PriceSeries {
  period: string;
  /** Milliseconds since the epoch. */
  t: number[];
  open: number[];
  high: number[];
  low: number[];
  close: number[];
  /** Per indicator: times of the processed bars and values (null where not finite: warm-up). */
  indicators: Record<string, { t: number[]; y: (number | null)[] }>;
}

/** One fill, for marking on the price chart. */
export interface FillMark {
  t: number;
  price: number;
  quantity: number;
  side: "BUY" | "SELL";
}

/** Everything the report shows about one symbol. */
export interface SymbolReport {
  symbol: string;
  trading: SymbolTrading;
  prices: PriceSeries[];
  fills: FillMark[];
  /** Closed trips in order, then the open one, if any. */
  trips: RoundTrip[];
}

/** The report of one run. */
export interface RunReport {
  run: {
    runId: string;
    name: string;
    status: string;
    tsStart: bigint;
    tsEnd: bigint | null;
    config: unknown;
    metadata: unknown;
  };
  counts: Record<EventType, number>;
  events: number;
  firstNs: bigint | null;
  lastNs: bigint | null;
  equity: EquityCurve;
  symbols: SymbolReport[];
  metrics: RunMetrics;
}

const ms = (ns: bigint) => Number(ns / 1_000_000n);

const NO_BAR = BAR_PERIODS.length;

interface SymbolState {
  symbol: string;
  trips: RoundTripTracker;
  /**
   * The mark of the open position: the last close of the shortest bar period that goes on, whose
   * close is the latest price (an hour's bar may be stamped with its start and carry its last
   * minute's close); a longer period's bar takes over only once it starts after the bar that set
   * the mark has ended (the shorter period stopped). The last fill's price while there is no bar.
   */
  mark: number | null;
  /** The index in BAR_PERIODS of the period that set the mark; past the end while none has. */
  markPeriod: number;
  /** When the bar that set the mark ended: its time plus its period. */
  markEnd: bigint;
  prices: Map<string, PriceSeries>;
  /** Keys of the series whose prices come from BarReceived; the rest take BarProcessed's. */
  received: Set<string>;
  fills: FillMark[];
}

/**
 * Builds the report of one run from its events fed in publication order (as `replay` yields
 * them): {@link add} each, then {@link finish}. For a source that hands events out in chunks or
 * asynchronously; {@link buildRunReport} does it for an iterable.
 */
export class RunReportBuilder {
  readonly #run: RunRow;
  readonly #counts = Object.fromEntries(EVENT_TYPES.map((t) => [t, 0])) as Record<
    EventType,
    number
  >;
  readonly #symbols = new Map<string, SymbolState>();
  readonly #trading = new TradingTally();
  readonly #curve: EquityCurve = { t: [], equity: [], commission: [], exposed: [] };
  #realized = 0;
  #commission = 0;
  #pointNs: bigint | null = null;
  #firstNs: bigint | null = null;
  #lastNs: bigint | null = null;
  #total = 0;

  constructor(run: RunRow) {
    this.#run = run;
  }

  /** Takes the run's next event, in publication order. */
  add(event: Event): void {
    this.#total++;
    this.#counts[event.type]++;
    this.#trading.add(event);
    const ts = event.ts_event_ns;
    if (this.#firstNs === null || ts < this.#firstNs) this.#firstNs = ts;
    if (this.#lastNs === null || ts > this.#lastNs) this.#lastNs = ts;
    const role = defaultCatalog.role(event.type);
    const symbol = defaultCatalog.symbolOf(event);
    if (symbol === undefined) return;
    switch (role?.kind) {
      case "market":
        if ("close" in event) this.#addBar(event, symbol);
        break;
      case "fill":
        // The catalog checks that a fill has the fields of PnlFill, which TripFill reads.
        this.#addFill(event as unknown as TripFill, symbol);
        break;
      case "request":
        this.#state(symbol); // a symbol the run trades without bars still has its section
        break;
    }
  }

  #addBar(bar: BarReceived | BarProcessed, symbol: string): void {
    const ts = bar.ts_event_ns;
    this.#moveTo(ts);
    const s = this.#state(symbol);
    const period = BAR_PERIODS.indexOf(bar.bar_period);
    if (period <= s.markPeriod || ts > s.markEnd) {
      s.mark = bar.close;
      s.markPeriod = period;
      s.markEnd = ts + BAR_PERIOD_NS[bar.bar_period];
    }
    const series = priceSeries(s, bar.bar_period);
    const isProcessed = "indicators" in bar;
    if (!isProcessed && !s.received.has(bar.bar_period)) {
      // Prices from the received bars from now on: drop what processed bars put there.
      s.received.add(bar.bar_period);
      for (const k of ["t", "open", "high", "low", "close"] as const) series[k].length = 0;
    }
    if (!isProcessed || !s.received.has(bar.bar_period)) {
      series.t.push(ms(ts));
      series.open.push(bar.open);
      series.high.push(bar.high);
      series.low.push(bar.low);
      series.close.push(bar.close);
    }
    if (isProcessed) {
      for (const [name, value] of Object.entries(bar.indicators)) {
        let line = series.indicators[name];
        if (line === undefined) {
          line = { t: [], y: [] };
          series.indicators[name] = line;
        }
        line.t.push(ms(ts));
        line.y.push(Number.isFinite(value) ? value : null);
      }
    }
  }

  #addFill(fill: TripFill, symbol: string): void {
    this.#moveTo(fill.ts_event_ns);
    const s = this.#state(symbol);
    if (s.markPeriod === NO_BAR) s.mark = fill.fill_price;
    this.#realized += s.trips.add(fill);
    this.#commission += fill.commission;
    s.fills.push({
      t: ms(fill.ts_event_ns),
      price: fill.fill_price,
      quantity: fill.quantity_filled,
      side: fill.side,
    });
  }

  /** The report of the events added so far. */
  finish(): RunReport {
    this.#flushPoint();
    this.#pointNs = null;
    const run = this.#run;
    const symbols = [...this.#symbols.values()]
      .sort((a, b) => (a.symbol < b.symbol ? -1 : 1))
      .map(
        (s): SymbolReport => ({
          symbol: s.symbol,
          trading: this.#trading.of(s.symbol),
          prices: [...s.prices.values()],
          fills: s.fills,
          trips: s.trips.trips,
        }),
      );
    return {
      run: {
        runId: run.run_id,
        name: run.name,
        status: run.status,
        tsStart: run.ts_start,
        tsEnd: run.ts_end,
        config: readJsonColumn(run.config),
        metadata: readJsonColumn(run.metadata),
      },
      counts: { ...this.#counts },
      events: this.#total,
      firstNs: this.#firstNs,
      lastNs: this.#lastNs,
      equity: this.#curve,
      symbols,
      metrics: computeMetrics(
        this.#curve,
        symbols.flatMap((r) => r.trips),
      ),
    };
  }

  #state(symbol: string): SymbolState {
    let s = this.#symbols.get(symbol);
    if (s === undefined) {
      s = {
        symbol,
        trips: new RoundTripTracker(symbol),
        mark: null,
        markPeriod: NO_BAR,
        markEnd: 0n,
        prices: new Map(),
        received: new Set(),
        fills: [],
      };
      this.#symbols.set(symbol, s);
    }
    return s;
  }

  // A point gathers everything that happened at one event time. A late event (a response after a
  // later bar, in a threaded Python run) joins the current point rather than going back in time.
  #moveTo(ns: bigint): void {
    if (this.#pointNs !== null && ns <= this.#pointNs) return;
    this.#flushPoint();
    this.#pointNs = ns;
  }

  #flushPoint(): void {
    if (this.#pointNs === null) return;
    let unrealized = 0;
    let exposed = false;
    for (const s of this.#symbols.values()) {
      if (s.trips.pnl.position === 0) continue;
      exposed = true;
      unrealized += s.trips.pnl.unrealizedAt(s.mark as number);
    }
    const curve = this.#curve;
    curve.t.push(ms(this.#pointNs));
    curve.equity.push(this.#realized + unrealized - this.#commission);
    curve.commission.push(this.#commission);
    curve.exposed.push(exposed);
  }
}

/** Builds the report of `run` from its events in publication order (as `replay` yields them). */
export function buildRunReport(run: RunRow, events: Iterable<Event>): RunReport {
  const builder = new RunReportBuilder(run);
  for (const event of events) builder.add(event);
  return builder.finish();
}

function priceSeries(s: SymbolState, period: string): PriceSeries {
  let series = s.prices.get(period);
  if (series === undefined) {
    // Keyed by the strategy's names, which may be "constructor" or "__proto__": no prototype.
    series = {
      period,
      t: [],
      open: [],
      high: [],
      low: [],
      close: [],
      indicators: Object.create(null),
    };
    s.prices.set(period, series);
  }
  return series;
}
