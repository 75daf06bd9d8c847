import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import {
  catalog,
  DuplicateRunError,
  dumpsIndicators,
  EVENT_TYPES,
  type Event,
  EventBus,
  fieldsOf,
  InvalidEventError,
  loadsIndicators,
  openRunsDb,
  Recorder,
  RuntapeError,
  replay,
  type SqlValue,
} from "../src/index.ts";
import { until } from "./cli/support.ts";
import { bar, newDb, query, rawDb, runContentHash, sampleEvents, T0, tempDir } from "./helpers.ts";

type Row = Record<string, SqlValue>;

/** Rows of `table` (all tables when omitted) as another connection sees them now. */
function count(path: string, table?: string): number {
  const db = rawDb(path);
  try {
    const tables = table ? [table] : EVENT_TYPES.map((t) => catalog[t].table);
    return tables.reduce(
      (sum, t) =>
        sum + Number((db.query(`SELECT COUNT(*) AS n FROM ${t}`).get() as { n: bigint }).n),
      0,
    );
  } finally {
    db.close();
  }
}

/** Every event row of the database in seq order: its table, run, seq and ts_event_ns. */
function rowsInSeqOrder(
  path: string,
  runId?: string,
): { table: string; seq: bigint; ts: bigint }[] {
  const union = EVENT_TYPES.map(
    (t) => `SELECT '${catalog[t].table}' AS tbl, run_id, seq, ts_event_ns FROM ${catalog[t].table}`,
  ).join(" UNION ALL ");
  const where = runId === undefined ? "" : "WHERE run_id = ?";
  const params = runId === undefined ? [] : [runId];
  return query(path, `SELECT * FROM (${union}) ${where} ORDER BY seq`, ...params).map((r) => ({
    table: r.tbl as string,
    seq: r.seq as bigint,
    ts: r.ts_event_ns as bigint,
  }));
}

/** Events with distinct event times, so each row can be told apart: `T0 + i`. */
const numbered = (events: Event[]) =>
  events.map((e, i) => ({ ...e, ts_event_ns: T0 + BigInt(i) }) as Event);

const wallNs = () => BigInt(Date.now()) * 1_000_000n;

describe("storing events", () => {
  test("every event type is written and read back with every field equal", () => {
    const path = newDb();
    const events = sampleEvents();
    const recorder = Recorder.start(path);
    for (const e of events) recorder.record(e);
    recorder.close();

    const db = rawDb(path);
    let exactBigints = 0;
    events.forEach((event, i) => {
      const { table } = catalog[event.type];
      const row = db.query(`SELECT * FROM ${table} WHERE seq = ?`).get(i + 1) as Row;
      const types = db
        .query(
          `SELECT ${fieldsOf(event.type).map(([n]) => `typeof(${n}) AS ${n}`)} FROM ${table} WHERE seq = ?`,
        )
        .get(i + 1) as Record<string, string>;
      expect(row.run_id).toBe(recorder.runId);
      for (const [name, field] of fieldsOf(event.type)) {
        const value = (event as unknown as Record<string, SqlValue>)[name];
        const stored = row[name];
        const where = `${table}.${name}`;
        if (value === null) {
          expect([where, stored, types[name]]).toEqual([where, null, "null"]);
        } else if (field.kind === "indicators") {
          // Python's json.dumps text, and back to the same values (NaN and ±Infinity included).
          const indicators = value as unknown as Record<string, number>;
          expect([where, stored]).toEqual([where, dumpsIndicators(indicators)]);
          expect(loadsIndicators(stored as string)).toEqual(indicators);
        } else if (field.kind === "ns" || field.kind === "int") {
          expect([where, stored, types[name]]).toEqual([
            where,
            BigInt(value as bigint | number),
            "integer",
          ]);
          if (typeof value === "bigint" && BigInt(Number(value)) !== value) exactBigints++;
        } else if (field.kind === "real") {
          // A REAL column holds a float even for a whole number, as the Python recorder's do.
          expect([where, stored, types[name]]).toEqual([where, value, "real"]);
        } else {
          expect([where, stored, types[name]]).toEqual([where, value, "text"]);
        }
      }
    });
    db.close();
    // Non-vacuous: timestamps a double would round were among them.
    expect(exactBigints).toBeGreaterThan(20);
  });

  test("indicators are stored as the Python recorder writes them: bare NaN/Infinity tokens", () => {
    const path = newDb();
    const processed = sampleEvents().find((e) => e.type === "BarProcessed") as Event;
    const recorder = Recorder.start(path);
    recorder.record(processed);
    recorder.close();
    // python3 -c 'import json; print(json.dumps({...the sample's indicators...}))'
    expect(query(path, "SELECT indicators FROM bars_processed")).toEqual([
      {
        indicators:
          '{"SMA 5": NaN, "Gr\\u00fc\\u00dfe \\"q\\"": Infinity, "neg": -Infinity, "tiny": 1e-07, "big": 1e+16, "zero": -0.0}',
      },
    ]);
  });

  test("rows are numbered 1..N across tables in publication order, over many flushes", () => {
    const path = newDb();
    const samples = sampleEvents();
    const events = numbered(Array.from({ length: 60 }, (_, i) => samples[i % 14] as Event));
    const recorder = Recorder.start(path, { batchSize: 7 });
    for (const e of events) recorder.record(e);
    recorder.close();
    expect(rowsInSeqOrder(path)).toEqual(
      events.map((e, i) => ({
        table: catalog[e.type].table,
        seq: BigInt(i + 1),
        ts: e.ts_event_ns,
      })),
    );
  });
});

