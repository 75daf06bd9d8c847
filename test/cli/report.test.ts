import { Database } from "bun:sqlite";
import { beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { rawDb, tempDir } from "../helpers.ts";
import { cli } from "./inprocess.ts";
import { runtape } from "./run.ts";
import { lines } from "./support.ts";

// A sweep of 2 × 3 backtests of the demo strategy over two of its parameters (`--param`).
// In process (main(argv)), but for the one report through the compiled binary: ECharts must work there.
const dir = tempDir();
const GRID = [3, 8].flatMap((fast) => [20, 30, 50].map((slow) => ({ fast, slow })));
const STRATEGY = join(import.meta.dir, "../../src/sim/strategy.ts");
const idOf = ({ fast, slow }: { fast: number; slow: number }) => `f${fast}-s${slow}`;

beforeAll(async () => {
  for (const g of GRID) {
    const params = ["--param", `fastPeriod=${g.fast}`, "--param", `slowPeriod=${g.slow}`];
    const args = ["backtest", "--strategy", STRATEGY, ...params, "--bars", "100"];
    const result = await cli([...args, "--into", "runs.db", "--run-id", idOf(g)], dir);
    expect([result.code, result.stderr]).toEqual([0, expect.any(String)]);
  }
});

interface JsonSweep {
  varying: string[];
  entries: {
    run_id: string;
    params: Record<string, unknown>;
    tags: Record<string, string>;
    metrics: Record<string, number>;
  }[];
}

describe("runtape runs and report", () => {
  test("runs --sort of what it cannot sort by is a usage error that lists what it can", async () => {
    for (const key of ["luck", "-luck", "", "-"]) {
      const result = await cli(["runs", "runs.db", "--sort", key], dir);
      const [message, hint, ...more] = lines(result.stderr);
      expect([key, result.code, result.stdout, more]).toEqual([key, 2, "", []]);
      expect(message).toBe(
        `runtape: --sort: cannot sort by ${JSON.stringify(key.replace(/^-/, ""))}: not a metric, a run field, a tag or a config path of these runs`,
      );
      expect(hint).toStartWith("  hint: sort by a metric (total_pnl, realized_pnl, ");
      expect(hint).toContain("run_id, name, status, a tag (tag.NAME) or a config path (");
      expect(hint).toContain("lineage.params.fastPeriod");
    }
  });

  test("runs --sort takes the run's own fields as --where names them", async () => {
    const ids = GRID.map(idOf);
    for (const [sort, expected] of [
      ["run_id", [...ids].sort()],
      ["-name", [...ids].sort().reverse()],
    ] as const) {
      const result = await cli(["runs", "runs.db", "--sort", sort, "--json"], dir);
      expect([sort, result.code, result.stderr]).toEqual([sort, 0, ""]);
      const listed = (JSON.parse(result.stdout) as JsonSweep).entries.map((e) => e.run_id);
      expect([sort, listed]).toEqual([sort, expected]);
    }
  });

  test("runs and report --where a key no run has is a usage error that names it and lists what it can filter on", async () => {
    for (const [args, key, what] of [
      [["runs", "runs.db", "--where", "nosuch.key=1"], "nosuch.key", "config path"],
      [
        ["runs", "runs.db", "--where", "status=completed", "--where", "tag.stage=x"],
        "tag.stage",
        "tag",
      ],
      [["runs", "runs.db", "--where", "total_pnl=1", "--json"], "total_pnl", "config path"],
      [["report", "runs.db", "--where", "nosuch=1"], "nosuch", "config path"],
    ] as const) {
      const result = await cli(args, dir);
      const [message, hint, ...more] = lines(result.stderr);
      expect([args, result.code, result.stdout, more]).toEqual([args, 2, "", []]);
      expect(message).toBe(
        `runtape: --where: cannot filter on ${JSON.stringify(key)}: no run has this ${what}`,
      );
      expect(hint).toStartWith("  hint: filter on run_id, name, status, a config path (");
      expect(hint).toContain("lineage.params.fastPeriod");
      expect(hint).toContain("or a metric (metric.total_pnl, metric.realized_pnl, ");
    }
    const luck = await cli(["runs", "runs.db", "--where", "metric.luck>1"], dir);
    expect([luck.code, lines(luck.stderr)[0]]).toEqual([
      2,
      'runtape: --where: cannot filter on "metric.luck": no such metric',
    ]);
    expect(existsSync(join(dir, "compare.html"))).toBe(false);
  });

  test("report --metric that is no metric is a usage error that lists the metrics", async () => {
    const result = await cli(
      ["report", "runs.db", "--runs", "f3-s20,f8-s30", "--metric", "luck"],
      dir,
    );
    expect([result.code, result.stdout, lines(result.stderr)]).toEqual([
      2,
      "",
      [
        'runtape: --metric: unknown metric "luck"',
        expect.stringMatching(/^ {2}hint: metrics: total_pnl, realized_pnl, /),
      ],
    ]);
  });

  test("runs: the differing parameters and the metrics, sorted and filtered, as table, JSON and CSV", async () => {
    const table = await cli(["runs", "runs.db", "--sort", "-total_pnl"], dir);
    expect([table.code, table.stderr]).toEqual([0, ""]);
    const [head, ...rows] = lines(table.stdout);
    expect(head?.split(/\s+/).slice(0, 5)).toEqual([
      "run_id",
      "status",
      "lineage.params.fastPeriod",
      "lineage.params.slowPeriod",
      "total_pnl",
    ]);
    expect(rows).toHaveLength(6);

    const json = await cli(["runs", "runs.db", "--sort", "-total_pnl", "--json"], dir);
    const sweep = JSON.parse(json.stdout) as JsonSweep;
    expect(sweep.varying).toEqual(["lineage.params.fastPeriod", "lineage.params.slowPeriod"]);
    // snake_case keys as every JSON of the CLI, but for the config paths: the user's own names.
    expect(sweep.entries[0]?.params).toHaveProperty(["lineage.params.fastPeriod"]);
    const pnl = sweep.entries.map((e) => e.metrics.total_pnl as number);
    expect(pnl).toEqual([...pnl].sort((a, b) => b - a));
    // The table shows the same runs in the same order.
    expect(rows.map((r) => r.split(/\s+/)[0])).toEqual(sweep.entries.map((e) => e.run_id));

    const csv = await cli(
      [
        "runs",
        "runs.db",
        "--where",
        "lineage.params.fastPeriod=8",
        "--where",
        "lineage.params.slowPeriod=30",
        "--csv",
      ],
      dir,
    );
    const [csvHead, only, ...more] = lines(csv.stdout);
    expect(more).toEqual([]);
    expect(csvHead?.split(",").slice(0, 3)).toEqual(["run_id", "name", "status"]);
    const f8 = sweep.entries.find((e) => e.run_id === "f8-s30");
    expect(only?.split(",")[0]).toBe("f8-s30");
    expect(Number(only?.split(",")[(csvHead?.split(",") ?? []).indexOf("total_pnl")])).toBe(
      f8?.metrics.total_pnl as number,
    );
  });

  test("--where compares numbers with <, <=, >, >= and text with !=", async () => {
    const ids = async (...where: string[]) => {
      const result = await cli(
        ["runs", "runs.db", ...where.flatMap((w) => ["--where", w]), "--json"],
        dir,
      );
      expect(result.code).toBe(0);
      return (JSON.parse(result.stdout) as JsonSweep).entries.map((e) => e.run_id).sort();
    };
    const all = await ids();
    const slow = (id: string) => Number(/-s(\d+)$/.exec(id)?.[1]);
    const fast = (id: string) => Number(/^f(\d+)-/.exec(id)?.[1]);
    expect(await ids("lineage.params.slowPeriod>=30")).toEqual(all.filter((id) => slow(id) >= 30));
    expect(await ids("lineage.params.slowPeriod<30")).toEqual(all.filter((id) => slow(id) < 30));
    expect(await ids("lineage.params.fastPeriod>3", "lineage.params.fastPeriod<=8")).toEqual(
      all.filter((id) => fast(id) > 3 && fast(id) <= 8),
    );
    expect(await ids("run_id!=f3-s20")).toEqual(all.filter((id) => id !== "f3-s20"));
    expect(await ids("run_id!=f3-s20", "run_id!=f8-s50")).toEqual(
      all.filter((id) => id !== "f3-s20" && id !== "f8-s50"),
    );
    expect(await ids("lineage.params.slowPeriod>=20", "lineage.params.slowPeriod>=30")).toEqual(
      all.filter((id) => slow(id) >= 30),
    );
    // A metric, as the table names it: the runs whose figure meets it.
    const listed = await cli(["runs", "runs.db", "--json"], dir);
    const entries = (JSON.parse(listed.stdout) as JsonSweep).entries;
    const pnl = (id: string) => entries.find((e) => e.run_id === id)?.metrics.total_pnl as number;
    const middle = [...all.map(pnl)].sort((a, b) => a - b)[all.length >> 1] as number;
    const above = all.filter((id) => pnl(id) > middle);
    expect(above.length * (all.length - above.length)).toBeGreaterThan(0); // both kinds
    expect(await ids(`metric.total_pnl>${middle}`)).toEqual(above);
    expect(await ids(`metric.total_pnl<=${middle}`, "lineage.params.fastPeriod=3")).toEqual(
      all.filter((id) => pnl(id) <= middle && fast(id) === 3),
    );
    expect(new Set(all.map(slow)).size).toBeGreaterThan(1); // the bounds split the sweep
  });

  test("runs picks, compares, sorts and shows a parameter beyond 2^53 exactly, as inspect does", async () => {
    const big = tempDir();
    // Neighbours that one double cannot tell apart: 2^53 + 1 reads as 2^53, 2^53 + 3 as 2^53 + 4.
    for (const value of ["9007199254740993", "9007199254740995"]) {
      const args = ["backtest", "--strategy", STRATEGY, "--param", `seed=${value}`, "--bars", "20"];
      expect((await cli([...args, "--into", "big.db", "--run-id", `s${value}`], big)).code).toBe(0);
    }
    const ids = async (...args: string[]) => {
      const result = await cli(["runs", "big.db", ...args, "--json"], big);
      expect([result.code, result.stderr]).toEqual([0, ""]);
      return (JSON.parse(result.stdout) as JsonSweep).entries.map((e) => e.run_id);
    };
    const key = "lineage.params.seed";
    expect(await ids("--where", `${key}=9007199254740993`)).toEqual(["s9007199254740993"]);
    expect(await ids("--where", `${key}>9007199254740993`)).toEqual(["s9007199254740995"]);
    expect(await ids("--where", `${key}<=9007199254740994`)).toEqual(["s9007199254740993"]);
    expect(await ids("--sort", `-${key}`)).toEqual(["s9007199254740995", "s9007199254740993"]);
    const table = await cli(["runs", "big.db", "--sort", key], big);
    expect(lines(table.stdout).map((line) => line.split(/\s+/).slice(0, 3))).toEqual([
      ["run_id", "status", key],
      ["s9007199254740993", "completed", "9007199254740993"],
      ["s9007199254740995", "completed", "9007199254740995"],
    ]);
    const json = await cli(["runs", "big.db", "--sort", key, "--json", "--int64", "string"], big);
    const params = (JSON.parse(json.stdout) as JsonSweep).entries.map((e) => e.params[key]);
    expect(params).toEqual(["9007199254740993", "9007199254740995"]);
    // The run's page shows its config as inspect does.
    const page = ["report", "big.db", "--run", "s9007199254740993", "-o", "r.html"];
    expect((await cli(page, big)).code).toBe(0);
    expect(readFileSync(join(big, "r.html"), "utf8")).toContain(
      "&quot;seed&quot;: 9007199254740993",
    );
  });

  test("a run's metrics match inspect --json", async () => {
    const runs = await cli(["runs", "runs.db", "--where", "run_id=f3-s20", "--json"], dir);
    const inspect = await cli(["inspect", "runs.db", "--run", "f3-s20", "--json"], dir);
    const metrics = (JSON.parse(runs.stdout) as JsonSweep).entries[0]?.metrics;
    const trading = (
      JSON.parse(inspect.stdout) as { trading: { realized_pnl: number; commission: number }[] }
    ).trading;
    expect(trading.length).toBe(3);
    expect(metrics?.realized_pnl).toBeCloseTo(
      trading.reduce((a, t) => a + t.realized_pnl, 0),
      6,
    );
    expect(metrics?.commission).toBeCloseTo(
      trading.reduce((a, t) => a + t.commission, 0),
      6,
    );
  });

  test("metrics beyond a double read the same from the cache as when first computed", async () => {
    // Fills of 1e300 × 1e300 and 1e300 × 1.7e308: the P&L, 1e300 × (1.7e308 − 1e300), overflows.
    const at = (minute: number) => 1_709_562_600_000_000_000n + BigInt(minute) * 60_000_000_000n;
    const trade = (minute: number, side: string, price: string) => {
      const ts = at(minute);
      const id = `o${minute}`;
      return [
        `{"type":"BarReceived","ts_event_ns":${ts},"ts_created_ns":${ts},"symbol":"AAPL","bar_period":"MINUTE","open":100,"high":101,"low":99,"close":${price},"volume":10}`,
        `{"type":"OrderSubmissionRequest","ts_event_ns":${ts},"ts_created_ns":${ts},"system_order_id":"${id}","symbol":"AAPL","order_type":"MARKET","side":"${side}","quantity":1e300,"limit_price":null,"stop_price":null,"action":"ADD","signal":null}`,
        `{"type":"OrderAccepted","ts_event_ns":${ts},"ts_created_ns":${ts},"ts_broker_ns":${ts},"associated_order_id":"${id}","broker_order_id":"b${minute}"}`,
        `{"type":"FillEvent","ts_event_ns":${ts},"ts_created_ns":${ts},"ts_broker_ns":${ts},"associated_order_id":"${id}","broker_order_id":"b${minute}","symbol":"AAPL","fill_id":"f${minute}","broker_fill_id":"x${minute}","side":"${side}","quantity_filled":1e300,"fill_price":${price},"commission":0,"exchange":"SIM"}`,
      ];
    };
    const odd = tempDir();
    writeFileSync(
      join(odd, "fills.ndjson"),
      `${[...trade(0, "BUY", "1e300"), ...trade(1, "SELL", "1.7e308")].join("\n")}\n`,
    );
    const recorded = await cli(
      ["record", "odd.db", "--input", "fills.ndjson", "--run", "odd"],
      odd,
    );
    expect(recorded.code).toBe(0);
    copyFileSync(join(odd, "odd.db"), join(odd, "html.db"));
    const json = async () => (await cli(["runs", "odd.db", "--json"], odd)).stdout;
    const table = async () => (await cli(["runs", "odd.db"], odd)).stdout;
    const computed = [await json(), await table()];
    // The second listing reads the metrics from the file.
    const db = rawDb(join(odd, "odd.db"));
    expect(db.query("SELECT count(*) AS n FROM runtape_run_metrics").get()).toEqual({ n: 1n });
    db.close();
    const metrics = (JSON.parse(computed[0] as string) as JsonSweep).entries[0]?.metrics;
    expect(metrics).toMatchObject({
      total_pnl: "Infinity",
      realized_pnl: "Infinity",
      max_drawdown: 0,
      mean_return: "Infinity",
    });
    expect([await json(), await table()]).toEqual(computed);
    // A row that an earlier runtape wrote, the non-finite values lost as null, is computed again.
    const earlier = new Database(join(odd, "odd.db"));
    earlier.run(
      "UPDATE runtape_run_metrics SET version = 1, metrics = replace(replace(replace(metrics, '\"-Infinity\"', 'null'), '\"Infinity\"', 'null'), '\"NaN\"', 'null')",
    );
    earlier.close();
    expect(await json()).toBe(computed[0] as string);
    // A comparison report's table of metrics too (its first writes the cache, the second reads it).
    const html = async (file: string) => {
      expect((await cli(["report", "html.db", "--runs", "odd", "-o", file], odd)).code).toBe(0);
      // But for the footer's time of writing, which moves with the second the page is written in.
      return readFileSync(join(odd, file), "utf8").replace(
        / at \d{4}-[\d-]+T[\d:]+Z\. /,
        " at T. ",
      );
    };
    const first = await html("first.html");
    expect(first).toContain(">∞<");
    expect(await html("cached.html")).toBe(first);
  });

  test("report writes one self-contained file through the compiled binary, with every chart", async () => {
    const result = await runtape(["report", "runs.db", "--run", "f3-s20", "-o", "r.html"], {
      cwd: dir,
    });
    expect([result.code, result.stdout]).toEqual([0, "r.html\n"]);
    const html = readFileSync(join(dir, "r.html"), "utf8");
    expect(html.match(/<svg\b/g)?.length).toBe(4);
    expect(html).not.toMatch(/(src|href)\s*=\s*["']?(https?:|\/\/)/i);
    expect(html).toContain("f3-s20");
  }, 60_000); // builds the binary when no test before did: a guard, not a timing claim

  test("a report that cannot be written (a directory, under a file) fails with one line naming it", async () => {
    for (const [target, reason] of [
      [".", "EISDIR"],
      ["runs.db/r.html", "ENOTDIR"],
    ] as const) {
      const result = await cli(["report", "runs.db", "--run", "f3-s20", "-o", target], dir);
      expect([result.code, lines(result.stderr)]).toEqual([
        1,
        [expect.stringMatching(new RegExp(`^runtape: cannot write ${target}: ${reason}: `))],
      ]);
    }
  });

  test("a report overwrites an earlier report, never a runs database, a page of the user's or another file", async () => {
    copyFileSync(join(dir, "runs.db"), join(dir, "victim.db"));
    const before = readFileSync(join(dir, "victim.db"));
    const page = "<!DOCTYPE html><html><body>hand-written page</body></html>\n";
    writeFileSync(join(dir, "page.html"), page);
    for (const target of ["victim.db", "runs.db", "page.html"]) {
      const result = await cli(["report", "runs.db", "--run", "f3-s20", "-o", target], dir);
      expect([result.code, lines(result.stderr)]).toEqual([
        2,
        [
          `runtape: ${target} exists and is not a runtape report: name another --output, or remove it first`,
        ],
      ]);
    }
    expect(readFileSync(join(dir, "victim.db")).equals(before)).toBe(true);
    expect(readFileSync(join(dir, "page.html"), "utf8")).toBe(page);
    const again = await cli(["inspect", "runs.db", "--run", "f3-s20"], dir);
    expect(again.code).toBe(0);
    // An earlier report (what the default file name finds on a second run) is replaced.
    for (let i = 0; i < 2; i++) {
      const result = await cli(["report", "runs.db", "--run", "f3-s20", "-o", "again.html"], dir);
      expect([result.code, result.stderr]).toEqual([0, expect.any(String)]);
    }
    expect(readFileSync(join(dir, "again.html"), "utf8")).toStartWith("<!doctype html>");
  });

  test("the size said is the file's, in bytes, whatever its characters", async () => {
    const here = tempDir();
    const args = ["backtest", "--strategy", STRATEGY, "--bars", "30", "--into", "wide.db"];
    for (const c of ["€", "¥", "₿"]) {
      expect((await cli([...args, "--run-id", c.repeat(200)], here)).code).toBe(0);
    }
    // A comparison page naming each: ~2 KB more bytes than characters.
    const result = await cli(["report", "wide.db", "--where", "seed>=0", "-o", "wide.html"], here);
    const kb = Math.round(statSync(join(here, "wide.html")).size / 1024);
    expect([result.code, lines(result.stderr)]).toEqual([
      0,
      [`[success] wrote wide.html (${kb} KB)`],
    ]);
  });

  test("the default file names of two runs differ whenever their ids do", async () => {
    const here = tempDir();
    const names: string[] = [];
    for (const id of ["a/b", "a_b", "a b", "a%2Fb"]) {
      const args = ["backtest", "--strategy", STRATEGY, "--bars", "30", "--into", "ids.db"];
      expect((await cli([...args, "--run-id", id], here)).code).toBe(0);
      const result = await cli(["report", "ids.db", "--run", id], here);
      expect(result.code).toBe(0);
      names.push(result.stdout.trim());
      expect(readFileSync(join(here, result.stdout.trim()), "utf8")).toContain(id);
    }
    expect(new Set(names).size).toBe(4);
    expect(names).toEqual([
      "report-a%2Fb.html",
      "report-a_b.html",
      "report-a%20b.html",
      "report-a%252Fb.html",
    ]);
  });

  test("a report is the same in every time zone: its charts' times are UTC, as its text's", async () => {
    // The labels of each chart's time axis, in order.
    const timeLabels = (html: string) =>
      (html.match(/<svg\b[\s\S]*?<\/svg>/g) ?? []).map((svg) =>
        [...svg.matchAll(/<text[^>]*text-anchor="middle"[^>]*>([^<]*)</g)].map((m) => m[1]),
      );
    const reports: string[] = [];
    for (const TZ of ["UTC", "America/New_York"]) {
      const file = `tz-${TZ.replace("/", "-")}.html`;
      const result = await runtape(["report", "runs.db", "--run", "f3-s20", "-o", file], {
        cwd: dir,
        env: { TZ },
      });
      expect([result.code, result.stdout]).toEqual([0, `${file}\n`]);
      reports.push(readFileSync(join(dir, file), "utf8"));
    }
    // The footer's time of writing differs by the second the two were written in, nothing else.
    const [utc = "", newYork = ""] = reports.map((page) =>
      page.replace(/ at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\. /, " at T. "),
    );
    expect(utc).toContain(" at T. All times");
    // The demo's bars start at 14:30 UTC: the first chart's labels are UTC hours and minutes.
    expect(timeLabels(utc)[0]).toContain("15:00");
    expect(timeLabels(newYork)).toEqual(timeLabels(utc));
    expect(newYork === utc).toBe(true);
  }, 60_000); // builds the binary when no test before did: a guard, not a timing claim

  test("report --where compares: heatmap over the two parameters, one curve per run", async () => {
    const result = await cli(
      ["report", "runs.db", "--where", "status=completed", "--metric", "max_drawdown"],
      dir,
    );
    expect([result.code, result.stdout]).toEqual([0, "compare.html\n"]);
    const html = readFileSync(join(dir, "compare.html"), "utf8");
    expect(html).toContain("from <code>runs.db</code> at ");
    expect(html).toContain(
      "Max drawdown by lineage.params.fastPeriod and lineage.params.slowPeriod",
    );
    expect(html.match(/<svg\b/g)?.length).toBe(2);
    for (const g of GRID) expect(html).toContain(idOf(g));
    expect(existsSync(join(dir, "report-f3-s20.html"))).toBe(false);
  });

  test("runs and report --limit N keep the first N after --sort: the top 2 by total_pnl", async () => {
    const all = await cli(["runs", "runs.db", "--sort", "-total_pnl", "--json"], dir);
    const ranked = (JSON.parse(all.stdout) as JsonSweep).entries.map((e) => e.run_id);
    const top = await cli(
      ["runs", "runs.db", "--sort", "-total_pnl", "--limit", "2", "--json"],
      dir,
    );
    const sweep = JSON.parse(top.stdout) as JsonSweep;
    expect([top.code, sweep.entries.map((e) => e.run_id)]).toEqual([0, ranked.slice(0, 2)]);
    expect(sweep.varying).toEqual(["lineage.params.fastPeriod", "lineage.params.slowPeriod"]);
    const table = await cli(["runs", "runs.db", "--sort", "-total_pnl", "--limit", "2"], dir);
    expect(lines(table.stdout).map((l) => l.split(/\s+/)[0])).toEqual([
      "run_id",
      ...ranked.slice(0, 2),
    ]);
    const args = ["report", "runs.db", "--where", "status=completed", "--sort", "-total_pnl"];
    const page = await cli([...args, "--limit", "2", "-o", "top.html"], dir);
    expect([page.code, page.stdout]).toEqual([0, "top.html\n"]);
    const html = readFileSync(join(dir, "top.html"), "utf8");
    expect(GRID.map(idOf).filter((id) => html.includes(id))).toEqual(
      GRID.map(idOf).filter((id) => ranked.slice(0, 2).includes(id)),
    );
    for (const [argv, message] of [
      [["runs", "runs.db", "--limit", "0"], "--limit takes a whole number from 1 to"],
      [["runs", "runs.db", "--limit", "two"], "--limit takes a whole number from 1 to"],
      [
        ["report", "runs.db", "--limit", "2"],
        "--limit applies to a comparison (--runs or --where)",
      ],
      [["report", "runs.db", "--sort", "-total_pnl"], "--sort applies to a comparison"],
    ] as const) {
      const result = await cli(argv, dir);
      expect([argv, result.code, result.stdout, result.stderr]).toEqual([
        argv,
        2,
        "",
        expect.stringContaining(`runtape: ${message}`),
      ]);
    }
  });

  test("report --runs takes latest, as --run does: the newest run", async () => {
    const result = await cli(["report", "runs.db", "--runs", "latest,f3-s20", "-o", "l.html"], dir);
    expect([result.code, result.stdout]).toEqual([0, "l.html\n"]);
    const html = readFileSync(join(dir, "l.html"), "utf8");
    for (const g of GRID)
      expect([idOf(g), html.includes(idOf(g))]).toEqual([
        idOf(g),
        ["f8-s50", "f3-s20"].includes(idOf(g)),
      ]);
  });

  test("runs --where tag.NAME=VALUE keeps the runs tagged so; the table and JSON show the tags", async () => {
    const work = tempDir();
    copyFileSync(join(dir, "runs.db"), join(work, "runs.db"));
    for (const [run, tags] of [
      ["f3-s20", ["stage=final", "owner=ann"]],
      ["f8-s50", ["stage=draft"]],
    ] as const) {
      expect((await cli(["tag", "runs.db", "--run", run, ...tags], work)).code).toBe(0);
    }
    const table = await cli(["runs", "runs.db", "--where", "tag.stage=final"], work);
    expect([table.code, table.stderr]).toEqual([0, ""]);
    const [head, only, ...more] = lines(table.stdout);
    expect([head?.split(/\s+/).slice(0, 3), only?.split(/\s+/).slice(0, 3), more]).toEqual([
      ["run_id", "status", "tags"],
      ["f3-s20", "completed", "owner=ann,stage=final"],
      [],
    ]);
    const json = await cli(["runs", "runs.db", "--where", "tag.stage=draft", "--json"], work);
    const entries = (JSON.parse(json.stdout) as JsonSweep).entries;
    expect(entries.map((e) => [e.run_id, e.tags])).toEqual([["f8-s50", { stage: "draft" }]]);
    // A tag no run has, or a run without tags: nothing matches; untagged runs show no tag column.
    const none = await cli(["runs", "runs.db", "--where", "tag.owner=bob"], work);
    expect(none.stdout).toBe("no runs\n");
    const plain = await cli(["runs", "runs.db"], dir);
    expect(lines(plain.stdout)[0]).not.toContain("tags");
  });
});
