import { Database } from "bun:sqlite";
import { beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync } from "node:fs";
import { join } from "node:path";
import { counted } from "../../src/format.ts";
import { decodeEvent, type Event, encodeEvent, Recorder, replay } from "../../src/index.ts";
import { bulkRun, sampleEvents, sampleOf, tempDir } from "../helpers.ts";
import { command, runtape, SPAWNED, spawnRuntape, USER_ENV } from "./run.ts";
import { databaseBytes, iso, lines, storedEvents, storedRuns, until } from "./support.ts";

// One demo run (all 13 types, 3 symbols), replayed by every test; replay only reads it.
const dir = tempDir();
const DB = join(dir, "runs.db");
let runId = "";
/** The run as the library replays it: what the CLI must print, filtered by the tests. */
let events: Event[] = [];
let expected: string[] = [];

beforeAll(async () => {
  const recorded = await runtape(
    ["record", "runs.db", "--bars", "100", "--metadata", '{"who":"replay test"}'],
    { cwd: dir },
  );
  expect(recorded.code).toBe(0);
  runId = recorded.stdout.trim();
  events = [...replay(DB)];
  expected = events.map(encodeEvent);
});

const orderIdOf = (e: Event) =>
  "system_order_id" in e
    ? e.system_order_id
    : "associated_order_id" in e
      ? e.associated_order_id
      : undefined;
const symbolOf = (e: Event) => ("symbol" in e ? e.symbol : undefined);
const pick = (keep: (e: Event) => boolean) => events.filter(keep).map(encodeEvent);

/** A copy of the test's runs database at `path` whose first fill has a side no event can have. */
function withBadFill(path: string): string {
  copyFileSync(DB, path);
  const db = new Database(path);
  db.run("UPDATE fills SET side = 'SIDEWAYS' WHERE id = (SELECT MIN(id) FROM fills)");
  db.close();
  return path;
}