describe("batching and flushing", () => {
  test("the run is registered at once; events wait for the batch size, then go in one batch", () => {
    const path = newDb();
    const before = wallNs();
    const recorder = Recorder.start(path, { runId: "r", batchSize: 5, flushIntervalMs: 600_000 });
    const [run] = query(path, "SELECT status, ts_start, ts_end FROM runs");
    expect(run).toEqual({ status: "running", ts_start: expect.any(BigInt), ts_end: null });
    expect(
      (run?.ts_start as bigint) >= before - 1_000_000_000n &&
        (run?.ts_start as bigint) <= wallNs() + 1_000_000_000n,
    ).toBe(true);

    // Mixed types count toward one batch.
    const events = numbered(sampleEvents().slice(0, 12));
    const seen: number[] = [];
    for (const e of events) {
      recorder.record(e);
      seen.push(count(path));
    }
    expect(seen).toEqual([0, 0, 0, 0, 5, 5, 5, 5, 5, 10, 10, 10]);
    expect(query(path, "SELECT events FROM runtape_runs")).toEqual([{ events: 10n }]);
    recorder.close();
    expect(count(path)).toBe(12);
  });

  test("a buffered event older than the interval is flushed by the timer while the recorder idles", async () => {
    const path = newDb();
    const recorder = Recorder.start(path, { batchSize: 1_000_000, flushIntervalMs: 50 });
    recorder.record(bar(0));
    expect(count(path, "bars")).toBe(0);
    await until(() => count(path, "bars") === 1, "the timer's flush");
    expect(count(path, "bars")).toBe(1);
    recorder.close();
  });

  test("the age is also checked as events arrive", () => {
    const path = newDb();
    const recorder = Recorder.start(path, { batchSize: 1_000_000, flushIntervalMs: 50 });
    recorder.record(bar(0));
    // A blocking sleep: the timer cannot run, so only the next event can notice the age.
    Bun.sleepSync(60);
    expect(count(path, "bars")).toBe(0);
    recorder.record(bar(1));
    expect(count(path, "bars")).toBe(2);
    recorder.close();
  });

  test("closing flushes first: a completed run holds every buffered event", () => {
    const path = newDb();
    const recorder = Recorder.start(path, { batchSize: 1000, flushIntervalMs: 600_000 });
    const events = numbered(
      Array.from({ length: 123 }, (_, i) => (i % 2 ? bar(i) : (sampleEvents()[i % 14] as Event))),
    );
    for (const e of events) recorder.record(e);
    expect(count(path)).toBe(0);
    expect(recorder.close()).toEqual({
      runId: recorder.runId,
      status: "completed",
      events: 123,
      refused: 0,
    });
    expect(count(path)).toBe(123);
    const [run] = query(
      path,
      "SELECT r.status, r.ts_start, r.ts_end, x.events FROM runs r JOIN runtape_runs x USING (run_id)",
    );
    expect(run?.status).toBe("completed");
    expect(run?.events).toBe(123n);
    expect((run?.ts_end as bigint) >= (run?.ts_start as bigint)).toBe(true);
  });

  test("a run whose last flush fails is not marked ended; closing again stores everything", () => {
    const path = newDb();
    const recorder = Recorder.start(path, { runId: "r", batchSize: 1000 });
    recorder.record(bar(0));
    recorder.record(bar(1, "BOOM"));
    // Another connection makes the insert fail, as a full disk or a broken file would.
    const other = new Database(path);
    other.run(
      "CREATE TRIGGER boom BEFORE INSERT ON bars WHEN NEW.symbol = 'BOOM' BEGIN SELECT RAISE(ABORT, 'no space'); END",
    );
    expect(() => recorder.close()).toThrow(RuntapeError);
    expect(query(path, "SELECT status, ts_end FROM runs")).toEqual([
      { status: "running", ts_end: null },
    ]);
    expect(count(path)).toBe(0);
    other.run("DROP TRIGGER boom");
    other.close();
    expect(recorder.close().status).toBe("completed");
    expect(query(path, "SELECT symbol FROM bars ORDER BY seq")).toEqual([
      { symbol: "AAPL" },
      { symbol: "BOOM" },
    ]);
  });

  test("events taken while flushes fail, over whole multi-row chunks and a part of one, are all stored in order", () => {
    const path = newDb();
    const recorder = Recorder.start(path, { runId: "r", batchSize: 100_000 });
    const other = new Database(path);
    other.run(
      "CREATE TRIGGER boom BEFORE INSERT ON bars WHEN NEW.symbol = 'BOOM' BEGIN SELECT RAISE(ABORT, 'no space'); END",
    );
    const events = Array.from({ length: 300 }, (_, i) => bar(i, i === 5 ? "BOOM" : "AAPL"));
    for (const event of events.slice(0, 150)) recorder.record(event);
    expect(() => recorder.flush()).toThrow(RuntapeError);
    for (const event of events.slice(150)) recorder.record(event);
    expect(() => recorder.flush()).toThrow(RuntapeError);
    other.run("DROP TRIGGER boom");
    other.close();
    expect(recorder.close().events).toBe(300);
    expect([...replay(path, { run: "r" })]).toEqual(events);
  });
});

