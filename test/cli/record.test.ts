import { beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EVENT_TYPES, encodeEvent, replay } from "../../src/index.ts";
import { rawDb, tempDir } from "../helpers.ts";
import { runtape } from "./run.ts";
import { lines, storedRuns, typeCounts } from "./support.ts";

// 100 bar times of the three default symbols: the smallest default demo that has every type.
const FULL_DEMO = ["--bars", "100"];
const SMALL = ["--bars", "8", "--symbols", "AAA,BBB"];

/** The NDJSON replay of a full demo run: input for the --input tests. */
let demoNdjson = "";
beforeAll(async () => {
  const dir = tempDir();
  expect((await runtape(["record", "demo.db", ...FULL_DEMO], { cwd: dir })).code).toBe(0);
  demoNdjson = (await runtape(["replay", "demo.db"], { cwd: dir })).stdout;
});

interface Bar {
  symbol: string;
  bar_period: string;
  ts_event_ns: bigint;
  open: number;
}

function barsOf(path: string, runId: string): Bar[] {
  const db = rawDb(path);
  try {
    return db
      .query("SELECT symbol, bar_period, ts_event_ns, open FROM bars WHERE run_id = ? ORDER BY id")
      .all(runId) as Bar[];
  } finally {
    db.close();
  }
}

