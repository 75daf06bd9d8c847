import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pkg from "../package.json" with { type: "json" };
import {
  brokerParameters,
  compareDecisions,
  DECISION_TYPES,
  defaultCatalog,
  demoConfig,
  diffEvents,
  diffRuns,
  type Event,
  type EventOf,
  encodeEvent,
  formatComparison,
  getRun,
  listRuns,
  openRunsDb,
  RunCancelledError,
  RunNotFoundError,
  recordNdjson,
  recordRun,
  replay,
  rerun as rerunRoot,
  type Strategy,
  StrategyError,
} from "../src/index.ts";
import { expectGolden, type FeedRef, rerun } from "../src/testing.ts";
import { databaseBytes } from "./cli/support.ts";
import {
  bar,
  DEMO_FEED,
  DEMO_STRATEGY,
  rawDb,
  reading,
  recordedFeed,
  runContentHash,
  sampleOf,
  tempDir,
} from "./helpers.ts";

function stored(db: string, run: string) {
  const runsDb = openRunsDb(db);
  try {
    const row = getRun(runsDb, run);
    return {
      status: row.status,
      config: JSON.parse(row.config ?? "null"),
      metadata: JSON.parse(row.metadata ?? "null"),
    };
  } finally {
    runsDb.close();
  }
}

const sha256 = (path: string) =>
  new Bun.CryptoHasher("sha256").update(readFileSync(path)).digest("hex");

