import { beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { EVENT_TYPES, inspectRun, openRunsDb, type RunDetail } from "../../src/index.ts";
import { rawDb, tempDir } from "../helpers.ts";
import { runtape } from "./run.ts";
import { iso, lines, type StoredRun, storedRuns, typeCounts } from "./support.ts";

// Two runs in one database: a small one, then a full demo (all 13 types) with metadata.
const dir = tempDir();
const DB = join(dir, "runs.db");
let runs: StoredRun[] = []; // oldest first
let detail: RunDetail;

beforeAll(async () => {
  for (const args of [
    ["--bars", "5", "--symbols", "ZZZ", "--name", "first run"],
    ["--bars", "100", "--metadata", '{"note":"ünïcode","n":1}'],
  ]) {
    expect((await runtape(["record", "runs.db", ...args], { cwd: dir })).code).toBe(0);
  }
  runs = storedRuns(DB);
  const db = openRunsDb(DB);
  detail = inspectRun(db, runs[1]?.run_id as string);
  db.close();
});

// The demo's first bar time, and its 100th.
const FIRST_BAR = 1_709_562_600_000_000_000n;
const LAST_BAR = FIRST_BAR + 99n * 60_000_000_000n;

const eventsOf = (run: StoredRun | undefined) =>
  Object.values(typeCounts(DB, run?.run_id ?? "")).reduce((a, b) => a + b, 0);

/** Per symbol, what SQL alone says about its trading. */
function tradingBySql(runId: string) {
  const db = rawDb(DB);
  try {
    return db
      .query(
        `SELECT s.symbol,
           (SELECT COUNT(*) FROM order_submissions WHERE run_id = ?1 AND symbol = s.symbol) AS orders,
           (SELECT COUNT(*) FROM orders_rejected r JOIN order_submissions o
              ON o.run_id = r.run_id AND o.system_order_id = r.associated_order_id
              WHERE r.run_id = ?1 AND o.symbol = s.symbol) AS rejections,
           (SELECT COUNT(*) FROM fills WHERE run_id = ?1 AND symbol = s.symbol) AS fills,
           (SELECT SUM(quantity_filled) FROM fills WHERE run_id = ?1 AND symbol = s.symbol) AS qty,
           (SELECT SUM(commission) FROM fills WHERE run_id = ?1 AND symbol = s.symbol) AS commission
         FROM (SELECT DISTINCT symbol FROM order_submissions WHERE run_id = ?1) s ORDER BY s.symbol`,
      )
      .all(runId) as {
      symbol: string;
      orders: bigint;
      rejections: bigint;
      fills: bigint;
      qty: number;
      commission: number;
    }[];
  } finally {
    db.close();
  }
}

/** The integers that follow `"key": ` in a JSON text, read as exact digits. */
const jsonIntegers = (text: string, key: string): (bigint | null | undefined)[] =>
  [...text.matchAll(new RegExp(`"${key}": (-?\\d+)[,\\n]`, "g"))].map((m) =>
    BigInt(m[1] as string),
  );

describe("runtape inspect", () => {
  const run = (args: string[]) => runtape(args, { cwd: dir });

  test("the run list: one row per run, newest first, with its name, status, start, duration and events", async () => {
    const result = await run(["inspect"]); // ./runs.db by default
    expect([result.code, result.stderr]).toEqual([0, ""]);
    const [header, ...rows] = lines(result.stdout);
    expect(header?.split(/ {2,}/)).toEqual([
      "RUN",
      "NAME",
      "STATUS",
      "START (UTC)",
      "DURATION",
      "EVENTS",
    ]);
    const [first, second] = runs;
    expect(rows).toEqual([
      expect.stringMatching(
        new RegExp(
          `^${second?.run_id} +demo backtest +completed +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d +\\S.* +${eventsOf(second)}$`,
        ),
      ),
      expect.stringMatching(
        new RegExp(`^${first?.run_id} +first run +completed .* ${eventsOf(first)}$`),
      ),
    ]);
  });

  test("the run list as JSON: newest first, timestamps as exact integers", async () => {
    const result = await run(["inspect", "runs.db", "--json"]);
    expect(result.code).toBe(0);
    const list = JSON.parse(result.stdout) as { run_id: string; status: string; events: number }[];
    const newestFirst = [...runs].reverse();
    expect(Object.keys(list[0] ?? {})).toEqual([
      "run_id",
      "name",
      "status",
      "alive",
      "stale",
      "ts_start",
      "ts_end",
      "duration_ns",
      "events",
    ]);
    expect(list.map((r) => [r.run_id, r.status, r.events])).toEqual(
      newestFirst.map((r) => [r.run_id, "completed", eventsOf(r)]),
    );
    // Wall-clock nanoseconds are far above 2^53: JSON.parse alone would round them.
    const starts = jsonIntegers(result.stdout, "ts_start");
    expect(starts).toEqual(newestFirst.map((r) => r.ts_start));
    for (const ns of starts) expect((ns ?? 0n) > 2n ** 53n).toBe(true);
    expect(jsonIntegers(result.stdout, "ts_end")).toEqual(newestFirst.map((r) => r.ts_end));
    // For readers that take every number for a double: the same integers as strings.
    const strings = await run(["inspect", "runs.db", "--json", "--int64", "string"]);
    const parsed = JSON.parse(strings.stdout) as { ts_start: string; events: string }[];
    expect(parsed.map((r) => [r.ts_start, r.events])).toEqual(
      newestFirst.map((r) => [String(r.ts_start), String(eventsOf(r))]),
    );
  });

  test("--run: counts per type, symbols, periods, time range, metadata and the trading of each symbol", async () => {
    const runId = runs[1]?.run_id as string;
    const result = await run(["inspect", "runs.db", "--run", runId]);
    expect([result.code, result.stderr]).toEqual([0, ""]);
    const text = lines(result.stdout);
    const counts = typeCounts(DB, runId);
    expect(text).toEqual(
      expect.arrayContaining([
        `run       ${runId}`,
        "name      demo backtest",
        "status    completed",
        `events    ${eventsOf(runs[1])}`,
        "symbols   AAPL, MSFT, NVDA",
        "periods   MINUTE",
        `from      ${iso(FIRST_BAR)} (${FIRST_BAR})`,
        `to        ${iso(LAST_BAR)} (${LAST_BAR})`,
        'metadata  {"note":"ünïcode","n":1}',
        ...EVENT_TYPES.map((t) => expect.stringMatching(new RegExp(`^${t} +${counts[t]}$`))),
      ]),
    );
    for (const type of EVENT_TYPES) expect(counts[type]).toBeGreaterThan(0);

    const table = text.slice(text.findIndex((l) => l.startsWith("SYMBOL")));
    expect(table[0]?.split(/ +/)).toEqual([
      "SYMBOL",
      "ORDERS",
      "REJECTED",
      "FILLS",
      "TRADED",
      "QTY",
      "COMMISSION",
      "REALISED",
      "P&L",
      "POSITION",
    ]);
    const rows = table.slice(1).map((l) => l.split(/ +/));
    const sql = tradingBySql(runId);
    // Thousands grouped, as in every other table of the CLI and in the report.
    const grouped = (x: number, digits = 0) =>
      x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
    expect(rows.map((r) => r.slice(0, 5))).toEqual(
      sql.map((t) => [
        t.symbol,
        ...[t.orders, t.rejections, t.fills, t.qty].map((x) => grouped(Number(x))),
      ]),
    );
    expect(sql.some((t) => t.qty >= 1000)).toBe(true);
    // Commission, P&L and position as the library sums them (its own tests check the
    // arithmetic; SQL adds the commissions in another order, which may round a cent apart).
    expect(rows.map((r) => r.slice(5))).toEqual(
      detail.trading.map((t) =>
        [t.commission, t.realizedPnl].map((x) => grouped(x, 2)).concat(grouped(t.position)),
      ),
    );
    expect(
      detail.trading.map((t, i) => Math.abs(t.commission - (sql[i]?.commission ?? 0))),
    ).toEqual(sql.map(() => expect.closeTo(0, 9)));
    expect(rows.map((r) => r[2]).some((n) => n !== "0")).toBe(true); // rejections are shown
  });

  test("--run of a copy prints its lineage, 64-bit integers exact, as it prints any metadata", async () => {
    const copy = join(tempDir(), "copy.db");
    const runId = runs[1]?.run_id as string;
    expect((await run(["replay", "runs.db", "--run", runId, "--into", copy])).code).toBe(0);
    const result = await run(["inspect", copy, "--run", runId]);
    expect([result.code, result.stderr]).toEqual([0, ""]);
    const metadata = lines(result.stdout).find((l) => l.startsWith("metadata  ")) ?? "";
    expect(metadata).toMatch(/"lineage":\{.*"copied_at_ns":\d{19}[,}]/);
    const big = await run([
      "record",
      "big.db",
      "--bars",
      "2",
      "--metadata",
      '{"n":9007199254740993}',
    ]);
    const shown = await run(["inspect", "big.db", "--run", big.stdout.trim()]);
    expect(lines(shown.stdout)).toContain('metadata  {"n":9007199254740993}');
  });

  test("--run --json: the same as one document, integers exact", async () => {
    const runId = runs[1]?.run_id as string;
    const result = await run(["inspect", "runs.db", "--run", "latest", "--json"]);
    expect(result.code).toBe(0);
    const doc = JSON.parse(result.stdout);
    expect(doc.run.run_id).toBe(runId);
    expect(doc.counts).toEqual(typeCounts(DB, runId));
    expect(doc.symbols).toEqual(["AAPL", "MSFT", "NVDA"]);
    expect(doc.metadata).toEqual({ note: "ünïcode", n: 1 });
    // The library's camelCase fields, in the columns' snake_case like every JSON document.
    const snake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    expect(doc.trading).toEqual(
      detail.trading.map((t) =>
        Object.fromEntries(Object.entries(t).map(([k, v]) => [snake(k), v])),
      ),
    );
    expect(Object.keys(doc.trading[0])).toContain("realized_pnl");
    expect(jsonIntegers(result.stdout, "ts_start")).toEqual([runs[1]?.ts_start]);
    expect(jsonIntegers(result.stdout, "ts_end")).toEqual([runs[1]?.ts_end]);
    expect(jsonIntegers(result.stdout, "first_ts_event_ns")).toEqual([detail.firstTsEventNs]);
    expect(jsonIntegers(result.stdout, "last_ts_event_ns")).toEqual([detail.lastTsEventNs]);
  });
});
