import { expect, test } from "bun:test";
import { join } from "node:path";
import {
  DatabaseMissingError,
  EVENT_TYPES,
  type Event,
  EventBus,
  listRuns,
  openRunsDb,
  openSource,
  Recorder,
  RunNotFoundError,
  replay,
  runDemo,
  StoreUrlError,
} from "../src/index.ts";
import { fixtureCopy, fixtureTest, tempDir } from "./helpers.ts";
import { describeWithPg } from "./pg.ts";

/** A file with two recorded demo runs. */
function demoFile(): string {
  const path = join(tempDir(), "runs.db");
  for (const runId of ["first", "second"]) {
    const bus = new EventBus();
    const recorder = Recorder.start(path, { runId, batchSize: 100 });
    recorder.attach(bus);
    runDemo(bus, { bars: 60, symbols: ["AAA", "BBB"], seed: runId === "first" ? 1 : 2 });
    recorder.close();
  }
  return path;
}

async function collect(events: AsyncIterable<Event>): Promise<Event[]> {
  const out: Event[] = [];
  for await (const e of events) out.push(e);
  return out;
}

test("a file source lists, counts and replays as the synchronous library does", async () => {
  const path = demoFile();
  const source = await openSource(path);
  try {
    expect(source.kind).toBe("sqlite");
    expect(source.label).toBe(path);
    const db = openRunsDb(path);
    expect(await source.listRuns()).toEqual(listRuns(db));
    db.close();
    expect(await source.resolveRunId()).toBe("second");
    expect((await source.getRun("first")).status).toBe("completed");
    const counts = await source.countEvents("first");
    const expected = [...replay(path, { run: "first" })];
    expect(Object.values(counts).reduce((a, b) => a + b, 0n)).toBe(BigInt(expected.length));
    expect(await collect(source.events({ run: "first" }))).toEqual(expected);
    const chunks: (readonly Event[])[] = [];
    for await (const chunk of source.chunks({ run: "first", types: ["FillEvent"] }))
      chunks.push(chunk);
    expect(chunks.flat()).toEqual(expected.filter((e) => e.type === "FillEvent"));
    await expect(source.getRun("nope")).rejects.toBeInstanceOf(RunNotFoundError);
  } finally {
    await source.close();
  }
});

test("openSource: a missing file, another URL scheme, a malformed URL", async () => {
  await expect(openSource(join(tempDir(), "none.db"))).rejects.toBeInstanceOf(DatabaseMissingError);
  const other = await openSource("mysql://u:hunter2@h/db").catch((e) => e);
  expect(other).toBeInstanceOf(StoreUrlError);
  expect(other.code).toBe("NOT_POSTGRES");
  expect(other.message).not.toContain("hunter2");
  const bad = await openSource("postgres://u:hunter2@h:99999/db").catch((e) => e);
  expect(bad.code).toBe("BAD_URL");
  expect(bad.message).not.toContain("hunter2");
});

fixtureTest("a Python-written file replays through the source as through replay()", async () => {
  const path = fixtureCopy();
  const source = await openSource(path);
  try {
    expect(await collect(source.events())).toEqual([...replay(path)]);
  } finally {
    await source.close();
  }
});

describeWithPg("store", (cluster) => {
  test("an empty database is a store without runs; write mode creates the layout once", async () => {
    const empty = await openSource(cluster().url());
    expect(empty.kind).toBe("postgres");
    expect(await empty.listRuns()).toEqual([]);
    await expect(empty.resolveRunId()).rejects.toThrow("holds no runs");
    await empty.close();
    const { PgStore } = await import("../src/index.ts");
    const stores = await Promise.all(
      [1, 2, 3].map(() => PgStore.open(cluster().url(), { mode: "write" })),
    );
    for (const s of stores) await s.close();
    const store = await openSource(cluster().url());
    expect(await store.listRuns()).toEqual([]);
    expect(Object.values(await store.countEvents("x"))).toEqual(EVENT_TYPES.map(() => 0n));
    await store.close();
  });
});
