import type { EventBus } from "../bus.ts";
import { BAR_PERIOD_NS, type BarPeriod } from "../events/catalog.ts";
import { makeEvent } from "../events/schemas.ts";
import type { Random } from "./random.ts";

const round = (x: number) => Math.round(x * 1e4) / 1e4;

/**
 * Synthetic bars: a seeded geometric random walk per symbol, published bar time by bar time,
 * every symbol at each time. Yields the number of bar times done after each, so that a caller
 * can report progress or pause between them.
 */
export function* publishBars(
  bus: EventBus,
  random: Random,
  options: {
    symbols: readonly string[];
    bars: number;
    barPeriod: BarPeriod;
    start: bigint;
  },
): Generator<number> {
  const prices = options.symbols.map(() => round(50 + random.next() * 450));
  const step = BAR_PERIOD_NS[options.barPeriod];
  for (let i = 0; i < options.bars; i++) {
    const ts = options.start + BigInt(i) * step;
    options.symbols.forEach((symbol, s) => {
      const open = prices[s] as number;
      const close = round(open * Math.exp(0.004 * random.normal()));
      const high = round(Math.max(open, close) * (1 + 0.002 * random.next()));
      const low = round(Math.min(open, close) * (1 - 0.002 * random.next()));
      prices[s] = close;
      bus.publish(
        makeEvent("BarReceived", {
          ts_event_ns: ts,
          symbol,
          bar_period: options.barPeriod,
          open,
          high,
          low,
          close,
          volume: BigInt(random.int(500, 5000)),
        }),
      );
    });
    yield i + 1;
  }
}
