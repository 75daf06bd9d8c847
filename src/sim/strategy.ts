/**
 * The demo strategy, as a strategy module: `runtape backtest --strategy src/sim/strategy.ts`.
 *
 * A fast/slow moving-average crossover that goes long or short with a protective stop, a
 * mean-reversion limit order when the RSI is oversold (modified, then cancelled or left to
 * expire), a STOP_LIMIT breakout when it is overbought, and now and then an order too large for
 * the account.
 *
 * It publishes a processed bar with its indicators per bar, and decides when that processed bar
 * comes back to it from the bus: the bus delivers in publication order, so by then the broker's
 * fills on the same bar (published before it) have arrived and the position is up to date.
 *
 * It imports nothing from runtape but types (erased when it is loaded): everything it uses comes
 * from the context, so the file runs under the single-file binary as it is.
 */
import type {
  Action,
  BarProcessed,
  BarReceived,
  OrderType,
  Side,
  StrategyContext,
} from "../index.ts";

/** The parameters and their defaults; `--param fastPeriod=6` overrides one. */
export const parameters = {
  fastPeriod: 5,
  slowPeriod: 20,
  rsiPeriod: 14,
  /** Units per position. */
  quantity: 400,
  /** Distance of the protective stop from the entry, as a fraction of the price. */
  stopDistance: 0.01,
};

export type StrategyParameters = typeof parameters;

/** Prices of orders are in cents. */
const cents = (x: number) => Math.round(x * 100) / 100;

/** How often, in bars of one symbol, the strategy tries to scale in beyond its buying power. */
const SCALE_IN_EVERY = 97;

/** Simple moving average of the last `period` values; NaN until the window is full. */
export function sma(values: readonly number[], period: number): number {
  if (values.length < period) return Number.NaN;
  let sum = 0;
  for (let i = values.length - period; i < values.length; i++) sum += values[i] as number;
  return sum / period;
}

/** Relative strength index (simple averages) of the last `period` changes; NaN until full. */
export function rsi(values: readonly number[], period: number): number {
  if (values.length <= period) return Number.NaN;
  let gain = 0;
  let loss = 0;
  for (let i = values.length - period; i < values.length; i++) {
    const change = (values[i] as number) - (values[i - 1] as number);
    if (change > 0) gain += change;
    else loss -= change;
  }
  if (loss === 0) return gain === 0 ? 50 : 100;
  return 100 - 100 / (1 + gain / loss);
}

interface SymbolState {
  readonly closes: number[];
  bars: number;
  /** The indicators of the bar being processed, until the strategy has acted on them. */
  signals: { fast: number; slow: number; strength: number } | null;
  position: number;
  trend: -1 | 0 | 1;
  stopId: string | null;
  /** The limit order of the mean-reversion leg and the bar it was placed on. */
  dip: { id: string; placedAt: number } | null;
  breakoutId: string | null;
}

interface WorkingOrder {
  readonly symbol: string;
  readonly type: OrderType;
  readonly side: Side;
  /** Quantity not yet filled (as far as the fills delivered so far tell). */
  remaining: number;
}

