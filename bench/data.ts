/** The events the benchmarks publish: generated on the fly, so the data itself takes no memory. */
import type { Event } from "../src/index.ts";

const T0 = 1_709_562_600_000_000_000n;
const CREATED = 1_795_000_000_000_000_000n;
const SYMBOLS = ["AAPL", "MSFT", "NVDA", "AMZN"];

/** The i-th bar of a long minute-bar run over four symbols. */
export function barAt(i: number): Event {
  const price = 100 + (i % 1000) / 10;
  return {
    type: "BarReceived",
    ts_event_ns: T0 + BigInt(i >> 2) * 60_000_000_000n,
    ts_created_ns: CREATED + BigInt(i),
    symbol: SYMBOLS[i & 3] as string,
    bar_period: "MINUTE",
    open: price,
    high: price + 0.5,
    low: price - 0.5,
    close: price + 0.25,
    volume: BigInt(1000 + (i % 5000)),
  };
}

/**
 * The i-th event of a realistic mix: per 20 events, 8 bars and 8 processed bars, an order, its
 * acceptance, a fill, and one of the rarer types in turn, so that all 13 types occur.
 */
export function mixedAt(i: number): Event {
  const slot = i % 20;
  const bar = barAt(i) as Event & { type: "BarReceived" };
  if (slot < 8) return bar;
  if (slot < 16) {
    return {
      ...bar,
      type: "BarProcessed",
      indicators: {
        SMA_5: bar.close - 0.1,
        SMA_20: i < 400 ? Number.NaN : bar.close + 0.2,
        RSI_14: 55.5,
      },
    };
  }
  const at = { ts_event_ns: bar.ts_event_ns, ts_created_ns: bar.ts_created_ns };
  const broker = { ...at, ts_broker_ns: bar.ts_event_ns };
  const id = `order-${i - slot}`;
  switch (slot) {
    case 16:
      return {
        ...at,
        type: "OrderSubmissionRequest",
        system_order_id: id,
        symbol: bar.symbol,
        order_type: "LIMIT",
        side: "BUY",
        quantity: 10,
        limit_price: bar.close,
        stop_price: null,
        action: "ENTRY_LONG",
        signal: "bench",
      };
    case 17:
      return {
        ...broker,
        type: "OrderAccepted",
        associated_order_id: id,
        broker_order_id: `B-${i}`,
      };
    case 18:
      return {
        ...broker,
        type: "FillEvent",
        associated_order_id: id,
        broker_order_id: `B-${i}`,
        symbol: bar.symbol,
        fill_id: `F-${i}`,
        broker_fill_id: null,
        side: "BUY",
        quantity_filled: 10,
        fill_price: bar.close,
        commission: 1,
        exchange: "SIMULATED",
      };
    default:
      return rare(((i / 20) % 10) | 0, id, at, broker, bar.symbol);
  }
}

function rare(
  k: number,
  id: string,
  at: { ts_event_ns: bigint; ts_created_ns: bigint },
  broker: typeof at & { ts_broker_ns: bigint },
  symbol: string,
): Event {
  const rejected = {
    ...broker,
    associated_order_id: id,
    rejection_reason: "UNKNOWN" as const,
    rejection_message: "bench",
  };
  const accepted = { ...broker, associated_order_id: id, broker_order_id: null };
  switch (k) {
    case 0:
      return { ...at, type: "OrderCancellationRequest", system_order_id: id, symbol };
    case 1:
      return {
        ...at,
        type: "OrderModificationRequest",
        system_order_id: id,
        symbol,
        quantity: 5,
        limit_price: null,
        stop_price: null,
      };
    case 2:
      return { ...rejected, type: "OrderRejected" };
    case 3:
      return { ...accepted, type: "CancellationAccepted" };
    case 4:
      return { ...rejected, type: "CancellationRejected" };
    case 5:
      return { ...accepted, type: "ModificationAccepted" };
    case 6:
      return { ...rejected, type: "ModificationRejected" };
    default:
      return {
        ...broker,
        type: "OrderExpired",
        associated_order_id: id,
        broker_order_id: null,
        symbol,
      };
  }
}