/**
 * Runs `body` with Bun.gc replaced by a spy and the recorder's clock (performance.now) by one that
 * moves only when told: `advance(ms)`. Returns the spy's calls, each with the rows stored when it
 * came (with `path`) and its argument. A call takes `ms` of that clock instead of collecting.
 */
async function collections(
  path: string | undefined,
  body: (advance: (ms: number) => void) => void | Promise<void>,
  ms = 0,
): Promise<[number, boolean | undefined][]> {
  const calls: [number, boolean | undefined][] = [];
  const { gc } = Bun;
  const now = performance.now;
  // Whole milliseconds: sums and differences of them are exact, as the 10× rule's test needs
  // (from a fractional start, (t + 20) - t can come out a hair above 20 and skip the collection).
  let clock = Math.floor(now.call(performance));
  performance.now = () => clock;
  Bun.gc = (force?: boolean) => {
    calls.push([path === undefined ? 0 : count(path), force]);
    clock += ms;
  };
  try {
    await body((by) => {
      clock += by;
    });
  } finally {
    Bun.gc = gc;
    performance.now = now;
  }
  return calls;
}

describe("collectGarbage", () => {
  const collecting = { batchSize: 5, flushIntervalMs: 600_000, collectGarbage: true };
  const events = numbered([...sampleEvents(), ...sampleEvents()].slice(0, 20));

  test("asks for a full collection each time another batchSize events are stored, after they are", async () => {
    const path = newDb();
    const calls = await collections(path, () => {
      const recorder = Recorder.start(path, collecting);
      for (const e of events.slice(0, 12)) recorder.record(e); // two batches by size: 5, 10
      recorder.flush(); // 12: two since the last collection
      for (const e of events.slice(12, 15)) recorder.record(e);
      recorder.close(); // 15: five since
    });
    expect(calls).toEqual([
      [5, true],
      [10, true],
      [15, true],
    ]);
  });

  test("skips a collection until ten times what the last one took has passed since it", async () => {
    const path = newDb();
    const calls = await collections(
      path,
      (advance) => {
        const recorder = Recorder.start(path, collecting);
        for (const e of events.slice(0, 5)) recorder.record(e); // collected: it takes 20 ms
        for (const e of events.slice(5, 10)) recorder.record(e); // 0 ms after it: skipped
        advance(199);
        for (const e of events.slice(10, 15)) recorder.record(e); // 199 ms: skipped
        advance(1);
        for (const e of events.slice(15, 20)) recorder.record(e); // 200 ms: collected
        recorder.close();
      },
      20,
    );
    expect(calls).toEqual([
      [5, true],
      [20, true],
    ]);
  });

  test("on a writer thread too: the recorder collects its own heap per batchSize events handed over", async () => {
    const path = newDb();
    const calls = await collections(undefined, () => {
      const recorder = Recorder.start(path, { ...collecting, thread: true });
      for (const e of events.slice(0, 15)) recorder.record(e);
      recorder.close();
    });
    expect(calls).toEqual([
      [0, true],
      [0, true],
      [0, true],
    ]);
    expect([...replay(path)]).toEqual(events.slice(0, 15));
  });

  test("is off by default: the host's collections are its own", async () => {
    const path = newDb();
    const calls = await collections(path, () => {
      const recorder = Recorder.start(path, { batchSize: 5 });
      for (const e of events.slice(0, 12)) recorder.record(e);
      recorder.close();
    });
    expect(calls).toEqual([]);
    expect(count(path)).toBe(12);
  });

  test("an option that is not a boolean is refused", () => {
    expect(() => Recorder.start(newDb(), { collectGarbage: 1 as unknown as boolean })).toThrow(
      "recorder option collectGarbage",
    );
  });
});

