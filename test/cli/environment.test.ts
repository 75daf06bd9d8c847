import { beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { counted } from "../../src/format.ts";
import { encodeEvent } from "../../src/index.ts";
import { SLICE_SEQS } from "../../src/replay-parallel.ts";
import { bar, bulkRun, tempDir } from "../helpers.ts";
import { runtape, SPAWNED, spawnRuntape, USER_ENV, type Via } from "./run.ts";
import {
  atTerminal,
  COLOUR,
  ESCAPE,
  lines,
  storedEvents,
  storedRuns,
  terminalTest,
  until,
} from "./support.ts";

/** A small demo run's NDJSON lines: input for Ctrl-C. */
let ndjson: string[] = [];
beforeAll(async () => {
  const dir = tempDir();
  await runtape(["record", "--bars", "30"], { cwd: dir });
  ndjson = lines((await runtape(["replay"], { cwd: dir })).stdout);
});

describe.each(SPAWNED)("runtape's output via %s", (via) => {
  test("not at a terminal: no escape codes at all, NO_COLOR or not", async () => {
    const dir = tempDir();
    // Without NO_COLOR, in a user's shell: nothing else quiets consola.
    const run = (args: string[]) =>
      runtape(args, { via, cwd: dir, env: { ...USER_ENV, NO_COLOR: undefined } });
    const recorded = await run(["record", "--bars", "20"]);
    const results = [
      recorded,
      ...(await Promise.all([
        run(["replay", "--format", "pretty", "--limit", "5"]),
        run(["replay", "--into", "copy.db"]),
        run(["inspect"]),
        run(["inspect", "--run", "latest"]),
        run(["--help"]),
        run(["replay", "--help"]),
        run(["frobnicate"]),
        run(["inspect", "missing.db", "--verbose"]),
      ])),
    ];
    expect(results.map((r) => r.code)).toEqual([0, 0, 0, 0, 0, 0, 0, 2, 1]);
    for (const { stdout, stderr } of results) expect(stdout + stderr).not.toMatch(ESCAPE);
  });

  terminalTest(
    "at a terminal: colour, but none with NO_COLOR, none in stderr sent to a file",
    async () => {
      const dir = tempDir();
      const coloured = await atTerminal(["record", "a.db", "--bars", "20"], {
        via,
        cwd: dir,
      });
      expect(coloured.code).toBe(0);
      expect(coloured.screen).toMatch(COLOUR); // the check below can see colour

      for (const args of [
        ["record", "b.db", "--bars", "20"],
        ["replay", "a.db", "--format", "pretty", "--limit", "3"],
        ["inspect", "a.db", "--run", "latest"],
        ["inspect", "missing.db", "--verbose"],
      ]) {
        const plain = await atTerminal(args, { via, cwd: dir, env: { NO_COLOR: "1" } });
        expect([args, plain.screen]).toEqual([args, expect.not.stringMatching(COLOUR)]);
      }

      // stdout at the terminal, stderr into a file: the file gets no colour.
      const logged = await atTerminal(["record", "c.db", "--bars", "20"], {
        via,
        cwd: dir,
        redirect: "2>err.txt",
      });
      expect(logged.code).toBe(0);
      const log = readFileSync(join(dir, "err.txt"), "utf8");
      expect(log).toContain("recorded");
      expect(log).not.toMatch(ESCAPE);
    },
  );

  terminalTest(
    "report comparing runs shows its progress at a terminal, none with --quiet",
    async () => {
      const dir = tempDir();
      for (const id of ["a", "b", "c"]) {
        await runtape(["record", "runs.db", "--bars", "20", "--run-id", id], { via, cwd: dir });
      }
      const args = ["report", "runs.db", "--where", "status=completed"];
      const shown = await atTerminal(args, { via, cwd: dir });
      expect(shown.code).toBe(0);
      expect(shown.screen).toContain("reading equity curves");
      expect(shown.screen).toContain("wrote compare.html");
      const quiet = await atTerminal([...args, "--quiet"], { via, cwd: dir });
      expect([quiet.code, quiet.screen]).toEqual([0, expect.not.stringContaining("equity curves")]);
    },
  );

  terminalTest(
    "runs computing metrics not cached yet shows its progress at a terminal, none with --quiet",
    async () => {
      const dir = tempDir();
      for (const id of ["a", "b"]) {
        await runtape(["record", "runs.db", "--bars", "20", "--run-id", id], { via, cwd: dir });
      }
      // Before any listing has cached the metrics; the second file stays uncached for --quiet.
      copyFileSync(join(dir, "runs.db"), join(dir, "again.db"));
      const shown = await atTerminal(["runs", "runs.db"], { via, cwd: dir });
      expect([shown.code, shown.screen]).toEqual([0, expect.stringContaining("metrics of")]);
      expect(shown.screen).toContain("completed");
      const quiet = await atTerminal(["runs", "again.db", "--quiet"], { via, cwd: dir });
      expect([quiet.code, quiet.screen]).toEqual([0, expect.not.stringContaining("metrics")]);
    },
  );

  test("Ctrl-C during `record --input -` flushes what was received, marks the run cancelled and exits 130", async () => {
    const dir = tempDir();
    const path = join(dir, "runs.db");
    const proc = await spawnRuntape(["record", "runs.db", "--input", "-", "--run-id", "stopped"], {
      via,
      cwd: dir,
      env: USER_ENV,
    });
    // Two batches, each waited for until stored: stdin stays open, more could come.
    const written = ndjson.slice(0, 150);
    for (const batch of [written.slice(0, 100), written.slice(100)]) {
      proc.stdin.write(`${batch.join("\n")}\n`);
      proc.stdin.flush();
      const expected = written.indexOf(batch.at(-1) as string) + 1;
      await until(() => storedEvents(path, "stopped") === expected, `${expected} events stored`);
    }
    proc.kill("SIGINT");
    const [code, stdout, stderr] = await Promise.all([
      proc.exited,
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
    ]);
    expect([code, stdout]).toEqual([130, "stopped\n"]);
    expect(lines(stderr)).toEqual(["✖ SIGINT: run stopped cancelled with 150 events"]);
    expect(storedRuns(path)).toMatchObject([{ run_id: "stopped", status: "cancelled" }]);
    expect(storedRuns(path)[0]?.ts_end).not.toBeNull();
    const replayed = await runtape(["replay"], { via, cwd: dir });
    expect(lines(replayed.stdout)).toEqual(written);
  });
});

describe.each([
  ["in line", []],
  ["--thread", ["--thread"]],
])("SIGTERM during `record --input FILE` (%s)", (_how, flags: string[]) => {
  test("stops it as it stops stdin: what was read is stored, the run cancelled, one line, exit 143", async () => {
    const dir = tempDir();
    const path = join(dir, "runs.db");
    // Far more than is recorded before the signal: a file hands its lines over without waiting.
    const total = 100_000;
    const file = join(dir, "in.ndjson");
    writeFileSync(
      file,
      Array.from({ length: total }, (_, i) => `${encodeEvent(bar(i))}\n`).join(""),
    );
    const args = ["record", "runs.db", "--input", file, "--run-id", "file", ...flags];
    const proc = await spawnRuntape(args, { cwd: dir, env: USER_ENV });
    await until(() => storedEvents(path, "file") > 0, "the first events stored");
    proc.kill("SIGTERM");
    const [code, stdout, stderr] = await Promise.all([
      proc.exited,
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
    ]);
    const events = storedEvents(path, "file");
    expect([code, stdout, lines(stderr)]).toEqual([
      143,
      "file\n",
      [`✖ SIGTERM: run file cancelled with ${counted(events, "event")}`],
    ]);
    expect(events).toBeLessThan(total);
    expect(storedRuns(path)).toMatchObject([{ run_id: "file", status: "cancelled" }]);
  });
});

describe("the compiled binary in a directory with .env and bunfig.toml", () => {
  test("works, and loads neither", async () => {
    const broken = tempDir();
    writeFileSync(join(broken, ".env"), "RUNTAPE_X=1\n");
    writeFileSync(join(broken, "bunfig.toml"), "this is [not toml\npreload = ['./missing.ts']\n");
    const run = (args: string[]) => runtape(args, { via: "binary", cwd: broken });
    expect((await run(["record", "--bars", "5"])).code).toBe(0);
    expect(lines((await run(["replay"])).stdout)).toHaveLength(
      Number(JSON.parse((await run(["inspect", "--json"])).stdout)[0].events),
    );

    // A valid bunfig.toml whose preload would leave a mark, were it loaded.
    const valid = tempDir();
    writeFileSync(join(valid, "bunfig.toml"), 'preload = ["./preload.ts"]\n');
    writeFileSync(join(valid, "preload.ts"), 'require("node:fs").writeFileSync("loaded", "");\n');
    expect((await runtape(["record", "--bars", "5"], { via: "binary", cwd: valid })).code).toBe(0);
    expect(existsSync(join(valid, "loaded"))).toBe(false);
    // Bun running the source does load it: the probe sees a loaded bunfig.toml.
    await runtape(["record", "--bars", "5"], { via: "source", cwd: valid });
    expect(existsSync(join(valid, "loaded"))).toBe(true);
  });

  terminalTest("a .env that sets NO_COLOR does not reach it", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, ".env"), "NO_COLOR=1\n");
    const at = (via: Via) => atTerminal(["record", "--bars", "5"], { via, cwd: dir });
    const result = await at("binary");
    expect([result.code, result.screen]).toEqual([0, expect.stringMatching(COLOUR)]);
    // Bun running the source does load it: the probe sees a loaded .env.
    expect((await at("source")).screen).not.toMatch(COLOUR);
  });
});

describe("replaying a run large enough for a second thread", () => {
  test("the binary, the source and main print the same lines, on two threads when asked, else on one", async () => {
    const path = join(tempDir(), "big.db");
    bulkRun(path, "big", 5 * SLICE_SEQS);
    const replay = ["replay", path, "--run", "big"];
    const runs = await Promise.all([
      ...(["main", ...SPAWNED] as Via[]).map((via) =>
        runtape([...replay, "--threads", "2"], { via }),
      ),
      runtape([...replay, "--threads", "1"]),
      runtape(replay),
    ]);
    const [inProcess] = runs;
    expect(lines(inProcess?.stdout ?? "")).toHaveLength(5 * SLICE_SEQS);
    const summaries = runs.map((run) => {
      expect([run.code, run.stdout]).toEqual([0, inProcess?.stdout as string]);
      return /replayed [\d,]+ events of run big( on 2 threads)? in/.exec(run.stderr)?.[1] ?? "";
    });
    const two = " on 2 threads";
    expect(summaries).toEqual([two, two, two, "", ""]);
  });
});
