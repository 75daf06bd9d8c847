/**
 * `bun bench/replay-parts.ts DB RUN [ROUNDS]`: where replaying a bars run onto a bus spends its
 * time beyond a plain iterate of its rows, in one process, the parts alternated round by round
 * (medians of CPU time, so that the neighbours' load counts less): the plain iterate (the bench's
 * limit), the same rows each made into an event, `replay` alone, and `replay` onto a bus. The
 * first round, as cold as the bench's fresh processes, is shown apart.
 */
import { EventBus, openRunsDb, replay } from "../src/index.ts";
import { SEQ_COLUMN } from "../src/schema.ts";

const [path = "", runId = "", rounds = "6"] = process.argv.slice(2);

function iterate(build: boolean): number {
  const db = openRunsDb(path);
  const statement = db.sqlite.prepare(`SELECT * FROM bars WHERE run_id = ? ORDER BY ${SEQ_COLUMN}`);
  let n = 0;
  for (const row of statement.iterate(runId) as Iterable<Record<string, unknown>>) {
    const event = build
      ? {
          type: "bar",
          ts_event_ns: row.ts_event_ns,
          ts_created_ns: row.ts_created_ns,
          symbol: row.symbol,
          bar_period: row.bar_period,
          open: row.open,
          high: row.high,
          low: row.low,
          close: row.close,
          volume: row.volume,
        }
      : row;
    if (event !== undefined) n++;
  }
  statement.finalize();
  db.close();
  return n;
}

function replayed(onto: boolean): number {
  let n = 0;
  if (!onto) {
    for (const _ of replay(path, { run: runId })) n++;
    return n;
  }
  const bus = new EventBus();
  bus.subscribeAll(() => {
    n++;
  });
  for (const event of replay(path, { run: runId })) bus.publish(event);
  return n;
}

const parts: Record<string, () => number> = {
  "plain iterate": () => iterate(false),
  "iterate, an event each": () => iterate(true),
  replay: () => replayed(false),
  "replay onto a bus": () => replayed(true),
};
const ms: Record<string, number[]> = {};
for (let round = 0; round < Number(rounds); round++) {
  for (const [name, part] of Object.entries(parts)) {
    const start = process.cpuUsage();
    part();
    const used = process.cpuUsage(start);
    ms[name] = [...(ms[name] ?? []), (used.user + used.system) / 1000];
    Bun.gc(true);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const base = median(ms["plain iterate"] ?? []);
for (const [name, xs] of Object.entries(ms)) {
  console.log(
    `${name.padEnd(24)} ${median(xs).toFixed(0).padStart(6)} ms CPU  ${(base / median(xs)).toFixed(2)}× the plain iterate's speed (first round ${(xs[0] ?? 0).toFixed(0)} ms)`,
  );
}
