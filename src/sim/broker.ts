import * as v from "valibot";
import type { EventBus } from "../bus.ts";
import { RuntapeError } from "../errors.ts";
import type {
  BarReceived,
  OrderCancellationRequest,
  OrderModificationRequest,
  OrderSubmissionRequest,
  OrderType,
  Side,
} from "../events/catalog.ts";
import { makeEvent } from "../events/schemas.ts";
import type { Random } from "./random.ts";

/** How the simulated broker trades. */
export interface BrokerParameters {
  /** Commission per unit filled; an order that fills at all pays at least `minimumCommission`. */
  commissionPerUnit: number;
  minimumCommission: number;
  /** Share of a bar's volume one order may fill on that bar: larger orders fill in parts. */
  participation: number;
  /** Bars after which an unfilled LIMIT or STOP_LIMIT order expires. */
  expiryBars: number;
  /** Largest order value accepted (quantity × price). */
  maxOrderValue: number;
}

/**
 * The demo broker's parameters where a backtest sets none. Frozen: every backtest and the demo of
 * the process read it, so a change made for one would silently change them all; pass `broker`
 * overrides (or a copy, `{ ...DEFAULT_BROKER, … }`) instead.
 */
export const DEFAULT_BROKER: Readonly<BrokerParameters> = Object.freeze({
  commissionPerUnit: 0.005,
  minimumCommission: 1,
  participation: 0.1,
  expiryBars: 10,
  maxOrderValue: 1_000_000,
});

/** Each parameter's range: in words for errors, and as the check. */
const RANGES = {
  commissionPerUnit: ["a number ≥ 0", v.pipe(v.number(), v.finite(), v.minValue(0))],
  minimumCommission: ["a number ≥ 0", v.pipe(v.number(), v.finite(), v.minValue(0))],
  participation: ["a number > 0 and ≤ 1", v.pipe(v.number(), v.gtValue(0), v.maxValue(1))],
  expiryBars: ["a whole number ≥ 1", v.pipe(v.number(), v.safeInteger(), v.minValue(1))],
  maxOrderValue: ["a number > 0", v.pipe(v.number(), v.gtValue(0))],
} satisfies Record<keyof BrokerParameters, [string, v.GenericSchema<number>]>;

/** A broker parameter out of its range: which one, and its range in words. */
export interface BrokerParameterProblem {
  name: string;
  expected: string;
}

