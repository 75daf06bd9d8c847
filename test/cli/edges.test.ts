import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DatabaseAccessError, openRunsDb, Recorder } from "../../src/index.ts";
import { bar, bulkRun, tempDir } from "../helpers.ts";
import { cli } from "./inprocess.ts";
import { command, runtape } from "./run.ts";
import { lines, type StoredRun, storedRuns } from "./support.ts";

const firstLine = (text: string) => lines(text)[0];

describe("paths", () => {
  test("record into a directory that does not exist says so, and creates nothing", async () => {
    const dir = tempDir();
    const result = await cli(["record", "no/such/r.db", "--bars", "2"], dir);
    expect([result.code, firstLine(result.stderr)]).toEqual([
      1,
      `runtape: no/such/r.db: the directory ${join(dir, "no/such")} does not exist`,
    ]);
    expect(readdirSync(dir)).toEqual([]);
  });

  test(":memory: is refused by the CLI: a run recorded there would be lost", async () => {
    for (const args of [
      ["record", ":memory:", "--bars", "2"],
      ["inspect", ":memory:"],
      ["rm", ":memory:", "--run", "x"],
    ]) {
      const result = await cli(args);
      expect([args, result.code, firstLine(result.stderr)]).toEqual([
        args,
        2,
        'runtape: ":memory:" is not a runs database file: runs are kept in files',
      ]);
    }
  });

  test("a name or a path too long for the file system or SQLite gives the reason", async () => {
    const dir = tempDir();
    const name = await cli(["record", `${"n".repeat(300)}.db`, "--bars", "2"], dir);
    expect([name.code, firstLine(name.stderr)]).toEqual([
      1,
      expect.stringContaining(
        "the file name is 303 bytes long; file systems take names of up to 255 bytes",
      ),
    ]);
    const deep = join(dir, "d/".repeat(300));
    mkdirSync(deep, { recursive: true });
    const path = await cli(["record", join(deep, "r.db"), "--bars", "2"]);
    expect([path.code, firstLine(path.stderr)]).toEqual([
      1,
      expect.stringMatching(
        /the full path is \d+ bytes long; SQLite opens paths of up to 512 bytes$/,
      ),
    ]);
  });
});

describe("files that are not runs databases stay untouched", () => {
  test("recover (and rm, rename, tag, vacuum) of an empty or foreign file", async () => {
    const dir = tempDir();
    const empty = join(dir, "empty.db");
    writeFileSync(empty, "");
    const foreign = join(dir, "foreign.db");
    const db = new Database(foreign);
    db.exec("CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('mine')");
    db.close();
    const bytes = readFileSync(foreign);
    for (const args of [
      ["recover", empty],
      ["recover", foreign],
      ["rm", empty, "--run", "x", "--yes"],
      ["tag", empty, "a=b"],
      ["vacuum", empty],
    ]) {
      const result = await cli(args);
      expect([args, result.code, lines(result.stderr).length]).toEqual([args, 1, 1]);
    }
    expect(readFileSync(empty).length).toBe(0);
    expect(readFileSync(foreign)).toEqual(bytes);
    expect(readdirSync(dir).sort()).toEqual(["empty.db", "foreign.db"]);
  });

  test("a record that fails on a damaged layout leaves the file's journal mode as it was", async () => {
    const path = join(tempDir(), "damaged.db");
    expect((await cli(["record", path, "--bars", "2"])).code).toBe(0);
    const db = new Database(path);
    db.exec("PRAGMA journal_mode = DELETE");
    db.exec("ALTER TABLE runs RENAME COLUMN metadata TO meta");
    db.close();
    const header = () => [...readFileSync(path).subarray(18, 20)];
    expect(header()).toEqual([1, 1]); // rollback journal
    const result = await cli(["record", path, "--bars", "2"]);
    expect([result.code, firstLine(result.stderr)]).toEqual([
      1,
      `runtape: ${path}: not a runs database (runs has no column metadata)`,
    ]);
    expect(header()).toEqual([1, 1]);
    expect(existsSync(`${path}-wal`)).toBe(false);
  });
});

