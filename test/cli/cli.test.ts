import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { tempDir } from "../helpers.ts";
import { binary, runtape, VIAS } from "./run.ts";

const SMALL = ["--bars", "60", "--symbols", "AAA,BBB"];

describe.each(VIAS)("runtape via %s", (via) => {
  const run = (args: string[], options: { cwd?: string; stdin?: string } = {}) =>
    runtape(args, { via, ...options });

  test("record prints the run id alone on stdout; inspect lists and details it", async () => {
    const dir = tempDir();
    const recorded = await run(["record", ...SMALL], { cwd: dir });
    expect(recorded.code).toBe(0);
    expect(recorded.stdout).toMatch(/^[0-9a-f-]{36}\n$/);
    expect(recorded.stderr).toContain("recorded");
    const runId = recorded.stdout.trim();
    expect(existsSync(join(dir, "runs.db"))).toBe(true);

    const list = await run(["inspect"], { cwd: dir });
    expect(list.code).toBe(0);
    expect(list.stdout).toContain(runId);
    expect(list.stdout).toContain("completed");

    const detail = await run(["inspect", "runs.db", "--run", runId], { cwd: dir });
    expect(detail.stdout).toContain("symbols   AAA, BBB");
    expect(detail.stdout).toMatch(/FillEvent +\d+/);
    expect(detail.stdout).toContain("REALISED P&L");

    const json = await run(["inspect", "runs.db", "--run", "latest", "--json"], { cwd: dir });
    // Exact integers: nanosecond timestamps appear as bare JSON integers of 19 digits.
    expect(json.stdout).toMatch(/"firstTsEventNs": \d{19},/);
    expect(JSON.parse(json.stdout).run.run_id).toBe(runId);
    expect(list.stdout + detail.stdout + json.stdout).not.toContain("\u001b[");
  });

  test("replay → record --input → replay gives the same lines; --into copies exactly", async () => {
    const dir = tempDir();
    await run(["record", "a.db", ...SMALL], { cwd: dir });
    const first = await run(["replay", "a.db"], { cwd: dir });
    expect(first.code).toBe(0);
    writeFileSync(join(dir, "events.ndjson"), first.stdout);
    expect(
      (
        await run(["record", "b.db", "--input", "events.ndjson", "--run-id", "from file"], {
          cwd: dir,
        })
      ).stdout,
    ).toBe("from file\n");
    expect(
      (await run(["record", "c.db", "--input", "-"], { cwd: dir, stdin: first.stdout })).code,
    ).toBe(0);
    for (const db of ["b.db", "c.db"])
      expect((await run(["replay", db], { cwd: dir })).stdout).toBe(first.stdout);

    expect((await run(["replay", "a.db", "--into", "d.db"], { cwd: dir })).code).toBe(0);
    const diff = await run(["diff", "a.db", "d.db", "--ignore", ""], { cwd: dir });
    expect([diff.code, diff.stdout]).toEqual([0, expect.stringContaining("runs match")]);
  });

  test("replay filters and formats", async () => {
    const dir = tempDir();
    await run(["record", "a.db", ...SMALL], { cwd: dir });
    const lines = (r: { stdout: string }) => r.stdout.trim().split("\n").filter(Boolean);
    const fills = lines(
      await run(["replay", "a.db", "--types", "FillEvent", "--limit", "3"], { cwd: dir }),
    );
    expect(fills).toHaveLength(3);
    for (const l of fills) expect(JSON.parse(l).type).toBe("FillEvent");
    const bbb = lines(
      await run(
        ["replay", "a.db", "--symbols", "BBB", "--exclude-types", "BarReceived,BarProcessed"],
        { cwd: dir },
      ),
    );
    expect(bbb.some((l) => l.includes('"OrderAccepted"'))).toBe(true);
    expect(bbb.some((l) => l.includes('"symbol":"AAA"'))).toBe(false);
    const window = lines(
      await run(
        [
          "replay",
          "a.db",
          "--types",
          "BarReceived",
          "--from",
          "2024-03-04T14:31:00Z",
          "--to",
          "1709562720000000000",
        ],
        { cwd: dir },
      ),
    );
    expect(window.map((l) => JSON.parse(l).symbol)).toEqual(["AAA", "BBB", "AAA", "BBB"]);
    const pretty = await run(["replay", "a.db", "--format", "pretty", "--limit", "1"], {
      cwd: dir,
    });
    expect(pretty.stdout).toMatch(
      /^2024-03-04T14:30:00\.000000000Z {2}BarReceived +ts_created_ns=\d+ symbol=AAA/,
    );
  });

  test("an invalid input line stops the recording, keeps what came before and marks the run failed", async () => {
    const dir = tempDir();
    await run(["record", "a.db", ...SMALL], { cwd: dir });
    const good = (await run(["replay", "a.db", "--limit", "2"], { cwd: dir })).stdout;
    const bad = `${good}{"type":"BarReceived","ts_event_ns":1}\n${good}`;
    const result = await run(["record", "b.db", "--input", "-", "--run-id", "r"], {
      cwd: dir,
      stdin: bad,
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toStartWith("runtape: line 3: BarReceived.symbol: missing");
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
    const db = new Database(join(dir, "b.db"), { readonly: true });
    expect(db.query("SELECT status FROM runs").get()).toEqual({ status: "failed" });
    expect(db.query("SELECT COUNT(*) AS n FROM bars").get()).toEqual({ n: 1 });
    db.close();
  });

  test("same seed matches, another seed differs at event #1", async () => {
    const dir = tempDir();
    await run(["record", "a.db", ...SMALL, "--seed", "3"], { cwd: dir });
    await run(["record", "b.db", ...SMALL, "--seed", "3"], { cwd: dir });
    await run(["record", "c.db", ...SMALL, "--seed", "4"], { cwd: dir });
    expect((await run(["diff", "a.db", "b.db"], { cwd: dir })).code).toBe(0);
    const differ = await run(["diff", "a.db", "c.db"], { cwd: dir });
    expect(differ.code).toBe(1);
    expect(differ.stdout).toStartWith("first divergence at event #1 (BarReceived):\n  open:");
  });

  test("help and version", async () => {
    const help = await run(["--help"]);
    expect(help.code).toBe(0);
    for (const c of ["record", "replay", "inspect", "diff"]) expect(help.stdout).toContain(c);
    expect((await run(["replay", "--help"])).stdout).toContain("--exclude-types");
    expect((await run(["--version"])).stdout).toBe(`${pkg.version}\n`);
  });

  test("usage errors exit 2 with one line", async () => {
    const cases: [string[], string][] = [
      [[], "runtape: no command given"],
      [["frobnicate"], 'runtape: unknown command "frobnicate"'],
      [["record", "--bogus"], "runtape: unknown option --bogus"],
      [["replay", "x.db", "--limit"], "runtape: option --limit needs a value"],
      [["replay", "x.db", "--limit", "-1"], "runtape: --limit takes a whole number"],
      [
        ["replay", "x.db", "--from", "yesterday"],
        "runtape: --from takes nanoseconds since the epoch or an ISO-8601 time",
      ],
      [["replay", "x.db", "--types", "Nope"], 'runtape: --types: unknown event type "Nope"'],
      [["replay", "x.db", "--format", "xml"], "runtape: Invalid value for argument"],
      [["inspect", "a.db", "b.db"], 'runtape: unexpected argument "b.db"'],
    ];
    for (const [args, message] of cases) {
      const result = await run(args, { cwd: tempDir() });
      expect([args, result.code, result.stderr]).toEqual([
        args,
        2,
        expect.stringContaining(message),
      ]);
      expect(result.stderr).not.toContain("    at ");
    }
  });

  test("failures exit 1 with one line and no stack trace, and create nothing", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "notes.txt"), "not a database at all\n".repeat(100));
    await run(["record", "a.db", ...SMALL], { cwd: dir });
    const cases: [string[], string][] = [
      [["replay", "missing.db"], "runtape: no runs database at missing.db"],
      [["inspect", "missing.db"], "runtape: no runs database at missing.db"],
      [["inspect", "notes.txt"], "runtape: notes.txt: not an SQLite database"],
      [["replay", "a.db", "--run", "nope"], 'runtape: no run with id "nope"'],
      [["record", "notes.txt"], "runtape: notes.txt: not an SQLite database"],
    ];
    for (const [args, message] of cases) {
      const result = await run(args, { cwd: dir });
      expect([args, result.code, result.stderr.trim()]).toEqual([
        args,
        1,
        expect.stringContaining(message),
      ]);
      expect(result.stderr.trim().split("\n")).toHaveLength(1);
    }
    expect(existsSync(join(dir, "missing.db"))).toBe(false);
    expect(readFileSync(join(dir, "notes.txt"), "utf8")).toBe(
      "not a database at all\n".repeat(100),
    );
  });
});

