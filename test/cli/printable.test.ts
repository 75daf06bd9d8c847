import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describePull } from "../../src/cli/pull.ts";
import { describePush } from "../../src/cli/push.ts";
import { InvalidRunIdError, Recorder } from "../../src/index.ts";
import { printable } from "../../src/text.ts";
import { sampleEvents, tempDir } from "../helpers.ts";
import { cli } from "./inprocess.ts";
import { lines, storedEvents } from "./support.ts";

// Clears the screen, retitles the terminal, forges a line of the run list, reverses text.
const EVIL_ID = "r\u001b[2J\u001b]0;pwned\u0007\r\nFORGED  completed\u0085\u202e";
const EVIL_NAME = "name\u001b[31mred\u009b1m";
const EVIL_SYMBOL = "SYM\u001b[1A\u0000";

/** Anything but the line breaks between lines that could drive a terminal or forge a line. */
const raw = (text: string) =>
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the characters looked for
  text.replaceAll("\n", "").search(/[\u0000-\u001f\u007f-\u009f\u2028-\u202e]/);

/** A database with two runs whose id, name and symbols carry control characters (written as another tool could). */
function hostileDb(): string {
  const path = join(tempDir(), "runs.db");
  for (const [id, close] of [
    ["evil", 1],
    ["evil2", 2],
  ] as const) {
    const recorder = Recorder.start(path, { runId: id, name: EVIL_NAME });
    for (const event of sampleEvents()) {
      const e = event as unknown as Record<string, unknown>;
      recorder.record({
        ...event,
        ...("symbol" in e ? { symbol: EVIL_SYMBOL } : {}),
        ...(e.type === "BarReceived" ? { close } : {}),
      } as typeof event);
    }
    recorder.close();
  }
  renameRun(path, "evil", EVIL_ID);
  return path;
}

/** Gives run `from` the id `to` in every table, as another tool could (the CLI refuses such ids). */
function renameRun(path: string, from: string, to: string): void {
  const db = new Database(path);
  const tables = db.query("SELECT name FROM sqlite_master WHERE type = 'table'").all() as {
    name: string;
  }[];
  for (const { name } of tables)
    db.run(`UPDATE "${name}" SET run_id = ? WHERE run_id = ?`, [to, from]);
  db.close();
}

describe("control characters in the data are escaped in every output for people", () => {
  test("inspect, inspect --run, --check, replay --format pretty, diff and error messages", async () => {
    const path = hostileDb();
    const outputs = [
      await cli(["inspect", path]),
      await cli(["inspect", path, "--run", EVIL_ID]),
      await cli(["inspect", path, "--check"]),
      await cli(["replay", path, "--run", EVIL_ID, "--format", "pretty"]),
      await cli(["diff", path, path, "--run-a", EVIL_ID, "--run-b", "evil2"]),
      await cli(["inspect", path, "--run", `${EVIL_ID}x`]),
    ];
    const [list, detail, check, pretty, diff, missing] = outputs;
    for (const [i, result] of outputs.entries()) {
      expect([i, raw(result.stdout), raw(result.stderr)]).toEqual([i, -1, -1]);
    }
    // One row per run, the id shown with visible escapes.
    expect(lines(list?.stdout ?? "")).toHaveLength(3);
    expect(list?.stdout).toContain(printable(EVIL_ID));
    expect(list?.stdout).toContain("r\\e[2J\\e]0;pwned\\x07\\r\\nFORGED  completed\\x85\\u202e");
    expect(detail?.stdout).toContain(`name      ${printable(EVIL_NAME)}`);
    expect(detail?.stdout).toContain(printable(EVIL_SYMBOL));
    expect(check?.code).toBe(0);
    expect(pretty?.stdout).toContain(`symbol=${printable(EVIL_SYMBOL)}`);
    expect([diff?.code, diff?.stdout]).toEqual([
      1,
      expect.stringContaining("close: 1 (A) vs 2 (B)"),
    ]);
    expect([missing?.code, missing?.stderr]).toEqual([
      1,
      `runtape: no run with id ${printable(JSON.stringify(`${EVIL_ID}x`))}\n`,
    ]);
  });

  test("runs escapes config keys, values and tags in its table and --sort hint; CSV and JSON keep them", async () => {
    const path = join(tempDir(), "runs.db");
    const KEY = "a\nb";
    const config = (n: number, text: string) => JSON.stringify({ [KEY]: n, esc: text });
    for (const [run, text] of [
      ["c1", "\u001b[2Jz\u202e"],
      ["c2", "q"],
    ] as const) {
      const recorded = await cli([
        "record",
        path,
        "--run",
        run,
        "--bars",
        "2",
        "--quiet",
        "--config",
        config(run === "c1" ? 1 : 2, text),
      ]);
      expect(recorded.code).toBe(0);
    }
    const TAG = "v\u001b[2Jx\nFAKE";
    expect((await cli(["tag", path, "--run", "c1", `t=${TAG}`])).code).toBe(0);

    const table = await cli(["runs", path]);
    expect([table.code, raw(table.stdout), lines(table.stdout).length]).toEqual([0, -1, 3]);
    const [head, ...rows] = lines(table.stdout);
    expect(head?.split(/\s+/).slice(0, 5)).toEqual([
      "run_id",
      "status",
      "tags",
      printable(KEY),
      "esc",
    ]);
    expect(rows.find((r) => r.startsWith("c1"))).toContain(printable(`t=${TAG}`));
    expect(rows.find((r) => r.startsWith("c1"))).toContain(printable("\u001b[2Jz\u202e"));

    const sort = await cli(["runs", path, "--sort", "nosuch"]);
    expect([sort.code, raw(sort.stderr), lines(sort.stderr)[1]]).toEqual([
      2,
      -1,
      expect.stringContaining(`or a config path (${printable(KEY)}, esc)`),
    ]);

    const json = JSON.parse((await cli(["runs", path, "--json"])).stdout);
    expect(json.varying).toEqual([KEY, "esc"]);
    expect(json.entries.find((e: { run_id: string }) => e.run_id === "c1").tags).toEqual({
      t: TAG,
    });
    const csv = (await cli(["runs", path, "--csv"])).stdout;
    expect(csv).toContain(`"${KEY}"`);
    expect(csv).toContain(`"t=${TAG}"`);
  });

  test("push and pull lines name runs escaped", () => {
    const run = { runId: EVIL_ID, events: 3n, seconds: 1 };
    for (const line of [
      describePush({ ...run, outcome: "pushed" } as Parameters<typeof describePush>[0]),
      describePush({ ...run, outcome: "present" } as Parameters<typeof describePush>[0]),
      describePull({ ...run, outcome: "pulled" } as Parameters<typeof describePull>[0]),
    ]) {
      expect([raw(line), line]).toEqual([-1, expect.stringContaining(printable(EVIL_ID))]);
    }
  });

  test("merge's tab-separated lines escape run ids: none forges a line or a column", async () => {
    const path = hostileDb();
    renameRun(path, "evil2", "ta\tb");
    const result = await cli(["merge", "out.db", path], tempDir());
    expect([result.code, result.stdout]).toEqual([
      0,
      `copied\t${printable(EVIL_ID)}\t${path}\t${storedEvents(path, EVIL_ID)}\n` +
        `copied\tta\\tb\t${path}\t${storedEvents(path, "ta\tb")}\n`,
    ]);
  });

  test("JSON output keeps the exact text (JSON escapes it)", async () => {
    const path = hostileDb();
    const result = await cli(["inspect", path, "--json"]);
    expect(
      JSON.parse(result.stdout)
        .map((r: { run_id: string }) => r.run_id)
        .sort(),
    ).toEqual([EVIL_ID, "evil2"].sort());
  });
});

