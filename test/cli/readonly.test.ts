import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { Recorder } from "../../src/index.ts";
import { bar, FIXTURE_DIR, HAS_FIXTURE, tempDir } from "../helpers.ts";
import { cli } from "./inprocess.ts";
import { command, type Result } from "./run.ts";
import { databaseBytes, lines } from "./support.ts";

// A directory nobody but its owner may write, holding runs databases in WAL mode without -shm:
// read-only storage as an unprivileged user meets it (a mount, an archive, another user's files).
const dir = tempDir();
const DB = join(dir, "runs.db");
const PY = join(dir, "python.db");
const asRoot = process.getuid?.() === 0;

beforeAll(async () => {
  expect((await cli(["record", DB, "--bars", "30", "--run-id", "first"])).code).toBe(0);
  expect((await cli(["record", DB, "--bars", "30", "--seed", "2"])).code).toBe(0);
  if (HAS_FIXTURE) copyFileSync(join(FIXTURE_DIR, "ost_reference.db"), PY);
  // As root, the other user is `nobody`, who may not write a root-owned 0755 directory; as anyone
  // else, the directory is made read-only for its owner too.
  chmodSync(dir, asRoot ? 0o755 : 0o555);
});
afterAll(() => chmodSync(dir, 0o755));

/** Runs `runtape args…` as a user who may not write `dir` or its files. */
async function asReader(args: string[], cwd = dir): Promise<Result> {
  const prefix = asRoot ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] : [];
  const proc = Bun.spawn([...prefix, ...(await command(args, "source"))], {
    cwd,
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: process.env.PATH, HOME: dir, NO_COLOR: "1" },
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, stdout, stderr };
}

describe("read commands on storage the user may not write", () => {
  test("inspect, --check, replay and diff work, open it immutable (said with --verbose) and write nothing", async () => {
    const before = databaseBytes(DB);
    const files = readdirSync(dir).sort();
    const expected = await cli(["replay", DB]);
    // At once: readers of one file that none of them may change.
    const [list, check, replayed, diff] = await Promise.all([
      asReader(["inspect", "runs.db", "--verbose"]),
      asReader(["inspect", "runs.db", "--check"]),
      asReader(["replay", "runs.db"]),
      asReader(["diff", "runs.db", "runs.db", "--run-a", "latest"]),
    ]);
    expect([list.code, lines(list.stdout).length]).toEqual([0, 3]);
    expect(list.stderr).toContain("opened runs.db immutable");
    expect([check.code, check.stdout, check.stderr]).toEqual([
      0,
      "runs.db: no problems found\n",
      "",
    ]);
    expect([replayed.code, replayed.stderr]).toEqual([0, expect.stringContaining("replayed")]);
    expect(replayed.stdout).toBe(expected.stdout);
    expect([diff.code, diff.stdout]).toEqual([0, expect.stringContaining("runs match")]);
    expect(readdirSync(dir).sort()).toEqual(files);
    expect(databaseBytes(DB)).toEqual(before);
  });

  test("rm without --yes lists what it would remove, as the dry run it is, and writes nothing", async () => {
    const before = databaseBytes(DB);
    const files = readdirSync(dir).sort();
    const dry = await asReader(["rm", "runs.db", "--run", "first"]);
    expect([dry.code, dry.stdout, lines(dry.stderr)]).toEqual([
      0,
      expect.stringContaining("first"),
      ["ℹ dry run: nothing removed; run again with --yes to remove 1 run"],
    ]);
    const really = await asReader(["rm", "runs.db", "--run", "first", "--yes"]);
    expect([really.code, really.stderr]).toEqual([
      1,
      "runtape: runs.db: the database is read-only here\n",
    ]);
    expect(readdirSync(dir).sort()).toEqual(files);
    expect(databaseBytes(DB)).toEqual(before);
  });

  test.skipIf(!HAS_FIXTURE)(
    "a file the Python recorder wrote reads the same (skipped without ../shared/fixtures)",
    async () => {
      const files = readdirSync(dir).sort();
      const result = await asReader(["inspect", "python.db", "--run", "latest", "--json"]);
      expect([result.code, result.stderr]).toEqual([0, ""]);
      const direct = await cli(["inspect", PY, "--run", "latest", "--json"]);
      expect(result.stdout).toBe(direct.stdout);
      expect(readdirSync(dir).sort()).toEqual(files);
    },
  );
});