test("the binary ignores .env and bunfig.toml in its working directory", async () => {
  const dir = tempDir();
  writeFileSync(join(dir, ".env"), "NO_COLOR=\nRUNTAPE_FROM_DOTENV=1\n");
  writeFileSync(join(dir, "bunfig.toml"), "this is [not toml\npreload = ['./missing.ts']\n");
  const result = await runtape(["record", "--bars", "5"], { cwd: dir });
  expect([result.code, result.stderr]).toEqual([0, expect.stringContaining("recorded")]);
});

test("replay into a pipe closed early (| head) ends quietly and leaves the database as it was", async () => {
  const dir = tempDir();
  await runtape(["record", "runs.db", "--bars", "3000"], { cwd: dir });
  const path = join(dir, "runs.db");
  const g = new Database(path);
  g.run("PRAGMA wal_checkpoint(TRUNCATE)");
  g.close();
  const before = readFileSync(path);
  for (const via of VIAS) {
    // pipefail: the exit code is runtape's own, not head's.
    const proc = Bun.spawn(
      [
        "bash",
        "-c",
        `set -o pipefail; "$0" "$@" | head -3`,
        ...(via === "binary"
          ? [await binary()]
          : [process.execPath, join(import.meta.dir, "../../bin/runtape.ts")]),
        "replay",
        "runs.db",
      ],
      {
        cwd: dir,
        stdout: "pipe",
        stderr: "pipe",
        env: { ...process.env, NO_COLOR: "1" },
      },
    );
    const [stdout, stderr, code] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
      proc.exited,
    ]);
    expect([via, code, stdout.trim().split("\n").length, stderr]).toEqual([via, 0, 3, ""]);
  }
  expect(readFileSync(path).equals(before)).toBe(true);
});