describe("run ids", () => {
  test.each([
    ["", "it is empty"],
    ["latest", '"latest" selects a run and cannot name one'],
    ["a\u001b[2Jb", "it contains a control character"],
    ["tab\there", "it contains a control character"],
    ["x".repeat(201), "it has 201 characters, at most 200 are allowed"],
    ["🚀".repeat(201), "it has 201 characters, at most 200 are allowed"],
    [" \u00a0\t ", "it contains a control character"],
    ["  ", "it is blank"],
    ["a\u200bb", "it contains an invisible character"],
    ["x\ud800y", "it is not valid Unicode (a lone surrogate)"],
    ["\ufeffrun", "it contains an invisible character"],
  ])("%p is refused by the library and the CLI, creating nothing", async (id, reason) => {
    const dir = tempDir();
    const path = join(dir, "runs.db");
    expect(() => Recorder.start(path, { runId: id })).toThrow(InvalidRunIdError);
    expect(() => Recorder.start(path, { runId: id })).toThrow(reason);
    expect(existsSync(path)).toBe(false);
    for (const flag of ["--run", "--run-id"]) {
      const result = await cli(["record", path, flag, id, "--bars", "2"]);
      expect([result.code, lines(result.stderr)[0]]).toEqual([2, expect.stringContaining(reason)]);
      expect(existsSync(path)).toBe(false);
    }
  });

  test.each([
    ["latest", "latest", '"latest"', '"latest" selects a run and cannot name one'],
    ["blank", "  ", '"  "', "it is blank"],
    ["BEL", "a\u0007", '"a\\x07"', "it contains a control character"],
    // Cut at 60 code points, never inside a surrogate pair.
    [
      "100 joined emoji",
      "👨‍👩‍👧".repeat(100),
      `"${"👨‍👩‍👧".repeat(12)}…"`,
      "it has 500 characters, at most 200 are allowed",
    ],
  ])(
    "%s: a usage error naming the option of every command that names a run, before anything runs",
    async (_, id, shown, reason) => {
      const dir = tempDir();
      for (const args of [
        ["record", "--run", id],
        ["record", "--run-id", id],
        ["backtest", "--strategy", "missing.ts", "--into", "x.db", "--run-id", id],
        ["replay", "--into", "y.db", "--run-id", id],
        ["rename", "--run", "a", "--to", id],
      ]) {
        const result = await cli(args, dir);
        expect([args, result.code, lines(result.stderr)]).toEqual([
          args,
          2,
          [
            `runtape: ${args.at(-2)}: invalid run id ${shown}: ${reason}`,
            '  hint: run ids are 1 to 200 characters, not all spaces, no control or invisible characters, not "latest"',
          ],
        ]);
      }
      expect(readdirSync(dir)).toEqual([]);
    },
  );

  test("200 characters of any printable text are a run id, counted as characters, not UTF-16 units", async () => {
    for (const id of ["ü🚀 ".repeat(67).slice(0, 200), "🚀".repeat(200), "👩‍👩‍👧"]) {
      const path = join(tempDir(), "runs.db");
      const result = await cli(["record", path, "--run", id, "--bars", "2"]);
      expect([result.code, result.stdout]).toEqual([0, `${id}\n`]);
    }
  });
});