describe("runtape record", () => {
  // In-process; with stdin through the binary.
  const run = (args: string[], options: { cwd?: string; stdin?: string } = {}) =>
    runtape(args, options);

  test("the demo: the run id alone on stdout, a one-line summary on stderr, a completed run of all 13 event types", async () => {
    const dir = tempDir();
    const result = await run(["record", ...FULL_DEMO], { cwd: dir });
    expect(result.code).toBe(0);
    expect(lines(result.stdout)).toHaveLength(1);
    const runId = result.stdout.trim();
    const path = join(dir, "runs.db"); // the default database
    const counts = typeCounts(path, runId);
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    expect(lines(result.stderr)).toEqual([
      expect.stringContaining(`recorded ${total.toLocaleString("en-US")} events into run ${runId}`),
    ]);
    const [stored, ...others] = storedRuns(path);
    expect(others).toEqual([]);
    expect(stored).toMatchObject({ run_id: runId, name: "demo backtest", status: "completed" });
    expect(stored?.ts_end).not.toBeNull();
    for (const type of EVENT_TYPES) expect([type, (counts[type] ?? 0) > 0]).toEqual([type, true]);
  });

  test("--seed, --symbols, --bars and --period choose the data", async () => {
    const dir = tempDir();
    const path = join(dir, "runs.db");
    const record = async (...extra: string[]) => {
      const result = await run(["record", "runs.db", ...extra], { cwd: dir });
      expect([extra, result.code]).toEqual([extra, 0]);
      return result.stdout.trim();
    };
    const base = barsOf(path, await record(...SMALL));
    const at = (bars: Bar[]) => bars.map((b) => [b.symbol, b.ts_event_ns]);
    expect(base).toHaveLength(16);
    expect(new Set(base.map((b) => b.bar_period))).toEqual(new Set(["MINUTE"]));
    expect((base[2]?.ts_event_ns ?? 0n) - (base[0]?.ts_event_ns ?? 0n)).toBe(60_000_000_000n);

    const reseeded = barsOf(path, await record(...SMALL, "--seed", "2"));
    expect(at(reseeded)).toEqual(at(base));
    expect(reseeded.map((b) => b.open)).not.toEqual(base.map((b) => b.open));

    const symbols = barsOf(path, await record("--bars", "4", "--symbols", "X,Y,Z"));
    expect(symbols.map((b) => b.symbol)).toEqual(Array(4).fill(["X", "Y", "Z"]).flat());

    const fewer = barsOf(path, await record("--bars", "5", "--symbols", "AAA,BBB"));
    expect(at(fewer)).toEqual(at(base).slice(0, 10));

    const hourly = barsOf(path, await record(...SMALL, "--period", "HOUR"));
    expect(new Set(hourly.map((b) => b.bar_period))).toEqual(new Set(["HOUR"]));
    expect((hourly[2]?.ts_event_ns ?? 0n) - (hourly[0]?.ts_event_ns ?? 0n)).toBe(
      3_600_000_000_000n,
    );

    // The run's config says how its data was made.
    const configs = storedRuns(path).map((r) => JSON.parse(r.config ?? "null"));
    expect(configs.map((c) => [c.seed, c.symbols, c.bars, c.bar_period])).toEqual([
      [1, ["AAA", "BBB"], 8, "MINUTE"],
      [2, ["AAA", "BBB"], 8, "MINUTE"],
      [1, ["X", "Y", "Z"], 4, "MINUTE"],
      [1, ["AAA", "BBB"], 5, "MINUTE"],
      [1, ["AAA", "BBB"], 8, "HOUR"],
    ]);
  });

  test("the same seed twice: diff exits 0 (ts_created_ns ignored); another seed: exit 1 at event #1", async () => {
    const dir = tempDir();
    for (const [db, seed] of [
      ["a.db", "3"],
      ["b.db", "3"],
      ["c.db", "4"],
    ] as const) {
      expect((await run(["record", db, ...SMALL, "--seed", seed], { cwd: dir })).code).toBe(0);
    }
    const same = await run(["diff", "a.db", "b.db"], { cwd: dir });
    expect([same.code, same.stdout]).toEqual([0, expect.stringContaining("runs match")]);
    // Only the wall clock differs: comparing every field finds it.
    const strict = await run(["diff", "a.db", "b.db", "--ignore", ""], { cwd: dir });
    expect([strict.code, strict.stdout]).toEqual([1, expect.stringContaining("ts_created_ns")]);
    const other = await run(["diff", "a.db", "c.db"], { cwd: dir });
    expect(other.code).toBe(1);
    expect(other.stdout).toStartWith("first divergence at event #1 (BarReceived):");
  });

  test("--input FILE and --input - record replayed NDJSON; replaying it again gives the same lines", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "events.ndjson"), demoNdjson);
    const fromFile = await run(
      [
        "record",
        "file.db",
        "--input",
        "events.ndjson",
        "--run-id",
        "from file",
        "--name",
        "copy",
        "--config",
        '{"a":1}',
        "--metadata",
        '{"b":[2]}',
      ],
      { cwd: dir },
    );
    expect([fromFile.code, fromFile.stdout]).toEqual([0, "from file\n"]);
    expect(lines(fromFile.stderr)).toEqual([
      expect.stringContaining(
        `recorded ${lines(demoNdjson).length.toLocaleString("en-US")} events into run from file`,
      ),
    ]);
    expect(storedRuns(join(dir, "file.db"))).toMatchObject([
      {
        run_id: "from file",
        name: "copy",
        status: "completed",
        config: '{"a":1}',
        metadata: '{"b":[2]}',
      },
    ]);

    const fromStdin = await run(["record", "stdin.db", "--input", "-"], {
      cwd: dir,
      stdin: demoNdjson,
    });
    expect(fromStdin.code).toBe(0);
    expect(lines(fromStdin.stdout)).toHaveLength(1);
    expect(storedRuns(join(dir, "stdin.db"))).toMatchObject([
      { run_id: fromStdin.stdout.trim(), status: "completed" },
    ]);

    for (const db of ["file.db", "stdin.db"]) {
      const again = await run(["replay", db], { cwd: dir });
      // Byte for byte, ts_created_ns and indicators (NaN while warming up) included.
      expect(again.stdout === demoNdjson).toBe(true);
    }
  });

  test("an invalid line N stops the recording: `line N: Type.field: …`, earlier lines kept, run failed", async () => {
    const dir = tempDir();
    const good = lines(demoNdjson).slice(0, 6);
    const bar = JSON.parse(good[0] as string);
    const variants: [number, string, string][] = [
      [1, JSON.stringify({ ...bar, symbol: undefined }), "BarReceived.symbol: missing"],
      [2, JSON.stringify({ ...bar, open: "x" }), "BarReceived.open:"],
      [3, JSON.stringify({ ...bar, bar_period: "WEEK" }), "BarReceived.bar_period:"],
      [4, JSON.stringify({ ...bar, extra: 1 }), "BarReceived.extra:"],
      [5, good[4]?.replace(/"ts_event_ns":\d+/, '"ts_event_ns":1.5') ?? "", "ts_event_ns:"],
      [6, '{"type":"BarReceived",', "not valid JSON"],
    ];
    for (const [kept, bad, message] of variants) {
      const db = `bad${kept}.db`;
      const input = [...good.slice(0, kept), bad, ...good].join("\n");
      writeFileSync(join(dir, `bad${kept}.ndjson`), `${input}\n`);
      const result = await run(["record", db, "--input", `bad${kept}.ndjson`, "--run-id", "r"], {
        cwd: dir,
      });
      expect([kept, result.code, lines(result.stderr)]).toEqual([
        kept,
        1,
        [expect.stringMatching(new RegExp(`^runtape: line ${kept + 1}: `))],
      ]);
      expect(result.stderr).toContain(message);
      expect(storedRuns(join(dir, db))).toMatchObject([{ run_id: "r", status: "failed" }]);
      expect([...replay(join(dir, db))].map(encodeEvent)).toEqual(good.slice(0, kept));
    }
  });

  test("--input of a missing file fails before a database is created", async () => {
    const dir = tempDir();
    const result = await run(["record", "x.db", "--input", "missing.ndjson"], { cwd: dir });
    expect([result.code, lines(result.stderr)]).toEqual([
      1,
      ["runtape: --input: no file missing.ndjson"],
    ]);
    expect(readdirSync(dir)).toEqual([]);
    // Nor a directory, nor a device (a named pipe streams, as stdin does).
    mkdirSync(join(dir, "sub"));
    for (const [input, what] of [
      ["sub", "a directory"],
      ["/dev/null", "a device"],
    ] as const) {
      const refused = await run(["record", "x.db", "--input", input], { cwd: dir });
      expect([refused.code, lines(refused.stderr)]).toEqual([
        1,
        [`runtape: --input: ${input} is ${what}, not an NDJSON file or a pipe`],
      ]);
    }
    expect(readdirSync(dir)).toEqual(["sub"]);
  });

  test("--input - refuses what --input FILE refuses, and an input without events, before a database is created", async () => {
    const dir = tempDir();
    mkdirSync(join(dir, "sub"));
    writeFileSync(join(dir, "empty.ndjson"), "");
    writeFileSync(join(dir, "blank.ndjson"), "\n  \r\n\n");
    // stdin redirected by a shell, as `runtape … < path` or `printf %s text | runtape …`.
    const from = (path: string) => ["sh", "-c", 'exec "$@" < "$0"', path];
    const piped = (text: string) => ["sh", "-c", 'printf %s "$0" | "$@"', text];
    const cases: [string[], { under?: string[] }, string][] = [
      [
        ["--input", "-"],
        { under: from("sub") },
        "--input: stdin is a directory, not an NDJSON file or a pipe",
      ],
      [
        ["--input", "-"],
        { under: from("/dev/null") },
        "--input: stdin is a device, not an NDJSON file or a pipe",
      ],
      [["--input", "-"], { under: piped("") }, "--input: stdin holds no events"],
      [["--input", "-"], { under: piped("\n \n") }, "--input: stdin holds no events"],
      [["--input", "empty.ndjson"], {}, "--input: empty.ndjson holds no events"],
      [["--input", "blank.ndjson"], {}, "--input: blank.ndjson holds no events"],
    ];
    for (const [args, options, message] of cases) {
      const refused = await runtape(["record", "x.db", ...args], {
        via: "source",
        cwd: dir,
        ...options,
      });
      expect([args, refused.code, refused.stdout, lines(refused.stderr)]).toEqual([
        args,
        1,
        "",
        [`runtape: ${message}`],
      ]);
    }
    expect(readdirSync(dir).sort()).toEqual(["blank.ndjson", "empty.ndjson", "sub"]);
  });
});

