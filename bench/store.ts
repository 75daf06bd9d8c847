/**
 * The store's figures, against baselines measured in the same run on a throwaway PostgreSQL
 * cluster: `bun bench/store.ts [--quick]` prints one JSON object (null where PostgreSQL is absent).
 *   - push of a mixed run vs a plain COPY of the same rows (COPY text made before the clock
 *     starts) into the same tables, in one transaction: what reading, encoding, hashing and the
 *     exactly-once bookkeeping cost
 *   - replay from the store vs replay of the local file, both to typed events
 *   - eight processes pushing eight runs at once: total events/s and the slowest push
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SQL } from "bun";
import { openRunsDb, PgStore, push, replay } from "../src/index.ts";
import { type ContentPiece, copyColumns, fileContent } from "../src/store/content.ts";
import { NO_PG_REASON, startCluster } from "../test/pg.ts";

const quick = process.argv.includes("--quick");
const N = Math.round(1_000_000 * (quick ? 0.1 : 1));
const RUNS = 3;
const PUSHERS = 8;
const ROOT = join(import.meta.dir, "..");
const log = (line: string) => process.stderr.write(`${line}\n`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function spawn(args: string[]): Promise<string> {
  const proc = Bun.spawn([process.execPath, ...args], { stdout: "pipe", stderr: "inherit" });
  const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  if (code !== 0) throw new Error(`${args.join(" ")} exited ${code}`);
  return out;
}

/** The baseline: the same COPY text, already made, into the same tables in one transaction. */
async function plainCopy(url: string, pieces: readonly ContentPiece[]): Promise<void> {
  const store = await PgStore.open(url);
  try {
    await store.sql.begin(async (tx) => {
      for (let i = 0; i < pieces.length; ) {
        const { table } = pieces[i] as ContentPiece;
        const columns = copyColumns(pieces[i] as ContentPiece);
        const query = tx.unsafe(`COPY ${table} (${columns.join(", ")}) FROM STDIN`);
        const writer = query.writable().getWriter();
        for (; i < pieces.length && pieces[i]?.table === table; i++) {
          await writer.write((pieces[i] as ContentPiece).bytes);
        }
        await writer.close();
        await query;
      }
    });
  } finally {
    await store.close();
  }
}

async function main(): Promise<Record<string, number> | null> {
  if (NO_PG_REASON !== undefined) {
    log(`  store: ${NO_PG_REASON}`);
    return null;
  }
  const dir = mkdtempSync(join(tmpdir(), "runtape-bench-store-"));
  const cluster = await startCluster();
  const admin = new SQL({ path: cluster.dir, username: "runtape", database: "postgres", max: 1 });
  /** A new, empty store database with the layout made (outside any timing). */
  const freshStore = async (name: string) => {
    await admin.unsafe(`DROP DATABASE IF EXISTS ${name}`);
    await admin.unsafe(`CREATE DATABASE ${name}`);
    await (await PgStore.open(cluster.url(name), { mode: "write" })).close();
    return cluster.url(name);
  };
  try {
    const file = join(dir, "mixed.db");
    await spawn([
      join(import.meta.dir, "worker.ts"),
      "limit",
      "mixed",
      String(N),
      file,
      "run",
      "16384",
    ]);
    const db = openRunsDb(file);
    const pieces = [...fileContent(db, "run")];

    log(`7. store: push of a ${N.toLocaleString("en-US")}-event mixed run vs plain COPY`);
    const pushS: number[] = [];
    const copyS: number[] = [];
    for (let k = 0; k < RUNS; k++) {
      const a = await freshStore(`push_${k}`);
      let start = performance.now();
      await push(db, a, { runs: ["run"] });
      pushS.push((performance.now() - start) / 1000);
      const b = await freshStore(`copy_${k}`);
      start = performance.now();
      await plainCopy(b, pieces);
      copyS.push((performance.now() - start) / 1000);
      if (k > 0) await admin.unsafe(`DROP DATABASE copy_${k}`);
    }
    const push_per_s = N / median(pushS);
    const copy_per_s = N / median(copyS);
    log(
      `  push ${Math.round(push_per_s).toLocaleString("en-US")} events/s, plain COPY ${Math.round(copy_per_s).toLocaleString("en-US")} events/s`,
    );

    log("8. store: replay from the store vs the local file (typed events)");
    const store = await PgStore.open(cluster.url("push_0"));
    const storeS: number[] = [];
    const fileS: number[] = [];
    for (let k = 0; k < RUNS; k++) {
      let start = performance.now();
      let n = 0;
      for await (const chunk of store.chunks({ run: "run" })) n += chunk.length;
      storeS.push((performance.now() - start) / 1000);
      if (n !== N) throw new Error(`replayed ${n} of ${N} events from the store`);
      start = performance.now();
      n = 0;
      for (const _ of replay(db, { run: "run" })) n++;
      fileS.push((performance.now() - start) / 1000);
    }
    await store.close();
    db.close();
    const replay_store_per_s = N / median(storeS);
    const replay_file_per_s = N / median(fileS);
    log(
      `  store ${Math.round(replay_store_per_s).toLocaleString("en-US")} events/s, file ${Math.round(replay_file_per_s).toLocaleString("en-US")} events/s`,
    );

    log(
      `9. store: ${PUSHERS} processes pushing ${PUSHERS} runs of ${(N / PUSHERS).toLocaleString("en-US")} at once`,
    );
    const files = await Promise.all(
      Array.from({ length: PUSHERS }, async (_, k) => {
        const path = join(dir, `pusher-${k}.db`);
        await spawn([
          join(import.meta.dir, "worker.ts"),
          "limit",
          "mixed",
          String(N / PUSHERS),
          path,
          `pusher-${k}`,
          "16384",
        ]);
        return path;
      }),
    );
    const target = await freshStore("pushers");
    const start = performance.now();
    const outputs = await Promise.all(
      files.map((path) =>
        spawn([join(ROOT, "bin/runtape.ts"), "push", path, "--to", target, "--json"]),
      ),
    );
    const wall = (performance.now() - start) / 1000;
    const slowest = Math.max(
      ...outputs.map((o) => (JSON.parse(o).runs as { seconds: number }[])[0]?.seconds ?? 0),
    );
    log(
      `  ${Math.round(N / wall).toLocaleString("en-US")} events/s in all, slowest push ${slowest.toFixed(2)} s`,
    );
    return {
      push_per_s: Math.round(push_per_s),
      plain_copy_per_s: Math.round(copy_per_s),
      push_ratio: push_per_s / copy_per_s,
      replay_store_per_s: Math.round(replay_store_per_s),
      replay_file_per_s: Math.round(replay_file_per_s),
      replay_store_ratio: replay_store_per_s / replay_file_per_s,
      pushers: PUSHERS,
      pushers_total_per_s: Math.round(N / wall),
      pushers_slowest_s: slowest,
    };
  } finally {
    await admin.close();
    cluster.remove();
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log(JSON.stringify(await main()));
