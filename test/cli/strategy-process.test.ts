/**
 * How a backtest's process ends when its strategy misbehaves in time: an error nothing awaits, a
 * timer left running, a module that never loads, a signal while it runs. Each spawns the binary
 * and some wait on it, so `npm test` runs them and the quick loop (`bun test`) leaves them out.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { counted } from "../../src/format.ts";
import { tempDir } from "../helpers.ts";
import { runtape, spawnRuntape, USER_ENV } from "./run.ts";
import { lines, storedEvents, storedRuns, until } from "./support.ts";

const DEMO_STRATEGY = join(import.meta.dir, "../../src/sim/strategy.ts");

test("a strategy's error that nothing awaits fails its run: one line naming the strategy, exit 1; one that never returns ends its run failed; both keep the lineage", async () => {
  const here = tempDir();
  const strategies = {
    "timer.ts":
      'export default (ctx) => { setTimeout(() => { throw new Error("timer boom"); }, 0); };',
    "dropped.ts":
      'export default (ctx) => { let n = 0; ctx.bus.subscribe("BarReceived", () => { if (++n === 3) Promise.reject(new Error("dropped")); }); };',
    "factory.ts": 'export default () => { Promise.reject(new Error("in the factory")); };',
    "async.ts":
      'export default (ctx) => { ctx.bus.subscribe("BarReceived", async () => { throw new Error("boom"); }); };',
    "never.ts": "export default async () => { await new Promise(() => {}); };",
  };
  for (const [name, source] of Object.entries(strategies)) writeFileSync(join(here, name), source);
  // What a backtest's metadata says of where it came from, whatever became of it.
  const lineageOf = (name: string) =>
    expect.objectContaining({
      strategy: name,
      strategy_sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
      params: {},
    });
  // Through the binary: bin/runtape.ts listens for them too, as a user's process would.
  const run = (name: string) =>
    runtape(["backtest", "--strategy", name, "--bars", "20", "--into", `${name}.db`], {
      via: "binary",
      cwd: here,
    });
  const unawaited = "an error nothing awaited (a timer's, a dropped promise's)";
  for (const [name, error] of [
    ["timer.ts", `strategy timer.ts: ${unawaited}: timer boom`],
    ["dropped.ts", `strategy dropped.ts: ${unawaited}: dropped`],
    ["factory.ts", `strategy factory.ts: ${unawaited}: in the factory`],
    ["async.ts", "strategy async.ts on BarReceived AAPL at ts_event_ns 1709562600000000000: boom"],
  ] as const) {
    const result = await run(name);
    const [stored] = storedRuns(join(here, `${name}.db`));
    const events = storedEvents(join(here, `${name}.db`), stored?.run_id as string);
    const kept = events === 0 ? "" : ` kept its first ${counted(events, "event")} and`;
    expect([name, result.code, result.stdout, lines(result.stderr)]).toEqual([
      name,
      1,
      "",
      [`runtape: ${error} (run ${stored?.run_id}${kept} is marked failed)`],
    ]);
    expect([stored?.status, JSON.parse(stored?.metadata ?? "{}")]).toEqual([
      "failed",
      { lineage: lineageOf(name), error },
    ]);
  }
  // A factory that never settles: the run is ended failed, not left running for `recover`.
  const never = await run("never.ts");
  const runId = storedRuns(join(here, "never.ts.db"))[0]?.run_id;
  expect([never.code, lines(never.stderr)]).toEqual([
    1,
    [
      `runtape: the command cannot finish: it waits on a promise that nothing will settle (a strategy's top-level await, or a promise it returned?) (run ${runId} is marked failed)`,
    ],
  ]);
  const [stalled] = storedRuns(join(here, "never.ts.db"));
  expect([stalled?.status, JSON.parse(stalled?.metadata ?? "{}")]).toEqual([
    "failed",
    {
      lineage: lineageOf("never.ts"),
      error:
        "the command cannot finish: it waits on a promise that nothing will settle (a strategy's top-level await, or a promise it returned?)",
    },
  ]);
});

test("a strategy that leaves an interval running, or a module that never loads: the command still ends", async () => {
  const here = tempDir();
  writeFileSync(
    join(here, "interval.ts"),
    "export default () => { setInterval(() => {}, 1000); };",
  );
  writeFileSync(join(here, "tla.ts"), "await new Promise(() => {});\nexport default () => {};\n");
  // Through the binary: bin/runtape.ts decides when the process ends.
  const run = (name: string) =>
    runtape(
      ["backtest", "--strategy", name, "--bars", "5", "--into", `${name}.db`, "--run-id", name],
      {
        via: "binary",
        cwd: here,
      },
    );
  // Without the fix, the first never exits: the test's own timeout fails it.
  const interval = await run("interval.ts");
  expect([interval.code, interval.stdout]).toEqual([0, "interval.ts\n"]);
  expect(storedRuns(join(here, "interval.ts.db"))).toMatchObject([{ status: "completed" }]);
  const tla = await run("tla.ts");
  expect([tla.code, lines(tla.stderr)]).toEqual([
    1,
    [
      "runtape: the command cannot finish: it waits on a promise that nothing will settle (a strategy's top-level await, or a promise it returned?)",
    ],
  ]);
  expect(existsSync(join(here, "tla.ts.db"))).toBe(false);
}, 30_000); // builds the binary when no test before did: a guard, not a timing claim
describe.each([
  ["SIGHUP", 129],
  ["SIGINT", 130],
  ["SIGTERM", 143],
] as const)("%s during backtest", (signal, code) => {
  /** Sends `signal` once the run `runId` in `cwd`/bt.db is `ready`; its exit code and output. */
  async function interrupt(args: string[], cwd: string, ready: (db: string) => boolean) {
    const proc = await spawnRuntape(["backtest", ...args, "--into", "bt.db"], {
      cwd,
      env: USER_ENV,
    });
    await until(() => ready(join(cwd, "bt.db")), "the run to begin");
    proc.kill(signal);
    const [exit, stdout, stderr] = await Promise.all([
      proc.exited,
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
    ]);
    return { exit, stdout, stderr: lines(stderr) };
  }
  const exists = (db: string) => {
    try {
      return storedRuns(db).length > 0;
    } catch {
      return false; // the file or its tables not made yet
    }
  };

  test(`while the strategy runs: the run is cancelled with the events stored so far, one line, exit ${code}`, async () => {
    const here = tempDir();
    const args = ["--strategy", DEMO_STRATEGY, "--bars", "1000000", "--run-id", "long"];
    const stopped = await interrupt(args, here, (db) => exists(db) && storedEvents(db, "long") > 0);
    const events = storedEvents(join(here, "bt.db"), "long");
    expect(stopped).toEqual({
      exit: code,
      stdout: "long\n",
      stderr: [`✖ ${signal}: backtest run long cancelled with ${counted(events, "event")}`],
    });
    expect(storedRuns(join(here, "bt.db"))).toMatchObject([
      { run_id: "long", status: "cancelled" },
    ]);
  });

  test(`while the strategy is starting: the run is cancelled, one line, exit ${code}`, async () => {
    const here = tempDir();
    const slow = join(here, "slow.ts");
    writeFileSync(
      slow,
      "export default () => new Promise(() => { setInterval(() => {}, 1000); });",
    );
    const stopped = await interrupt(["--strategy", slow, "--run-id", "slow"], here, exists);
    expect(stopped).toEqual({
      exit: code,
      stdout: "slow\n",
      stderr: [`✖ ${signal}: backtest run slow cancelled with 0 events`],
    });
    expect(storedRuns(join(here, "bt.db"))).toMatchObject([
      { run_id: "slow", status: "cancelled" },
    ]);
  });
});

// After the run has ended, from a timer the strategy left: still one line, exit 1.
test.each([
  [
    "late.ts",
    'export default (ctx) => { let n = 0; ctx.bus.subscribe("BarReceived", () => { if (++n === 1) setTimeout(() => Promise.reject(new Error("late")), 300); }); };',
    "runtape: an error nothing awaited (a timer's, a dropped promise's): late",
  ],
  [
    "after.ts",
    'export default (ctx) => { let n = 0; ctx.bus.subscribe("BarReceived", (bar) => { if (++n === 1) setTimeout(() => ctx.bus.publish(bar), 300); }); };',
    "runtape: strategy after.ts: published BarReceived after its run had ended: it is not recorded",
  ],
])(
  "%s, after its run has ended: one line, exit 1",
  async (name, source, message) => {
    const here = tempDir();
    writeFileSync(join(here, name), source);
    const result = await runtape(
      ["backtest", "--strategy", name, "--bars", "5", "--into", "after.db", "--run-id", "after"],
      { via: "binary", cwd: here },
    );
    expect([result.code, lines(result.stderr).at(-1)]).toEqual([1, message]);
  },
  30_000, // builds the binary when no test before did: a guard, not a timing claim
);
