/**
 * `bun bench/record-thread.ts bars|mixed N DIR ROUNDS WORK`: the recorder storing its batches in
 * line (the default) against the same recorder with `thread: true`, alternated round by round in
 * one process. Each event is made as the loop goes, after WORK rounds of a strategy's stand-in
 * (arithmetic over a small array, ~1 ns a round): 0 is a publisher that does nothing else, the
 * bench's pairs of processes. Reports wall and CPU time, the time spent inside `bus.publish` and
 * the longest publish. Prints a line on stderr and the figures as JSON on stdout (part of
 * `bun run bench`).
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { type Event, EventBus, Recorder } from "../src/index.ts";
import { barAt, mixedAt } from "./data.ts";

const [data = "mixed", count = "1000000", dir = "/tmp", rounds = "3", work = "0"] =
  process.argv.slice(2);
const n = Number(count);
const make = (data === "mixed" ? mixedAt : barAt) as (i: number) => Event;
const workRounds = Number(work);

const scratch = new Float64Array(4096);
/** Stands in for what a strategy computes per event (it writes `scratch`: the JIT cannot drop it). */
function strategy(i: number): number {
  let sum = 0;
  for (let k = 0; k < workRounds; k++) {
    const j = (i * 31 + k) & 4095;
    scratch[j] = (scratch[(j + 1) & 4095] as number) * 0.5 + k;
    sum += scratch[j] as number;
  }
  return sum;
}

interface Figures {
  wall_ms: number;
  cpu_ms: number;
  publish_ms: number;
  longest_publish_ms: number;
}

const cpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

function record(thread: boolean): Figures {
  const path = join(dir, `record-thread-${thread}.db`);
  const remove = () => {
    for (const suffix of ["", "-wal", "-shm", "-journal"]) rmSync(path + suffix, { force: true });
  };
  remove();
  const startWall = performance.now();
  const startCpu = cpuMs();
  const bus = new EventBus();
  const recorder = Recorder.start(path, { runId: "run", thread });
  recorder.attach(bus);
  let publish = 0;
  let longest = 0;
  for (let i = 0; i < n; i++) {
    strategy(i);
    const event = make(i);
    const before = performance.now();
    bus.publish(event);
    const took = performance.now() - before;
    publish += took;
    if (took > longest) longest = took;
  }
  recorder.close();
  const figures = {
    wall_ms: performance.now() - startWall,
    cpu_ms: cpuMs() - startCpu,
    publish_ms: publish,
    longest_publish_ms: longest,
  };
  remove();
  return figures;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const runs: { inline: Figures[]; thread: Figures[] } = { inline: [], thread: [] };
for (let round = 0; round < Number(rounds); round++) {
  runs.inline.push(record(false));
  Bun.gc(true);
  runs.thread.push(record(true));
  Bun.gc(true);
}
const summary = (figures: Figures[]) =>
  Object.fromEntries(
    (Object.keys(figures[0] as Figures) as (keyof Figures)[]).map((k) => [
      k,
      Math.round(median(figures.map((f) => f[k]))),
    ]),
  ) as unknown as Figures;
const ratios = runs.inline.map((f, i) => f.wall_ms / (runs.thread[i] as Figures).wall_ms);
const result = {
  inline: summary(runs.inline),
  thread: summary(runs.thread),
  /** Wall time in line / on the thread: above 1, the thread is faster. */
  speedup: median(ratios),
  speedup_spread: [Math.min(...ratios), Math.max(...ratios)],
};
const line = (name: string, f: Figures) =>
  `${name} ${f.wall_ms} ms (CPU ${f.cpu_ms} ms, in publish ${f.publish_ms} ms, longest ${f.longest_publish_ms} ms)`;
process.stderr.write(
  `${data}, ${n} events, strategy work ${workRounds}: ${line("in line", result.inline)}; ${line("thread", result.thread)}; thread ${result.speedup.toFixed(2)}× (${result.speedup_spread.map((r) => r.toFixed(2)).join("–")}) over ${rounds} rounds\n`,
);
console.log(JSON.stringify(result));
