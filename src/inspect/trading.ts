import type { RunsDb } from "../db.ts";
import type { EventType } from "../events/catalog.ts";
import { PnlAccumulator, type PnlFill } from "../pnl.ts";
import { hasSequence } from "../runs.ts";
import { SEQ_COLUMN } from "../schema.ts";
import { tableOf } from "./queries.ts";

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

type Counter =
  | "orders"
  | "rejections"
  | "cancellations"
  | "cancellationRejections"
  | "modifications"
  | "modificationRejections";

/** Each request type, where its count goes, and the response that rejects it. */
const REQUESTS: readonly (readonly [EventType, Counter, EventType, Counter])[] = [
  ["OrderSubmissionRequest", "orders", "OrderRejected", "rejections"],
  ["OrderCancellationRequest", "cancellations", "CancellationRejected", "cancellationRejections"],
  ["OrderModificationRequest", "modifications", "ModificationRejected", "modificationRejections"],
];

/** The event types every row of which {@link tradingOf} reads: its symbols include theirs. */
export const TRADING_TYPES: readonly EventType[] = [
  ...REQUESTS.map(([request]) => request),
  "FillEvent",
];

const empty = (symbol: string): SymbolTrading => ({
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

/**
 * Trading per symbol, sorted by symbol: requests, rejections, fills and average-cost P&L.
 * Responses carry no symbol: a rejection takes that of its request (its associated_order_id is
 * the request's system_order_id). The rejections are read first, so that memory follows their
 * number, and the requests then claim them in one pass over the run's rows: no lookup by order id,
 * whose index spans every run (and a replayed or re-seeded run repeats its order ids).
 * A rejection whose request is missing from the run is counted nowhere.
 */
export function tradingOf(db: RunsDb, runId: string): SymbolTrading[] {
  const bySymbol = new Map<string, SymbolTrading>();
  const entry = (symbol: string) => {
    let e = bySymbol.get(symbol);
    if (e === undefined) {
      e = empty(symbol);
      bySymbol.set(symbol, e);
    }
    return e;
  };
  for (const [request, counter, rejection, rejectionCounter] of REQUESTS) {
    const rejected = new Map<string, number>();
    for (const { id } of db.sqlite
      .query(`SELECT associated_order_id AS id FROM ${tableOf(rejection)} WHERE run_id = ?`)
      .iterate(runId) as IterableIterator<{ id: string }>) {
      rejected.set(id, (rejected.get(id) ?? 0) + 1);
    }
    for (const { id, symbol } of db.sqlite
      .query(`SELECT system_order_id AS id, symbol FROM ${tableOf(request)} WHERE run_id = ?`)
      .iterate(runId) as IterableIterator<{ id: string; symbol: string }>) {
      const e = entry(symbol);
      e[counter]++;
      const n = rejected.get(id);
      if (n !== undefined) {
        e[rejectionCounter] += n;
        rejected.delete(id); // a second request for the same order must not count them again
      }
    }
  }
  const pnl = new Map<string, PnlAccumulator>();
  // Publication order matters for P&L: seq where runtape recorded it, else insertion order.
  // `+id` keeps SQLite from walking the whole table in rowid order instead of the run's index.
  const order = hasSequence(db, runId) ? SEQ_COLUMN : "+id";
  for (const fill of db.sqlite
    .query(
      `SELECT symbol, side, quantity_filled, fill_price, commission FROM ${tableOf("FillEvent")} WHERE run_id = ? ORDER BY ${order}`,
    )
    .iterate(runId) as IterableIterator<PnlFill & { symbol: string }>) {
    entry(fill.symbol).fills++;
    let acc = pnl.get(fill.symbol);
    if (acc === undefined) {
      acc = new PnlAccumulator();
      pnl.set(fill.symbol, acc);
    }
    acc.add(fill);
  }
  return [...bySymbol.values()]
    .sort((a, b) => (a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : 0))
    .map((e) => ({ ...e, ...(pnl.get(e.symbol) ?? new PnlAccumulator()).result }));
}