/** The first of `overrides` that is no broker parameter or out of its range; undefined if none. */
export function brokerParameterProblem(
  overrides: Partial<BrokerParameters>,
): BrokerParameterProblem | undefined {
  for (const [name, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    const range = Object.hasOwn(RANGES, name) ? RANGES[name as keyof BrokerParameters] : undefined;
    if (range === undefined) return { name, expected: "no such parameter" };
    if (!v.is(range[1], value)) return { name, expected: range[0] };
  }
  return undefined;
}

/**
 * The broker's parameters: `overrides` over the defaults, checked. Throws RuntapeError
 * (INVALID_OPTION) naming the first parameter out of range and its range.
 */
export function brokerParameters(overrides: Partial<BrokerParameters> = {}): BrokerParameters {
  const problem = brokerParameterProblem(overrides);
  if (problem !== undefined) {
    const { name, expected } = problem;
    const got = (overrides as Record<string, unknown>)[name];
    throw new RuntapeError(`broker ${name}: ${expected} (got ${String(got)})`, "INVALID_OPTION");
  }
  const given = Object.entries(overrides).filter(([, value]) => value !== undefined);
  return { ...DEFAULT_BROKER, ...Object.fromEntries(given) };
}

interface OpenOrder {
  readonly id: string;
  readonly brokerId: string;
  readonly symbol: string;
  readonly type: OrderType;
  readonly side: Side;
  quantity: number;
  filled: number;
  limit: number | null;
  stop: number | null;
  triggered: boolean;
  commission: number;
  /** The symbol's bar count when accepted: an order fills from the next bar on. */
  readonly acceptedAt: number;
}

/**
 * A simulated broker on the bus: accepts or rejects orders, fills MARKET, LIMIT, STOP and
 * STOP_LIMIT orders against the bars (in parts when large), charges commission, expires limit
 * orders, and answers cancellations and modifications.
 */
export class SimulatedBroker {
  readonly #bus: EventBus;
  readonly #random: Random;
  readonly #p: BrokerParameters;
  readonly #open = new Map<string, OpenOrder>();
  readonly #bars = new Map<string, number>();
  readonly #lastClose = new Map<string, number>();
  #now = 0n;
  readonly #subscriptions: (() => void)[];

  constructor(bus: EventBus, random: Random, parameters: BrokerParameters = DEFAULT_BROKER) {
    this.#bus = bus;
    this.#random = random;
    this.#p = parameters;
    this.#subscriptions = [
      bus.subscribe("BarReceived", (bar) => this.#onBar(bar)),
      bus.subscribe("OrderSubmissionRequest", (order) => this.#onSubmission(order)),
      bus.subscribe("OrderCancellationRequest", (request) => this.#onCancellation(request)),
      bus.subscribe("OrderModificationRequest", (request) => this.#onModification(request)),
    ];
  }

  /** Leaves the bus: the broker answers nothing from now on. */
  detach(): void {
    for (const unsubscribe of this.#subscriptions) unsubscribe();
  }

  #respond(
    type: "OrderAccepted" | "CancellationAccepted" | "ModificationAccepted",
    order: OpenOrder,
  ): void {
    this.#bus.publish(
      makeEvent(type, {
        ts_event_ns: this.#now,
        ts_broker_ns: this.#now,
        associated_order_id: order.id,
        broker_order_id: order.brokerId,
      }),
    );
  }

  #reject(
    type: "OrderRejected" | "CancellationRejected" | "ModificationRejected",
    orderId: string,
    message: string,
  ): void {
    this.#bus.publish(
      makeEvent(type, {
        ts_event_ns: this.#now,
        ts_broker_ns: this.#now,
        associated_order_id: orderId,
        rejection_reason: "UNKNOWN",
        rejection_message: message,
      }),
    );
  }

  /** Why an order (or its modified form) cannot be accepted, if it cannot. */
  #problem(
    symbol: string,
    type: OrderType,
    quantity: number,
    limit: number | null,
    stop: number | null,
  ): string | undefined {
    const price = limit ?? stop ?? this.#lastClose.get(symbol);
    if (price === undefined) return `no market for ${symbol}`;
    if (!(quantity > 0)) return "quantity must be positive";
    if ((type === "LIMIT" || type === "STOP_LIMIT") && limit === null)
      return `${type} order needs a limit price`;
    if ((type === "STOP" || type === "STOP_LIMIT") && stop === null)
      return `${type} order needs a stop price`;
    if ((limit !== null && limit <= 0) || (stop !== null && stop <= 0))
      return "prices must be positive";
    if (quantity * price > this.#p.maxOrderValue) return "order value exceeds buying power";
    return undefined;
  }

  #onSubmission(order: OrderSubmissionRequest): void {
    this.#now = order.ts_event_ns;
    const problem = this.#problem(
      order.symbol,
      order.order_type,
      order.quantity,
      order.limit_price,
      order.stop_price,
    );
    if (problem !== undefined) {
      this.#reject("OrderRejected", order.system_order_id, problem);
      return;
    }
    const open: OpenOrder = {
      id: order.system_order_id,
      brokerId: this.#random.uuid(),
      symbol: order.symbol,
      type: order.order_type,
      side: order.side,
      quantity: order.quantity,
      filled: 0,
      limit: order.limit_price,
      stop: order.stop_price,
      triggered: false,
      commission: 0,
      acceptedAt: this.#bars.get(order.symbol) ?? 0,
    };
    this.#open.set(open.id, open);
    this.#respond("OrderAccepted", open);
  }

  #onCancellation(request: OrderCancellationRequest): void {
    this.#now = request.ts_event_ns;
    const order = this.#open.get(request.system_order_id);
    if (order === undefined) {
      this.#reject("CancellationRejected", request.system_order_id, "order is not open");
      return;
    }
    this.#open.delete(order.id);
    this.#respond("CancellationAccepted", order);
  }

  #onModification(request: OrderModificationRequest): void {
    this.#now = request.ts_event_ns;
    const order = this.#open.get(request.system_order_id);
    if (order === undefined) {
      this.#reject("ModificationRejected", request.system_order_id, "order is not open");
      return;
    }
    const quantity = request.quantity ?? order.quantity;
    const limit = request.limit_price ?? order.limit;
    const stop = request.stop_price ?? order.stop;
    const problem =
      quantity <= order.filled
        ? "quantity would not exceed what is already filled"
        : this.#problem(order.symbol, order.type, quantity - order.filled, limit, stop);
    if (problem !== undefined) {
      this.#reject("ModificationRejected", order.id, problem);
      return;
    }
    Object.assign(order, { quantity, limit, stop });
    this.#respond("ModificationAccepted", order);
  }

  #onBar(bar: BarReceived): void {
    this.#now = bar.ts_event_ns;
    const index = (this.#bars.get(bar.symbol) ?? 0) + 1;
    this.#bars.set(bar.symbol, index);
    this.#lastClose.set(bar.symbol, bar.close);
    for (const order of [...this.#open.values()]) {
      if (order.symbol !== bar.symbol || order.acceptedAt >= index) continue;
      const price = this.#executablePrice(order, bar);
      if (price !== undefined) this.#fill(order, bar, price);
      if (!this.#open.has(order.id)) continue;
      const expires = order.type === "LIMIT" || order.type === "STOP_LIMIT";
      if (expires && index - order.acceptedAt >= this.#p.expiryBars) {
        this.#open.delete(order.id);
        this.#bus.publish(
          makeEvent("OrderExpired", {
            ts_event_ns: this.#now,
            ts_broker_ns: this.#now,
            associated_order_id: order.id,
            broker_order_id: order.brokerId,
            symbol: order.symbol,
          }),
        );
      }
    }
  }

  /**
   * The price an order trades at on `bar`, if it trades. A stop triggers when the bar reaches it
   * and trades at the stop (or the open, if the bar opened beyond it); a triggered stop-limit is a
   * limit order from then on, trading on the bar that triggered it only if that price is within
   * its limit.
   */
  #executablePrice(order: OpenOrder, bar: BarReceived): number | undefined {
    const buy = order.side === "BUY";
    const within = (price: number, limit: number) => (buy ? price <= limit : price >= limit);
    if (order.type === "MARKET") return bar.open;
    if ((order.type === "STOP" || order.type === "STOP_LIMIT") && !order.triggered) {
      const stop = order.stop as number;
      if (buy ? bar.high < stop : bar.low > stop) return undefined;
      order.triggered = true;
      const price = buy ? Math.max(bar.open, stop) : Math.min(bar.open, stop);
      if (order.type === "STOP") return price;
      return within(price, order.limit as number) ? price : undefined;
    }
    if (order.type === "STOP") return bar.open;
    const limit = order.limit as number;
    if (buy ? bar.low > limit : bar.high < limit) return undefined;
    return buy ? Math.min(bar.open, limit) : Math.max(bar.open, limit);
  }

  #fill(order: OpenOrder, bar: BarReceived, price: number): void {
    const capacity = Math.max(1, Math.floor(Number(bar.volume ?? 0n) * this.#p.participation));
    const quantity = Math.min(order.quantity - order.filled, capacity);
    order.filled += quantity;
    const done = order.filled >= order.quantity;
    // Charged so that an order's fills always add up to the rule applied to all it has filled:
    // the minimum on its first fill, only per unit beyond it.
    const due = Math.max(order.filled * this.#p.commissionPerUnit, this.#p.minimumCommission);
    const commission = Math.round((due - order.commission) * 1e6) / 1e6;
    order.commission += commission;
    if (done) this.#open.delete(order.id);
    this.#bus.publish(
      makeEvent("FillEvent", {
        ts_event_ns: this.#now,
        ts_broker_ns: this.#now,
        associated_order_id: order.id,
        broker_order_id: order.brokerId,
        symbol: order.symbol,
        fill_id: this.#random.uuid(),
        broker_fill_id: this.#random.uuid(),
        side: order.side,
        quantity_filled: quantity,
        fill_price: price,
        commission,
      }),
    );
  }
}