describe("rerun", () => {
  // One feed for the tests that only read it (a re-run writes into a database of its own).
  let readOnlyFeed: Promise<{ db: string; run: string }> | undefined;
  const feedToRead = () => {
    readOnlyFeed ??= recordedFeed();
    return readOnlyFeed;
  };

  test("the demo strategy module on the demo's recorded feed makes the demo's decisions, ids and all", async () => {
    const feed = await feedToRead();
    const into = join(tempDir(), "reruns.db");
    const result = await rerun({ feed, strategy: DEMO_STRATEGY, into });
    expect(result.parent).toEqual({ db: feed.db, run: "demo" });
    expect(result.summary.status).toBe("completed");
    const diff = diffRuns(feed, result); // everything but the wall clock
    expect([diff.match, diff.differing]).toEqual([true, 0]);
    expect(diff.countsB.FillEvent).toBeGreaterThan(0);
    const comparison = await compareDecisions(feed, result);
    expect([comparison.decisions.match, comparison.trading]).toEqual([true, []]);

    const lineage = {
      parent_run_id: "demo",
      parent_source: feed.db,
      strategy: DEMO_STRATEGY,
      strategy_sha256: sha256(DEMO_STRATEGY),
      params: {},
      runtape_version: pkg.version,
    };
    const run = stored(into, result.run);
    expect(run.config).toMatchObject({ mode: "backtest", seed: DEMO_FEED.seed, lineage });
    expect(run.config.broker).toEqual(demoConfig().broker);
    expect(run.metadata).toEqual({ lineage });
  });

  test("the same strategy, parameters and feed give the same events twice: nothing but the wall clock differs", async () => {
    for (const feed of [undefined, await feedToRead()]) {
      const options = { feed, strategy: DEMO_STRATEGY, params: { quantity: 300 }, demo: DEMO_FEED };
      const [a, b] = [await rerun(options), await rerun(options)];
      const diff = diffRuns(a, b, { ignore: ["ts_created_ns"] });
      expect([feed?.db, diff.match, diff.countsA.OrderSubmissionRequest > 0]).toEqual([
        feed?.db,
        true,
        true,
      ]);
    }
  });

  test("a changed parameter changes the decisions, never the market; the comparison names the first divergence", async () => {
    const feed = await feedToRead();
    const result = await rerun({ feed, strategy: DEMO_STRATEGY, params: { fastPeriod: 6 } });
    const bars = (ref: { db: string | object; run: string }) =>
      [...replay(ref.db as string, { run: ref.run, types: ["BarReceived"] })].length;
    expect(bars(result)).toBe(bars(feed));
    const comparison = await compareDecisions(feed, result);
    expect(comparison.decisions.match).toBe(false);
    const first = comparison.decisions.first;
    expect(first?.a?.type).not.toMatch(/^Bar/);
    // Every decision before it is the parent's, field for field.
    const decisions = (ref: { db: string | object; run: string }) =>
      [...replay(ref.db as string, { run: ref.run, types: DECISION_TYPES })]
        .slice(0, first?.index)
        .map(({ ts_created_ns: _, ...rest }) => rest);
    expect(decisions(result)).toEqual(decisions(feed));
    expect(comparison.trading.length).toBeGreaterThan(0);
    const text = formatComparison(comparison);
    expect(text).toContain(`first divergence at decision #${(first?.index ?? 0) + 1}`);
    expect(text).toContain("trading figures (parent -> new run):");
    // Figures as inspect and the report print them: thousands grouped, amounts with two decimals.
    const figures = text
      .slice(text.indexOf("trading figures"))
      .split("\n")
      .slice(1, -1)
      .flatMap((line) => line.split(/[:,] (?=[a-zA-Z])/).slice(1));
    expect(figures.length).toBeGreaterThan(0);
    for (const figure of figures) {
      const amount = /^(commission|realised P&L|net P&L) /.test(figure);
      const number = amount ? "-?\\d{1,3}(,\\d{3})*\\.\\d\\d" : "-?\\d{1,3}(,\\d{3})*(\\.\\d+)?";
      expect(figure).toMatch(new RegExp(`^[a-zA-Z& ]+ (${number}|-) -> (${number}|-)$`));
    }
    expect(figures.some((f) => /\d,\d/.test(f))).toBe(true);
    // Here the two sides made different kinds of decision: which each made is shown.
    expect(first?.a?.type).not.toBe(first?.b?.type);
    const [, parentLine, newLine] = text.split("\n");
    expect(parentLine).toStartWith(
      `  parent: ${first?.a?.type} ts_event_ns=${first?.a?.ts_event_ns}`,
    );
    expect(newLine).toStartWith(
      `  new run: ${first?.b?.type} ts_event_ns=${first?.b?.ts_event_ns}`,
    );
    // Each side's decision in full, from the catalog: whatever fields its type has.
    for (const [line, event] of [
      [parentLine, first?.a],
      [newLine, first?.b],
    ] as const) {
      for (const [name, field] of defaultCatalog.fields((event as Event).type)) {
        const value = (event as unknown as Record<string, unknown>)[name];
        const text = String(value);
        const shown = /\s/.test(text) ? JSON.stringify(text) : text; // "SMA cross up" quoted
        if (field.kind !== "ns" && value !== null) expect(line).toContain(` ${name}=${shown}`);
      }
    }
    expect(stored(result.db as string, result.run).config.lineage.params).toEqual({
      fastPeriod: 6,
    });
  });

  test("a comparison's text says decision on every line, however many divergences it keeps", () => {
    const order = sampleOf("OrderSubmissionRequest");
    const parent = [0, 1, 2, 3].map((i) => ({ ...order, quantity: 10 + i }));
    const run = parent.map((e, i) => (i % 2 === 0 ? { ...e, quantity: 99 } : e));
    const lines = formatComparison({
      decisions: diffEvents(parent, run, { max: 3 }),
      trading: [],
    }).split("\n");
    expect(lines.filter((l) => l.includes("divergence at"))).toEqual([
      "first divergence at decision #1 (OrderSubmissionRequest):",
      "divergence at decision #3 (OrderSubmissionRequest):",
    ]);
    expect(lines).toContain("2 decision positions differ; parent has 4 decisions, new run has 4");
    expect(lines.filter((l) => /\bevents?\b/.test(l))).toEqual([]);
    expect(formatComparison({ decisions: diffEvents(parent, parent), trading: [] })).toBe(
      "decisions match (4 decisions)\ntrading figures unchanged\n",
    );
  });

  test("a decision's text field can neither start a line of the comparison nor read as another field", () => {
    const order = sampleOf("OrderSubmissionRequest");
    const forged = { ...order, signal: "cross up\ntrading figures unchanged", quantity: 5 };
    const lines = formatComparison({
      decisions: diffEvents([forged], [sampleOf("OrderCancellationRequest")]),
      trading: [],
    }).split("\n");
    expect(lines.filter((l) => l === "trading figures unchanged")).toHaveLength(1); // its own
    expect(lines.find((l) => l.startsWith("  parent:"))).toContain(
      'signal="cross up\\ntrading figures unchanged"',
    );
  });

  test("the broker's parameters change its fills; out-of-range ones are refused", async () => {
    const fills = async (broker: Parameters<typeof brokerParameters>[0]) => {
      const run = await rerun({ strategy: DEMO_STRATEGY, demo: DEMO_FEED, broker });
      return [
        ...replay(run.db as string, { run: run.run, types: ["FillEvent"] }),
      ] as EventOf<"FillEvent">[];
    };
    const base = await fills({});
    const dearer = await fills({ commissionPerUnit: 0.05, minimumCommission: 0 });
    const whole = await fills({ participation: 1 });
    const sum = (xs: EventOf<"FillEvent">[]) => xs.reduce((n, f) => n + f.commission, 0);
    expect(sum(dearer)).toBeGreaterThan(sum(base));
    expect(whole.length).toBeLessThan(base.length); // fewer partial fills
    expect(() => brokerParameters({ participation: 2 })).toThrow(
      "broker participation: a number > 0 and ≤ 1 (got 2)",
    );
    expect(() => brokerParameters({ expiryBars: 0.5 })).toThrow("broker expiryBars: a whole");
    expect(() => brokerParameters({ commissionPerUnit: -1 })).toThrow(
      "commissionPerUnit: a number ≥ 0",
    );
    expect(() => brokerParameters({ nope: 1 } as object)).toThrow("broker nope: no such parameter");
  });

  test("the context: params, a clock on the replayed events, seeded ids, a log only when asked", async () => {
    const seen: { now: bigint; ts: bigint; fast: unknown }[] = [];
    const ids: string[] = [];
    const strategy: Strategy = (ctx) => {
      let bars = 0; // of this run: each run orders at the same bars
      ctx.bus.subscribe("BarReceived", (bar) => {
        seen.push({ now: ctx.now(), ts: bar.ts_event_ns, fast: ctx.params.fast });
        if (bars++ % 50 !== 0) return;
        const order = ctx.makeEvent("OrderSubmissionRequest", {
          ts_event_ns: ctx.now(),
          symbol: bar.symbol,
          order_type: "MARKET",
          side: "BUY",
          quantity: 1,
        });
        ids.push(order.system_order_id);
        ctx.bus.publish(order);
        ctx.log(`ordered ${bar.symbol}`);
      });
    };
    const lines: string[] = [];
    await rerun({ strategy, demo: DEMO_FEED, params: { fast: 4 }, log: (l) => lines.push(l) });
    expect(seen.length).toBe(DEMO_FEED.bars * DEMO_FEED.symbols.length);
    expect(seen.every((s) => s.now === s.ts && s.fast === 4)).toBe(true);
    expect(lines.length).toBe(ids.length);
    const first = ids.splice(0);
    await rerun({ strategy, demo: DEMO_FEED });
    expect(ids).toEqual(first); // the same seed draws the same ids
    expect(new Set(first).size).toBe(first.length);
  });

  test("aborting its signal stops the feed: the run ends cancelled with the events recorded so far", async () => {
    const abort = new AbortController();
    const into = join(tempDir(), "out.db");
    let bars = 0;
    const strategy: Strategy = (ctx) => {
      ctx.bus.subscribe("BarReceived", () => {
        if (++bars === 5) abort.abort();
      });
    };
    const demo = { bars: 10_000, symbols: ["AAPL"] };
    const options = { demo, strategy, into, runId: "stopped", signal: abort.signal };
    const error = await rerun(options).catch((e) => e);
    expect(error).toBeInstanceOf(RunCancelledError);
    expect(stored(into, "stopped").status).toBe("cancelled");
    expect(bars).toBeLessThan(demo.bars);
    expect([...replay(into, { run: "stopped" })].length).toBe(error.summary.events);
  });

  test("a factory that returns something (handlers, a generator, a value) fails its run, saying what it returned", async () => {
    const into = join(tempDir(), "out.db");
    for (const [runId, strategy, what] of [
      ["handlers", () => ({ BarReceived() {} }), "an object of BarReceived"],
      ["generator", function* () {}, "a Generator"],
      ["number", async () => 42, "42"],
    ] as const) {
      const error = await rerun({
        demo: DEMO_FEED,
        strategy: strategy as unknown as Strategy,
        into,
        runId,
      }).catch((e) => e);
      expect([error?.constructor.name, error?.message]).toEqual([
        "StrategyError",
        `strategy (function): its factory returned ${what}: a factory subscribes to ctx.bus and returns nothing (or what subscribe returns)`,
      ]);
      expect(stored(into, runId).status).toBe("failed");
    }
  });

  test("a feed of orders or the broker's answers is refused: the backtest makes those anew", async () => {
    const feed = await feedToRead();
    const into = join(tempDir(), "out.db");
    for (const types of [
      ["BarReceived", "OrderSubmissionRequest"],
      ["BarReceived", "FillEvent"],
    ] as const) {
      const error = await rerun({
        feed: { ...feed, types },
        strategy: DEMO_STRATEGY,
        into,
      }).catch((e) => e);
      expect([error?.code, error?.message]).toEqual([
        "INVALID_OPTION",
        `a backtest replays market data, not ${types[1]}: its strategy and broker make those anew`,
      ]);
    }
    expect(existsSync(into)).toBe(false);
    // Market data of every kind is a feed.
    const processed = await rerun({
      feed: { ...feed, types: ["BarReceived", "BarProcessed"] },
      strategy: DEMO_STRATEGY,
      into,
    });
    expect(processed.summary.status).toBe("completed");
  });

  test("a directory given as the strategy is named as one", async () => {
    const dir = tempDir();
    const error = await rerun({ demo: DEMO_FEED, strategy: dir }).catch((e) => e);
    expect([error?.constructor.name, error?.message]).toEqual([
      "StrategyError",
      `strategy ${dir}: is a directory, not a module`,
    ]);
  });

  const unloadable: [string, string | null, RegExp][] = [
    ["missing.ts", null, /^strategy \S+missing\.ts: no such file$/],
    ["nofactory.ts", "export const x = 1;", /: the default export must be a factory/],
    [
      "loadthrow.ts",
      'throw new Error("no config here");\nexport default () => {};',
      /: failed to load: no config here$/,
    ],
    ["syntax.ts", "export default (", /: failed to load: /],
  ];
  // The recorded feed of both describe blocks below: each writes into it, runs of its own.
  let shared: Promise<{ db: string; run: string }> | undefined;

  describe("a strategy that cannot be loaded: StrategyError naming the file, before any run is made", () => {
    test.each(unloadable)("%s", async (name, source, message) => {
      shared ??= recordedFeed();
      const feed = await shared;
      const file = join(tempDir(), name);
      if (source !== null) writeFileSync(file, source);
      const feedBytes = databaseBytes(feed.db);
      const elsewhere = join(tempDir(), "out.db");
      for (const into of [elsewhere, feed.db]) {
        const error = await rerun({ feed, strategy: file, into, runId: name }).catch((e) => e);
        expect(error).toBeInstanceOf(StrategyError);
        expect(error.message).toMatch(message);
        expect(error.message).toContain(file);
      }
      expect(existsSync(elsewhere)).toBe(false);
      expect(databaseBytes(feed.db)).toEqual(feedBytes);
    });
  });

  describe("a strategy that throws: StrategyError naming the file, the run failed with the error in its metadata, the feed untouched", () => {
    const cases: [string, string, RegExp][] = [
      [
        "startthrow.ts",
        'export default () => { throw new Error("bad start"); };',
        /: threw while starting: bad start$/,
      ],
      [
        "eventthrow.ts",
        'export default (ctx) => { let n = 0; ctx.bus.subscribe("BarReceived", (bar) => { if (++n === 7) throw new Error("no price for " + bar.symbol); }); };',
        /^strategy \S+eventthrow\.ts on BarReceived AAPL at ts_event_ns 1709562780000000000: no price for AAPL$/,
      ],
      [
        "asyncthrow.ts",
        'export default (ctx) => { let n = 0; ctx.bus.subscribe("BarReceived", async () => { await null; if (++n === 7) throw new Error("late price"); }); };',
        /^strategy \S+asyncthrow\.ts on BarReceived AAPL at ts_event_ns 1709562780000000000: late price$/,
      ],
      [
        "badevent.ts",
        'export default (ctx) => { ctx.bus.subscribe("BarReceived", () => ctx.bus.publish({ type: "OrderSubmissionRequest", foo: 1 })); };',
        /^strategy \S+badevent\.ts on BarReceived AAPL at ts_event_ns 1709562600000000000: published an invalid event: OrderSubmissionRequest\.ts_event_ns: missing \(got nothing\)$/,
      ],
      [
        "badtype.ts",
        'export default (ctx) => { ctx.makeEvent("Bogus", {}); };',
        /: threw while starting: Bogus\.type: not an event type \(got "Bogus"\)$/,
      ],
      // Not an Error: shown as what it is, where String() said "[object Object]".
      [
        "objthrow.ts",
        "export default () => { throw { message: 5 }; };",
        /: threw while starting: \{"message":5\}$/,
      ],
    ];
    test.each(cases)("%s", async (name, source, message) => {
      shared ??= recordedFeed();
      const feed = await shared;
      const file = join(tempDir(), name);
      writeFileSync(file, source);
      const feedBytes = databaseBytes(feed.db);
      for (const into of [join(tempDir(), "out.db"), feed.db]) {
        const parentBefore = runContentHash(feed.db, feed.run);
        const error = await rerun({ feed, strategy: file, into, runId: name }).catch((e) => e);
        expect(error).toBeInstanceOf(StrategyError);
        expect(error.message).toMatch(message);
        expect(error.message).toContain(file);
        const run = stored(into, name);
        expect(run.status).toBe("failed");
        expect(run.metadata.error).toBe(error.message);
        expect(run.metadata.lineage).toMatchObject({
          parent_run_id: "demo",
          strategy_sha256: sha256(file),
        });
        if (into !== feed.db) expect(databaseBytes(feed.db)).toEqual(feedBytes);
        expect(runContentHash(feed.db, feed.run)).toBe(parentBefore);
      }
    });
  });

  test("runtape/testing: a re-run on a recorded feed against a golden, in a few lines", async () => {
    const feed = await feedToRead();
    const golden = join(tempDir(), "crossover.ndjson");
    expectGolden(await rerun({ feed, strategy: DEMO_STRATEGY }), golden, { update: true });
    expectGolden(await rerun({ feed, strategy: DEMO_STRATEGY }), golden);
    const changed = await rerun({ feed, strategy: DEMO_STRATEGY, params: { rsiPeriod: 10 } });
    expect(() => expectGolden(changed, golden)).toThrow(
      "first divergence at event #2 (BarProcessed)",
    );
  });

  test("by default the feed is its newest completed run; one without bars to replay throws before any run is made", async () => {
    const feed = await recordedFeed();
    const ids = () => reading(feed.db, (db) => listRuns(db).map((r) => r.run_id));
    // Newer than the demo: a run that failed after one bar, and one that completed with no bar.
    await recordRun(feed.db, { runId: "broken" }, (bus) => {
      bus.publish(bar(0));
      throw new Error("feed lost");
    }).catch(() => {});
    expect((await rerun({ feed: { db: feed.db }, strategy: DEMO_STRATEGY })).parent).toEqual({
      db: feed.db,
      run: "demo",
    });
    await recordNdjson(feed.db, [`${encodeEvent(sampleOf("FillEvent"))}\n`], { runId: "fills" });

    const into = join(tempDir(), "out.db");
    const refused: [FeedRef, string][] = [
      [{ db: feed.db }, "run fills has no BarReceived events to replay"],
      [{ db: feed.db, run: "fills" }, "run fills has no BarReceived events to replay"],
      [
        { db: feed.db, run: "demo", types: ["BarProcessed"] },
        "run demo has no BarReceived events to replay (the types replayed: BarProcessed)",
      ],
    ];
    for (const [ref, message] of refused) {
      const error = await rerun({ feed: ref, strategy: DEMO_STRATEGY, into }).catch((e) => e);
      expect([ref, error.code, error.message]).toEqual([ref, "EMPTY_FEED", message]);
    }
    expect(existsSync(into)).toBe(false);
    expect(ids()).toEqual(["fills", "broken", "demo"]);
  });

  test("a missing feed or feed run throws before any run is made", async () => {
    const feed = await feedToRead();
    const into = join(tempDir(), "out.db");
    const missingRun = rerun({ feed: { db: feed.db, run: "nope" }, strategy: DEMO_STRATEGY, into });
    expect(missingRun).rejects.toBeInstanceOf(RunNotFoundError);
    await missingRun.catch(() => {});
    const missingDb = rerun({
      feed: { db: join(tempDir(), "none.db") },
      strategy: DEMO_STRATEGY,
      into,
    });
    expect(missingDb).rejects.toThrow("no runs database");
    await missingDb.catch(() => {});
    const db = rawDb(feed.db);
    try {
      expect(db.query("SELECT run_id FROM runs").all()).toEqual([{ run_id: "demo" }]);
    } finally {
      db.close();
    }
    expect(await Bun.file(into).exists()).toBe(false);
  });

  test("a seed that is no whole number from 0 to 4294967295 is refused before any run is made", async () => {
    const into = join(tempDir(), "out.db");
    for (const seed of [Number.NaN, Number.POSITIVE_INFINITY, 1.5, -1.5, -1, 2 ** 32, "7"]) {
      for (const run of [rerunRoot, rerun]) {
        const error = await run({
          demo: DEMO_FEED,
          strategy: DEMO_STRATEGY,
          seed: seed as number,
          into,
        }).catch((e) => e);
        expect([error?.code, error?.message]).toEqual([
          "INVALID_OPTION",
          `rerun option seed: expected a whole number from 0 to 4294967295 (got ${typeof seed === "string" ? `"${seed}"` : seed})`,
        ]);
      }
    }
    expect(existsSync(into)).toBe(false);
    // The ends of the range are seeds, recorded as given.
    for (const seed of [0, 2 ** 32 - 1]) {
      const result = await rerun({
        demo: { ...DEMO_FEED, bars: 5 },
        strategy: DEMO_STRATEGY,
        seed,
      });
      expect(stored(result.db as string, result.run).config.seed).toBe(seed);
    }
  });

  test("a strategy that is neither a path nor a function is refused before any run is made", async () => {
    const into = join(tempDir(), "out.db");
    const namespace = await import(DEMO_STRATEGY);
    const refused: [unknown, string][] = [
      [5, "got 5"],
      [undefined, "got nothing"],
      [null, "got null"],
      [namespace, "a module's namespace: pass its default export"],
    ];
    for (const [strategy, got] of refused) {
      for (const run of [rerunRoot, rerun]) {
        const error = await run({ demo: DEMO_FEED, strategy: strategy as Strategy, into }).catch(
          (e) => e,
        );
        expect([error?.code, error?.message]).toEqual([
          "INVALID_OPTION",
          `rerun option strategy: expected a strategy module's path or a factory function (${got})`,
        ]);
      }
    }
    for (const run of [rerunRoot, rerun]) {
      // A misspelt option is refused, not dropped for its default.
      const misspelt = { demo: DEMO_FEED, strategy: DEMO_STRATEGY, into, seeds: 3 } as never;
      const unknown = await run(misspelt).catch((e) => e);
      expect([unknown?.code, unknown?.message]).toEqual([
        "INVALID_OPTION",
        "rerun option seeds: no such option (did you mean seed?)",
      ]);
      const error = await run({} as never).catch((e) => e);
      expect(error?.code).toBe("INVALID_OPTION");
      expect(error?.message).toStartWith("rerun option strategy: ");
      // So is one inside feed, which would replay the newest completed run instead of the one named.
      const feeds: [unknown, string][] = [
        [{ db: into, rn: "f3-s30" }, "feed.rn: no such option (did you mean feed.run?)"],
        [{ db: into, Types: [] }, "feed.Types: no such option (did you mean feed.types?)"],
        [{ run: "x" }, "feed.db: expected a runs database path or a postgres:// URL (got nothing)"],
        [{ db: into, run: 3 }, 'feed.run: expected a run id or "latest"'],
        [into, `feed: expected an object { db, run?, types? } (got ${JSON.stringify(into)})`],
      ];
      for (const [feed, message] of feeds) {
        const refused = await run({ feed, strategy: DEMO_STRATEGY } as never).catch((e) => e);
        expect([refused?.code, refused?.message]).toEqual([
          "INVALID_OPTION",
          `rerun option ${message}`,
        ]);
      }
    }
    expect(existsSync(into)).toBe(false);
  });

  test("the root entry point's rerun without `into` leaves no temporary folder behind", async () => {
    // A process of its own with a temporary folder of its own: what is left in it is left for good.
    const tmp = tempDir();
    const script = `
      import { existsSync } from "node:fs";
      import { replay, rerun } from ${JSON.stringify(join(import.meta.dir, "../src/index.ts"))};
      const demo = { bars: 5, symbols: ["A"] };
      const runs = [];
      for (let i = 0; i < 12; i++) runs.push(await rerun({ strategy: ${JSON.stringify(DEMO_STRATEGY)}, demo }));
      // The result is a run to read until the process ends.
      console.log(runs.every((r) => existsSync(r.db)), [...replay(runs[0].db, { run: runs[0].run })].length > 0);
      const failing = () => { throw new Error("boom"); };
      const error = await rerun({ strategy: failing, demo }).catch((e) => e);
      console.log(error.constructor.name);
    `;
    const proc = Bun.spawn([process.execPath, "-e", script], {
      env: { ...process.env, TMPDIR: tmp },
      stderr: "pipe",
      stdout: "pipe",
    });
    const [code, stdout, stderr] = await Promise.all([
      proc.exited,
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
    ]);
    expect([code, stdout, stderr]).toEqual([0, "true true\nStrategyError\n", ""]);
    expect(readdirSync(tmp).filter((name) => name.startsWith("runtape-rerun-"))).toEqual([]);
  });
});
