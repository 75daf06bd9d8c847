import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { checkDatabase, openRunsDb, Recorder } from "../../src/index.ts";
import { bar, sampleEvents, tempDir, watchingQueries } from "../helpers.ts";
import { cli } from "./inprocess.ts";
import { runtape } from "./run.ts";
import { lines } from "./support.ts";

/** A database with two runs of every event type; returns its path and the run ids. */
function twoRuns(): { path: string; runs: string[] } {
  const path = join(tempDir(), "runs.db");
  const runs = [1, 2].map(() => {
    const recorder = Recorder.start(path);
    for (const event of sampleEvents()) recorder.record(event);
    return recorder.close().runId;
  });
  return { path, runs };
}

/** Changes the file behind runtape's back, as another tool (or a bad disk) would. */
function tamper(path: string, ...statements: string[]): void {
  const db = new Database(path);
  db.exec("PRAGMA ignore_check_constraints = ON");
  for (const sql of statements) db.exec(sql);
  db.close();
}

describe("inspect --check", () => {
  test("decodes every row and every run row: what replay would refuse never passes", async () => {
    const { path, runs } = twoRuns();
    const [a = "", b = ""] = runs;
    tamper(
      path,
      `UPDATE bars SET open = 'abc' WHERE run_id = '${a}'`,
      `UPDATE bars_processed SET indicators = '{"sma": ' WHERE run_id = '${a}'`,
      `UPDATE fills SET side = 'buy' WHERE run_id = '${a}'`,
      `UPDATE runs SET status = 'paused' WHERE run_id = '${b}'`,
    );
    expect((await cli(["replay", path, "--run", a])).code).toBe(1);
    const result = await cli(["inspect", path, "--check"]);
    expect([result.code, result.stderr]).toEqual([1, ""]);
    // Runs newest first; SQLite's own check sees the status too (the layout has a CHECK on it).
    expect(lines(result.stdout)).toEqual([
      "integrity: CHECK constraint failed in runs",
      `run: run "${b}", status: expected one of running, completed, failed, cancelled (got "paused")`,
      `row: run "${a}": bars row 1, open: expected a finite number (got "abc")`,
      `row: run "${a}": bars_processed row 1, indicators: expected an object of numbers (got "{\\"sma\\": ")`,
      `row: run "${a}": fills row 1, side: expected one of BUY, SELL (got "buy")`,
    ]);
    // --run narrows the per-run checks to that run.
    const one = await cli(["inspect", path, "--check", "--run", b, "--json"]);
    expect(one.code).toBe(1);
    expect(JSON.parse(one.stdout).findings).toEqual([
      expect.objectContaining({ kind: "integrity" }),
      expect.objectContaining({ kind: "run", run_id: b, table: "runs" }),
    ]);
  });

  test("a run row that does not fit the model stops every reader in one line; check and rm still work", async () => {
    for (const [value, shown] of [
      ["1e30", "1e+30"],
      ["'yesterday'", '"yesterday"'],
    ] as const) {
      const { path, runs } = twoRuns();
      const [a = "", b = ""] = runs;
      tamper(path, `UPDATE runs SET ts_start = ${value} WHERE run_id = '${a}'`);
      const why = `run "${a}" in ${path}, ts_start: expected an integer (got ${shown}): \`runtape inspect --check\` lists what is wrong, \`runtape rm\` removes the run`;
      const out = tempDir();
      for (const args of [
        ["inspect", path],
        ["inspect", path, "--run", a],
        ["runs", path],
        ["replay", path, "--run", a],
        ["replay", path, "--run", a, "--into", join(out, "copy.db")],
        ["report", path, "--run", a, "-o", join(out, "r.html")],
        ["export", path, "--run", a, "--format", "csv", "--out", join(out, "export")],
        ["merge", join(out, "merged.db"), path],
      ]) {
        const result = await cli(args);
        expect([args, result.code, lines(result.stderr)]).toEqual([args, 1, [`runtape: ${why}`]]);
      }
      // Nothing was written from it, and the other run reads as before.
      expect(readdirSync(out)).toEqual([]);
      expect((await cli(["replay", path, "--run", b])).code).toBe(0);
      const check = await cli(["inspect", path, "--check"]);
      expect([check.code, lines(check.stdout)]).toContainEqual([
        `run: run "${a}", ts_start: expected an integer (got ${shown})`,
      ]);
      expect((await cli(["rm", path, "--run", a, "--yes"])).code).toBe(0);
      expect((await cli(["inspect", path, "--check"])).code).toBe(0);
    }
  });

  test("a broken start time of a run still being recorded: rm refuses it as live, in one line", async () => {
    const { path } = twoRuns();
    const live = Recorder.start(path, { runId: "live" });
    try {
      tamper(path, "UPDATE runs SET ts_start = 'yesterday' WHERE run_id = 'live'");
      const result = await cli(["rm", path, "--run", "live", "--yes"]);
      expect([result.code, lines(result.stderr)]).toEqual([
        1,
        [`runtape: cannot remove run "live": process ${process.pid} is still recording it`],
      ]);
    } finally {
      live.close();
    }
  });

  test("past 20 rows that do not decode, one line counts the rest of the run's", async () => {
    for (const [bars, rest] of [
      [21, "1 more row does not decode"],
      [23, "3 more rows do not decode"],
    ] as const) {
      const path = join(tempDir(), "runs.db");
      const recorder = Recorder.start(path, { runId: "r" });
      for (let i = 0; i < bars; i++) recorder.record(bar(i));
      recorder.close();
      tamper(path, "UPDATE bars SET open = 'abc'");
      const found = lines((await cli(["inspect", path, "--check"])).stdout);
      expect(found.filter((l) => l.startsWith('row: run "r": bars row'))).toHaveLength(20);
      expect(found.at(-1)).toBe(`row: run "r": ${rest}`);
    }
  });

  test("config or metadata that is not a JSON object is a finding", async () => {
    const { path, runs } = twoRuns();
    tamper(path, `UPDATE runs SET config = '[1' WHERE run_id = '${runs[0]}'`);
    const result = await cli(["inspect", path, "--check"]);
    expect([result.code, result.stdout]).toEqual([
      1,
      expect.stringContaining("config: expected a JSON object or null"),
    ]);
  });

  test.each([
    ["runs", "name", "title"],
    ["runtape_runs", "events", "n"],
    ["bars", "seq", "sequence"],
    ["fills", "fill_price", "price"],
  ])(
    "a renamed column (%s.%s) is a one-line error from every reader, exit 2 for --check",
    async (table, column, to) => {
      const { path } = twoRuns();
      tamper(path, `ALTER TABLE ${table} RENAME COLUMN ${column} TO ${to}`);
      const message = `runtape: ${path}: not a runs database (${table} has no column ${column})\n`;
      for (const [args, code] of [
        [["inspect", path, "--check"], 2],
        [["inspect", path], 1],
        [["inspect", path, "--run", "latest"], 1],
        [["replay", path], 1],
        [["diff", path, path], 2],
      ] as const) {
        const result = await cli(args);
        expect([args, result.code, result.stdout, result.stderr]).toEqual([
          args,
          code,
          "",
          message,
        ]);
      }
    },
  );

  test("exit codes: 0 clean, 1 findings, 2 when it cannot check", async () => {
    const { path, runs } = twoRuns();
    expect((await cli(["inspect", path, "--check"])).code).toBe(0);
    const missing = await cli(["inspect", join(tempDir(), "none.db"), "--check"]);
    expect([missing.code, missing.stderr]).toEqual([
      2,
      expect.stringContaining("no runs database"),
    ]);
    expect((await cli(["inspect", path, "--check", "--run", "nope"])).code).toBe(2);
    tamper(path, `UPDATE runtape_runs SET events = 1 WHERE run_id = '${runs[0]}'`);
    expect((await cli(["inspect", path, "--check"])).code).toBe(1);
  });

  test("while another connection records into the file, it reads one moment: no false findings", () => {
    const path = join(tempDir(), "runs.db");
    const live = Recorder.start(path, { batchSize: 1_000_000 });
    const write = (n: number) => {
      for (let i = 0; i < n; i++) live.record(bar(i));
      live.flush();
    };
    write(100);
    const db = openRunsDb(path);
    // The writer commits right between the check's reading of the counters and its counting of
    // the rows: where another process's flush lands, at random, in a real race.
    let wrote = false;
    const watched = watchingQueries(db, (sql) => {
      if (!wrote && sql.includes("COUNT(")) {
        wrote = true;
        write(50);
      }
    });
    try {
      expect(checkDatabase(watched)).toEqual([]);
      expect(wrote).toBe(true);
      expect(checkDatabase(db)).toEqual([]); // and the rows it did not see are there
    } finally {
      db.close();
      live.close();
    }
  });
});