test("record into a file the user may not write is refused in one line, the file unchanged", async () => {
  const before = databaseBytes(DB);
  const files = readdirSync(dir).sort();
  const result = await asReader(["record", "runs.db", "--bars", "5"]);
  expect([result.code, result.stdout, result.stderr]).toEqual([
    1,
    "",
    "runtape: runs.db: the database is read-only here\n",
  ]);
  expect(readdirSync(dir).sort()).toEqual(files);
  expect(databaseBytes(DB)).toEqual(before);
});

test("a file whose -wal holds writes is refused there with the reason, not read without them", async () => {
  const live = join(tempDir(), "live.db");
  const recorder = Recorder.start(live, { runId: "pending" });
  recorder.record(bar(0));
  recorder.flush(); // in the -wal, not yet in the file: the recorder's connection is still open
  const stuck = tempDir();
  copyFileSync(live, join(stuck, "runs.db"));
  copyFileSync(`${live}-wal`, join(stuck, "runs.db-wal"));
  recorder.close();
  chmodSync(stuck, asRoot ? 0o755 : 0o555);
  try {
    const result = await asReader(["inspect", join(stuck, "runs.db")], stuck);
    expect([result.code, result.stdout, lines(result.stderr)]).toEqual([
      1,
      "",
      [expect.stringContaining("its write-ahead log (-wal) holds writes not yet in the file")],
    ]);
  } finally {
    chmodSync(stuck, 0o755);
  }
});

test.skipIf(!asRoot)(
  "a reader without locks whose file another user writes meanwhile is told so, never that the file is corrupt (skipped: needs root, to be two users)",
  async () => {
    const big = join(dir, "big.db");
    expect((await cli(["record", big, "--bars", "2000", "--run-id", "w1"])).code).toBe(0);
    const expected = (await cli(["replay", big, "--run", "w1"])).stdout;
    const reader = Bun.spawn(
      [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        ...(await command(["replay", "big.db", "--run", "w1"], "source")),
      ],
      {
        cwd: dir,
        stdout: "pipe",
        stderr: "pipe",
        env: { PATH: process.env.PATH, HOME: dir, NO_COLOR: "1" },
      },
    );
    // Its first lines read, the rest waits in a full pipe while the owner records another run.
    const output = reader.stdout.getReader();
    const first = await output.read();
    expect((await cli(["record", big, "--bars", "3000", "--run-id", "live"])).code).toBe(0);
    const chunks = [first.value as Uint8Array];
    for (let next = await output.read(); !next.done; next = await output.read())
      chunks.push(next.value);
    const [code, stderr] = await Promise.all([reader.exited, new Response(reader.stderr).text()]);
    const stdout = Buffer.concat(chunks).toString();
    if (code === 0) {
      expect(stdout).toBe(expected);
    } else {
      expect([code, lines(stderr)]).toEqual([
        1,
        [
          "runtape: big.db: another process wrote it while it was read without locks (you may not write its directory, so SQLite cannot share locks with a writer): read it again once nobody writes it, or read a copy",
        ],
      ]);
    }
  },
);

describe("read commands on a clean file leave no -wal or -shm behind", () => {
  test.each([
    [["inspect"]],
    [["inspect", "--check"]],
    [["inspect", "--run", "latest", "--json"]],
    [["replay"]],
    [["diff", "x.db", "x.db"]],
  ])("%p", async (args) => {
    const here = tempDir();
    expect((await cli(["record", "x.db", "--bars", "5"], here)).code).toBe(0);
    expect(readdirSync(here)).toEqual(["x.db"]);
    const [name, ...rest] = args;
    const result = await cli(name === "diff" ? args : [name as string, "x.db", ...rest], here);
    expect(result.code).toBe(0);
    expect(readdirSync(here)).toEqual(["x.db"]);
  });
});
