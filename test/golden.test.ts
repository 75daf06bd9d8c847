/**
 * The golden-run workflow end to end, on the demo backtest. The golden is
 * test/golden/demo.ndjson; after an intended change of the strategy, rewrite it with
 *   RUNTAPE_UPDATE_GOLDEN=1 bun test test/golden.test.ts
 * and review the diff of the file like any other change.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { type DemoOptions, runDemo } from "../src/index.ts";
import { expectGolden, goldenMatchers, type RecordedRun, recordBacktest } from "../src/testing.ts";

expect.extend(goldenMatchers);

const GOLDEN = join(import.meta.dir, "golden/demo.ndjson");
const DEMO: DemoOptions = { seed: 7, bars: 120, symbols: ["AAPL", "MSFT"] };
const FAST: DemoOptions = { ...DEMO, strategy: { fastPeriod: 6 } };

const failureOf = (check: () => void): string => {
  try {
    check();
  } catch (error) {
    return (error as Error).message;
  }
  return "";
};

describe("golden runs", () => {
  test("the demo backtest matches its golden run", async () => {
    const run = await recordBacktest((bus) => runDemo(bus, DEMO));
    expect(run).toMatchGolden(GOLDEN);
  });

  test("toMatchGolden takes a run: a promise of one, or anything else, fails saying so", async () => {
    const pending = recordBacktest((bus) => runDemo(bus, DEMO));
    const promised = goldenMatchers.toMatchGolden(pending, GOLDEN);
    expect([promised.pass, promised.message()]).toEqual([
      false,
      "toMatchGolden takes a run, not a promise of one: expect(await rerun(…)) or .resolves",
    ]);
    await pending;
    expect(() => goldenMatchers.toMatchGolden("not a run", GOLDEN)).toThrow(
      'golden check: expected a run ({ db, run }) (got "not a run")',
    );
  });

  test("a changed strategy parameter fails, naming the first divergent event", async () => {
    const run = await recordBacktest((bus) => runDemo(bus, FAST));
    const message = failureOf(() => expectGolden(run, GOLDEN, { update: false }));
    expect(message).toMatch(
      /^run differs from golden .*demo\.ndjson\nfirst divergence at event #\d+ \(BarProcessed\):\n {2}indicators: /,
    );
    expect(message).toContain('"SMA_6_CLOSE"');
  });
});

describe("two runs in one database", () => {
  const dir = mkdtempSync(join(tmpdir(), "runtape-goldens-"));
  const db = join(dir, "runs.db");
  afterAll(() => rmSync(dir, { recursive: true }));
  let slow: RecordedRun;
  let fast: RecordedRun;

  test("each run is written to its own golden in update mode", async () => {
    slow = await recordBacktest((bus) => runDemo(bus, DEMO), { db });
    fast = await recordBacktest((bus) => runDemo(bus, FAST), { db });
    expect(slow.run).not.toBe(fast.run);
    expect(slow).toMatchGolden("slow.ndjson", { base: dir, update: true });
    expectGolden(fast, "fast.ndjson", { base: dir, update: true });
    expect(readFileSync(join(dir, "slow.ndjson"), "utf8")).toBe(readFileSync(GOLDEN, "utf8"));
    expect(readFileSync(join(dir, "fast.ndjson"), "utf8")).not.toBe(readFileSync(GOLDEN, "utf8"));
  });

  test("each run matches its own golden and only its own", () => {
    expect(slow).toMatchGolden(GOLDEN);
    expect(fast).toMatchGolden("fast.ndjson", { base: dir });
    // update: false, so that `bun run golden` cannot rewrite a golden from the wrong run.
    expect(slow).not.toMatchGolden("fast.ndjson", { base: dir, update: false });
    expect(fast).not.toMatchGolden(GOLDEN, { update: false });
  });
});

describe("where goldens and runs live", () => {
  test("a relative golden path starts at the test file, whatever the working directory", async () => {
    const run = await recordBacktest((bus) => runDemo(bus, DEMO));
    const cwd = process.cwd();
    process.chdir(tmpdir());
    try {
      expect(run).toMatchGolden("golden/demo.ndjson");
      expectGolden(run, "golden/demo.ndjson");
    } finally {
      process.chdir(cwd);
    }
  });

  test("update mode creates the golden's missing folders", async () => {
    const base = mkdtempSync(join(tmpdir(), "runtape-goldens-"));
    const run = await recordBacktest((bus) => runDemo(bus, DEMO));
    expectGolden(run, "a/b/demo.ndjson", { base, update: true });
    expect(readFileSync(join(base, "a/b/demo.ndjson"), "utf8")).toBe(readFileSync(GOLDEN, "utf8"));
    rmSync(base, { recursive: true });
  });

  let passed = "";
  let failed = "";
  test("a temporary database lives as long as its test", async () => {
    const ok = await recordBacktest((bus) => runDemo(bus, DEMO));
    const bad = await recordBacktest((bus) => runDemo(bus, FAST));
    passed = ok.db as string;
    failed = bad.db as string;
    expect(existsSync(passed)).toBe(true);
    expectGolden(ok, GOLDEN);
    const message = failureOf(() => expectGolden(bad, GOLDEN, { update: false }));
    expect(message).toContain(`the run is kept in ${failed}`);
  });

  test("…and is removed after it, unless its golden check failed", () => {
    expect(passed).not.toBe("");
    expect(existsSync(passed)).toBe(false);
    expect(existsSync(failed)).toBe(true);
    rmSync(dirname(failed), { recursive: true });
  });
});
