import type { Side } from "./events/catalog.ts";

/** The part of a fill that P&L needs. */
export interface PnlFill {
  side: Side;
  quantity_filled: number;
  fill_price: number;
  commission: number;
}

/** A symbol's trading result by the average-cost method. */
export interface Pnl {
  /** Signed: positive long, negative short. */
  position: number;
  /** Average entry price of the open position; null when flat. */
  averageCost: number | null;
  /** Realised P&L before commission. */
  realizedPnl: number;
  /** Sum of absolute filled quantities. */
  tradedQuantity: number;
  commission: number;
  /** realizedPnl − commission. */
  netPnl: number;
}

/**
 * Realised P&L of fills in the order they happened, by the average-cost method: a fill that adds
 * to the position moves its average cost; one that reduces it realises (price − average cost) per
 * unit closed; one that crosses zero realises on the part that closes and opens the rest at its
 * own price. Partial fills are just smaller fills.
 */
export function computePnl(fills: Iterable<PnlFill>): Pnl {
  let position = 0;
  let cost = 0;
  let realizedPnl = 0;
  let tradedQuantity = 0;
  let commission = 0;
  for (const fill of fills) {
    const q = fill.side === "BUY" ? fill.quantity_filled : -fill.quantity_filled;
    tradedQuantity += fill.quantity_filled;
    commission += fill.commission;
    if (position === 0 || Math.sign(position) === Math.sign(q)) {
      cost =
        (cost * Math.abs(position) + fill.fill_price * Math.abs(q)) /
        (Math.abs(position) + Math.abs(q));
      position += q;
      continue;
    }
    const closed = Math.min(Math.abs(q), Math.abs(position));
    realizedPnl += closed * (fill.fill_price - cost) * Math.sign(position);
    position += q;
    if (Math.abs(q) > closed) cost = fill.fill_price;
    else if (position === 0) cost = 0;
  }
  return {
    position,
    averageCost: position === 0 ? null : cost,
    realizedPnl,
    tradedQuantity,
    commission,
    netPnl: realizedPnl - commission,
  };
}
