import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { statSync } from "node:fs";
import { join } from "node:path";
import type { Sample } from "../bench/worker.ts";
import {
  catalog,
  countEvents,
  diffRuns,
  EVENT_TYPES,
  encodeEvent,
  openRunsDb,
  replay,
} from "../src/index.ts";
import { tempDir } from "./helpers.ts";

// `bun run bench` compares runtape with baselines that must do the same work ("never a
// strawman"), and reports what its workers measure. Each worker case runs here on a few thousand
// events, checking what the figures rest on: the same rows stored, every event read, the counts
// reported. No time is asserted. A worker is a process of its own, so this file runs under
// `npm test` only (bunfig.toml).

const WORKER = join(import.meta.dir, "../bench/worker.ts");
const N = 2_000;
/** A limit's transaction: smaller than N, so that the limit commits more than once. */
const BATCH = 512;

async function worker(...args: (string | number)[]): Promise<Sample> {
  return workerWith({}, ...args);
}

async function workerWith(env: Record<string, string>, ...args: (string | number)[]) {
  const proc = Bun.spawn([process.execPath, WORKER, ...args.map(String)], {
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, ...env },
  });
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  if (code !== 0) throw new Error(`bench worker ${args.join(" ")} exited ${code}: ${err}`);
  const sample = JSON.parse(out) as Sample;
  expect(sample.seconds).toBeGreaterThan(0);
  expect(sample.maxRssMb).toBeGreaterThan(0);
  return sample;
}

const EVENT_TABLES: string[] = EVENT_TYPES.map((type) => catalog[type].table);

/**
 * The event tables of a file and their indexes, by name, as SQLite keeps their DDL. (A recorder
 * also stores the run's summary as it closes it, in a table of its own that the limit leaves out.)
 */
function schemaOf(path: string): Map<string, string | null> {
  const db = new Database(path, { readonly: true });
  try {
    const rows = db
      .query(
        `SELECT name, sql FROM sqlite_master WHERE type IN ('table', 'index') AND tbl_name IN (${EVENT_TABLES.map(() => "?").join(", ")}) ORDER BY name`,
      )
      .all(...EVENT_TABLES) as { name: string; sql: string | null }[];
    return new Map(rows.map((r) => [r.name, r.sql]));
  } finally {
    db.close();
  }
}

function eventsIn(path: string, runId: string): number {
  const db = openRunsDb(path);
  try {
    return Number(Object.values(countEvents(db, runId)).reduce((n, k) => n + k, 0n));
  } finally {
    db.close();
  }
}

describe.each(["bars", "mixed"])("the bench's recording cases, %s", (data) => {
  test("the recorder and its limit store the same events into the same schema", async () => {
    const dir = tempDir();
    const recorded = join(dir, "recorded.db");
    const limit = join(dir, "limit.db");
    const sample = await worker("record", data, N, recorded, "run");
    const baseline = await worker("limit", data, N, limit, "run", BATCH);
    for (const [s, path] of [
      [sample, recorded],
      [baseline, limit],
    ] as const) {
      expect(s.events).toBe(N);
      expect(s.fileBytes).toBe(statSync(path).size);
      // On a memory filesystem nothing reaches storage; the figure is there all the same.
      expect(s.writeBytes).toBeGreaterThanOrEqual(0);
    }
    expect(eventsIn(recorded, "run")).toBe(N);
    expect(diffRuns({ db: recorded, run: "run" }, { db: limit, run: "run" }).match).toBe(true);
    const schema = schemaOf(recorded);
    expect(schema.size).toBeGreaterThan(EVENT_TABLES.length); // the tables and their indexes
    expect(schemaOf(limit)).toEqual(schema);
  });

  test("the floors: the limit without indexes, the publisher alone, the streaming recorder (and collecting)", async () => {
    const dir = tempDir();
    const bare = join(dir, "bare.db");
    const streamed = join(dir, "streamed.db");
    expect((await worker("limit", data, N, bare, "run", BATCH, "no-indexes")).events).toBe(N);
    // The tables alone: no index but those SQLite keeps for a key.
    const created = [...schemaOf(bare)].filter(([, sql]) => sql?.startsWith("CREATE INDEX"));
    expect(created).toEqual([]);
    expect([...schemaOf(bare).keys()].filter((name) => EVENT_TABLES.includes(name)).length).toBe(
      EVENT_TABLES.length,
    );
    expect(eventsIn(bare, "run")).toBe(N);
    expect((await worker("publish-only", data, N)).events).toBe(N);
    expect((await worker("stream", data, N, streamed, "run", BATCH)).events).toBe(N);
    expect(eventsIn(streamed, "run")).toBe(N);
    const streamedCollecting = join(dir, "streamed-collecting.db");
    const collecting = await worker("stream-collect", data, N, streamedCollecting, "run", BATCH);
    expect(collecting.events).toBe(N);
    expect(eventsIn(streamedCollecting, "run")).toBe(N);
    // As part 1 runs them, without the optimizing compilers: the same work.
    const plain = { BUN_JSC_useDFGJIT: "0" };
    expect((await workerWith(plain, "publish-only", data, N)).events).toBe(N);
    const collected = join(dir, "collected.db");
    expect((await workerWith(plain, "record-collect", data, N, collected, "run")).events).toBe(N);
    expect(eventsIn(collected, "run")).toBe(N);
  });

  test("the timed and the collecting recorder store every event as well", async () => {
    const dir = tempDir();
    const timed = await worker("record-publish", data, N, join(dir, "timed.db"), "run");
    expect(timed.events).toBe(N);
    expect(timed.publishSeconds).toBeGreaterThan(0);
    expect(timed.publishSeconds).toBeLessThanOrEqual(timed.seconds + (timed.publishMaxMs ?? 0));
    expect(timed.publishMaxMs).toBeGreaterThan(0);
    const collected = join(dir, "collected.db");
    expect((await worker("record-collect", data, N, collected, "run")).events).toBe(N);
    const rollback = join(dir, "rollback.db");
    expect((await worker("record", data, N, rollback, "run", "", "rollback")).events).toBe(N);
    for (const path of [collected, rollback]) expect(eventsIn(path, "run")).toBe(N);
  });
});

