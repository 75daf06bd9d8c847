/**
 * `bun bench/ab.ts A B CASE ARGS… [--rounds N]`: two checkouts of runtape (their folders: a
 * worktree of an earlier commit and this one, say) alternated round by round in one process on the
 * same input, medians of CPU time: what a change is worth apart from the machine's noise, which
 * the bench's fresh processes cannot separate. Cases:
 *
 * - `encode DB RUN [N]`: `encodeEvent` of the run's first N events (300,000), replayed beforehand
 * - `decode FILE [N]`: `decodeEvent` of the first N lines (300,000) of an NDJSON file
 * - `replay DB RUN`: `replay` onto a bus with one subscriber
 * - `record bars|mixed DIR [N]`: the recorder on N events (1M) built beforehand, into a fresh
 *   file in DIR
 * - `runs bars|mixed DIR [R] [E]`: R runs (200) of E events (100) each, built beforehand, recorded
 *   one after the other into a fresh file in DIR: what a sweep of short backtests pays per run
 * - `cli -- ARGS…`: each checkout's compiled binary (`bun run build` in it first) run with ARGS,
 *   timed by the wall clock from spawn to exit: start-up is what such a command costs
 *
 * Prints both medians and the median of the per-round ratios A/B (above 1: B is faster), with
 * its spread.
 */
import { readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { Event } from "../src/index.ts";
import { barAt, mixedAt } from "./data.ts";

type Library = typeof import("../src/index.ts");

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { rounds: { type: "string", default: "8" } },
});
const [dirA, dirB, kind, ...args] = positionals;
if (dirA === undefined || dirB === undefined || kind === undefined) {
  throw new Error(
    "usage: bun bench/ab.ts A B encode|decode|replay|record|runs|cli ARGS… [--rounds N]",
  );
}
const [a, b] = (await Promise.all(
  [dirA, dirB].map((dir) => import(resolve(dir, "src/index.ts"))),
)) as [Library, Library];

/** What one round of the case does with a library (or with the binary of the checkout `dir`). */
function theCase(): (lib: Library, dir: string) => void {
  const [first = "", second = "", third] = args;
  if (kind === "encode") {
    const events = [...a.replay(first, { run: second })].slice(0, Number(third ?? 300_000));
    return (lib) => {
      let sink = 0;
      for (const event of events) {
        const line = lib.encodeEvent(event);
        sink += line.charCodeAt(line.length - 1); // a line is written whole: flatten it
      }
      if (sink === 0) throw new Error("nothing encoded");
    };
  }
  if (kind === "decode") {
    const text = readFileSync(first, "utf8");
    const lines = text.split("\n", Number(second || 300_000)).filter((line) => line !== "");
    return (lib) => {
      let sink = 0;
      for (const line of lines) sink += lib.decodeEvent(line).type.length;
      if (sink === 0) throw new Error("nothing decoded");
    };
  }
  if (kind === "replay") {
    return (lib) => {
      const bus = new lib.EventBus();
      let seen = 0;
      bus.subscribeAll(() => {
        seen++;
      });
      for (const event of lib.replay(first, { run: second })) bus.publish(event);
      if (seen === 0) throw new Error("nothing replayed");
    };
  }
  if (kind === "record") {
    const make = (first === "mixed" ? mixedAt : barAt) as (i: number) => Event;
    const events = Array.from({ length: Number(third ?? 1_000_000) }, (_, i) => make(i));
    const path = join(second || "/tmp", "ab-record.db");
    return (lib) => {
      for (const suffix of ["", "-wal", "-shm"]) rmSync(path + suffix, { force: true });
      const bus = new lib.EventBus();
      const recorder = lib.Recorder.start(path, { runId: "run" });
      recorder.attach(bus);
      for (const event of events) bus.publish(event);
      recorder.close();
    };
  }
  if (kind === "runs") {
    const make = (first === "mixed" ? mixedAt : barAt) as (i: number) => Event;
    const [runs, length] = [Number(third ?? 200), Number(args[3] ?? 100)];
    const events = Array.from({ length }, (_, i) => make(i));
    const path = join(second || "/tmp", "ab-runs.db");
    return (lib) => {
      for (const suffix of ["", "-wal", "-shm"]) rmSync(path + suffix, { force: true });
      for (let k = 0; k < runs; k++) {
        const recorder = lib.Recorder.start(path, { runId: `run-${k}` });
        for (const event of events) recorder.record(event);
        recorder.close();
      }
    };
  }
  if (kind === "cli") {
    return (_lib, dir) => {
      const binary = join(dir, "dist/runtape");
      const { exitCode } = Bun.spawnSync([binary, ...args], { stdout: "ignore", stderr: "ignore" });
      // diff and --check exit 1 on a finding: a result, not a failure of the command.
      if (exitCode > 1) throw new Error(`${binary} ${args.join(" ")} exited ${exitCode}`);
    };
  }
  throw new Error(`unknown case ${kind}: encode, decode, replay, record, runs or cli`);
}

const run = theCase();
/** CPU time of a round in this process; for `cli`, the wall time of the spawned binary. */
const measure = (lib: Library, dir: string) => {
  Bun.gc(true);
  if (kind === "cli") {
    const start = performance.now();
    run(lib, dir);
    return performance.now() - start;
  }
  const start = process.cpuUsage();
  run(lib, dir);
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
};
run(a, dirA); // warm-up: both compile their code before the first timed round
run(b, dirB);
const ms: { a: number[]; b: number[] } = { a: [], b: [] };
for (let round = 0; round < Number(values.rounds); round++) {
  // Each goes first in every other round: neither always runs after the other's garbage.
  if (round % 2 === 0) {
    ms.a.push(measure(a, dirA));
    ms.b.push(measure(b, dirB));
  } else {
    ms.b.push(measure(b, dirB));
    ms.a.push(measure(a, dirA));
  }
}
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] as number;
const ratios = ms.a.map((x, i) => x / (ms.b[i] as number));
console.log(
  `${kind} ${args.join(" ")}: A ${median(ms.a).toFixed(1)} ms, B ${median(ms.b).toFixed(1)} ms of ${kind === "cli" ? "wall time" : "CPU"}; A/B ${median(ratios).toFixed(3)} (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}) over ${values.rounds} rounds`,
);
