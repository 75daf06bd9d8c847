import { expect, test } from "bun:test";
import { join } from "node:path";
import { diffRuns } from "../src/index.ts";
import { listSweep, renderRunReport, reportRun } from "../src/report.ts";
import { openSource, SqliteSource } from "../src/store/index.ts";
import { push } from "../src/store/push.ts";
import { rerun } from "../src/testing.ts";
import { cli } from "./cli/inprocess.ts";
import { storedRuns } from "./cli/support.ts";
import { DEMO_FEED, DEMO_STRATEGY, recordedFeed, recordSweep, tempDir } from "./helpers.ts";
import { describeWithPg } from "./pg.ts";

// Reports and re-runs read a PostgreSQL store as they read a file (test/report.test.ts and
// test/rerun.test.ts hold the file side): apart, since they start a server.
describeWithPg("reports and re-runs on a PostgreSQL store", (cluster) => {
  test("a pushed sweep lists and reports from the store exactly as from its file", async () => {
    const path = join(tempDir(), "pushed.db");
    recordSweep(path, [
      { id: "p-3", strategy: { fastPeriod: 3 } },
      { id: "p-8", strategy: { fastPeriod: 8 } },
    ]);
    expect((await push(path, cluster().url())).map((p) => p.outcome)).toEqual(["pushed", "pushed"]);
    const file = SqliteSource.open(path);
    const store = await openSource(cluster().url());
    try {
      expect(store.kind).toBe("postgres");
      const [fromFile, fromStore] = [await listSweep(file), await listSweep(store)];
      expect(fromStore.varying).toEqual(["strategy.fastPeriod"]);
      expect(fromStore.entries.map((e) => [e.runId, e.metrics])).toEqual(
        fromFile.entries.map((e) => [e.runId, e.metrics]),
      );
      const [a, b] = [await reportRun(file, "p-8"), await reportRun(store, "p-8")];
      expect(b.equity).toEqual(a.equity);
      expect(b.symbols).toEqual(a.symbols);
      expect(renderRunReport(b)).toBe(renderRunReport(a));
    } finally {
      await file.close();
      await store.close();
    }
  });

  test("a re-run's feed read through its URL gives the run a feed file gives", async () => {
    const feed = await recordedFeed();
    await push(feed.db, cluster().url());
    const result = await rerun({
      feed: { db: cluster().url(), run: feed.run },
      strategy: DEMO_STRATEGY,
    });
    expect(result.parent).toEqual({
      db: expect.stringMatching(/^postgres(ql)?:\/\//),
      run: feed.run,
    });
    expect(diffRuns(feed, result).match).toBe(true);
    const run = storedRuns(result.db as string).find((r) => r.run_id === result.run);
    expect(JSON.parse(run?.config ?? "null").seed).toBe(DEMO_FEED.seed);
  });

  test("backtest --compare on a URL feed prints what it prints for the file the feed was pushed from", async () => {
    const feed = await recordedFeed();
    await push(feed.db, cluster().url(), { replace: true }); // the test above pushed its own "demo"
    const dir = tempDir();
    const compare = async (from: string) => {
      const args = ["--feed", from, "--run", "demo", "--into", "out.db", "--compare"];
      const result = await cli(
        ["backtest", "--strategy", DEMO_STRATEGY, ...args, "--param", "fastPeriod=6"],
        dir,
      );
      expect([result.code, result.stderr]).toEqual([0, expect.stringContaining("backtest run")]);
      return result.stdout.split("\n").slice(1);
    };
    const fromFile = await compare(feed.db);
    expect(fromFile).toContain("trading figures (parent -> new run):");
    expect(await compare(cluster().url())).toEqual(fromFile);
  });
});
