/**
 * `bun bench/record-ab.ts bars|mixed N DIR [ROUNDS]`: the recorder against the limit baseline
 * (bench/limit.ts) in one process, on the same events built beforehand, alternated round by
 * round, each writing a fresh database in DIR (a disk, or /dev/shm to leave the disk out). What
 * the bench's pairs of processes cannot separate: the recorder's own cost from the noise of the
 * disk and of the machine's neighbours, which one process alternating sees alike on both sides.
 * Prints a line on stderr and the figures as JSON on stdout (part of `bun run bench`).
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { type Event, EventBus, Recorder } from "../src/index.ts";
import { barAt, mixedAt } from "./data.ts";
import { prepareLimit } from "./limit.ts";

const [data = "bars", count = "1000000", dir = "/tmp", rounds = "5"] = process.argv.slice(2);
const n = Number(count);
const make = (data === "mixed" ? mixedAt : barAt) as (i: number) => Event;
const events = Array.from({ length: n }, (_, i) => make(i));

const fresh = (name: string) => {
  const path = join(dir, name);
  for (const suffix of ["", "-wal", "-shm"]) rmSync(path + suffix, { force: true });
  return path;
};

function recorder(): number {
  const path = fresh("record-ab-recorder.db");
  const start = performance.now();
  const bus = new EventBus();
  const recording = Recorder.start(path, { runId: "run" });
  recording.attach(bus);
  for (const event of events) bus.publish(event);
  recording.close();
  return performance.now() - start;
}

function limit(): number {
  const insert = prepareLimit(
    fresh("record-ab-limit.db"),
    (i) => events[i] as Event,
    n,
    "run",
    16_384,
  );
  Bun.gc(true); // the rows just built: as the recorder starts, on a heap just collected
  const start = performance.now();
  insert();
  return performance.now() - start;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const ms: { recorder: number[]; limit: number[] } = { recorder: [], limit: [] };
for (let round = 0; round < Number(rounds); round++) {
  ms.recorder.push(recorder());
  Bun.gc(true);
  ms.limit.push(limit());
  Bun.gc(true);
}
const ratios = ms.limit.map((l, i) => l / (ms.recorder[i] as number));
const result = {
  recorder_ms: median(ms.recorder),
  limit_ms: median(ms.limit),
  ratio: median(ratios),
  ratio_spread: [Math.min(...ratios), Math.max(...ratios)],
};
process.stderr.write(
  `${data}, ${n} events in ${dir}: recorder ${result.recorder_ms.toFixed(0)} ms, limit ${result.limit_ms.toFixed(0)} ms, ratio ${result.ratio.toFixed(2)} (${result.ratio_spread.map((r) => r.toFixed(2)).join("–")}) over ${rounds} rounds\n`,
);
console.log(JSON.stringify(result));
for (const name of ["record-ab-recorder.db", "record-ab-limit.db"]) fresh(name);
