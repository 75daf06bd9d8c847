import { PnlAccumulator, type PnlFill } from "../pnl.ts";

/** A position from flat (or from the other side) back to flat (or through zero). */
export interface RoundTrip {
  symbol: string;
  side: "LONG" | "SHORT";
  /** Largest absolute position held during the trip. */
  quantity: number;
  entryNs: bigint;
  /** null while the trip is still open at the end of the run. */
  exitNs: bigint | null;
  /** Volume-weighted price of the fills (or parts of fills) that opened or added to the position. */
  entryPrice: number;
  /** Volume-weighted price of those that reduced or closed it; null when nothing was closed. */
  exitPrice: number | null;
  /** Realised by the average-cost method, before commission. */
  grossPnl: number;
  /** Of the trip's fills; a fill that reverses the position is shared by quantity. */
  commission: number;
  /** grossPnl − commission. */
  netPnl: number;
  fills: number;
}

/** A fill with the time and symbol a trip needs. */
export interface TripFill extends PnlFill {
  symbol: string;
  ts_event_ns: bigint;
}

interface Open {
  trip: RoundTrip;
  enteredQty: number;
  exitedQty: number;
  exitValue: number;
  entryValue: number;
}

/**
 * Cuts one symbol's fills into round trips. The P&L is that of {@link PnlAccumulator} (the
 * average-cost method `inspect` uses), so the trips of a symbol add up to its realised P&L. A fill
 * that crosses zero closes the trip with the part that flattens and opens the next with the rest.
 */
export class RoundTripTracker {
  readonly pnl = new PnlAccumulator();
  readonly closed: RoundTrip[] = [];
  #open: Open | null = null;

  constructor(readonly symbol: string) {}

  /** Takes the symbol's next fill; returns the P&L it realised (before commission). */
  add(fill: TripFill): number {
    const before = this.pnl.position;
    const realized = this.pnl.add(fill);
    const after = this.pnl.position;
    // As the P&L takes it: a BUY of −4 sells 4.
    const size = Math.abs(fill.quantity_filled);
    if (size === 0) {
      if (this.#open) this.#open.trip.commission += fill.commission;
      return realized;
    }
    const reverses = before !== 0 && after !== 0 && Math.sign(after) !== Math.sign(before);
    const closing = before === 0 ? 0 : Math.min(size, Math.abs(before));
    const opening = size - closing;
    // A reversal pays its commission to both trips, in proportion to the quantity of each.
    const closeShare = reverses ? closing / size : 1;
    if (this.#open === null) {
      if (after !== 0) this.#start(fill, after, 1);
    } else {
      const open = this.#open;
      open.trip.fills++;
      open.trip.grossPnl += realized;
      open.trip.commission += fill.commission * closeShare;
      if (Math.sign(after) === Math.sign(before) && Math.abs(after) > Math.abs(before)) {
        open.enteredQty += size;
        open.entryValue += size * fill.fill_price;
        open.trip.quantity = Math.max(open.trip.quantity, Math.abs(after));
      } else {
        open.exitedQty += closing;
        open.exitValue += closing * fill.fill_price;
      }
      if (after === 0 || reverses) this.#close(fill.ts_event_ns);
      if (reverses) this.#start(fill, after, opening / size);
    }
    return realized;
  }

  /** Closed trips, then the open one (exitNs null), if any. */
  get trips(): RoundTrip[] {
    return this.#open === null ? [...this.closed] : [...this.closed, this.#snapshot(this.#open)];
  }

  #start(fill: TripFill, position: number, share: number): void {
    const quantity = Math.abs(position);
    this.#open = {
      trip: {
        symbol: this.symbol,
        side: position > 0 ? "LONG" : "SHORT",
        quantity,
        entryNs: fill.ts_event_ns,
        exitNs: null,
        entryPrice: fill.fill_price,
        exitPrice: null,
        grossPnl: 0,
        commission: fill.commission * share,
        netPnl: 0,
        fills: 1,
      },
      enteredQty: quantity,
      entryValue: quantity * fill.fill_price,
      exitedQty: 0,
      exitValue: 0,
    };
  }

  #close(at: bigint): void {
    const open = this.#open as Open;
    this.closed.push({ ...this.#snapshot(open), exitNs: at });
    this.#open = null;
  }

  #snapshot(open: Open): RoundTrip {
    const { trip } = open;
    return {
      ...trip,
      entryPrice: open.entryValue / open.enteredQty,
      exitPrice: open.exitedQty === 0 ? null : open.exitValue / open.exitedQty,
      netPnl: trip.grossPnl - trip.commission,
    };
  }
}
