import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import {
  copyRun,
  EmptyInputError,
  encodeEvent,
  getRun,
  openRunsDb,
  Recorder,
  RunCancelledError,
  RunNotClosedError,
  type RuntapeError,
  readNdjson,
  recordNdjson,
  recordRun,
  replay,
  type SqlValue,
} from "../src/index.ts";
import { bar, newDb, query, sampleEvents } from "./helpers.ts";

const statuses = (path: string) =>
  query(path, "SELECT run_id, status, ts_end IS NOT NULL AS ended FROM runs ORDER BY rowid");

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection");
}

describe("recordRun", () => {
  test("completes with the body's result, or marks the run failed and rethrows", async () => {
    const path = newDb();
    const ok = await recordRun(path, { runId: "ok" }, async (bus) => {
      bus.publish(bar(0));
      await Bun.sleep(1);
      return "done";
    });
    expect(ok).toEqual({
      result: "done",
      summary: { runId: "ok", status: "completed", events: 1, refused: 0 },
    });
    const boom = new Error("strategy bug");
    await expect(
      recordRun(path, { runId: "bad" }, (bus) => {
        bus.publish(bar(1));
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(statuses(path)).toEqual([
      { run_id: "ok", status: "completed", ended: 1n },
      { run_id: "bad", status: "failed", ended: 1n },
    ]);
    // The failed run's events were flushed before its status.
    expect(query(path, "SELECT run_id FROM bars ORDER BY id")).toEqual([
      { run_id: "ok" },
      { run_id: "bad" },
    ]);
  });

  test("an aborted signal closes the run cancelled at once, with what it had", async () => {
    const path = newDb();
    const abort = new AbortController();
    let seenAtAbort: Record<string, SqlValue>[] = [];
    const stuck = recordRun(path, { runId: "stopped", signal: abort.signal }, async (bus) => {
      bus.publish(bar(0));
      bus.publish(bar(1));
      abort.abort();
      // Closed and stored before the body has given up: a body stuck on input cannot lose it.
      seenAtAbort = statuses(path);
      bus.publish(bar(2));
    });
    const error = await rejection(stuck);
    expect(error).toBeInstanceOf(RunCancelledError);
    expect((error as RunCancelledError).summary).toMatchObject({ runId: "stopped", events: 2 });
    expect(seenAtAbort).toEqual([{ run_id: "stopped", status: "cancelled", ended: 1n }]);
    expect(query(path, "SELECT COUNT(*) AS n FROM bars")).toEqual([{ n: 2n }]);
    // Aborted before the start: no run at all.
    await expect(recordRun(path, { signal: abort.signal }, () => 0)).rejects.toThrow();
    expect(statuses(path)).toHaveLength(1);
  });

  test("a run the disk refuses to close stays running, with one error saying so; its events wait in memory", async () => {
    const path = newDb();
    const db = openRunsDb(path, { mode: "write" });
    let recorder: Recorder | undefined;
    const full = recordRun(
      db,
      { runId: "full", batchSize: 100, onStart: (r) => (recorder = r) },
      (bus) => {
        for (let i = 0; i < 100; i++) bus.publish(bar(i));
        // The file may not grow by a page more: SQLite answers SQLITE_FULL, as on a full disk.
        const { page_count } = db.sqlite.query("PRAGMA page_count").get() as { page_count: number };
        db.sqlite.exec(`PRAGMA max_page_count = ${page_count}`);
        for (let i = 100; i < 5000; i++) bus.publish(bar(i));
      },
    );
    const error = await rejection(full);
    expect(error).toBeInstanceOf(RunNotClosedError);
    expect((error as RunNotClosedError).code).toBe("NOT_CLOSED");
    expect((error as Error).message).toBe(
      `${path}: the disk is full: free some space, then \`runtape recover\` closes a run it left running (run full stays running)`,
    );
    expect(statuses(path)).toEqual([{ run_id: "full", status: "running", ended: 0n }]);
    expect(query(path, "SELECT COUNT(*) AS n FROM bars")).toEqual([{ n: 100n }]);
    // The publish whose batch met the full disk threw, which ended the body at 200 events. With
    // room again, closing stores the batch the recorder had kept, then the status.
    db.sqlite.exec("PRAGMA max_page_count = 1073741823");
    expect(recorder?.close("failed")).toMatchObject({ status: "failed", events: 200 });
    expect(query(path, "SELECT COUNT(*) AS n FROM bars")).toEqual([{ n: 200n }]);
    db.close();
  });

  test("onStart sees the recorder; onProgress counts every event", async () => {
    const seen: number[] = [];
    let started: Recorder | undefined;
    const { summary } = await recordRun(
      newDb(),
      { onStart: (r) => (started = r), onProgress: (n) => seen.push(n) },
      (bus) => {
        for (let i = 0; i < 3; i++) bus.publish(bar(i));
      },
    );
    expect(started?.runId).toBe(summary.runId);
    expect(seen).toEqual([1, 2, 3]);
  });
});

describe("recordNdjson", () => {
  test("records the lines as one run, equal to the events", async () => {
    const path = newDb();
    const events = [bar(0), ...sampleEvents()];
    const chunks = events.map((e) => `${encodeEvent(e)}\n`);
    const summary = await recordNdjson(path, chunks, { runId: "nd", name: "from text" });
    expect(summary).toEqual({
      runId: "nd",
      status: "completed",
      events: events.length,
      refused: 0,
    });
    expect([...replay(path, { run: "nd" })]).toEqual(events);
    expect(query(path, "SELECT name FROM runs")).toEqual([{ name: "from text" }]);
  });

  test("a string (a path, say) is refused at the call, in its type too, with what to pass instead", async () => {
    const path = newDb();
    const message =
      "expected NDJSON as a stream or an iterable of chunks, not a string (a file: pass Bun.file(path).stream(); text: pass [text])";
    // @ts-expect-error: a string is an iterable of characters, but no NdjsonInput
    expect(() => readNdjson("events.ndjson")).toThrow(`readNdjson: ${message}`);
    // @ts-expect-error: as above
    const error = await rejection(recordNdjson(path, "events.ndjson", { runId: "s" }));
    expect([(error as RuntapeError).code, (error as Error).message]).toEqual([
      "INVALID_OPTION",
      `recordNdjson: ${message}`,
    ]);
    for (const input of [5, null, {}]) {
      expect(() => readNdjson(input as never)).toThrow(
        "readNdjson: expected NDJSON as a stream or an iterable of chunks (got ",
      );
    }
    expect(existsSync(path)).toBe(false); // no run, not even the file
    // What it does take: a stream, chunks of text or bytes, sync or async.
    const line = `${encodeEvent(bar(0))}\n`;
    const inputs = [
      [line],
      [new TextEncoder().encode(line)],
      new Blob([line]).stream(),
      (async function* () {
        yield line;
      })(),
    ];
    for (const input of inputs) {
      const events = [];
      for await (const event of readNdjson(input)) events.push(event);
      expect(events).toHaveLength(1);
    }
  });

  test("a wrong option is refused at the call, before a line is read or taken from the input", async () => {
    const path = newDb();
    let pulled = 0;
    const input = (async function* () {
      pulled++;
      yield `${encodeEvent(bar(0))}\n`;
    })();
    const refusals = await Promise.all(
      [{ batchsize: 3 }, { batchSize: 0 }, { runId: "" }, { signal: "stop" }, { onStart: 1 }].map(
        (options) => rejection(recordNdjson(path, input, options as never)),
      ),
    );
    expect(refusals.map((e) => [(e as RuntapeError).code, (e as Error).message])).toEqual([
      ["INVALID_OPTION", "recordNdjson option batchsize: no such option (did you mean batchSize?)"],
      ["INVALID_OPTION", expect.stringMatching(/^recordNdjson option batchSize: /)],
      ["INVALID_RUN_ID", 'invalid run id "": it is empty'],
      ["INVALID_OPTION", "recordNdjson option signal: expected an AbortSignal"],
      ["INVALID_OPTION", expect.stringMatching(/^recordNdjson option onStart: /)],
    ]);
    expect([pulled, existsSync(path)]).toEqual([0, false]);
    // The input is still whole: its first line is recorded by the next call.
    expect(await recordNdjson(path, input, { runId: "whole" })).toMatchObject({ events: 1 });
  });

  test("a ts_created_ns the first line leaves out is made once the run has started, not before", async () => {
    const path = newDb();
    const line = (i: number) => {
      const { ts_created_ns: _, ...rest } = JSON.parse(encodeEvent(bar(i)));
      return JSON.stringify(rest);
    };
    // The first line alone, then a pause: the run starts only after it has been read.
    const input = (async function* () {
      yield `${line(0)}\n`;
      await Bun.sleep(5);
      yield `${line(1)}\n`;
    })();
    await recordNdjson(path, input, { runId: "filled" });
    const [run] = query(path, "SELECT ts_start FROM runs");
    const created = query(path, "SELECT ts_created_ns FROM bars ORDER BY seq").map(
      (r) => r.ts_created_ns as bigint,
    );
    expect(created).toHaveLength(2);
    for (const ts of created) expect(ts).toBeGreaterThanOrEqual(run?.ts_start as bigint);
    // A ts_created_ns the line gives is kept as it is.
    const given = bar(0);
    await recordNdjson(path, [`${encodeEvent(given)}\n`], { runId: "given" });
    expect([...replay(path, { run: "given" })]).toEqual([given]);
  });

  test("an invalid first line makes no run: the input is refused as a whole", async () => {
    const path = newDb();
    const good = encodeEvent(bar(0));
    for (const [lines, at] of [
      [["runs.db", good], 1],
      [["", "  ", '{"type":"BarReceived"}', good], 3],
    ] as const) {
      const error = await rejection(recordNdjson(path, [lines.join("\n")], { runId: "first" }));
      expect([(error as RuntapeError).code, (error as Error).message]).toEqual([
        "NDJSON",
        expect.stringMatching(new RegExp(`^line ${at}: `)),
      ]);
    }
    expect(existsSync(path)).toBe(false); // no run, not even the file
    // Aborted while the first line is awaited: no run either, the signal's reason.
    const abort = new AbortController();
    const never = (async function* () {
      await new Promise(() => {});
      yield "";
    })();
    const waiting = recordNdjson(path, never, { runId: "waits", signal: abort.signal });
    abort.abort(new Error("stop"));
    expect(((await rejection(waiting)) as Error).message).toBe("stop");
    expect(existsSync(path)).toBe(false); // no run, not even the file
  });

  test("an input without events makes no run: EmptyInputError, where it read as a completed run", async () => {
    const path = newDb();
    const nothing = (async function* () {})();
    for (const input of [[], ["\n", "  \r\n"], nothing, new Blob([""]).stream()]) {
      const error = await rejection(recordNdjson(path, input, { runId: "empty" }));
      expect(error).toBeInstanceOf(EmptyInputError);
      expect([(error as RuntapeError).code, (error as Error).message]).toEqual([
        "INPUT_EMPTY",
        "the NDJSON input holds no events",
      ]);
    }
    expect(existsSync(path)).toBe(false); // no run, not even the file
  });

  test("an invalid line ends the run failed, keeping the events before it", async () => {
    const path = newDb();
    const kept = [bar(0), bar(1)];
    const lines = [...kept.map(encodeEvent), '{"type":"BarReceived"}'];
    const error = await rejection(recordNdjson(path, [lines.join("\n")], { runId: "half" }));
    expect((error as RuntapeError).code).toBe("NDJSON");
    expect((error as Error).message).toStartWith("line 3: BarReceived.");
    expect(statuses(path)).toEqual([{ run_id: "half", status: "failed", ended: 1n }]);
    expect([...replay(path, { run: "half" })]).toEqual(kept);
  });

  test("a signal aborted from the event loop (a signal handler, a timer) stops input that never waits", async () => {
    const path = newDb();
    // Lines that are all there at once, as a file's are: reading them never waits for the event
    // loop, where whatever aborts the signal runs.
    const chunks = Array.from({ length: 20 }, (_, k) =>
      Array.from({ length: 1000 }, (_, i) => `${encodeEvent(bar(k * 1000 + i))}\n`).join(""),
    );
    const abort = new AbortController();
    const onStart = () => setImmediate(() => abort.abort());
    const error = await rejection(
      recordNdjson(path, chunks, { runId: "file", signal: abort.signal, onStart }),
    );
    expect(error).toBeInstanceOf(RunCancelledError);
    const { events } = (error as RunCancelledError).summary;
    expect(events).toBeLessThan(20_000);
    expect(statuses(path)).toEqual([{ run_id: "file", status: "cancelled", ended: 1n }]);
    expect(query(path, "SELECT COUNT(*) AS n FROM bars")).toEqual([{ n: BigInt(events) }]);
  });
});

describe("copyRun", () => {
  test("copies a run under its id, name, config (exact integers) and metadata", async () => {
    const from = newDb();
    const config = { seed: 2n ** 62n + 1n, window: 20, label: "x" };
    const { summary } = await recordRun(
      from,
      { name: "original", config, metadata: { host: "a" } },
      (bus) => {
        for (const event of sampleEvents()) bus.publish(event);
      },
    );
    await recordRun(from, { runId: "later" }, (bus) => bus.publish(bar(9)));
    const to = newDb();
    const copy = await copyRun({ db: from, run: summary.runId }, to);
    expect(copy).toEqual({ ...summary, skipped: 0 });
    expect([...replay(to)]).toEqual([...replay(from, { run: summary.runId })]);
    const db = openRunsDb(to);
    const run = getRun(db, summary.runId);
    db.close();
    expect([run.name, run.config]).toEqual([
      "original",
      `{"seed":${2n ** 62n + 1n},"window":20,"label":"x"}`,
    ]);
    // The source's metadata, and where the copy came from.
    expect(JSON.parse(run.metadata ?? "")).toEqual({
      host: "a",
      lineage: expect.objectContaining({ source_run: summary.runId, filtered: false }),
    });
  });

  test("a copy of a closed run is closed with the run's status and times in one write", async () => {
    const from = newDb();
    await rejection(
      recordRun(from, { runId: "fl" }, (bus) => {
        bus.publish(bar(0));
        throw new Error("strategy bug");
      }),
    );
    const [source] = query(from, "SELECT status, ts_start, ts_end FROM runs");
    const to = newDb();
    // A process killed between two writes leaves what the first one wrote: the copy's row may
    // take no closed state but the final one, so the close must write it whole.
    const db = openRunsDb(to, { mode: "write" });
    db.sqlite.run(`CREATE TRIGGER closed_whole BEFORE UPDATE ON runs
      WHEN NEW.status <> 'running' AND (NEW.status <> 'failed' OR NEW.ts_start <> ${source?.ts_start}
        OR NEW.ts_end IS NOT ${source?.ts_end})
      BEGIN SELECT RAISE(ABORT, 'the copy was closed with values of its own'); END`);
    db.close();
    const copy = await copyRun({ db: from, run: "fl" }, to);
    expect(copy).toMatchObject({ runId: "fl", status: "failed", events: 1 });
    expect(query(to, "SELECT status, ts_start, ts_end FROM runs")).toEqual([
      source as Record<string, SqlValue>,
    ]);
  });

  test("a stored config that is no JSON object is refused before anything is copied", async () => {
    const from = newDb();
    await recordRun(from, { runId: "odd" }, (bus) => bus.publish(bar(0)));
    const raw = new (await import("bun:sqlite")).Database(from);
    raw.run("UPDATE runs SET config = 'not json' WHERE run_id = 'odd'");
    raw.close();
    const to = newDb();
    const error = await rejection(copyRun({ db: from }, to));
    expect([(error as RuntapeError).code, (error as Error).message]).toEqual([
      "INVALID_JSON",
      expect.stringMatching(/^config of run odd is not valid JSON: /),
    ]);
    expect(openRunsDb(to, { mode: "write" }).sqlite.query("SELECT * FROM runs").all()).toEqual([]);
  });
});

const CIRCULAR: Record<string, unknown> = {};
CIRCULAR.self = CIRCULAR;

describe("Recorder options and scope", () => {
  test.each([
    ["batchSize", 0],
    ["batchSize", -5],
    ["batchSize", Number.NaN],
    ["batchSize", 1.5],
    ["flushIntervalMs", 0],
    ["flushIntervalMs", -1],
    ["flushIntervalMs", Number.NaN],
    ["flushIntervalMs", Number.POSITIVE_INFINITY],
    // Past what a timer holds: Node's timers would fire every millisecond instead.
    ["flushIntervalMs", 2 ** 40],
    ["runId", 5],
    ["runId", null],
    ["name", 5],
    ["config", 5],
    ["config", "x"],
    ["config", [1, 2]],
    ["metadata", true],
    ["metadata", new Date(0)],
    ["config", CIRCULAR],
    [
      "metadata",
      {
        a: {
          toJSON: () => {
            throw new Error("no JSON here");
          },
        },
      },
    ],
  ])("%s %p is refused before a run is registered", (name, value) => {
    const path = newDb();
    let error: unknown;
    try {
      Recorder.start(path, { [name]: value });
    } catch (e) {
      error = e;
    }
    expect([(error as RuntapeError).code, (error as Error).message]).toEqual([
      "INVALID_OPTION",
      expect.stringMatching(new RegExp(`^recorder option ${name}: `)),
    ]);
    expect(existsSync(path)).toBe(false);
  });

  test("a misspelt option is refused, not dropped for its default; an undefined one is let through", () => {
    const path = newDb();
    expect(() => Recorder.start(path, { batchsize: 10 } as never)).toThrow(
      "recorder option batchsize: no such option (did you mean batchSize?)",
    );
    expect(() => Recorder.start(path, { flush: 5 } as never)).toThrow(
      "recorder option flush: no such option",
    );
    expect(existsSync(path)).toBe(false);
    Recorder.start(path, { runId: "r", batchSize: undefined, extra: undefined } as never).close();
    expect(existsSync(path)).toBe(true);
  });

  test("close refuses a status that ends nothing and metadata it cannot write, before it stores anything", () => {
    const path = newDb();
    const recorder = Recorder.start(path, { runId: "open" });
    recorder.record(bar(0));
    for (const [status, metadata, message] of [
      [
        "running",
        undefined,
        'close: status must be one of completed, failed, cancelled (got "running")',
      ],
      [
        "bogus",
        undefined,
        'close: status must be one of completed, failed, cancelled (got "bogus")',
      ],
      ["failed", CIRCULAR, "close: metadata: cannot be written as JSON: "],
      ["failed", [1], "close: metadata: expected an object (got [1])"],
    ] as const) {
      let error: unknown;
      try {
        recorder.close(status as "failed", metadata as Record<string, unknown> | undefined);
      } catch (e) {
        error = e;
      }
      expect([(error as RuntapeError).code, (error as Error).message]).toEqual([
        "INVALID_OPTION",
        expect.stringContaining(message),
      ]);
      expect(recorder.status).toBe("running");
    }
    recorder.record(bar(1));
    expect(recorder.close()).toMatchObject({ status: "completed", events: 2 });
    expect([...replay(path)]).toHaveLength(2);
  });

  test("`using` ends a run left open cancelled; a closed one stays as it was", () => {
    const path = newDb();
    {
      using recorder = Recorder.start(path, { runId: "scoped" });
      recorder.record(bar(0));
    }
    {
      using recorder = Recorder.start(path, { runId: "closed" });
      recorder.close("completed");
    }
    expect(statuses(path)).toEqual([
      { run_id: "scoped", status: "cancelled", ended: 1n },
      { run_id: "closed", status: "completed", ended: 1n },
    ]);
    expect(query(path, "SELECT COUNT(*) AS n FROM bars")).toEqual([{ n: 1n }]);
  });

  test("a process that exits with a run open stores its events and warns once, via runtape/testing", async () => {
    const path = newDb();
    const script = `
      import { Recorder } from "${join(import.meta.dir, "../src/index.ts")}";
      import "${join(import.meta.dir, "../src/testing.ts")}";
      import { bar } from "${join(import.meta.dir, "helpers.ts")}";
      for (const runId of ["one", "two"]) {
        const recorder = Recorder.start(${JSON.stringify(path)}, { runId, flushIntervalMs: 60000 });
        recorder.record(bar(0));
      }
      Recorder.start(${JSON.stringify(path)}, { runId: "done" }).close();
      process.exit(3);
    `;
    const proc = Bun.spawn([process.execPath, "-e", script], { stderr: "pipe", stdout: "pipe" });
    const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
    expect(code).toBe(3);
    expect(stderr).toBe(
      `runtape: warning: the process exited with 2 runs still open: one in ${path} (1 events), two in ${path} (1 events); close runs when done, or mark them with \`runtape recover\`\n`,
    );
    expect(statuses(path)).toEqual([
      { run_id: "one", status: "running", ended: 0n },
      { run_id: "two", status: "running", ended: 0n },
      { run_id: "done", status: "completed", ended: 1n },
    ]);
    expect(query(path, "SELECT run_id FROM bars ORDER BY run_id")).toEqual([
      { run_id: "one" },
      { run_id: "two" },
    ]);
  });
});