describe("runtape replay", () => {
  const run = (args: string[]) => runtape(args, { cwd: dir });
  const replayed = async (...args: string[]) => {
    const result = await run(["replay", "runs.db", ...args]);
    expect([args, result.code, result.stderr]).toEqual([args, 0, expect.any(String)]);
    return lines(result.stdout);
  };

  test("NDJSON: every event on one line, in publication order, exactly; a one-line summary on stderr", async () => {
    const result = await run(["replay", "runs.db", "--run", runId]);
    expect(result.code).toBe(0);
    expect(lines(result.stdout)).toEqual(expected);
    expect(lines(result.stderr)).toEqual([
      expect.stringContaining(
        `replayed ${expected.length.toLocaleString("en-US")} events of run ${runId}`,
      ),
    ]);
    // Every line parses back to the event, integers beyond 2^53 exact.
    expect(lines(result.stdout).map((l) => decodeEvent(l))).toEqual(events);
    expect(await replayed("--run", "latest", "--format", "ndjson")).toEqual(expected);
  });

  test("pretty: one aligned line per event: time, type, the other fields", async () => {
    const pretty = await replayed("--format", "pretty");
    expect(pretty).toHaveLength(events.length);
    const starts = new Set<number>();
    pretty.forEach((line, i) => {
      const event = events[i] as Event;
      expect(line).toStartWith(`${iso(event.ts_event_ns)}  ${event.type} `);
      expect(line).toContain(` ts_created_ns=${event.ts_created_ns}`);
      const symbol = symbolOf(event);
      if (symbol !== undefined) expect(line).toContain(` symbol=${symbol}`);
      starts.add(line.indexOf(" ts_created_ns="));
    });
    expect(starts.size).toBe(1); // the fields start in one column
  });

  test("--types and --exclude-types keep exactly the events of those types", async () => {
    expect(await replayed("--types", "FillEvent,OrderExpired")).toEqual(
      pick((e) => e.type === "FillEvent" || e.type === "OrderExpired"),
    );
    expect(await replayed("--exclude-types", "BarReceived,BarProcessed")).toEqual(
      pick((e) => !e.type.startsWith("Bar")),
    );
  });

  test("--symbols keeps the symbol's events and every response to its orders", async () => {
    const orders = new Set(
      events
        .filter((e) => symbolOf(e) === "MSFT")
        .map(orderIdOf)
        .filter((id) => id !== undefined),
    );
    const kept = pick((e) =>
      symbolOf(e) === undefined ? orders.has(orderIdOf(e) ?? "") : symbolOf(e) === "MSFT",
    );
    const msft = await replayed("--symbols", "MSFT");
    expect(msft).toEqual(kept);
    const responses = msft.map((l) => decodeEvent(l)).filter((e) => symbolOf(e) === undefined);
    expect(responses.length).toBeGreaterThan(0);
    expect(await replayed("--symbols", "MSFT,NVDA", "--types", "BarReceived")).toEqual(
      pick((e) => e.type === "BarReceived" && symbolOf(e) !== "AAPL"),
    );
  });

  test("--from and --to (nanoseconds or ISO-8601, inclusive) and --limit", async () => {
    const from = 1_709_562_600_000_000_000n + 10n * 60_000_000_000n; // the 11th bar time
    const to = from + 5n * 60_000_000_000n;
    const window = pick((e) => e.ts_event_ns >= from && e.ts_event_ns <= to);
    expect(window.length).toBeGreaterThan(0);
    expect(window.length).toBeLessThan(events.length / 2);
    expect(await replayed("--from", `${from}`, "--to", `${to}`)).toEqual(window);
    expect(
      await replayed(
        "--from",
        "2024-03-04T14:40:00Z",
        "--to",
        "2024-03-04T15:45:00.000000000+01:00",
      ),
    ).toEqual(window);
    expect(await replayed("--from", "2024-03-04 14:40", "--to", `${to - 1n}`)).toEqual(
      pick((e) => e.ts_event_ns >= from && e.ts_event_ns < to),
    );
    expect(await replayed("--from", `${to + 1n}`, "--to", `${from}`)).toEqual([]);

    expect(await replayed("--limit", "7")).toEqual(expected.slice(0, 7));
    expect(await replayed("--limit", "0")).toEqual([]);
    expect(await replayed("--types", "FillEvent", "--from", `${from}`, "--limit", "2")).toEqual(
      pick((e) => e.type === "FillEvent" && e.ts_event_ns >= from).slice(0, 2),
    );
  });

  test("--into copies the run to another database: diff --ignore '' finds no difference", async () => {
    const target = tempDir();
    const copied = await run(["replay", "runs.db", "--into", join(target, "copy.db")]);
    expect([copied.code, copied.stdout]).toEqual([0, `${runId}\n`]);
    expect(lines(copied.stderr)).toEqual([
      expect.stringContaining(
        `copied ${events.length.toLocaleString("en-US")} events of run ${runId}`,
      ),
    ]);
    const [original] = storedRuns(DB);
    expect(storedRuns(join(target, "copy.db"))).toMatchObject([
      {
        run_id: runId,
        name: original?.name,
        status: "completed",
        ts_start: original?.ts_start,
        ts_end: original?.ts_end,
        config: original?.config,
      },
    ]);
    const diff = await run(["diff", "runs.db", join(target, "copy.db"), "--ignore", ""]);
    expect([diff.code, diff.stdout]).toEqual([0, expect.stringContaining("runs match")]);
    expect(lines((await run(["replay", join(target, "copy.db")])).stdout)).toEqual(expected);
  });
  test("--into --run-id: the summary names the source run, and the copy's id where it differs", async () => {
    const fills = counted(events.filter((e) => e.type === "FillEvent").length, "event");
    for (const [copyId, as] of [
      ["p1", " as p1"],
      [runId, ""],
    ] as const) {
      const target = join(tempDir(), "part.db");
      const args = ["--run", runId, "--into", target, "--types", "FillEvent", "--run-id", copyId];
      const result = await run(["replay", "runs.db", ...args]);
      expect([result.code, result.stdout, lines(result.stderr)]).toEqual([
        0,
        `${copyId}\n`,
        [expect.stringMatching(RegExp(` copied ${fills} of run ${runId} into ${target}${as} in `))],
      ]);
    }
  });

  test("--into --skip-invalid says what it skipped, and the copy's lineage records it", async () => {
    const target = tempDir();
    const bad = withBadFill(join(target, "bad.db"));
    const copied = await run(["replay", bad, "--into", join(target, "copy.db"), "--skip-invalid"]);
    expect([copied.code, copied.stdout]).toEqual([0, `${runId}\n`]);
    expect(lines(copied.stderr)).toEqual([
      expect.stringContaining(
        `copied ${(events.length - 1).toLocaleString("en-US")} events of run ${runId} into ${join(target, "copy.db")} (1 invalid row skipped)`,
      ),
    ]);
    const [copy] = storedRuns(join(target, "copy.db"));
    expect(JSON.parse(copy?.metadata ?? "").lineage).toMatchObject({
      filtered: true,
      skipped_invalid_rows: 1,
    });
  });

  test("--into a row that does not decode: the copy is kept failed, and the line says so", async () => {
    const target = tempDir();
    const bad = withBadFill(join(target, "bad.db"));
    const into = join(target, "copy.db");
    const copied = await run(["replay", bad, "--into", into]);
    const [copy] = storedRuns(into);
    const kept = storedEvents(into, runId);
    expect(copy?.status).toBe("failed");
    expect(kept).toBeGreaterThan(0);
    expect([copied.code, lines(copied.stderr).at(-1)]).toEqual([
      1,
      expect.stringMatching(
        new RegExp(
          `^runtape: fills row \\d+, side: .* \\(run ${runId} kept its first ${kept.toLocaleString("en-US")} events and is marked failed\\)$`,
        ),
      ),
    ]);
  });

  test("lines longer than the output buffer and text beyond ASCII come out whole, in order", async () => {
    const path = join(tempDir(), "long.db");
    const recorder = Recorder.start(path, { runId: "long" });
    const long = { ...sampleOf("OrderSubmissionRequest"), signal: `€${"x".repeat(300_000)}😀` };
    const stored = [...sampleEvents(), long, ...sampleEvents()];
    for (const event of stored) recorder.record(event);
    recorder.close();
    const result = await runtape(["replay", path]);
    expect(result.code).toBe(0);
    expect(lines(result.stdout)).toEqual([...replay(path)].map(encodeEvent));
    expect(lines(result.stdout).map((l) => decodeEvent(l))).toEqual(stored);
  });
});

