/**
 * The golden-run workflow end to end, on the demo backtest. The golden is
 * test/golden/demo.ndjson; after an intended change of the strategy, rewrite it with
 *   RUNTAPE_UPDATE_GOLDEN=1 bun test test/golden.test.ts
 * and review the diff of the file like any other change.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { type DemoOptions, runDemo } from "../src/index.ts";
import { expectGolden, goldenMatchers, recordBacktest } from "../src/testing.ts";

expect.extend(goldenMatchers);

const GOLDEN = join(import.meta.dir, "golden/demo.ndjson");
const DEMO: DemoOptions = { seed: 7, bars: 120, symbols: ["AAPL", "MSFT"] };

describe("golden runs", () => {
  test("the demo backtest matches its golden run", async () => {
    const run = await recordBacktest((bus) => runDemo(bus, DEMO));
    expect(run).toMatchGolden(GOLDEN);
  });

  test("a changed strategy parameter fails, naming the first divergent event", async () => {
    const run = await recordBacktest((bus) =>
      runDemo(bus, { ...DEMO, strategy: { fastPeriod: 6 } }),
    );
    let message = "";
    try {
      expectGolden(run, GOLDEN, { update: false });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(
      /^run differs from golden .*demo\.ndjson\nfirst divergence at event #\d+ \(BarProcessed\):\n {2}indicators: /,
    );
    expect(message).toContain('"SMA_6_CLOSE"');
  });
});
