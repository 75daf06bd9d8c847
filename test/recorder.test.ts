import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import {
  catalog,
  DuplicateRunError,
  type Event,
  EventBus,
  InvalidEventError,
  makeEvent,
  openRunsDb,
  Recorder,
  recordRun,
  replay,
} from "../src/index.ts";
import { bar, sampleEvents, T0, tempDir } from "./helpers.ts";

const raw = (path: string) => new Database(path, { readonly: true, safeIntegers: true });
const count = (path: string, table = "bars") => {
  const db = raw(path);
  try {
    return Number((db.query(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: bigint }).n);
  } finally {
    db.close();
  }
};

describe("recorder", () => {
  test("writes every event type with every field exact, and replays them equal and in order", () => {
    const path = join(tempDir(), "runs.db");
    const events = sampleEvents();
    const recorder = Recorder.start(path, { name: "all types" });
    for (const e of events) recorder.record(e);
    expect(recorder.close()).toEqual({
      runId: recorder.runId,
      status: "completed",
      events: events.length,
      refused: 0,
    });

    const db = raw(path);
    const rowOf = (e: Event, seq: number) =>
      db.query(`SELECT * FROM ${catalog[e.type].table} WHERE seq = ?`).get(seq) as Record<
        string,
        unknown
      >;
    events.forEach((e, i) => {
      const row = rowOf(e, i + 1);
      for (const [name, value] of Object.entries(e)) {
        if (name === "type" || name === "indicators") continue;
        expect({ [name]: row[name] }).toEqual({
          [name]: name === "volume" && value !== null ? BigInt(value as number) : value,
        });
      }
    });
    // Python json.dumps text: bare NaN/Infinity tokens, escaped non-ASCII, repr floats.
    expect(rowOf(events[1] as Event, 2).indicators).toBe(
      '{"SMA 5": NaN, "Gr\\u00fc\\u00dfe \\"q\\"": Infinity, "neg": -Infinity, "tiny": 1e-07, "big": 1e+16, "zero": -0.0}',
    );
    db.close();
    expect([...replay(path)]).toEqual(events);
  });

  test("buffers until the batch size, then writes one batch", () => {
    const path = join(tempDir(), "runs.db");
    const recorder = Recorder.start(path, { batchSize: 10, flushIntervalMs: 60_000 });
    for (let i = 0; i < 9; i++) recorder.record(bar(i));
    expect(count(path)).toBe(0);
    recorder.record(bar(9));
    expect(count(path)).toBe(10);
    for (let i = 10; i < 15; i++) recorder.record(bar(i));
    expect(count(path)).toBe(10);
    recorder.close();
    expect(count(path)).toBe(15);
  });

  test("flushes events older than the interval without waiting for the batch", async () => {
    const path = join(tempDir(), "runs.db");
    const recorder = Recorder.start(path, { batchSize: 1_000_000, flushIntervalMs: 20 });
    recorder.record(bar(0));
    expect(count(path)).toBe(0);
    // The timer flushes while the recorder sits idle; poll instead of assuming a duration.
    for (let i = 0; i < 500 && count(path) === 0; i++) await Bun.sleep(10);
    expect(count(path)).toBe(1);
    recorder.close();
  });

  test("closing flushes first: a completed run holds every event", () => {
    const path = join(tempDir(), "runs.db");
    const recorder = Recorder.start(path, { batchSize: 1000 });
    for (let i = 0; i < 123; i++) recorder.record(bar(i));
    recorder.close("completed");
    const db = openRunsDb(path);
    const run = db.sqlite.query("SELECT status, ts_end FROM runs").get() as {
      status: string;
      ts_end: bigint;
    };
    expect(run.status).toBe("completed");
    expect(typeof run.ts_end).toBe("bigint");
    db.close();
    expect(count(path)).toBe(123);
  });

  test("numbers events 1..N across tables in publication order, over many flushes", () => {
    const path = join(tempDir(), "runs.db");
    const recorder = Recorder.start(path, { batchSize: 7 });
    const events = Array.from({ length: 50 }, (_, i) =>
      i % 3 === 0 ? bar(i) : (sampleEvents()[i % 14] as Event),
    );
    for (const e of events) recorder.record(e);
    recorder.close();
    const db = raw(path);
    const seqs = Object.values(catalog).flatMap((spec) =>
      (db.query(`SELECT seq FROM ${spec.table}`).all() as { seq: bigint }[]).map((r) =>
        Number(r.seq),
      ),
    );
    db.close();
    expect(seqs.sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect([...replay(path)]).toEqual(events);
  });

  test("refuses an event that does not fit, names the field, and records the others", () => {
    const path = join(tempDir(), "runs.db");
    const errors: unknown[] = [];
    const bus = new EventBus();
    const recorder = Recorder.start(path);
    recorder.attach(bus, { onError: (error) => errors.push(error) });
    const first = bar(0);
    const good = bar(1);
    bus.publish(first);
    bus.publish({ ...bar(2), open: Number.NaN } as Event);
    bus.publish({ ...bar(3), ts_event_ns: 2n ** 63n } as Event);
    const { symbol: _, ...noSymbol } = bar(4) as Event & { symbol: string };
    bus.publish(noSymbol as Event);
    bus.publish(good);
    const summary = recorder.close();
    expect(summary.events).toBe(2);
    expect(summary.refused).toBe(3);
    expect(
      errors.map((e) => [(e as InvalidEventError).field, e instanceof InvalidEventError]),
    ).toEqual([
      ["open", true],
      ["ts_event_ns", true],
      ["symbol", true],
    ]);
    expect((errors[0] as Error).message).toBe(
      "BarReceived.open: expected a finite number (got NaN)",
    );
    const db = openRunsDb(path);
    expect(db.sqlite.query("SELECT refused, events FROM runtape_runs").get()).toEqual({
      refused: 3n,
      events: 2n,
    });
    db.close();
    expect([...replay(path)]).toEqual([first, good]);
  });

  test("refuses a duplicate run id and leaves the existing run untouched", () => {
    const path = join(tempDir(), "runs.db");
    const first = Recorder.start(path, { runId: "r1", name: "first", metadata: { a: 1 } });
    first.record(bar(0));
    first.close();
    expect(() => Recorder.start(path, { runId: "r1", name: "second" })).toThrow(DuplicateRunError);
    const db = openRunsDb(path);
    expect(db.sqlite.query("SELECT run_id, name, status, metadata FROM runs").all()).toEqual([
      { run_id: "r1", name: "first", status: "completed", metadata: '{"a":1}' },
    ]);
    db.close();
    expect([...replay(path, { run: "r1" })]).toHaveLength(1);
  });

  test("keeps several runs apart in one database", () => {
    const path = join(tempDir(), "runs.db");
    const a = Recorder.start(path, { runId: "a" });
    const b = Recorder.start(path, { runId: "b" });
    for (let i = 0; i < 30; i++) (i % 2 ? a : b).record(bar(i, i % 2 ? "A" : "B"));
    a.close();
    b.close("cancelled");
    expect([...replay(path, { run: "a" })].map((e) => (e as { symbol: string }).symbol)).toEqual(
      Array(15).fill("A"),
    );
    expect([...replay(path, { run: "b" })]).toHaveLength(15);
    const db = openRunsDb(path);
    expect(db.sqlite.query("SELECT run_id, status FROM runs ORDER BY run_id").all()).toEqual([
      { run_id: "a", status: "completed" },
      { run_id: "b", status: "cancelled" },
    ]);
    db.close();
  });

  test("stores empty config and metadata as NULL and others as JSON", () => {
    const path = join(tempDir(), "runs.db");
    Recorder.start(path, { runId: "x", config: {}, metadata: { ü: [1, null] } }).close();
    const db = openRunsDb(path);
    expect(db.sqlite.query("SELECT config, metadata FROM runs").get()).toEqual({
      config: null,
      metadata: '{"ü":[1,null]}',
    });
    db.close();
  });

  test("recordRun marks the run failed and rethrows when the strategy throws", async () => {
    const path = join(tempDir(), "runs.db");
    const boom = new Error("strategy bug");
    await expect(
      recordRun(path, { runId: "r" }, (bus) => {
        bus.publish(bar(0));
        throw boom;
      }),
    ).rejects.toBe(boom);
    const db = openRunsDb(path);
    expect(db.sqlite.query("SELECT status FROM runs").get()).toEqual({ status: "failed" });
    db.close();
    expect(count(path)).toBe(1);
  });

  test("refuses events after the run is closed", () => {
    const recorder = Recorder.start(join(tempDir(), "runs.db"));
    recorder.close();
    expect(() => recorder.record(bar(0))).toThrow(/closed/);
  });

  test("ts_created_ns defaults to a clock that never goes backwards", () => {
    let last = 0n;
    for (let i = 0; i < 10_000; i++) {
      const t = makeEvent("OrderCancellationRequest", {
        ts_event_ns: T0,
        symbol: "A",
      }).ts_created_ns;
      expect(t >= last).toBe(true);
      last = t;
    }
    // Within a few seconds of the wall clock.
    expect(Number(last / 1_000_000n) - Date.now()).toBeLessThan(5_000);
  });
});
