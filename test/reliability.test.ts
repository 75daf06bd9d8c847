import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { copyFileSync, readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { encodeEvent, openRunsDb, recordRun, replay, SCHEMA_VERSION } from "../src/index.ts";
import { listSweep } from "../src/report.ts";
import { SqliteSource } from "../src/store/index.ts";
import { binary, runtape } from "./cli/run.ts";
import { lines, storedEvents, until } from "./cli/support.ts";
import {
  bar,
  bulkRun,
  CAN_LIST_OPEN_FILES,
  openFilesUnder,
  rawDb,
  recordSweep,
  runContentHash,
  tempDir,
} from "./helpers.ts";

const ndjson = (from: number, to: number, symbol = "AAPL") =>
  Array.from({ length: to - from }, (_, i) => `${encodeEvent(bar(from + i, symbol))}\n`).join("");

/** `runtape record --input -` of run `runId`, fed `events` bars and waited for until they are stored. */
async function startRecording(dir: string, runId: string, events: number, ...flags: string[]) {
  const args = ["record", "runs.db", "--input", "-", "--run-id", runId, ...flags];
  const proc = Bun.spawn([await binary(), ...args], {
    cwd: dir,
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1" },
  });
  proc.stdin.write(ndjson(0, events));
  proc.stdin.flush();
  await until(
    () => storedEvents(join(dir, "runs.db"), runId) === events,
    `the first ${events} events`,
  );
  return proc;
}

describe("crashes", () => {
  test.each([
    ["wal", "in line"],
    ["rollback", "in line"],
    ["wal", "--thread"],
  ])(
    "kill -9 mid-run (%s journal, %s): the file is sound, flushed events are there, the run is stale; recover closes it",
    async (journal, thread) => {
      const dir = tempDir();
      const path = join(dir, "runs.db");
      const flags = ["--journal", journal, ...(thread === "--thread" ? [thread] : [])];
      const proc = await startRecording(dir, "crash", 1000, ...flags);
      proc.stdin.write(ndjson(1000, 1500));
      proc.stdin.flush();
      // Flushed by age (100 ms) while the recorder waits for more input.
      await until(() => storedEvents(path, "crash") === 1500, "the next 500 events");
      proc.stdin.write(ndjson(1500, 1510));
      proc.kill(9);
      await proc.exited;

      // A crash in rollback mode leaves a hot journal, which the next connection rolls back.
      const db = new Database(path, { readonly: journal === "wal" });
      expect(db.query("PRAGMA journal_mode").get()).toEqual({
        journal_mode: journal === "wal" ? "wal" : "delete",
      });
      expect(db.query("PRAGMA integrity_check").get()).toEqual({ integrity_check: "ok" });
      expect(db.query("SELECT status, ts_end FROM runs").get()).toEqual({
        status: "running",
        ts_end: null,
      });
      db.close();
      expect(storedEvents(path, "crash")).toBeGreaterThanOrEqual(1500);
      const events = [...replay(path, { run: "crash" })];
      expect(events.slice(0, 1500).map((e) => e.ts_event_ns)).toEqual(
        Array.from({ length: 1500 }, (_, i) => bar(i).ts_event_ns),
      );

      const list = await runtape(["inspect", "runs.db"], { cwd: dir });
      expect(list.stdout).toContain("running (process gone)");
      const check = await runtape(["inspect", "runs.db", "--check"], { cwd: dir });
      expect([check.code, check.stdout]).toEqual([1, expect.stringContaining("recording process")]);

      const recovered = await runtape(["recover", "runs.db"], { cwd: dir });
      expect(recovered.code).toBe(0);
      expect(recovered.stdout).toStartWith(`crash\tfailed\t${events.length} events`);
      const after = openRunsDb(path);
      const run = after.sqlite.query("SELECT status, ts_start, ts_end FROM runs").get() as {
        status: string;
        ts_start: bigint;
        ts_end: bigint;
      };
      after.close();
      // ts_end is wall-clock time like ts_start: when the last stored event was built (the test built
      // the later batches after the recorder had started).
      const built = events.at(-1)?.ts_created_ns as bigint;
      expect(built > run.ts_start).toBe(true);
      expect(run).toEqual({ status: "failed", ts_start: run.ts_start, ts_end: built });
      expect((await runtape(["inspect", "runs.db", "--check"], { cwd: dir })).code).toBe(0);
    },
  );

  for (const [signal, code] of [
    ["SIGHUP", 129],
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ] as const) {
    test(`${signal} flushes what was received, marks the run cancelled and exits ${code}`, async () => {
      const dir = tempDir();
      const path = join(dir, "runs.db");
      const proc = await startRecording(dir, "stopped", 300);
      proc.kill(signal);
      expect(await proc.exited).toBe(code);
      const db = new Database(path, { readonly: true });
      expect(db.query("SELECT status FROM runs").get()).toEqual({ status: "cancelled" });
      db.close();
      expect(storedEvents(path, "stopped")).toBe(300);
    });
  }

  test("Ctrl-C ends a long demo recording cleanly: flushed, cancelled, exit 130", async () => {
    const dir = tempDir();
    const path = join(dir, "runs.db");
    const proc = Bun.spawn(
      [await binary(), "record", "runs.db", "--run-id", "long", "--bars", "1000000"],
      {
        cwd: dir,
        stdout: "pipe",
        stderr: "pipe",
      },
    );
    await until(() => storedEvents(path, "long") > 0, "the demo to record its first events");
    proc.kill("SIGINT");
    expect(await proc.exited).toBe(130);
    const db = new Database(path, { readonly: true });
    const run = db
      .query("SELECT r.status, x.events FROM runs r JOIN runtape_runs x USING (run_id)")
      .get() as { status: string; events: number };
    db.close();
    expect(run.status).toBe("cancelled");
    expect(storedEvents(path, "long")).toBe(run.events);
  });

  test("a run whose pid now belongs to a process that started after the run is stale: recover closes it", async () => {
    const dir = tempDir();
    const recorded = await runtape(["record", "runs.db", "--bars", "5", "--run-id", "old"], {
      cwd: dir,
    });
    expect(recorded.code).toBe(0);
    const later = Bun.spawn(["sleep", "60"]);
    try {
      const db = new Database(join(dir, "runs.db"));
      db.run("UPDATE runs SET status = 'running', ts_end = NULL WHERE run_id = 'old'");
      const recorder = db.query("UPDATE runtape_runs SET pid = ? WHERE run_id = 'old'");
      // A process that started before the run may be its recorder: this one.
      recorder.run(process.pid);
      const refused = await runtape(["recover", "runs.db", "--run", "old"], { cwd: dir });
      expect([refused.code, refused.stderr]).toEqual([
        1,
        expect.stringContaining(`process ${process.pid} is still recording it`),
      ]);
      // Its recorder died an hour ago, and its pid went to a process started since (after a
      // reboot, say).
      db.run("UPDATE runs SET ts_start = ts_start - 3600000000000 WHERE run_id = 'old'");
      recorder.run(later.pid);
      db.close();
      const listed = await runtape(["inspect", "runs.db"], { cwd: dir });
      expect(listed.stdout).toContain("running (process gone)");
      const recovered = await runtape(["recover", "runs.db"], { cwd: dir });
      expect([recovered.code, recovered.stdout]).toEqual([
        0,
        expect.stringMatching(/^old\tfailed\t/),
      ]);
    } finally {
      later.kill();
    }
  });

  // A sidecar container: the same host name and volume, its own pids.
  const CAN_UNSHARE = Bun.spawnSync(["unshare", "--pid", "--fork", "--mount-proc", "true"], {
    stderr: "ignore",
  }).success;
  test.skipIf(!CAN_UNSHARE)(
    "a run recorded from another PID namespace is not judged from here: rm and recover refuse it (skipped: needs unshare --pid, as root)",
    async () => {
      const dir = tempDir();
      const proc = Bun.spawn(
        [
          "unshare",
          "--pid",
          "--fork",
          "--mount-proc",
          await binary(),
          "record",
          "runs.db",
          "--input",
          "-",
          "--run-id",
          "pod",
        ],
        {
          cwd: dir,
          stdin: "pipe",
          stdout: "pipe",
          stderr: "pipe",
          env: { ...process.env, NO_COLOR: "1" },
        },
      );
      try {
        proc.stdin.write(ndjson(0, 10));
        proc.stdin.flush();
        await until(() => storedEvents(join(dir, "runs.db"), "pod") === 10, "the first 10 events");
        for (const args of [
          ["rm", "runs.db", "--run", "pod", "--yes"],
          ["recover", "runs.db", "--run", "pod"],
        ]) {
          const refused = await runtape(args, { cwd: dir });
          expect([args[0], refused.code, refused.stderr]).toEqual([
            args[0],
            1,
            expect.stringContaining("in another PID namespace on host"),
          ]);
        }
        const listed = await runtape(["inspect", "runs.db"], { cwd: dir });
        expect(listed.stdout).not.toContain("process gone");
      } finally {
        proc.stdin.end();
        await proc.exited;
      }
      const db = new Database(join(dir, "runs.db"), { readonly: true });
      const row = db.query("SELECT status FROM runs WHERE run_id = 'pod'").get();
      db.close();
      expect(row).toEqual({ status: "completed" });
    },
  );

  test("a recorder that died and was never reaped (a zombie) is gone: recover closes its run", async () => {
    const dir = tempDir();
    const recorded = await runtape(["record", "runs.db", "--bars", "5", "--run-id", "z"], {
      cwd: dir,
    });
    expect(recorded.code).toBe(0);
    // The child ends once its parent has become sleep, which never waits for it (bash would reap
    // a child that ended before the exec).
    const parent = Bun.spawn(["bash", "-c", "sleep 0.3 & echo $!; exec sleep 60"], {
      stdout: "pipe",
    });
    try {
      const { value } = await parent.stdout.getReader().read();
      const zombie = Number(new TextDecoder().decode(value).trim());
      await until(
        () => /^\S+ \(.*\) Z /.test(readFileSync(`/proc/${zombie}/stat`, "latin1")),
        "the child to end unreaped",
      );
      const db = new Database(join(dir, "runs.db"));
      // A run that began after its recorder started, as every run does.
      db.run("UPDATE runs SET status = 'running', ts_end = NULL, ts_start = ? WHERE run_id = 'z'", [
        BigInt(Date.now()) * 1_000_000n,
      ]);
      db.run("UPDATE runtape_runs SET pid = ? WHERE run_id = 'z'", [zombie]);
      db.close();
      const recovered = await runtape(["recover", "runs.db", "--run", "z"], { cwd: dir });
      expect([recovered.code, recovered.stdout]).toEqual([
        0,
        expect.stringMatching(/^z\tfailed\t/),
      ]);
    } finally {
      parent.kill();
    }
  });

  test("recover refuses a run whose recording process is alive", async () => {
    const dir = tempDir();
    const proc = await startRecording(dir, "alive", 10);
    const refused = await runtape(["recover", "runs.db", "--run", "alive"], { cwd: dir });
    expect([refused.code, refused.stderr]).toEqual([
      1,
      expect.stringContaining("is still recording it"),
    ]);
    expect((await runtape(["recover", "runs.db"], { cwd: dir })).stdout).toBe("");
    proc.stdin.end();
    expect(await proc.exited).toBe(0);
  });
});

describe("concurrency", () => {
  test("two merges of the same runs into one file at once: each run copied once, said by both", async () => {
    const dir = tempDir();
    for (const id of ["w1", "w2"]) bulkRun(join(dir, `${id}.db`), id, 200_000);
    openRunsDb(join(dir, "t.db"), { mode: "write" }).close();
    const merge = (...inputs: string[]) =>
      runtape(["merge", "t.db", ...inputs], { via: "binary", cwd: dir });
    const both = await Promise.all([merge("w1.db", "w2.db"), merge("w2.db", "w1.db")]);
    // Whichever copied a run first, the other found it there: identical, not an error.
    expect(both.map((r) => [r.code, lines(r.stderr).length])).toEqual([
      [0, 1],
      [0, 1],
    ]);
    const said = both.flatMap((r) =>
      lines(r.stdout).map((l) => l.split("\t").slice(0, 2).join(" ")),
    );
    expect(said.sort()).toEqual(["copied w1", "copied w2", "identical w1", "identical w2"]);
    for (const id of ["w1", "w2"]) expect(storedEvents(join(dir, "t.db"), id)).toBe(200_000);
  });

  test("four recorders into one database while a fifth process reads: nothing lost, all in order", async () => {
    const dir = tempDir();
    const path = join(dir, "runs.db");
    const N = 5000;
    const inputs = ["w1", "w2", "w3", "w4"].map((id, k) => {
      const file = join(dir, `${id}.ndjson`);
      writeFileSync(file, ndjson(k * N, (k + 1) * N, id));
      return [id, file] as const;
    });
    const bin = await binary();
    const writers = inputs.map(([id, file]) =>
      Bun.spawn([bin, "record", "runs.db", "--input", file, "--run-id", id], {
        cwd: dir,
        stdout: "pipe",
        stderr: "pipe",
      }),
    );
    let reads = 0;
    let readerDone = false;
    const reader = (async () => {
      while (!readerDone) {
        const result = await runtape(["inspect", "runs.db"], { via: "binary", cwd: dir });
        if (result.code === 0) reads++;
        // Before the first writer has laid out the schema there is nothing to inspect yet.
        else if (!/no runs database|empty file/.test(result.stderr)) throw new Error(result.stderr);
      }
    })();
    const codes = await Promise.all(writers.map((w) => w.exited));
    readerDone = true;
    await reader;
    const errors = await Promise.all(writers.map((w) => new Response(w.stderr).text()));
    expect(codes.map((code, i) => [code, code === 0 ? "" : errors[i]])).toEqual([
      [0, ""],
      [0, ""],
      [0, ""],
      [0, ""],
    ]);
    for (const e of errors) expect(e).not.toContain("SQLITE_BUSY");
    expect(reads).toBeGreaterThan(0);
    for (const [k, [id]] of inputs.entries()) {
      const events = [...replay(path, { run: id })];
      expect(events.map((e) => e.ts_event_ns)).toEqual(
        Array.from({ length: N }, (_, i) => bar(k * N + i).ts_event_ns),
      );
    }
  });
});

test.skipIf(!CAN_LIST_OPEN_FILES)(
  "every command closes the files it opened before it returns, also when it fails (skipped without /proc/self/fd)",
  async () => {
    // In this process (main(argv)): a connection that close() leaves open, a statement not
    // finalized, would stay until garbage collection, and checkpoint its WAL whenever that comes.
    const dir = tempDir();
    const commands = [
      ["record", "a.db", "--run-id", "r1", "--bars", "30"],
      ["record", "a.db", "--run-id", "r2", "--bars", "30"],
      ["record", "b.db", "--run-id", "r1", "--bars", "31", "--seed", "5"],
      ["replay", "a.db", "--run", "r1"],
      ["replay", "a.db", "--run", "r1", "--limit", "3", "--format", "pretty"],
      ["replay", "a.db", "--run", "r1", "--into", "c.db"],
      ["inspect", "a.db"],
      ["inspect", "a.db", "--run", "r1"],
      ["inspect", "a.db", "--check"],
      ["diff", "a.db", "b.db", "--run", "r1"],
      ["merge", "m.db", "a.db"],
      ["merge", "m.db", "a.db"],
      ["merge", "m.db", "b.db"],
      ["export", "a.db", "--format", "csv", "--out", "csv"],
      ["export", "a.db", "--format", "parquet", "--out", "parquet"],
      ["runs", "a.db"],
      ["report", "a.db", "--run", "r1", "--output", "r.html"],
      ["backtest", "--strategy", join(import.meta.dir, "../src/sim/strategy.ts"), "--feed", "a.db"],
      ["tag", "a.db", "--run", "r1", "k=v"],
      ["rename", "a.db", "--run", "r2", "--to", "r3"],
      ["rm", "a.db", "--run", "r3", "--yes"],
      ["vacuum", "a.db"],
      ["recover", "a.db"],
    ];
    for (const args of commands) {
      const { code, stderr } = await runtape([...args, "--quiet"], { cwd: dir });
      expect([args, code < 2 ? "" : stderr]).toEqual([args, ""]); // diff and merge exit 1 here
      expect([args, openFilesUnder(dir)]).toEqual([args, []]);
    }
  },
);

describe("hostile files: one line, non-zero exit, nothing changed", () => {
  async function expectRefusal(
    path: string,
    args: string[],
    dir: string,
    message: string | RegExp,
  ) {
    const before = readFileSync(path);
    const result = await runtape(args, { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
    expect(result.stderr).toMatch(message);
    expect(readFileSync(path).equals(before)).toBe(true);
  }

  test("empty, text, foreign, newer, truncated and corrupted files", async () => {
    const dir = tempDir();
    await runtape(["record", "good.db", "--bars", "200"], { cwd: dir });
    const good = join(dir, "good.db");
    // Fold the WAL into the file so copies are self-contained.
    const g = new Database(good);
    // Without the run's stored summary, which inspect --run reads instead of the damaged pages
    // (inspect --check finds them whatever is stored: check.test.ts).
    g.run("DROP TABLE runtape_run_summaries");
    g.run("PRAGMA wal_checkpoint(TRUNCATE)");
    g.close();

    writeFileSync(join(dir, "empty.db"), "");
    await expectRefusal(join(dir, "empty.db"), ["inspect", "empty.db"], dir, /empty file/);
    await expectRefusal(join(dir, "empty.db"), ["replay", "empty.db"], dir, /empty file/);

    writeFileSync(join(dir, "text.db"), "id,price\n1,2\n".repeat(500));
    for (const cmd of [["inspect"], ["replay"], ["record"], ["recover"]]) {
      await expectRefusal(
        join(dir, "text.db"),
        [...(cmd as string[]), "text.db"],
        dir,
        /not an SQLite database/,
      );
    }

    const foreign = new Database(join(dir, "foreign.db"));
    foreign.run("CREATE TABLE bars (t INTEGER, price REAL)");
    foreign.close();
    await expectRefusal(
      join(dir, "foreign.db"),
      ["record", "foreign.db", "--bars", "3"],
      dir,
      /not a runs database/,
    );

    copyFileSync(good, join(dir, "newer.db"));
    const newer = new Database(join(dir, "newer.db"));
    newer.run(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
    newer.close();
    await expectRefusal(join(dir, "newer.db"), ["inspect", "newer.db"], dir, /newer runtape/);
    await expectRefusal(
      join(dir, "newer.db"),
      ["record", "newer.db", "--bars", "3"],
      dir,
      /newer runtape/,
    );

    copyFileSync(good, join(dir, "truncated.db"));
    truncateSync(join(dir, "truncated.db"), Math.floor(statSync(good).size / 2));
    await expectRefusal(
      join(dir, "truncated.db"),
      ["replay", "truncated.db"],
      dir,
      /corrupt|malformed/,
    );

    copyFileSync(good, join(dir, "corrupt.db"));
    const bytes = readFileSync(join(dir, "corrupt.db"));
    bytes.fill(0xa5, 4096 * 3, 4096 * 6);
    writeFileSync(join(dir, "corrupt.db"), bytes);
    for (const args of [["replay"], ["inspect", "--run", "latest"]]) {
      const [cmd = "", ...flags] = args;
      const result = await runtape([cmd, "corrupt.db", ...flags], { cwd: dir });
      expect([args, result.code]).toEqual([args, 1]);
      expect(result.stderr.trim().split("\n")).toHaveLength(1);
    }
  });

  test("a duplicate run id or a bad input leaves the existing run byte for byte", async () => {
    const dir = tempDir();
    const path = join(dir, "runs.db");
    await runtape(["record", "runs.db", "--bars", "20", "--run-id", "r1"], { cwd: dir });
    const before = runContentHash(path, "r1");
    const dup = await runtape(["record", "runs.db", "--bars", "20", "--run-id", "r1"], {
      cwd: dir,
    });
    expect([dup.code, dup.stderr.trim()]).toEqual([
      1,
      'runtape: a run with id "r1" already exists',
    ]);
    expect(runContentHash(path, "r1")).toBe(before);
    // Bad from its first line: refused before any run is made.
    const foreign = await runtape(["record", "runs.db", "--input", "-"], {
      cwd: dir,
      stdin: '{"type":"BarReceived"\n',
    });
    expect([foreign.code, foreign.stderr.trim()]).toEqual([
      1,
      expect.stringMatching(/^runtape: line 1: not valid JSON/),
    ]);
    expect(runContentHash(path, "r1")).toBe(before);
    const bad = await runtape(["record", "runs.db", "--input", "-"], {
      cwd: dir,
      stdin: `${ndjson(0, 1)}{"type":"BarReceived"\n`,
    });
    expect(bad.code).toBe(1);
    expect(runContentHash(path, "r1")).toBe(before);
    // The bad input's own run is kept, marked failed.
    const db = new Database(path, { readonly: true });
    expect(db.query("SELECT status FROM runs WHERE run_id <> 'r1'").all()).toEqual([
      { status: "failed" },
    ]);
    db.close();
  });

  test("a run with zero events is recorded, listed and replays to nothing", async () => {
    const dir = tempDir();
    // A body that publishes nothing: `recordNdjson` and `record --input` refuse an empty input.
    await recordRun(join(dir, "runs.db"), { runId: "empty" }, () => {});
    expect((await runtape(["replay", "runs.db", "--run", "empty"], { cwd: dir })).stdout).toBe("");
    expect(
      (await runtape(["inspect", "runs.db", "--run", "empty", "--json"], { cwd: dir })).stdout,
    ).toContain('"events": 0,');
  });

  test("text with quotes, SQL, newlines and unicode is stored and returned verbatim", async () => {
    const dir = tempDir();
    const nasty = '\'; DROP TABLE runs; -- "q"\n\t\\ ✓ 🚀 \u0000end';
    const line = encodeEvent({ ...bar(0), symbol: nasty } as never);
    const name = "Robert'); DROP TABLE runs;--";
    await runtape(
      [
        "record",
        "runs.db",
        "--input",
        "-",
        "--name",
        name,
        "--metadata",
        JSON.stringify({ note: nasty }),
      ],
      { cwd: dir, stdin: `${line}\n` },
    );
    const out = await runtape(["replay", "runs.db"], { cwd: dir });
    expect(out.stdout).toBe(`${line}\n`);
    const json = JSON.parse(
      (await runtape(["inspect", "runs.db", "--run", "latest", "--json"], { cwd: dir })).stdout,
    );
    expect([json.run.name, json.metadata.note]).toEqual([name, nasty]);
  });
});

// Thousands of runs take minutes to compute the first time, and Ctrl-C kept none of them. A
// callback that throws stops the listing as a signal would, and a second's pause holds the runs
// before it past the moment of a commit.
test("an interrupted first listing keeps the metrics computed before it; the next computes only the rest", async () => {
  const file = join(tempDir(), "interrupted.db");
  recordSweep(
    file,
    Array.from({ length: 8 }, (_, i) => ({ id: `r${i}`, strategy: { fastPeriod: 3 + i } })),
  );
  const stored = () => {
    const raw = rawDb(file);
    try {
      const table = raw.query("SELECT 1 FROM sqlite_master WHERE name = 'runtape_run_metrics'");
      if (table.get() === null) return 0;
      const row = raw.query("SELECT count(*) AS n FROM runtape_run_metrics").get() as {
        n: bigint;
      };
      return Number(row.n);
    } finally {
      raw.close();
    }
  };
  const source = SqliteSource.open(file);
  const stopped = await listSweep(source, {
    onProgress: (done) => {
      if (done === 2) Bun.sleepSync(1_000);
      if (done === 4) throw new Error("interrupted");
    },
  }).catch((error) => error);
  await source.close();
  expect(stopped.message).toBe("interrupted");
  // Runs 1 to 3 at least: the third came a second after the listing began. Not the 5th or 6th.
  const kept = stored();
  expect([kept >= 3, kept <= 4]).toEqual([true, true]);
  // A planted figure in every stored row proves the next listing reads them instead of computing.
  const raw = new Database(file);
  raw.run("UPDATE runtape_run_metrics SET metrics = json_set(metrics, '$.totalPnl', 12345)");
  raw.close();
  const again = SqliteSource.open(file);
  const entries = (await listSweep(again)).entries;
  await again.close();
  expect([entries.length, entries.filter((e) => e.metrics.totalPnl === 12345).length]).toEqual([
    8,
    kept,
  ]);
  expect(stored()).toBe(8);
});