test("a full disk says how to close the run it leaves running", () => {
  const path = join(tempDir(), "runs.db");
  const db = openRunsDb(path, { mode: "write" });
  const pages = (db.sqlite.query("PRAGMA page_count").get() as { page_count: bigint }).page_count;
  db.sqlite.exec(`PRAGMA max_page_count = ${pages + 8n}`); // as if the disk had 32 KiB left
  const recorder = Recorder.start(db, { batchSize: 1_000_000 });
  for (let i = 0; i < 2000; i++) recorder.record(bar(i));
  let error: unknown;
  try {
    recorder.flush();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(DatabaseAccessError);
  expect((error as Error).message).toBe(
    `${path}: the disk is full: free some space, then \`runtape recover\` closes a run it left running`,
  );
  db.close();
});

test("a database another connection keeps locked: one line saying so, once the wait is over", () => {
  const path = join(tempDir(), "runs.db");
  const db = openRunsDb(path, { mode: "write" });
  db.sqlite.exec("PRAGMA busy_timeout = 20"); // the CLI waits 30 s
  const holder = new Database(path);
  holder.exec("BEGIN EXCLUSIVE");
  let error: unknown;
  try {
    Recorder.start(db, { runId: "late" });
  } catch (e) {
    error = e;
  } finally {
    holder.exec("ROLLBACK");
    holder.close();
  }
  expect(error).toBeInstanceOf(DatabaseAccessError);
  expect((error as Error).message).toBe(
    `${path}: another connection kept the database locked for the whole wait: try again once it is done`,
  );
  db.close();
});

describe("options", () => {
  test("--symbols and --types with a name twice are usage errors", async () => {
    for (const [args, message] of [
      [["record", "x.db", "--symbols", "AAPL,MSFT,AAPL"], '--symbols: "AAPL" is given twice'],
      [
        ["replay", "x.db", "--types", "BarReceived,BarReceived"],
        '--types: "BarReceived" is given twice',
      ],
    ] as const) {
      const dir = tempDir();
      const result = await cli(args, dir);
      expect([args, result.code, firstLine(result.stderr)]).toEqual([
        args,
        2,
        `runtape: ${message}`,
      ]);
      expect(readdirSync(dir)).toEqual([]);
    }
  });

  test("--quiet keeps warnings, as --help says: report --open where no opener can start", async () => {
    const dir = tempDir();
    expect((await cli(["record", "r.db", "--bars", "2", "--run-id", "r"], dir)).code).toBe(0);
    const args = ["report", "r.db", "-o", "r.html", "--open", "--quiet"];
    // Spawned: the PATH that Bun.spawn searches is the process's own, read once.
    const result = await runtape(args, { via: "source", cwd: dir, env: { PATH: tempDir() } });
    expect([result.code, result.stdout, lines(result.stderr)]).toEqual([
      0,
      "r.html\n",
      ["[warn] could not start xdg-open: open r.html yourself"],
    ]);
    const help = await cli(["record", "--help"]);
    expect(help.stdout).toContain(
      "--quiet    Print only data, warnings and errors (no progress, no summaries)",
    );
  });

  test("--quiet prints only the data (and errors); with --verbose it is a usage error", async () => {
    const dir = tempDir();
    const recorded = await cli(["record", "r.db", "--bars", "2", "--quiet"], dir);
    expect([recorded.code, recorded.stderr, lines(recorded.stdout).length]).toEqual([0, "", 1]);
    const replayed = await cli(["replay", "r.db", "--quiet"], dir);
    expect([replayed.code, replayed.stderr]).toEqual([0, ""]);
    expect(lines(replayed.stdout).length).toBeGreaterThan(2);
    const loud = await cli(["replay", "r.db"], dir);
    expect(loud.stderr).toContain("replayed");
    const failed = await cli(["replay", "r.db", "--run", "nope", "--quiet"], dir);
    expect([failed.code, failed.stderr]).toEqual([1, 'runtape: no run with id "nope"\n']);
    expect((await cli(["replay", "r.db", "--quiet", "--verbose"], dir)).code).toBe(2);
  });
});

describe("stdout that cannot be written", () => {
  /** Runs the CLI (from source) with stdout on /dev/full. */
  async function toFull(args: string[], cwd: string) {
    const proc = Bun.spawn(await command(args, "source"), {
      cwd,
      stdout: Bun.file("/dev/full"),
      stderr: "pipe",
      env: { ...process.env, NO_COLOR: "1" },
    });
    const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    return { code, stderr };
  }

  test.skipIf(!existsSync("/dev/full"))(
    "> /dev/full is a one-line error; record says its run is stored (skipped without /dev/full)",
    async () => {
      const dir = tempDir();
      bulkRun(join(dir, "r.db"), "r", 3_000);
      const replay = await toFull(["replay", "r.db"], dir);
      expect([replay.code, replay.stderr]).toEqual([
        1,
        "runtape: cannot write to stdout: ENOSPC: no space left on device\n",
      ]);
      const record = await toFull(["record", "r.db", "--bars", "2", "--quiet"], dir);
      expect(record.code).toBe(1);
      expect(record.stderr).toMatch(
        /^runtape: run \S+ is recorded in r\.db \([\d,]+ events\), but its id could not be printed: cannot write to stdout/,
      );
      expect(lines(record.stderr)).toHaveLength(1);
    },
  );
});

describe("replay --into keeps the run's story", () => {
  test("status, start and end of the source, its metadata plus a lineage note; --run-id names the copy", async () => {
    const dir = tempDir();
    const source = join(dir, "runs.db");
    expect(
      (await cli(["record", source, "--bars", "40", "--run", "orig", "--metadata", '{"note":"x"}']))
        .code,
    ).toBe(0);
    const copy = join(dir, "copy.db");
    const whole = await cli(["replay", source, "--run", "orig", "--into", copy]);
    const part = await cli([
      "replay",
      source,
      "--run",
      "orig",
      "--into",
      copy,
      "--run-id",
      "orig-aapl",
      "--symbols",
      "AAPL",
      "--from",
      "1709562600000000000",
    ]);
    expect([whole.code, whole.stdout, part.code, part.stdout]).toEqual([
      0,
      "orig\n",
      0,
      "orig-aapl\n",
    ]);
    const original = storedRuns(source)[0] as StoredRun;
    const copies = storedRuns(copy);
    expect(copies.map((r) => [r.run_id, r.status, r.ts_start, r.ts_end, r.name])).toEqual(
      ["orig", "orig-aapl"].map((id) => [
        id,
        "completed",
        original.ts_start,
        original.ts_end,
        original.name,
      ]),
    );
    const lineage = (i: number) => JSON.parse(copies[i]?.metadata ?? "{}");
    expect(lineage(0)).toEqual({
      note: "x",
      lineage: {
        source_file: source,
        source_run: "orig",
        source_status: "completed",
        filtered: false,
        filters: {},
        copied_at_ns: expect.any(Number),
      },
    });
    expect(lineage(1).lineage).toMatchObject({
      filtered: true,
      filters: { symbols: ["AAPL"], from: 1709562600000000000 },
    });
    expect((await cli(["replay", source, "--run-id", "x"])).code).toBe(2);
    // One run id for both sides of a diff: the run and its copy.
    const same = await cli(["diff", source, copy, "--run", "orig"]);
    expect([same.code, same.stdout]).toEqual([0, expect.stringContaining("runs match")]);
    const both = await cli(["diff", source, copy, "--run", "orig", "--run-b", "orig-aapl"]);
    expect([both.code, firstLine(both.stderr)]).toEqual([
      2,
      "runtape: --run names the run of both sides: not with --run-a or --run-b",
    ]);
  });
});
