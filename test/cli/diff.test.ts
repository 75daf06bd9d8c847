import { beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Event, encodeEvent, recordRun, replay, runDemo } from "../../src/index.ts";
import { tempDir } from "../helpers.ts";
import { cli } from "./inprocess.ts";
import { lines } from "./support.ts";

const dir = tempDir();
let slow = "";
let fast = "";

/** Writes a run as an NDJSON golden, the way `runtape replay` prints it. */
const writeNdjson = (name: string, events: Iterable<Event>) =>
  writeFileSync(join(dir, name), [...events].map((e) => `${encodeEvent(e)}\n`).join(""));

beforeAll(async () => {
  const demo = { seed: 7, bars: 60, symbols: ["AAPL"] };
  for (const [name, fastPeriod] of [
    ["slow", 5],
    ["fast", 6],
  ] as const) {
    const { summary } = await recordRun(join(dir, "runs.db"), { runId: name }, (bus) =>
      runDemo(bus, { ...demo, strategy: { fastPeriod } }),
    );
    writeNdjson(`${name}.ndjson`, replay(join(dir, "runs.db"), { run: summary.runId }));
  }
  slow = "slow";
  fast = "fast";
});

describe("runtape diff", () => {
  test("a run against a golden NDJSON file: its own matches, another's does not", async () => {
    const own = await cli(["diff", "runs.db", "slow.ndjson", "--run-a", slow], dir);
    expect([own.code, own.stdout, own.stderr]).toEqual([
      0,
      expect.stringMatching(/^runs match/),
      "",
    ]);
    const other = await cli(["diff", "runs.db", "slow.ndjson", "--run-a", fast], dir);
    expect(other.code).toBe(1);
    expect(lines(other.stdout)[0]).toMatch(/^first divergence at event #\d+ \(BarProcessed\):$/);
    // Both sides may be files; one an editor saved with a byte order mark reads the same.
    expect((await cli(["diff", "fast.ndjson", "fast.ndjson"], dir)).code).toBe(0);
    const text = readFileSync(join(dir, "fast.ndjson"), "utf8");
    writeFileSync(join(dir, "fast-bom.ndjson"), `\ufeff${text.replaceAll("\n", "\r\n")}`);
    const bom = await cli(["diff", "fast.ndjson", "fast-bom.ndjson"], dir);
    expect([bom.code, bom.stdout]).toEqual([0, expect.stringMatching(/^runs match/)]);
  });

  test("--ignore '': a field a golden leaves out (ts_created_ns) is not compared; every other is", async () => {
    // A golden as writeGolden makes it: the wall-clock field left out.
    const golden = (name: string, events: Iterable<Event>) =>
      writeNdjson(
        name,
        [...events].map((e) => {
          const { ts_created_ns: _, ...kept } = e;
          return kept as unknown as Event;
        }),
      );
    golden("slow-golden.ndjson", replay(join(dir, "runs.db"), { run: slow }));
    golden("fast-golden.ndjson", replay(join(dir, "runs.db"), { run: fast }));
    for (const args of [
      ["slow-golden.ndjson", "slow-golden.ndjson"],
      ["runs.db", "slow-golden.ndjson", "--run-a", slow],
      ["slow-golden.ndjson", "runs.db", "--run-b", slow],
    ]) {
      const result = await cli(["diff", ...args, "--ignore", ""], dir);
      expect([args, result.code, result.stdout]).toEqual([
        args,
        0,
        expect.stringMatching(/^runs match/),
      ]);
    }
    const other = await cli(
      ["diff", "slow-golden.ndjson", "fast-golden.ndjson", "--ignore", ""],
      dir,
    );
    expect(other.code).toBe(1);
    expect(other.stdout).not.toContain("ts_created_ns");
    // Nor does --json show a value the file does not hold: the clock's, made as it was read.
    const json = await cli(
      ["diff", "runs.db", "slow-golden.ndjson", "--run-a", fast, "--json", "--max", "3"],
      dir,
    );
    const parsed = JSON.parse(json.stdout) as {
      first: { a: Event; b: Record<string, unknown> };
      divergences: { a: Event; b: Record<string, unknown> }[];
    };
    expect(parsed.divergences.length).toBeGreaterThan(0);
    for (const d of [parsed.first, ...parsed.divergences]) {
      expect([Object.hasOwn(d.a, "ts_created_ns"), Object.hasOwn(d.b, "ts_created_ns")]).toEqual([
        true,
        false,
      ]);
    }
    // A file that holds the field has it compared.
    const full = await cli(
      ["diff", "runs.db", "fast.ndjson", "--run-a", slow, "--ignore", ""],
      dir,
    );
    expect(full.stdout).toContain("ts_created_ns");
  });

  test("--run-b applies to databases only; a broken golden is one line naming file and line", async () => {
    const usage = await cli(["diff", "runs.db", "slow.ndjson", "--run-b", slow], dir);
    expect([usage.code, usage.stderr]).toEqual([
      2,
      "runtape: --run-b applies to a runs database, not to slow.ndjson\n",
    ]);
    // --run is both --run-a and --run-b: the error names what was given.
    const both = await cli(["diff", "slow.ndjson", "fast.ndjson", "--run", slow], dir);
    expect([both.code, both.stderr]).toEqual([
      2,
      "runtape: --run applies to a runs database, not to slow.ndjson\n",
    ]);
    writeFileSync(join(dir, "broken.ndjson"), '{"type":"BarReceived"}\n');
    const broken = await cli(["diff", "runs.db", "broken.ndjson"], dir);
    expect([broken.code, broken.stderr]).toEqual([
      2,
      expect.stringMatching(/^runtape: broken\.ndjson, line 1: BarReceived\.\w+: missing/),
    ]);
    const missing = await cli(["diff", "runs.db", "none.ndjson"], dir);
    expect([missing.code, missing.stderr]).toEqual([2, "runtape: no NDJSON file at none.ndjson\n"]);
  });

  test("--max N shows the first N divergences; all are counted", async () => {
    const one = await cli(["diff", "runs.db", "runs.db", "--run-a", slow, "--run-b", fast], dir);
    const three = await cli(
      ["diff", "runs.db", "runs.db", "--run-a", slow, "--run-b", fast, "--max", "3"],
      dir,
    );
    const headings = (text: string) => lines(text).filter((l) => /divergence at event #/.test(l));
    expect(headings(one.stdout)).toHaveLength(1);
    expect(headings(three.stdout)).toHaveLength(3);
    expect(headings(three.stdout)[0]).toBe(headings(one.stdout)[0] as string);
    expect(headings(three.stdout).slice(1)).toEqual([
      expect.stringMatching(/^divergence at event #[\d,]+/),
      expect.stringMatching(/^divergence at event #[\d,]+/),
    ]);
    // The count line is the same either way.
    const counted = (text: string) => lines(text).find((l) => l.includes("positions differ"));
    expect(counted(three.stdout)).toBe(counted(one.stdout) as string);
    expect((await cli(["diff", "runs.db", "runs.db", "--max", "0"], dir)).code).toBe(2);
  });

  test("--json: snake_case keys like every JSON output, exact or string integers", async () => {
    const args = ["diff", "runs.db", "runs.db", "--run-a", slow, "--run-b", fast, "--json"];
    const exact = await cli(args, dir);
    const doc = JSON.parse(exact.stdout);
    expect(Object.keys(doc)).toEqual([
      "run_a",
      "run_b",
      "match",
      "first",
      "divergences",
      "differing",
      "counts_a",
      "counts_b",
    ]);
    expect([doc.run_a, doc.run_b, doc.match]).toEqual([slow, fast, false]);
    // Event type names and event fields are left as they are.
    expect(Object.keys(doc.counts_a)).toContain("BarReceived");
    expect(doc.first.a.type).toBe("BarProcessed");
    expect(exact.stdout).toMatch(/"ts_event_ns": \d{19},/);
    const strings = await cli([...args, "--int64", "string"], dir);
    expect(strings.stdout).toMatch(/"ts_event_ns": "\d{19}",/);
    expect(JSON.parse(strings.stdout).first.a.ts_event_ns).toBe(String(doc.first.a.ts_event_ns));
  });
});

describe("runtape replay --int64 string", () => {
  test("prints the 64-bit integer columns (timestamps, volume) as strings", async () => {
    const exact = await cli(["replay", "runs.db", "--run", slow, "--limit", "2"], dir);
    const strings = await cli(
      ["replay", "runs.db", "--run", slow, "--limit", "2", "--int64", "string"],
      dir,
    );
    expect(lines(strings.stdout)).toEqual(
      lines(exact.stdout).map((l) => l.replace(/"(ts_\w+_ns|volume)":(-?\d+)/g, '"$1":"$2"')),
    );
    expect(strings.stdout).toMatch(/"ts_event_ns":"\d{19}"/);
    const bad = await cli(["replay", "runs.db", "--int64", "text"], dir);
    expect(bad.code).toBe(2);
  });
});
