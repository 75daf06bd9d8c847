import { expect, test } from "bun:test";
import { join } from "node:path";
import { SQL } from "bun";
import { catalog, EVENT_TYPES } from "../src/events/catalog.ts";
import { diffRuns } from "../src/index.ts";
import {
  compareRuns,
  listSweep,
  METRICS_VERSION,
  renderRunReport,
  reportRun,
} from "../src/report.ts";
import { openSource, PgStore, SqliteSource } from "../src/store/index.ts";
import { push } from "../src/store/push.ts";
import { removeStoredRuns } from "../src/store/remove.ts";
import { rerun } from "../src/testing.ts";
import { cli } from "./cli/inprocess.ts";
import { storedRuns } from "./cli/support.ts";
import { DEMO_FEED, DEMO_STRATEGY, recordedFeed, recordSweep, tempDir } from "./helpers.ts";
import { describeWithPg } from "./pg.ts";
import { startProxy } from "./pg-proxy.ts";

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

  test("a sweep's metrics and comparison page read its runs a batch at a time, the same as from its file", async () => {
    const path = join(tempDir(), "sweep.db");
    const runs = Array.from({ length: 16 }, (_, i) => ({
      id: `sweep-${i}`,
      strategy: { fastPeriod: 2 + (i % 4), slowPeriod: 10 + Math.floor(i / 4) },
    }));
    recordSweep(path, runs);
    const url = await cluster().createDatabase("sweep_batches");
    await push(path, url);
    const proxy = startProxy(cluster());
    const file = SqliteSource.open(path);
    const store = await openSource(proxy.url("sweep_batches"));
    try {
      proxy.reset();
      const [fromFile, fromStore] = [await listSweep(file), await listSweep(store)];
      // Alone, each run took a statement for its id, one for its bookkeeping row and one a table
      // (262 for these 16 runs); together, the batch's statements are the same few whatever its runs.
      expect(proxy.statements()).toBeLessThan(4 * runs.length);
      expect(fromStore.entries.map((e) => [e.runId, e.metrics])).toEqual(
        fromFile.entries.map((e) => [e.runId, e.metrics]),
      );
      proxy.reset();
      const page = await compareRuns(store);
      expect(proxy.statements()).toBeLessThan(4 * runs.length);
      expect(page).toBe(await compareRuns(file));
    } finally {
      await file.close();
      await store.close();
      proxy.stop();
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

  // The metrics a listing computes are kept in the store (runtape_run_metrics), as a file keeps
  // them: test/report.test.ts holds the file side.
  const metricsOf = async (url: string) =>
    (await listSweep(url)).entries.map((e) => [e.runId, e.metrics] as const);
  const byId = async (url: string): Promise<Record<string, unknown>> =>
    Object.fromEntries(await metricsOf(url));
  const cachedRows = async (raw: SQL) =>
    (await raw`SELECT run_id, version FROM runtape_run_metrics ORDER BY run_id, version`).map(
      (r: { run_id: string; version: number }) => [r.run_id, r.version],
    );
  const rawSql = (database: string) =>
    new SQL({ path: cluster().dir, username: "runtape", database, max: 1 });

  test("a listing keeps each run's metrics in the store: the next one reads no event", async () => {
    const url = await cluster().createDatabase("metrics_cache");
    const path = join(tempDir(), "sweep.db");
    recordSweep(path, [
      { id: "m-3", strategy: { fastPeriod: 3 } },
      { id: "m-5", strategy: { fastPeriod: 5 } },
      { id: "m-8", strategy: { fastPeriod: 8 } },
    ]);
    await push(path, url);
    const fromFile = await metricsOf(path);
    // Two machines listing at once: both answer, one row per run.
    const [first, second] = await Promise.all([metricsOf(url), metricsOf(url)]);
    expect(first).toEqual(fromFile);
    expect(second).toEqual(fromFile);
    const raw = rawSql("metrics_cache");
    try {
      expect(await cachedRows(raw)).toEqual([
        ["m-3", METRICS_VERSION],
        ["m-5", METRICS_VERSION],
        ["m-8", METRICS_VERSION],
      ]);
      // Without the events, only the cache can answer: with the metrics computed, exactly.
      for (const type of EVENT_TYPES) await raw.unsafe(`DELETE FROM ${catalog[type].table}`);
      expect(await metricsOf(url)).toEqual(fromFile);
      expect(
        (await listSweep(url, { where: [{ key: "metric.total_pnl", op: "<", value: "1e12" }] }))
          .entries,
      ).toHaveLength(3);
    } finally {
      await raw.close();
    }
  });

  test("a run removed or replaced loses its cached metrics; a row of another push is never served", async () => {
    const url = await cluster().createDatabase("metrics_gone");
    const path = join(tempDir(), "sweep.db");
    recordSweep(path, [
      { id: "g-3", strategy: { fastPeriod: 3 } },
      { id: "g-5", strategy: { fastPeriod: 5 } },
      { id: "g-8", strategy: { fastPeriod: 8 } },
    ]);
    await push(path, url);
    await metricsOf(url);
    const raw = rawSql("metrics_gone");
    try {
      const store = await PgStore.open(url);
      await removeStoredRuns(store, ["g-3"]).finally(() => store.close());
      expect(await cachedRows(raw)).toEqual([
        ["g-5", METRICS_VERSION],
        ["g-8", METRICS_VERSION],
      ]);
      // g-5 replaced by the run of another parameter under the same id.
      const other = join(tempDir(), "other.db");
      recordSweep(other, [{ id: "g-5", strategy: { fastPeriod: 13 } }]);
      expect((await push(other, url, { replace: true }))[0]?.outcome).toBe("replaced");
      expect(await cachedRows(raw)).toEqual([["g-8", METRICS_VERSION]]);
      const [before, after] = [await byId(path), await byId(other)];
      expect(after["g-5"]).not.toEqual(before["g-5"]);
      const expected = { "g-5": after["g-5"], "g-8": before["g-8"] };
      expect(await byId(url)).toEqual(expected);
      // A row left by a listing that read a run's events while it was being replaced: the push it
      // names is not the run's, so it is computed again and overwritten.
      await raw`UPDATE runtape_run_metrics SET push_ordinal = push_ordinal - 1000, metrics = '{}' WHERE run_id = 'g-8'`;
      expect(await byId(url)).toEqual(expected);
      const [row] = await raw`SELECT metrics FROM runtape_run_metrics WHERE run_id = 'g-8'`;
      expect(row.metrics).not.toBe("{}");
    } finally {
      await raw.close();
    }
  });

  test("a store made before the cache lists; a reader that may not create or write it lists uncached", async () => {
    const url = await cluster().createDatabase("metrics_old");
    const path = join(tempDir(), "sweep.db");
    recordSweep(path, [
      { id: "o-3", strategy: { fastPeriod: 3 } },
      { id: "o-5", strategy: { fastPeriod: 5 } },
    ]);
    await push(path, url);
    const fromFile = await metricsOf(path);
    const raw = rawSql("metrics_old");
    const readerUrl = url.replace("//runtape@", "//metrics_reader@");
    try {
      // As the previous version made it: no cache table.
      await raw`DROP TABLE runtape_run_metrics`;
      await raw`CREATE ROLE metrics_reader LOGIN`;
      await raw`GRANT SELECT ON ALL TABLES IN SCHEMA public TO metrics_reader`;
      expect(await metricsOf(readerUrl)).toEqual(fromFile);
      expect((await raw`SELECT to_regclass('runtape_run_metrics') AS t`)[0].t).toBeNull();
      // The owner's listing creates the table; the reader reads it but may not write it.
      expect(await metricsOf(url)).toEqual(fromFile);
      await raw`DELETE FROM runtape_run_metrics WHERE run_id = 'o-3'`;
      await raw`GRANT SELECT ON runtape_run_metrics TO metrics_reader`;
      expect(await metricsOf(readerUrl)).toEqual(fromFile);
      expect(await cachedRows(raw)).toEqual([["o-5", METRICS_VERSION]]);
      // Granted the right to write it, the reader caches too.
      await raw`GRANT INSERT, UPDATE ON runtape_run_metrics TO metrics_reader`;
      expect(await metricsOf(readerUrl)).toEqual(fromFile);
      expect(await cachedRows(raw)).toEqual([
        ["o-3", METRICS_VERSION],
        ["o-5", METRICS_VERSION],
      ]);
    } finally {
      await raw.close();
    }
  });
});
