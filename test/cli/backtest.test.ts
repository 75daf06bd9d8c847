import { beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers.ts";
import { cli } from "./inprocess.ts";
import { binary } from "./run.ts";
import { databaseBytes, expectCollections, lines, storedRuns } from "./support.ts";

const DEMO_STRATEGY = join(import.meta.dir, "../../src/sim/strategy.ts");
const RECORD = [
  "record",
  "runs.db",
  "--run-id",
  "demo-1",
  "--bars",
  "150",
  "--symbols",
  "AAPL,MSFT",
];

let dir = "";
beforeAll(async () => {
  dir = tempDir();
  expect((await cli(RECORD, dir)).code).toBe(0);
});

/** `runtape backtest --strategy <the demo's> args…` in `cwd`. */
const backtest = (args: string[], cwd = dir) =>
  cli(["backtest", "--strategy", DEMO_STRATEGY, ...args], cwd);

const configOf = (runId: string, db = join(dir, "runs.db")) =>
  JSON.parse(storedRuns(db).find((r) => r.run_id === runId)?.config ?? "null");

describe("runtape backtest", () => {
  test.each([["in line"], ["--thread"]])(
    "the demo strategy on its recorded feed (%s): the run id, then decisions that match",
    async (how) => {
      const thread = how === "--thread" ? [how] : [];
      const result = await backtest([
        "--feed",
        "runs.db",
        "--run",
        "demo-1",
        "--compare",
        ...thread,
      ]);
      expect([result.code, result.stderr]).toEqual([0, expect.stringContaining("backtest run")]);
      const [id, ...report] = lines(result.stdout);
      expect(report).toEqual([
        expect.stringMatching(/^decisions match \([\d,]+ decisions\)$/),
        "trading figures unchanged",
      ]);
      const run = storedRuns(join(dir, "runs.db")).find((r) => r.run_id === id);
      expect(run?.status).toBe("completed");
      expect(configOf(id as string).lineage.parent_run_id).toBe("demo-1");
    },
  );

  test("one parameter changed: --compare names the first divergent decision and the changed figures", async () => {
    const result = await backtest([
      "--feed",
      "runs.db",
      "--compare",
      "--param",
      "fastPeriod=6",
      "--param=signal=x",
    ]);
    expect(result.code).toBe(0);
    const [id, first, ...rest] = lines(result.stdout);
    expect(first).toMatch(/^first divergence at decision #\d+/);
    expect(rest).toContain("trading figures (parent -> new run):");
    expect(rest.some((l) => /^ {2}(AAPL|MSFT): .*realised P&L/.test(l))).toBe(true);
    expect(configOf(id as string).lineage.params).toEqual({ fastPeriod: 6, signal: "x" });
  });

  test("--param parses decimal numbers only, and keeps integers beyond 2^53 exact", async () => {
    const here = tempDir();
    const params = ["big=12345678901234567890", "hex=0x10", "bin=0b11", "inf=Infinity", "x=-1.5e3"];
    const result = await backtest(["--bars", "5", ...params.flatMap((p) => ["--param", p])], here);
    expect(result.code).toBe(0);
    const id = lines(result.stdout)[0];
    const config = storedRuns(join(here, "runs.db")).find((r) => r.run_id === id)?.config;
    expect(config).toContain(
      '"params":{"big":12345678901234567890,"hex":"0x10","bin":"0b11","inf":"Infinity","x":-1500}',
    );
  });

  test("without --feed: the demo feed, recorded into ./runs.db; broker flags in the config", async () => {
    const here = tempDir();
    const flags = ["--bars", "40", "--seed", "5", "--broker-commission", "0.02"];
    const result = await backtest([...flags, "--broker-expiry-bars", "3"], here);
    expect(result.code).toBe(0);
    const config = configOf(lines(result.stdout)[0] as string, join(here, "runs.db"));
    expect(config).toMatchObject({
      seed: 5,
      broker: { commissionPerUnit: 0.02, expiryBars: 3 },
      feed: { demo: { bars: 40 } },
      lineage: { parent_run_id: null },
    });
  });

  test("asks for a full collection per batch stored, as record does (the recorder's collectGarbage)", async () => {
    const here = tempDir();
    // The demo feed of 8,500 bar times of one symbol: past one batch of 16,384 events.
    await expectCollections(join(here, "runs.db"), () =>
      backtest(["--bars", "8500", "--symbols", "AAA"], here),
    );
  });

  test("usage errors exit 2 and record nothing; a missing strategy exits 1 recording nothing, a throwing one its run failed", async () => {
    const usage: [string[], string][] = [
      [["--param", "fastPeriod"], "--param takes KEY=VALUE"],
      [["--param", "  =1"], `--param: a parameter's name cannot be blank (got "  =1")`],
      [["--param", "x=1e400"], "--param x: 1e400 is beyond the range of a double"],
      [["--compare"], "--compare needs --feed"],
      [["--run", "demo-1"], "--run needs --feed"],
      [["--broker-commission", "cheap"], "--broker-commission takes a number"],
      [["--broker-commission", "0x10"], '--broker-commission takes a number (got "0x10")'],
      [["--broker-commission", "-1"], '--broker-commission takes a number ≥ 0 (got "-1")'],
      [["--broker-participation", "2"], "--broker-participation takes a number > 0 and ≤ 1"],
      [["--broker-expiry-bars", "1.5"], "--broker-expiry-bars takes a whole number ≥ 1"],
      [["--feed", "runs.db", "--bars", "5"], "--bars applies to the demo feed"],
      [["--into", "postgres://db.example/runs"], "is a store URL, not a runs database file"],
    ];
    const before = storedRuns(join(dir, "runs.db")).length;
    for (const [args, message] of usage) {
      const result = await backtest(args);
      expect([args, result.code, result.stderr]).toEqual([
        args,
        2,
        expect.stringContaining(message),
      ]);
    }
    expect((await cli(["backtest"], dir)).code).toBe(2);
    const empty = await cli(["backtest", "--strategy", ""], dir);
    expect([empty.code, lines(empty.stderr)]).toEqual([2, ["runtape: --strategy needs a file"]]);
    expect(storedRuns(join(dir, "runs.db")).length).toBe(before);

    const bytes = databaseBytes(join(dir, "runs.db"));
    const missing = await cli(
      ["backtest", "--strategy", "nowhere.ts", "--feed", "runs.db", "--run-id", "bad"],
      dir,
    );
    expect([missing.code, lines(missing.stderr)]).toEqual([
      1,
      ["runtape: strategy nowhere.ts: no such file"],
    ]);
    expect(databaseBytes(join(dir, "runs.db"))).toEqual(bytes);

    const throwing = join(tempDir(), "throwing.js");
    writeFileSync(throwing, 'export default () => { throw new Error("no broker"); };');
    const failed = await cli(
      ["backtest", "--strategy", throwing, "--feed", "runs.db", "--run-id", "bad"],
      dir,
    );
    expect([failed.code, lines(failed.stderr)]).toEqual([
      1,
      [`runtape: strategy ${throwing}: threw while starting: no broker (run bad is marked failed)`],
    ]);
    const bad = storedRuns(join(dir, "runs.db")).find((r) => r.run_id === "bad");
    expect([bad?.status, JSON.parse(bad?.metadata ?? "{}").error]).toEqual([
      "failed",
      `strategy ${throwing}: threw while starting: no broker`,
    ]);
  });

  test("a mistyped strategy leaves no run behind, and the default feed run skips runs that failed", async () => {
    const here = tempDir();
    expect((await cli(RECORD, here)).code).toBe(0);
    const typo = await cli(["backtest", "--strategy", "strategy.ts", "--feed", "runs.db"], here);
    expect([typo.code, lines(typo.stderr)]).toEqual([
      1,
      ["runtape: strategy strategy.ts: no such file"],
    ]);
    const throwing = join(here, "throwing.js");
    writeFileSync(throwing, 'export default () => { throw new Error("no broker"); };');
    expect((await cli(["backtest", "--strategy", throwing, "--feed", "runs.db"], here)).code).toBe(
      1,
    );
    const fixed = await backtest(["--feed", "runs.db", "--compare"], here);
    expect([fixed.code, lines(fixed.stdout).slice(1)]).toEqual([
      0,
      [
        expect.stringMatching(/^decisions match \([1-9][\d,]* decisions\)$/),
        "trading figures unchanged",
      ],
    ]);
    expect(
      configOf(lines(fixed.stdout)[0] as string, join(here, "runs.db")).lineage.parent_run_id,
    ).toBe("demo-1");
  });

  test("a feed run without bars to replay is refused before any run is made", async () => {
    const here = tempDir();
    expect((await cli(RECORD, here)).code).toBe(0);
    const bytes = databaseBytes(join(here, "runs.db"));
    const refused = await backtest(["--feed", "runs.db", "--types", "BarProcessed"], here);
    expect([refused.code, refused.stdout, lines(refused.stderr)]).toEqual([
      1,
      "",
      [
        "runtape: run demo-1 has no BarReceived events to replay (the types replayed: BarProcessed)",
      ],
    ]);
    expect(databaseBytes(join(here, "runs.db"))).toEqual(bytes);
  });

  test("--log shows the strategy's ctx.log lines on stderr; without it they are dropped", async () => {
    const file = join(tempDir(), "chatty.js");
    await Bun.write(
      file,
      'export default (ctx) => ctx.bus.subscribe("BarReceived", (bar) => ctx.log("bar " + bar.symbol + " " + ctx.params.tag));',
    );
    const args = [
      "backtest",
      "--strategy",
      file,
      "--bars",
      "2",
      "--symbols",
      "X",
      "--param",
      "tag=t",
    ];
    const quiet = await cli(args, tempDir());
    const chatty = await cli([...args, "--log"], tempDir());
    expect([quiet.code, chatty.code]).toEqual([0, 0]);
    expect(quiet.stderr).not.toContain("bar X");
    expect(lines(chatty.stderr).filter((l) => l.includes("bar X t"))).toHaveLength(2);
  });

  test("the compiled binary, copied elsewhere, runs a strategy module from a folder outside the repository", async () => {
    const [bin, strategies, work] = [tempDir(), tempDir(), tempDir()];
    const exe = join(bin, "runtape");
    copyFileSync(await binary(), exe);
    // The demo strategy imports only types, which are erased: the file needs nothing beside it.
    copyFileSync(DEMO_STRATEGY, join(strategies, "crossover.ts"));
    const run = async (args: string[]) => {
      const proc = Bun.spawn([exe, ...args], { cwd: work, stdout: "pipe", stderr: "pipe" });
      const [stdout, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
      return { code, stdout };
    };
    expect((await run(RECORD)).code).toBe(0);
    const strategy = join(strategies, "crossover.ts");
    const result = await run([
      "backtest",
      "--strategy",
      strategy,
      "--feed",
      "runs.db",
      "--compare",
    ]);
    expect([result.code, lines(result.stdout).slice(1)]).toEqual([
      0,
      [expect.stringMatching(/^decisions match/), "trading figures unchanged"],
    ]);
    rmSync(bin, { recursive: true, force: true }); // a 100 MB copy
  });
});