describe("on a writer thread (the thread option)", () => {
  const boom = (path: string) => {
    const other = new Database(path);
    other.run(
      "CREATE TRIGGER boom BEFORE INSERT ON bars WHEN NEW.symbol = 'BOOM' BEGIN SELECT RAISE(ABORT, 'no space'); END",
    );
    return () => {
      other.run("DROP TRIGGER boom");
      other.close();
    };
  };

  test("stores the rows in line would, over many batches, and closes the run with its counters", () => {
    const samples = sampleEvents();
    const events = numbered(Array.from({ length: 500 }, (_, i) => samples[i % 14] as Event));
    const paths = [false, true].map((thread) => {
      const path = newDb();
      const recorder = Recorder.start(path, { runId: "r", batchSize: 7, thread });
      for (const e of events) recorder.record(e);
      expect(() => recorder.record({ ...bar(0), open: Number.NaN } as Event)).toThrow();
      expect(recorder.close()).toEqual({
        runId: "r",
        status: "completed",
        events: 500,
        refused: 1,
      });
      return path;
    });
    const [inLine, threaded] = paths as [string, string];
    // The thread closed its connection: SQLite removed the side files with the last one.
    expect(existsSync(`${threaded}-wal`) || existsSync(`${threaded}-shm`)).toBe(false);
    expect(rowsInSeqOrder(threaded)).toEqual(rowsInSeqOrder(inLine));
    expect([...replay(threaded, { run: "r" })]).toEqual(events);
    const counters = "SELECT events, refused, last_ts_event_ns, bar_periods FROM runtape_runs";
    expect(query(threaded, counters)).toEqual(query(inLine, counters));
  });

  test("flush() returns once every event taken is stored, as another connection sees", () => {
    const path = newDb();
    const recorder = Recorder.start(path, { batchSize: 3, flushIntervalMs: 600_000, thread: true });
    for (let i = 0; i < 10; i++) recorder.record(bar(i));
    recorder.flush();
    expect(count(path, "bars")).toBe(10);
    expect(query(path, "SELECT events FROM runtape_runs")).toEqual([{ events: 10n }]);
    recorder.close();
  });

  test("a batch the thread cannot store is thrown by a later call, kept, and stored first once it can be", () => {
    const path = newDb();
    const recorder = Recorder.start(path, { runId: "r", batchSize: 40, thread: true });
    const allow = boom(path);
    const events = Array.from({ length: 300 }, (_, i) => bar(i, i === 5 ? "BOOM" : "AAPL"));
    const thrown: unknown[] = [];
    for (const event of events) {
      try {
        recorder.record(event);
      } catch (error) {
        thrown.push(error);
      }
    }
    // Every batch after the first waits on it: the failure comes back at each try.
    expect(thrown.length).toBeGreaterThan(0);
    expect(thrown.every((e) => e instanceof RuntapeError && /no space/.test(e.message))).toBe(true);
    expect(() => recorder.flush()).toThrow(RuntapeError);
    expect(() => recorder.close()).toThrow(RuntapeError);
    expect(query(path, "SELECT status FROM runs")).toEqual([{ status: "running" }]);
    expect(count(path)).toBe(0);
    allow();
    expect(recorder.close().events).toBe(300);
    expect([...replay(path, { run: "r" })]).toEqual(events);
  });

  test("the thread writes to the file the recorder opened, after the process changed directory", () => {
    const [here, there] = [tempDir(), tempDir()];
    for (const dir of [here, there]) openRunsDb(join(dir, "runs.db"), { mode: "write" }).close();
    const cwd = process.cwd();
    try {
      process.chdir(here);
      const recorder = Recorder.start("runs.db", { runId: "r", batchSize: 5, thread: true });
      process.chdir(there);
      const events = Array.from({ length: 23 }, (_, i) => bar(i));
      for (const event of events) recorder.record(event);
      expect(recorder.close().status).toBe("completed");
      expect([...replay(join(here, "runs.db"), { run: "r" })]).toEqual(events);
      expect(count(join(there, "runs.db"))).toBe(0);
    } finally {
      process.chdir(cwd);
    }
  });

  test("where the thread cannot open the file, the batches are stored in line", () => {
    const dir = tempDir();
    const path = join(dir, "runs.db");
    const db = openRunsDb(path, { mode: "write" });
    // The recorder writes through this connection; the thread opens the file by a name that is
    // not there, as it would a file it may not open.
    const renamed = { ...db, path: join(dir, "elsewhere.db") };
    const recorder = Recorder.start(renamed, { runId: "r", batchSize: 5, thread: true });
    const events = Array.from({ length: 23 }, (_, i) => bar(i));
    for (const event of events) recorder.record(event);
    expect(recorder.close().status).toBe("completed");
    db.close();
    expect(existsSync(join(dir, "elsewhere.db"))).toBe(false);
    expect([...replay(path, { run: "r" })]).toEqual(events);
  });

  test("a thread option that is not a boolean is refused", () => {
    expect(() => Recorder.start(newDb(), { thread: "yes" as unknown as boolean })).toThrow(
      "recorder option thread",
    );
  });
});

