import { describeValue, RuntapeError } from "./errors.ts";
import type { Side } from "./events/catalog.ts";

/** The part of a fill that P&L needs. */
export interface PnlFill {
  side: Side;
  quantity_filled: number;
  fill_price: number;
  commission: number;
}

/** A symbol's trading result by the average-cost method, in price × quantity units. */
export interface Pnl {
  /** Signed: positive long, negative short. */
  position: number;
  /** Average entry price of the open position; null when flat. */
  averageCost: number | null;
  /** Realised P&L before commission: commission is reported on its own and in netPnl. */
  realizedPnl: number;
  /** Sum of absolute filled quantities. */
  tradedQuantity: number;
  commission: number;
  /** realizedPnl − commission. */
  netPnl: number;
}

/** P&L fed one fill at a time, in the order they happened; see {@link computePnl}. */
export class PnlAccumulator {
  #position = 0;
  #cost = 0;
  #realized = 0;
  #traded = 0;
  #commission = 0;
  // How far rounding may have moved the position since it was last flat: each addition rounds
  // by at most an ulp of its larger operand. A position within it is float dust (0.1 + 0.2 − 0.3).
  #rounding = 0;
  /** Fills taken: the index of the next one, which an error about it names. */
  #fills = 0;

  /**
   * Takes the next fill; returns the P&L it realised (before commission). Throws RuntapeError
   * (INVALID_OPTION) naming the fill's index and field where the side is not "BUY" or "SELL" or a
   * number is none or NaN: "buy" counted as a sell, a string quantity was concatenated, a NaN made
   * every figure NaN. A refused fill changes nothing.
   */
  add(fill: PnlFill): number {
    // A few comparisons per fill: the report adds every fill of a run through here. An infinite
    // price is let through: a foreign file may hold one, and its figures are then infinite.
    if (
      (fill?.side !== "BUY" && fill?.side !== "SELL") ||
      !isNumber(fill.quantity_filled) ||
      !isNumber(fill.fill_price) ||
      !isNumber(fill.commission)
    ) {
      throw invalidFill(fill, this.#fills);
    }
    this.#fills++;
    const q = fill.side === "BUY" ? fill.quantity_filled : -fill.quantity_filled;
    this.#traded += Math.abs(q);
    this.#commission += fill.commission;
    if (q === 0) return 0;
    const held = Math.abs(this.#position);
    let realized = 0;
    if (held === 0 || Math.sign(this.#position) === Math.sign(q)) {
      const total = held + Math.abs(q);
      const cost = (this.#cost * held + fill.fill_price * Math.abs(q)) / total;
      // Prices near the float limit overflow those products: the same mean by weights instead.
      this.#cost = Number.isFinite(cost)
        ? cost
        : this.#cost * (held / total) + fill.fill_price * (Math.abs(q) / total);
    } else {
      const closed = Math.min(Math.abs(q), held);
      realized = closed * (fill.fill_price - this.#cost) * Math.sign(this.#position);
      this.#realized += realized;
      if (Math.abs(q) > closed) this.#cost = fill.fill_price;
    }
    this.#rounding += Number.EPSILON * Math.max(held, Math.abs(q));
    this.#position += q;
    if (Math.abs(this.#position) <= this.#rounding) {
      this.#position = 0;
      this.#rounding = 0;
    }
    return realized;
  }

  /** Signed open position: positive long, negative short. */
  get position(): number {
    return this.#position;
  }

  /** P&L of the open position marked at `price`: what closing it there would realise. */
  unrealizedAt(price: number): number {
    return this.#position === 0 ? 0 : this.#position * (price - this.#cost);
  }

  /** The figures of the fills taken so far, with the open position and its average cost. */
  get result(): Pnl {
    const position = this.#position;
    return {
      position,
      averageCost: position === 0 ? null : this.#cost,
      realizedPnl: this.#realized,
      tradedQuantity: this.#traded,
      commission: this.#commission,
      netPnl: this.#realized - this.#commission,
    };
  }
}

/** A number a figure can come from: NaN says nothing, an infinity still orders and sums. */
const isNumber = (x: unknown): x is number => typeof x === "number" && !Number.isNaN(x);

/** What is wrong with the fill at `index`, found only once it is known to be refused. */
function invalidFill(fill: unknown, index: number): RuntapeError {
  const at = `fills[${index}]`;
  if (typeof fill !== "object" || fill === null) {
    return new RuntapeError(
      `${at}: expected a fill object (got ${describeValue(fill)})`,
      "INVALID_OPTION",
    );
  }
  const { side, ...numbers } = fill as Record<string, unknown>;
  let problem: [string, unknown, string] = ["side", side, 'expected "BUY" or "SELL"'];
  if (side === "BUY" || side === "SELL") {
    const name = ["quantity_filled", "fill_price", "commission"].find(
      (key) => !isNumber(numbers[key]),
    ) as string;
    problem = [name, numbers[name], "expected a number"];
  }
  const [field, value, reason] = problem;
  return new RuntapeError(
    `${at}.${field}: ${reason} (got ${describeValue(value)})`,
    "INVALID_OPTION",
  );
}

/**
 * Realised P&L of fills in the order they happened, by the average-cost method: a fill that adds
 * to the position moves its average cost; one that reduces it realises (price − average cost) per
 * unit closed, with the position's sign; one that crosses zero realises on the part that closes
 * and opens the rest at its own price. Partial fills are just smaller fills. A fill whose side is
 * not "BUY" or "SELL", or whose quantity, price or commission is not a finite number, throws
 * RuntapeError (INVALID_OPTION) naming its index and field (`fills[3].side: …`).
 */
export function computePnl(fills: Iterable<PnlFill>): Pnl {
  if (typeof (fills as Partial<Iterable<PnlFill>> | null)?.[Symbol.iterator] !== "function") {
    throw new RuntapeError(
      `computePnl: expected an iterable of fills (got ${describeValue(fills)})`,
      "INVALID_OPTION",
    );
  }
  const pnl = new PnlAccumulator();
  for (const fill of fills) pnl.add(fill);
  return pnl.result;
}
