/**
 * Push and pull of many small runs through a store on "another machine": a proxy before a
 * throwaway cluster that holds every chunk DELAY ms each way (test/pg-proxy.ts), so each
 * statement costs a round trip, as it does across a network.
 *   bun bench/store-latency.ts [RUNS] [EVENTS] [DELAY_MS]   (default 300 runs of 200 mixed events, 1 ms)
 * Prints one JSON object: seconds and statements of each, or null where PostgreSQL is absent.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Event, openRunsDb, pull, push, Recorder } from "../src/index.ts";
import { NO_PG_REASON, startCluster } from "../test/pg.ts";
import { startProxy } from "../test/pg-proxy.ts";
import { mixedAt } from "./data.ts";

const [runs = 300, events = 200, delayMs = 1] = process.argv.slice(2).map(Number);

if (NO_PG_REASON !== undefined) {
  process.stderr.write(`store latency: ${NO_PG_REASON}\n`);
  console.log("null");
} else {
  const dir = mkdtempSync(join(tmpdir(), "runtape-latency-"));
  const cluster = await startCluster();
  const proxy = startProxy(cluster, { delayMs });
  try {
    const source = join(dir, "runs.db");
    const db = openRunsDb(source, { mode: "write" });
    for (let r = 0; r < runs; r++) {
      const recorder = Recorder.start(db, { runId: `run-${r}` });
      for (let i = 0; i < events; i++) recorder.record(mixedAt(i) as Event);
      recorder.close();
    }
    db.close();
    const timed = async (work: () => Promise<unknown>) => {
      proxy.reset();
      const start = performance.now();
      await work();
      return { seconds: (performance.now() - start) / 1000, statements: proxy.statements() };
    };
    const pushed = await timed(() => push(source, proxy.url()));
    const pulled = await timed(() => pull(proxy.url(), join(dir, "pulled.db")));
    process.stderr.write(
      `${runs} runs of ${events} events, ${delayMs} ms each way: push ${pushed.seconds.toFixed(2)} s (${pushed.statements} statements), pull ${pulled.seconds.toFixed(2)} s (${pulled.statements} statements)\n`,
    );
    console.log(JSON.stringify({ runs, events, delay_ms: delayMs, push: pushed, pull: pulled }));
  } finally {
    proxy.stop();
    cluster.remove();
    rmSync(dir, { recursive: true, force: true });
  }
}