describe("exit codes of diff", () => {
  test("0 same, 1 differ, 2 error (as cmp and diff)", async () => {
    const { path, runs } = twoRuns();
    const [a = "", b = ""] = runs;
    expect((await cli(["diff", path, path, "--run-a", a, "--run-b", b])).code).toBe(0);
    tamper(path, `UPDATE bars SET close = 2 WHERE run_id = '${b}'`);
    expect((await cli(["diff", path, path, "--run-a", a, "--run-b", b])).code).toBe(1);
    for (const args of [
      ["diff", path, join(tempDir(), "none.db")],
      ["diff", path, path, "--run-b", "nope"],
    ]) {
      const result = await cli(args);
      expect([args, result.code, lines(result.stderr).length]).toEqual([args, 2, 1]);
    }
    const smoke = await runtape(["diff", path, "missing.db"], { via: "source" });
    expect(smoke.code).toBe(2);
  });
});

describe("options that would be ignored are usage errors", () => {
  test.each([
    [
      ["diff", "a.db", "b.db", "--ignore", "ts_created_ns,unknown_field"],
      '--ignore: no event has a field "unknown_field" (fields are the NDJSON keys of the events, e.g. ts_created_ns)',
    ],
    [
      ["replay", "a.db", "--into", "b.db", "--format", "pretty"],
      "--format applies to replay on stdout, not to --into",
    ],
    [
      ["replay", "a.db", "--into", "b.db", "--format=ndjson"],
      "--format applies to replay on stdout, not to --into",
    ],
  ])("%p", async (args, message) => {
    const dir = tempDir();
    const result = await cli(args, dir);
    expect([result.code, lines(result.stderr)[0]]).toEqual([2, `runtape: ${message}`]);
  });
});