describe("refused events", () => {
  test("reach the error handler as InvalidEventError naming the field; the others are recorded", () => {
    const path = newDb();
    const errors: [InvalidEventError, Event][] = [];
    const bus = new EventBus();
    const recorder = Recorder.start(path, { batchSize: 3 });
    recorder.attach(bus, {
      onError: (error, event) => errors.push([error as InvalidEventError, event]),
    });
    const { symbol: _, ...noSymbol } = bar(3) as Event & { symbol: string };
    const bad: [Event, string][] = [
      [{ ...bar(2), open: Number.NaN } as Event, "open"],
      [noSymbol as Event, "symbol"],
      [{ ...bar(4), ts_event_ns: 2n ** 63n } as Event, "ts_event_ns"],
      [{ ...bar(5), ts_created_ns: -(2n ** 63n) - 1n } as Event, "ts_created_ns"],
      [{ ...bar(6), ts_event_ns: Number(T0) } as unknown as Event, "ts_event_ns"],
      // The last column: the refused row's first values were already taken and must go again.
      [{ ...bar(7), volume: 15 } as unknown as Event, "volume"],
      // A type the catalog does not know: no typed subscription gets it, the recorder must.
      [{ ...bar(8), type: "Tick" } as unknown as Event, "type"],
    ];
    const good = numbered([bar(0), ...sampleEvents(), bar(1)]);
    const published: Event[] = [];
    good.forEach((event, i) => {
      bus.publish(event);
      published.push(event);
      const refused = bad[i % bad.length];
      if (i < bad.length && refused) {
        bus.publish(refused[0]);
        // Refused when published, not at the next flush.
        expect(errors.at(-1)?.[1]).toBe(refused[0]);
      }
    });
    const summary = recorder.close();

    expect(errors.map(([e]) => [e instanceof InvalidEventError, e.eventType, e.field])).toEqual(
      bad.map(([e, field]) => [true, e.type, field]),
    );
    expect(errors[0]?.[0].message).toBe("BarReceived.open: expected a finite number (got NaN)");
    expect(summary).toEqual({
      runId: recorder.runId,
      status: "completed",
      events: good.length,
      refused: bad.length,
    });
    expect(query(path, "SELECT events, refused FROM runtape_runs")).toEqual([
      { events: BigInt(good.length), refused: BigInt(bad.length) },
    ]);
    // The good ones, all of them, numbered without gaps.
    expect(rowsInSeqOrder(path)).toEqual(
      published.map((e, i) => ({
        table: catalog[e.type].table,
        seq: BigInt(i + 1),
        ts: e.ts_event_ns,
      })),
    );
    // Whole rows, not shifted by the refused bar's values: the volumes (the last column) line up.
    expect(query(path, "SELECT volume FROM bars ORDER BY seq").map((r) => r.volume)).toEqual(
      published.flatMap((e) => (e.type === "BarReceived" ? [e.volume] : [])),
    );
  });

  test("record() throws the refusal itself, also for something that is no event type", () => {
    const recorder = Recorder.start(newDb());
    expect(() => recorder.record({ ...bar(0), high: Number.POSITIVE_INFINITY } as Event)).toThrow(
      InvalidEventError,
    );
    expect(() => recorder.record({ type: "Tick" } as unknown as Event)).toThrow(InvalidEventError);
    // Half a UTF-16 pair has no UTF-8 form: stored, it would come back as U+FFFD.
    expect(() => recorder.record({ ...bar(0), symbol: "A\ud800" } as Event)).toThrow(
      "BarReceived.symbol: not valid Unicode (a lone surrogate)",
    );
    recorder.record(bar(1));
    expect(recorder.close()).toMatchObject({ events: 1, refused: 3 });
  });
});

