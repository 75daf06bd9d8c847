/**
 * Trading per symbol as a pure function of a run's events in publication order: requests and the
 * rejections of them, fills and average-cost P&L. What an event means comes from the catalog's
 * roles. The report and the comparison of a re-run read it from any source (file or store);
 * `inspect` answers the same figures from SQL (src/inspect/trading.ts; a test holds them equal).
 */
import { defaultCatalog as cat, type Event, type EventType } from "./events/catalog.ts";
import type { RequestAction } from "./events/event-catalog.ts";
import { PnlAccumulator, type PnlFill } from "./pnl.ts";

/** Trading of one symbol in a run. */
export interface SymbolTrading {
  symbol: string;
  /** Order submissions. */
  orders: number;
  /** Submissions the broker rejected (OrderRejected). */
  rejections: number;
  /** Cancellation requests, and those the broker rejected. */
  cancellations: number;
  cancellationRejections: number;
  /** Modification requests, and those the broker rejected. */
  modifications: number;
  modificationRejections: number;
  fills: number;
  /** Sum of absolute filled quantities. */
  tradedQuantity: number;
  commission: number;
  /** By the average-cost method, before commission. */
  realizedPnl: number;
  /** realizedPnl − commission. */
  netPnl: number;
  /** Open position at the end of the run: positive long, negative short. */
  position: number;
  /** Average entry price of the open position; null when flat. */
  averageCost: number | null;
}

/** The counters of {@link SymbolTrading} that count requests and their rejections. */
type Counter =
  | "orders"
  | "rejections"
  | "cancellations"
  | "cancellationRejections"
  | "modifications"
  | "modificationRejections";

/** Where the requests of each action, and their rejections, are counted. */
export const COUNTERS: Readonly<Record<RequestAction, readonly [Counter, Counter]>> = {
  submit: ["orders", "rejections"],
  cancel: ["cancellations", "cancellationRejections"],
  modify: ["modifications", "modificationRejections"],
};

/** A symbol that has not traded yet. */
export const emptyTrading = (symbol: string): SymbolTrading => ({
  symbol,
  orders: 0,
  rejections: 0,
  cancellations: 0,
  cancellationRejections: 0,
  modifications: 0,
  modificationRejections: 0,
  fills: 0,
  tradedQuantity: 0,
  commission: 0,
  realizedPnl: 0,
  netPnl: 0,
  position: 0,
  averageCost: null,
});

/** A request kind's orders: the symbol of the first request of each order id, and rejections waiting for one. */
interface Orders {
  symbols: Map<string, string>;
  unclaimed: Map<string, number>;
}

/**
 * The figures of a run fed its events one at a time ({@link add}), in publication order. A
 * rejection counts for the symbol of the first request of its order id and kind, even one that
 * comes later; a rejection whose request the run lacks counts nowhere.
 */
export class TradingTally {
  readonly #symbols = new Map<string, { trading: SymbolTrading; pnl: PnlAccumulator }>();
  readonly #orders = new Map<string, Orders>();
  readonly #rejections: boolean;

  /**
   * With `rejections: false` rejections are not counted and no order id is kept, so that memory
   * follows the symbols, not the orders: for a caller that counts them elsewhere (the recorder,
   * from the stored run as it closes it).
   */
  constructor({ rejections = true }: { rejections?: boolean } = {}) {
    this.#rejections = rejections;
  }

  /** Takes the run's next event: a fill, request or rejection counts for its symbol; the rest change nothing. */
  add(event: Event): void {
    const role = cat.role(event.type);
    switch (role?.kind) {
      case "fill": {
        // The catalog checks that a fill names its symbol and has the fields of PnlFill.
        const s = this.#state(cat.symbolOf(event) as string);
        s.trading.fills++;
        s.pnl.add(event as unknown as PnlFill);
        return;
      }
      case "request": {
        const symbol = cat.symbolOf(event);
        if (symbol === undefined) return;
        const [counter, rejected] = COUNTERS[role.action];
        const trading = this.#state(symbol).trading;
        trading[counter]++;
        if (!this.#rejections) return;
        const orders = this.#ordersOf(event.type);
        const id = cat.orderIdOf(event) as string;
        if (orders.symbols.has(id)) return;
        orders.symbols.set(id, trading.symbol);
        trading[rejected] += orders.unclaimed.get(id) ?? 0;
        orders.unclaimed.delete(id);
        return;
      }
      case "response": {
        const request = role.answers as EventType;
        const answered = cat.role(request);
        if (!this.#rejections || role.verdict !== "rejected" || answered?.kind !== "request") {
          return;
        }
        if (cat.symbolField(request) === undefined) return;
        const orders = this.#ordersOf(request);
        const id = cat.orderIdOf(event) as string;
        const symbol = orders.symbols.get(id);
        if (symbol === undefined) orders.unclaimed.set(id, (orders.unclaimed.get(id) ?? 0) + 1);
        else (this.#symbols.get(symbol)?.trading as SymbolTrading)[COUNTERS[answered.action][1]]++;
        return;
      }
    }
  }

  /** The figures of `symbol` so far (all zero if it has not traded). */
  of(symbol: string): SymbolTrading {
    const s = this.#symbols.get(symbol);
    return s === undefined ? emptyTrading(symbol) : { ...s.trading, ...s.pnl.result };
  }

  /** The figures of every symbol that traded, sorted by symbol. */
  result(): SymbolTrading[] {
    return [...this.#symbols.keys()]
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
      .map((symbol) => this.of(symbol));
  }

  #state(symbol: string) {
    let s = this.#symbols.get(symbol);
    if (s === undefined) {
      s = { trading: emptyTrading(symbol), pnl: new PnlAccumulator() };
      this.#symbols.set(symbol, s);
    }
    return s;
  }

  #ordersOf(request: string): Orders {
    let orders = this.#orders.get(request);
    if (orders === undefined) {
      orders = { symbols: new Map(), unclaimed: new Map() };
      this.#orders.set(request, orders);
    }
    return orders;
  }
}

/** Trading per symbol of a run's events in publication order (see {@link TradingTally}). */
export function tradingFrom(events: Iterable<Event>): SymbolTrading[] {
  const tally = new TradingTally();
  for (const event of events) tally.add(event);
  return tally.result();
}