/** A run of megabytes of NDJSON, recorded once for both entry points; they only read it (at once). */
let bigRun: Promise<string> | undefined;
const recordBigRun = async () => {
  const big = tempDir();
  bulkRun(join(big, "runs.db"), "big", 20_000);
  return big;
};

describe.each(SPAWNED)("runtape replay via %s", (via) => {
  test.concurrent("a reader that closes the pipe after one line: runtape ends quietly, the database unchanged", async () => {
    bigRun ??= recordBigRun();
    const big = await bigRun;
    const before = databaseBytes(join(big, "runs.db"));
    const proc = await spawnRuntape(["replay", "runs.db"], { via, cwd: big });
    proc.stdin.end();
    const reader = proc.stdout.getReader();
    let text = "";
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    await reader.cancel(); // `| head -1`: the reader is gone with megabytes still to come
    const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
    expect(decodeEvent(text.split("\n")[0] as string).type).toBe("BarReceived");
    // No summary either: it would mean the whole run was written, not that the pipe closed early.
    expect([code, stderr]).toEqual([0, ""]);
    expect(databaseBytes(join(big, "runs.db"))).toEqual(before);

    // The same in a shell: `runtape replay | head -3`, its exit code kept by pipefail.
    const shell = Bun.spawn(
      ["bash", "-c", 'set -o pipefail; "$0" "$@" | head -3', ...(await command(["replay"], via))],
      { cwd: big, stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } },
    );
    const [shellCode, shellOut, shellErr] = await Promise.all([
      shell.exited,
      new Response(shell.stdout).text(),
      new Response(shell.stderr).text(),
    ]);
    expect([shellCode, lines(shellOut).length, shellErr]).toEqual([0, 3, ""]);
    expect(databaseBytes(join(big, "runs.db"))).toEqual(before);
  });
});

test("Ctrl-C during replay --into: the copy is cancelled with what it holds, one failure line, exit 130", async () => {
  const target = join(tempDir(), "copy.db");
  // Paced as recorded, a minute between bar times: the copy is still running when the signal comes.
  const proc = await spawnRuntape(["replay", "runs.db", "--into", target, "--speed", "1"], {
    cwd: dir,
    env: USER_ENV,
  });
  await until(() => storedEvents(target, runId) > 0, "the copy's first events");
  proc.kill("SIGINT");
  const [code, stdout, stderr] = await Promise.all([
    proc.exited,
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
  ]);
  const copied = storedEvents(target, runId);
  expect([code, stdout, lines(stderr)]).toEqual([
    130,
    "",
    [`✖ SIGINT: copy of ${runId} cancelled with ${counted(copied, "event")}`],
  ]);
  expect(storedRuns(target)).toMatchObject([{ run_id: runId, status: "cancelled" }]);
});