export default function crossover(ctx: StrategyContext): void {
  const { bus } = ctx;
  const p: StrategyParameters = { ...parameters, ...(ctx.params as Partial<StrategyParameters>) };
  const symbols = new Map<string, SymbolState>();
  /** Its orders that the broker holds or may still accept. */
  const working = new Map<string, WorkingOrder>();

  const stateOf = (symbol: string): SymbolState => {
    let state = symbols.get(symbol);
    if (state === undefined) {
      state = {
        closes: [],
        bars: 0,
        signals: null,
        position: 0,
        trend: 0,
        stopId: null,
        dip: null,
        breakoutId: null,
      };
      symbols.set(symbol, state);
    }
    return state;
  };
  const isWorking = (orderId: string | null) => orderId !== null && working.has(orderId);

  function order(
    bar: BarProcessed,
    type: OrderType,
    side: Side,
    quantity: number,
    action: Action,
    signal: string,
    prices: { limit?: number; stop?: number } = {},
  ): string {
    const request = ctx.makeEvent("OrderSubmissionRequest", {
      ts_event_ns: bar.ts_event_ns,
      symbol: bar.symbol,
      order_type: type,
      side,
      quantity,
      limit_price: prices.limit === undefined ? null : cents(prices.limit),
      stop_price: prices.stop === undefined ? null : cents(prices.stop),
      action,
      signal,
    });
    working.set(request.system_order_id, { symbol: bar.symbol, type, side, remaining: quantity });
    bus.publish(request);
    return request.system_order_id;
  }

  function cancel(bar: BarProcessed, orderId: string): void {
    bus.publish(
      ctx.makeEvent("OrderCancellationRequest", {
        ts_event_ns: bar.ts_event_ns,
        system_order_id: orderId,
        symbol: bar.symbol,
      }),
    );
  }

  /**
   * The crossover: flatten and turn to the new trend, with a fresh protective stop. Market orders
   * still filling count as done: the position is headed there.
   */
  function reverse(bar: BarProcessed, state: SymbolState, trend: 1 | -1): void {
    let headed = state.position;
    for (const o of working.values()) {
      if (o.symbol === bar.symbol && o.type === "MARKET")
        headed += o.side === "BUY" ? o.remaining : -o.remaining;
    }
    const delta = trend * p.quantity - headed;
    if (isWorking(state.stopId)) cancel(bar, state.stopId as string);
    state.stopId = null;
    if (delta === 0) return;
    const action: Action = headed === 0 ? (trend > 0 ? "ENTRY_LONG" : "ENTRY_SHORT") : "REVERSE";
    const side: Side = delta > 0 ? "BUY" : "SELL";
    order(
      bar,
      "MARKET",
      side,
      Math.abs(delta),
      action,
      trend > 0 ? "SMA cross up" : "SMA cross down",
    );
    const stop = bar.close * (1 - trend * p.stopDistance);
    state.stopId = order(
      bar,
      "STOP",
      trend > 0 ? "SELL" : "BUY",
      p.quantity,
      trend > 0 ? "EXIT_LONG" : "EXIT_SHORT",
      "protective stop",
      { stop },
    );
  }

  /**
   * Buys dips with a limit order on a timer: 3 bars on it moves the limit up, 6 bars on it cancels
   * every other one and leaves the rest to fill or expire. The timer does not look at fills, so a
   * change or a cancel may reach an order already filled, and be rejected, as when a request and a
   * fill cross on a live connection. The leg is free for the next dip once its order is done.
   */
  function manageDip(bar: BarProcessed, state: SymbolState, strength: number): void {
    if (state.dip === null) {
      if (strength < 35) {
        const id = order(bar, "LIMIT", "BUY", p.quantity / 2, "ADD", "RSI oversold", {
          limit: bar.close * 0.996,
        });
        state.dip = { id, placedAt: state.bars };
      }
      return;
    }
    const age = state.bars - state.dip.placedAt;
    if (age === 3) {
      bus.publish(
        ctx.makeEvent("OrderModificationRequest", {
          ts_event_ns: bar.ts_event_ns,
          system_order_id: state.dip.id,
          symbol: bar.symbol,
          limit_price: cents(bar.close * 0.999),
        }),
      );
    } else if (age === 6 && state.dip.placedAt % 2 === 0) {
      cancel(bar, state.dip.id);
    } else if (age > 6 && !isWorking(state.dip.id)) {
      state.dip = null;
    }
  }

  bus.subscribe("BarReceived", (bar: BarReceived) => {
    const state = stateOf(bar.symbol);
    state.closes.push(bar.close);
    if (state.closes.length > Math.max(p.slowPeriod, p.rsiPeriod + 1)) state.closes.shift();
    state.bars++;
    const fast = sma(state.closes, p.fastPeriod);
    const slow = sma(state.closes, p.slowPeriod);
    const strength = rsi(state.closes, p.rsiPeriod);
    state.signals = { fast, slow, strength };
    const { type: _, ts_created_ns: __, ...fields } = bar;
    bus.publish(
      ctx.makeEvent("BarProcessed", {
        ...fields,
        indicators: {
          [`SMA_${p.fastPeriod}_CLOSE`]: fast,
          [`SMA_${p.slowPeriod}_CLOSE`]: slow,
          [`RSI_${p.rsiPeriod}_CLOSE`]: strength,
        },
      }),
    );
  });

  bus.subscribe("BarProcessed", (bar) => {
    const state = symbols.get(bar.symbol);
    if (state === undefined || state.signals === null) return; // not a bar this strategy processed
    const { fast, slow, strength } = state.signals;
    state.signals = null;
    if (Number.isFinite(fast) && Number.isFinite(slow) && fast !== slow) {
      const trend = fast > slow ? 1 : -1;
      if (state.trend !== 0 && trend !== state.trend) reverse(bar, state, trend);
      state.trend = trend;
    }
    manageDip(bar, state, strength);
    if (strength > 70 && !isWorking(state.breakoutId)) {
      state.breakoutId = order(bar, "STOP_LIMIT", "BUY", p.quantity / 2, "ENTRY", "RSI breakout", {
        stop: bar.high * 1.001,
        limit: bar.high * 1.004,
      });
    }
    if (state.bars % SCALE_IN_EVERY === 0) {
      order(bar, "LIMIT", "BUY", p.quantity * 1000, "ADD", "scale in", { limit: bar.close });
    }
  });

  bus.subscribe("FillEvent", (fill) => {
    const state = stateOf(fill.symbol);
    state.position += fill.side === "BUY" ? fill.quantity_filled : -fill.quantity_filled;
    const o = working.get(fill.associated_order_id);
    if (o === undefined) return;
    o.remaining -= fill.quantity_filled;
    if (o.remaining <= 0) working.delete(fill.associated_order_id);
  });

  bus.subscribe(["OrderRejected", "OrderExpired", "CancellationAccepted"], (event) => {
    working.delete(event.associated_order_id);
  });
}