describe("attached to a bus", () => {
  test("a second attach to the same bus is refused: every event would be recorded twice", () => {
    const path = newDb();
    const recorder = Recorder.start(path, { runId: "r" });
    const bus = new EventBus();
    const bars = [0, 1, 2, 3].map((i) => bar(i));
    const detach = recorder.attach(bus);
    expect(() => recorder.attach(bus)).toThrow(
      "attach: run r's recorder is already attached to this bus (each event would be recorded twice)",
    );
    bus.publish(bars[0] as Event);
    // Detached, it may attach again; another bus is another source of events.
    detach();
    bus.publish(bars[1] as Event);
    recorder.attach(bus);
    const other = new EventBus();
    recorder.attach(other);
    bus.publish(bars[2] as Event);
    other.publish(bars[3] as Event);
    expect(recorder.close()).toMatchObject({ events: 3, refused: 0 });
    expect([...replay(path, { run: "r" })]).toEqual(bars.filter((_, i) => i !== 1));
  });

  test("something published that is no event object is refused in one line that says so", () => {
    const recorder = Recorder.start(newDb());
    const bus = new EventBus();
    recorder.attach(bus);
    for (const [value, message] of [
      [null, "expected an event object (got null)"],
      [undefined, "expected an event object (got nothing)"],
      [5, "expected an event object (got 5)"],
      [[], "expected an event object (got [])"],
      [{}, "event.type: not an event type (got nothing)"],
    ] as const) {
      expect(() => bus.publish(value as never)).toThrow(message);
      let error: unknown;
      try {
        recorder.record(value as never);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(InvalidEventError);
      expect([(error as Error).message, (error as InvalidEventError).field]).toEqual([
        message,
        "type",
      ]);
    }
    expect(recorder.close()).toMatchObject({ events: 0, refused: 10 });
  });
});

describe("runs", () => {
  test("a duplicate run id is refused and the existing run is unchanged, running or ended", () => {
    const path = newDb();
    const first = Recorder.start(path, { runId: "r1", name: "first", metadata: { a: 1 } });
    first.record(bar(0));
    first.flush();
    const snapshot = () => [runContentHash(path, "r1"), query(path, "SELECT * FROM runtape_runs")];
    const running = snapshot();
    expect(() => Recorder.start(path, { runId: "r1", name: "second" })).toThrow(DuplicateRunError);
    expect(snapshot()).toEqual(running);
    // The first recording carries on undisturbed.
    first.record(bar(1));
    first.close();
    const ended = snapshot();
    const db = openRunsDb(path, { mode: "write" });
    expect(() => Recorder.start(db, { runId: "r1" })).toThrow(DuplicateRunError);
    // A database handed in stays open for its owner.
    expect(db.sqlite.query("SELECT COUNT(*) AS n FROM runs").get()).toEqual({ n: 1n });
    db.close();
    expect(snapshot()).toEqual(ended);
    expect(query(path, "SELECT name, status, metadata FROM runs")).toEqual([
      { name: "first", status: "completed", metadata: '{"a":1}' },
    ]);
    expect(count(path)).toBe(2);
  });

  test("several runs in one database, recorded at once, stay apart", () => {
    const path = newDb();
    const a = Recorder.start(path, { runId: "a", batchSize: 4 });
    const b = Recorder.start(path, { runId: "b", batchSize: 3 });
    const samples = sampleEvents();
    const events = numbered(Array.from({ length: 40 }, (_, i) => samples[i % 14] as Event));
    events.forEach((e, i) => {
      (i % 3 === 0 ? a : b).record(e);
    });
    a.close();
    b.close("cancelled");
    for (const [run, pick] of [
      ["a", (i: number) => i % 3 === 0],
      ["b", (i: number) => i % 3 !== 0],
    ] as const) {
      const mine = events.filter((_, i) => pick(i));
      expect(rowsInSeqOrder(path, run)).toEqual(
        mine.map((e, i) => ({
          table: catalog[e.type].table,
          seq: BigInt(i + 1),
          ts: e.ts_event_ns,
        })),
      );
    }
    expect(query(path, "SELECT run_id, status FROM runs ORDER BY run_id")).toEqual([
      { run_id: "a", status: "completed" },
      { run_id: "b", status: "cancelled" },
    ]);
  });

  test("run ids default to time-ordered UUIDs, names to the id; start time is now", () => {
    const path = newDb();
    const before = wallNs();
    const ids = Array.from({ length: 5 }, () => Recorder.start(path).close().runId);
    expect(
      ids.every((id) =>
        /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(id),
      ),
    ).toBe(true);
    expect([...ids].sort()).toEqual(ids);
    const rows = query(path, "SELECT run_id, name, ts_start FROM runs ORDER BY rowid");
    expect(rows.map((r) => [r.run_id, r.name])).toEqual(ids.map((id) => [id, id]));
    for (const r of rows)
      expect(
        (r.ts_start as bigint) >= before - 1_000_000_000n &&
          (r.ts_start as bigint) <= wallNs() + 1_000_000_000n,
      ).toBe(true);
  });

  test("config and metadata: an empty or absent object is NULL, any other is JSON", () => {
    const path = newDb();
    const cases: [string, Record<string, unknown> | null | undefined][] = [
      ["empty", {}],
      ["null", null],
      ["absent", undefined],
      ["full", { ü: [1, null, "日本"], nested: { empty: {} } }],
    ];
    for (const [runId, value] of cases)
      Recorder.start(path, { runId, config: value, metadata: value }).close();
    const rows = query(path, "SELECT run_id, config, metadata FROM runs ORDER BY rowid");
    expect(rows.slice(0, 3)).toEqual(
      ["empty", "null", "absent"].map((run_id) => ({ run_id, config: null, metadata: null })),
    );
    expect(JSON.parse(rows[3]?.config as string)).toEqual(cases[3]?.[1]);
    expect(JSON.parse(rows[3]?.metadata as string)).toEqual(cases[3]?.[1]);
  });

  test("a closed recorder refuses events; closing again changes nothing", () => {
    const path = newDb();
    const bus = new EventBus();
    const recorder = Recorder.start(path);
    recorder.attach(bus);
    recorder.record(bar(0));
    const summary = recorder.close("cancelled");
    const ended = query(path, "SELECT * FROM runs");
    let error: unknown;
    try {
      recorder.record(bar(1));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(RuntapeError);
    expect((error as RuntapeError).code).toBe("RUN_CLOSED");
    // It left the bus when it closed.
    expect(EVENT_TYPES.map((t) => bus.subscriberCount(t))).toEqual(EVENT_TYPES.map(() => 0));
    bus.publish(bar(2));
    expect(recorder.close("completed")).toEqual(summary);
    expect(query(path, "SELECT * FROM runs")).toEqual(ended);
    expect(count(path)).toBe(1);
  });

  test("a database opened read-only is refused for recording, and gains no run", () => {
    const path = newDb();
    openRunsDb(path, { mode: "write" }).close();
    const db = openRunsDb(path);
    expect(() => Recorder.start(db)).toThrow(RuntapeError);
    db.close();
    expect(query(path, "SELECT COUNT(*) AS n FROM runs")).toEqual([{ n: 0n }]);
  });
});