test("a disk that refuses the run's batches and its closing: one line naming the run left running, then recover", async () => {
  const dir = tempDir();
  // A file size limit (ulimit -f, its signal ignored) makes every write past it fail, as a full
  // disk does: the first batch of 16,384 events cannot be stored, nor the run closed failed.
  const under = ["sh", "-c", 'ulimit -f 1000; trap "" XFSZ; exec "$@"', "sh"];
  const { code, stdout, stderr } = await runtape(["record", "runs.db", "--bars", "2000"], {
    via: "binary",
    cwd: dir,
    under,
  });
  const said = /^runtape: runs\.db: .+ \(run (\S+) stays running: `runtape recover` closes it\)$/;
  expect([code, stdout, lines(stderr)]).toEqual([1, "", [expect.stringMatching(said)]]);
  const runId = said.exec(lines(stderr)[0] as string)?.[1];
  expect(storedRuns(join(dir, "runs.db"))).toMatchObject([{ run_id: runId, status: "running" }]);
  const recovered = await runtape(["recover", "runs.db"], { cwd: dir });
  expect([recovered.code, recovered.stdout]).toEqual([
    0,
    expect.stringContaining(`${runId}\tfailed`),
  ]);
  expect((await runtape(["inspect", "runs.db", "--check"], { cwd: dir })).code).toBe(0);
});
