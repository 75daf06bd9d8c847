import type { EventBus } from "../bus.ts";
import type { Action, BarProcessed, BarReceived, OrderType, Side } from "../events/catalog.ts";
import { makeEvent } from "../events/schemas.ts";
import { rsi, sma } from "./indicators.ts";
import type { Random } from "./random.ts";

/** The demo strategy's parameters. */
export interface StrategyParameters {
  fastPeriod: number;
  slowPeriod: number;
  rsiPeriod: number;
  /** Units per position. */
  quantity: number;
  /** Distance of the protective stop from the entry, as a fraction of the price. */
  stopDistance: number;
}

export const DEFAULT_STRATEGY: StrategyParameters = {
  fastPeriod: 5,
  slowPeriod: 20,
  rsiPeriod: 14,
  quantity: 400,
  stopDistance: 0.01,
};

/** Prices of orders are in cents. */
const cents = (x: number) => Math.round(x * 100) / 100;

/** How often, in bars of one symbol, the strategy tries to scale in beyond its buying power. */
const SCALE_IN_EVERY = 97;

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

/**
 * The demo strategy: a fast/slow moving-average crossover that goes long or short with a
 * protective stop, a mean-reversion limit order when the RSI is oversold (modified, then
 * cancelled or left to expire), a STOP_LIMIT breakout when it is overbought, and now and then an
 * order too large for the account.
 *
 * It publishes a processed bar with its indicators per bar, and decides when that processed bar
 * comes back to it from the bus: the bus delivers in publication order, so by then the broker's
 * fills on the same bar (published before it) have arrived and the position is up to date.
 */
export class CrossoverStrategy {
  readonly #bus: EventBus;
  readonly #random: Random;
  readonly #p: StrategyParameters;
  readonly #symbols = new Map<string, SymbolState>();
  /** Its orders that the broker holds or may still accept. */
  readonly #working = new Map<string, WorkingOrder>();
  readonly #subscriptions: (() => void)[];

  constructor(bus: EventBus, random: Random, parameters: StrategyParameters = DEFAULT_STRATEGY) {
    this.#bus = bus;
    this.#random = random;
    this.#p = parameters;
    this.#subscriptions = [
      bus.subscribe("BarReceived", (bar) => this.#onBar(bar)),
      bus.subscribe("BarProcessed", (bar) => this.#decide(bar)),
      bus.subscribe("FillEvent", (fill) => {
        const state = this.#state(fill.symbol);
        state.position += fill.side === "BUY" ? fill.quantity_filled : -fill.quantity_filled;
        const order = this.#working.get(fill.associated_order_id);
        if (order === undefined) return;
        order.remaining -= fill.quantity_filled;
        if (order.remaining <= 0) this.#working.delete(fill.associated_order_id);
      }),
      bus.subscribe(["OrderRejected", "OrderExpired", "CancellationAccepted"], (event) => {
        this.#working.delete(event.associated_order_id);
      }),
    ];
  }

  /** Leaves the bus: the strategy reacts to nothing from now on. */
  detach(): void {
    for (const unsubscribe of this.#subscriptions) unsubscribe();
  }

  #state(symbol: string): SymbolState {
    let state = this.#symbols.get(symbol);
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
      this.#symbols.set(symbol, state);
    }
    return state;
  }