describe("the bench's reading and gathering cases", () => {
  test("each reads every event of the run, as its limit does", async () => {
    const dir = tempDir();
    const [bars, mixed, again] = ["bars.db", "mixed.db", "again.db"].map((name) => join(dir, name));
    await worker("record", "bars", N, bars as string, "run");
    await worker("record", "mixed", N, mixed as string, "run");
    await worker("record", "mixed", N, again as string, "run");
    expect((await worker("replay", bars as string, "run")).events).toBe(N);
    expect((await worker("iterate", bars as string, "run")).events).toBe(N);
    for (const how of ["strings", "bytes", "rows"]) {
      expect((await worker("encode", mixed as string, "run", how, "held")).events).toBe(N);
    }
    for (const how of ["strings", "bytes"]) {
      expect((await worker("encode", mixed as string, "run", how, "replayed")).events).toBe(N);
    }
    expect((await worker("diff", mixed as string, again as string, "run")).events).toBe(N);
    expect((await worker("diff-plain", mixed as string, again as string, "run")).events).toBe(N);
    expect((await worker("check", mixed as string)).events).toBe(N);
    expect((await worker("check-plain", mixed as string, "run")).events).toBe(N);
  });

  test("the CLI's recording commands, run as the binary runs them, store every event", async () => {
    const dir = tempDir();
    const source = join(dir, "source.db");
    await worker("record", "mixed", N, source, "run");
    const ndjson = join(dir, "run.ndjson");
    await Bun.write(ndjson, [...replay(source, { run: "run" })].map(encodeEvent).join("\n"));
    const [recorded, copied] = [join(dir, "recorded.db"), join(dir, "copied.db")];
    const args = ["record", recorded, "--input", ndjson, "--run", "run", "--quiet"];
    expect((await worker("cli", N, ...args)).events).toBe(N);
    expect((await worker("cli", N, "replay", source, "--into", copied, "--quiet")).events).toBe(N);
    for (const db of [recorded, copied]) {
      expect(diffRuns({ db: source, run: "run" }, { db, run: "run" }).match).toBe(true);
    }
    // A command that fails fails the case: no figure is reported for it.
    const missing = worker("cli", N, "replay", join(dir, "missing.db"), "--into", copied);
    await expect(missing).rejects.toThrow("exited 1");
  });

  test("merge and its limit copy the same runs; export and its limit write every event", async () => {
    const dir = tempDir();
    const [a, b] = [join(dir, "a.db"), join(dir, "b.db")];
    await worker("record", "mixed", N, a, "run-a");
    await worker("limit", "bars", N, b, "run-b", BATCH);
    const [merged, copied] = [join(dir, "merged.db"), join(dir, "copied.db")];
    expect((await worker("merge", merged, a, b)).events).toBe(2 * N);
    expect((await worker("attach-copy", copied, a, b)).events).toBe(2 * N);
    for (const run of ["run-a", "run-b"]) {
      expect(diffRuns({ db: merged, run }, { db: copied, run }).match).toBe(true);
    }
    const exported = await worker("export", "parquet", a, "run-a", join(dir, "parquet"));
    const plain = await worker("export-plain", a, "run-a", join(dir, "plain"));
    for (const s of [exported, plain]) {
      expect(s.events).toBe(N);
      expect(s.exportBytes).toBeGreaterThan(0);
    }
    const csv = await worker("export", "csv", a, "run-a", join(dir, "csv"));
    expect(csv.events).toBe(N);
  });
});