  #onBar(bar: BarReceived): void {
    const p = this.#p;
    const state = this.#state(bar.symbol);
    state.closes.push(bar.close);
    if (state.closes.length > Math.max(p.slowPeriod, p.rsiPeriod + 1)) state.closes.shift();
    state.bars++;
    const fast = sma(state.closes, p.fastPeriod);
    const slow = sma(state.closes, p.slowPeriod);
    const strength = rsi(state.closes, p.rsiPeriod);
    state.signals = { fast, slow, strength };
    const { type: _, ts_created_ns: __, ...fields } = bar;
    this.#bus.publish(
      makeEvent("BarProcessed", {
        ...fields,
        indicators: {
          [`SMA_${p.fastPeriod}_CLOSE`]: fast,
          [`SMA_${p.slowPeriod}_CLOSE`]: slow,
          [`RSI_${p.rsiPeriod}_CLOSE`]: strength,
        },
      }),
    );
  }

  #decide(bar: BarProcessed): void {
    const state = this.#symbols.get(bar.symbol);
    if (state === undefined || state.signals === null) return; // not a bar this strategy processed
    const { fast, slow, strength } = state.signals;
    state.signals = null;
    const p = this.#p;
    if (Number.isFinite(fast) && Number.isFinite(slow) && fast !== slow) {
      const trend = fast > slow ? 1 : -1;
      if (state.trend !== 0 && trend !== state.trend) this.#reverse(bar, state, trend);
      state.trend = trend;
    }
    this.#manageDip(bar, state, strength);
    if (strength > 70 && !this.#isWorking(state.breakoutId)) {
      state.breakoutId = this.#order(
        bar,
        "STOP_LIMIT",
        "BUY",
        p.quantity / 2,
        "ENTRY",
        "RSI breakout",
        {
          stop: bar.high * 1.001,
          limit: bar.high * 1.004,
        },
      );
    }
    if (state.bars % SCALE_IN_EVERY === 0) {
      this.#order(bar, "LIMIT", "BUY", p.quantity * 1000, "ADD", "scale in", { limit: bar.close });
    }
  }

  /**
   * The crossover: flatten and turn to the new trend, with a fresh protective stop. Market orders
   * still filling count as done: the position is headed there.
   */
  #reverse(bar: BarProcessed, state: SymbolState, trend: 1 | -1): void {
    let headed = state.position;
    for (const order of this.#working.values()) {
      if (order.symbol === bar.symbol && order.type === "MARKET")
        headed += order.side === "BUY" ? order.remaining : -order.remaining;
    }
    const delta = trend * this.#p.quantity - headed;
    if (this.#isWorking(state.stopId)) this.#cancel(bar, state.stopId as string);
    state.stopId = null;
    if (delta === 0) return;
    const action: Action = headed === 0 ? (trend > 0 ? "ENTRY_LONG" : "ENTRY_SHORT") : "REVERSE";
    const side: Side = delta > 0 ? "BUY" : "SELL";
    this.#order(
      bar,
      "MARKET",
      side,
      Math.abs(delta),
      action,
      trend > 0 ? "SMA cross up" : "SMA cross down",
    );
    const stop = bar.close * (1 - trend * this.#p.stopDistance);
    state.stopId = this.#order(
      bar,
      "STOP",
      trend > 0 ? "SELL" : "BUY",
      this.#p.quantity,
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
  #manageDip(bar: BarProcessed, state: SymbolState, strength: number): void {
    if (state.dip === null) {
      if (strength < 35) {
        const id = this.#order(bar, "LIMIT", "BUY", this.#p.quantity / 2, "ADD", "RSI oversold", {
          limit: bar.close * 0.996,
        });
        state.dip = { id, placedAt: state.bars };
      }
      return;
    }
    const age = state.bars - state.dip.placedAt;
    if (age === 3) {
      this.#bus.publish(
        makeEvent("OrderModificationRequest", {
          ts_event_ns: bar.ts_event_ns,
          system_order_id: state.dip.id,
          symbol: bar.symbol,
          limit_price: cents(bar.close * 0.999),
        }),
      );
    } else if (age === 6 && state.dip.placedAt % 2 === 0) {
      this.#cancel(bar, state.dip.id);
    } else if (age > 6 && !this.#isWorking(state.dip.id)) {
      state.dip = null;
    }
  }

  #isWorking(orderId: string | null): boolean {
    return orderId !== null && this.#working.has(orderId);
  }

  #order(
    bar: BarProcessed,
    type: OrderType,
    side: Side,
    quantity: number,
    action: Action,
    signal: string,
    prices: { limit?: number; stop?: number } = {},
  ): string {
    const id = this.#random.uuid();
    this.#working.set(id, { symbol: bar.symbol, type, side, remaining: quantity });
    this.#bus.publish(
      makeEvent("OrderSubmissionRequest", {
        ts_event_ns: bar.ts_event_ns,
        system_order_id: id,
        symbol: bar.symbol,
        order_type: type,
        side,
        quantity,
        limit_price: prices.limit === undefined ? null : cents(prices.limit),
        stop_price: prices.stop === undefined ? null : cents(prices.stop),
        action,
        signal,
      }),
    );
    return id;
  }

  #cancel(bar: BarProcessed, orderId: string): void {
    this.#bus.publish(
      makeEvent("OrderCancellationRequest", {
        ts_event_ns: bar.ts_event_ns,
        system_order_id: orderId,
        symbol: bar.symbol,
      }),
    );
  }
}
