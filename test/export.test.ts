import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type ExportColumn, eventColumns, RUN_COLUMNS } from "../src/formats/columns.ts";
import { decodeRunId, encodeRunId, partFile, partitionPath } from "../src/formats/layout.ts";
import { parquet, ROW_GROUP_ROWS } from "../src/formats/parquet.ts";
import {
  catalog,
  EVENT_TYPES,
  type Event,
  type EventType,
  type ExportSummary,
  exportRuns,
  listRunSummaries,
  loadsIndicators,
  OutputNotEmptyError,
  openRunsDb,
  PgStore,
  push,
  Recorder,
  RowDecodeError,
  RunNotFoundError,
  replay,
} from "../src/index.ts";
import { runtape, spawnRuntape, USER_ENV } from "./cli/run.ts";
import { lines, until } from "./cli/support.ts";
import {
  bulkRun,
  fixtureCopy,
  fixtureTest,
  forgetSequence,
  processedBar,
  rawDb,
  recordDemoRuns,
  recordSweep,
  sampleEvents,
  T_NEG,
  T1,
  tempDir,
} from "./helpers.ts";
import { describeWithPg } from "./pg.ts";
import { startProxy } from "./pg-proxy.ts";

const duckdb = await import("@duckdb/node-api").catch(() => undefined);
const NO_DUCKDB = "skipped: @duckdb/node-api is not installed for this platform";
const withDuckDb = duckdb ? describe : describe.skip;

type Row = Record<string, unknown>;
let connection: Awaited<ReturnType<NonNullable<typeof duckdb>["DuckDBConnection"]["create"]>>;

/** Rows of a DuckDB query, BIGINT as bigint, DOUBLE as number, VARCHAR as string. */
async function query(sql: string): Promise<Row[]> {
  return (await connection.runAndReadAll(sql)).getRowObjects() as Row[];
}

const FORMATS = ["parquet", "csv"] as const;
type Format = (typeof FORMATS)[number];

const dir = tempDir();
const DB = join(dir, "runs.db");
/** Run ids that need encoding in a path: spaces, a slash, `=`, `%`, unicode. */
const EDGE_RUN = "2026-11-23_20-03-12_SMA Crossover/ü=%20 日本 🚀";
const DEMO_RUNS = ["sweep-1", "sweep-2"];

function record(runId: string, events: Iterable<Event>): void {
  const recorder = Recorder.start(DB, { runId, metadata: { note: "ünï" } });
  for (const event of events) recorder.record(event);
  recorder.close();
}

/** Reader of one format over the export at `out`: `source(table)` is a FROM clause. */
function reader(format: Format, out: string, type: EventType): string {
  const glob = `'${join(out, catalog[type].table)}/*/*.${format}'`;
  const options = "hive_partitioning = true, hive_types = {'run_id': VARCHAR}";
  if (format === "parquet") return `read_parquet(${glob}, ${options})`;
  // Typed as the export declares them, and quoted empty text kept apart from NULL.
  const types = eventColumns(type)
    .map(
      (c) =>
        `'${c.name}': '${c.kind === "real" ? "DOUBLE" : c.kind === "text" ? "VARCHAR" : "BIGINT"}'`,
    )
    .join(", ");
  return `read_csv(${glob}, ${options}, types = {${types}}, allow_quoted_nulls = false)`;
}

/** The events of `runId` in one exported table, rebuilt from what DuckDB reads, in `seq` order. */
async function readBack(
  format: Format,
  out: string,
  type: EventType,
  runId: string,
): Promise<(Event & { seq: bigint })[]> {
  const columns = eventColumns(type).map((c) =>
    c.kind === "ns" && format === "parquet"
      ? `epoch_ns("${c.name}") AS "${c.name}"`
      : `"${c.name}"`,
  );
  const escaped = runId.replaceAll("'", "''");
  const rows = await query(
    `SELECT ${columns.join(", ")} FROM ${reader(format, out, type)} WHERE run_id = '${escaped}' ORDER BY seq`,
  );
  return rows.map((row) => {
    const event: Row = { type };
    for (const column of eventColumns(type)) {
      const value = row[column.name];
      const field = catalog[type].fields[column.name as never] as { kind?: string } | undefined;
      event[column.name] =
        value !== null && field?.kind === "indicators" ? loadsIndicators(value as string) : value;
    }
    return event as Event & { seq: bigint };
  });
}

beforeAll(async () => {
  if (duckdb) connection = await duckdb.DuckDBConnection.create();
  record(EDGE_RUN, sampleEvents());
  recordDemoRuns(DB, DEMO_RUNS, { bars: 60, config: { sweep: true } });
});

afterAll(() => connection?.closeSync());

test("run ids survive the path: encoded, reversible, and readable where they can be", () => {
  for (const id of [
    EDGE_RUN,
    "a/b\\c",
    "..",
    "v1.",
    "%41",
    "x=y",
    "\u0001\u007f",
    "tab\there",
    "日本",
  ]) {
    const encoded = encodeRunId(id);
    expect(encoded).toMatch(/^(?:[A-Za-z0-9_.~%-]|\P{ASCII})*$/u);
    expect(decodeRunId(encoded)).toBe(id);
  }
  expect(encodeRunId("日本-run_1.0~x")).toBe("日本-run_1.0~x");
  expect(encodeRunId("v1.")).toBe("v1%2E");
});

withDuckDb(`exports read back with DuckDB${duckdb ? "" : ` (${NO_DUCKDB})`}`, () => {
  for (const format of FORMATS) {
    describe(format, () => {
      const out = join(dir, `out-${format}`);
      let summary: ExportSummary;
      beforeAll(async () => {
        summary = await exportRuns(DB, { format, out });
      });

      test("every event of every run comes back exact, in seq order, numbered as replay orders", async () => {
        let compared = 0;
        for (const runId of [EDGE_RUN, ...DEMO_RUNS]) {
          const replayed = [...replay(DB, { run: runId })];
          for (const type of EVENT_TYPES) {
            // A type no run holds has no files to read (DuckDB refuses a glob that matches none).
            const exported = existsSync(join(out, catalog[type].table));
            const back = exported ? await readBack(format, out, type, runId) : [];
            const expected = replayed
              .map((event, i) => ({ ...event, seq: BigInt(i + 1) }))
              .filter((e) => e.type === type);
            expect(back).toEqual(expected);
            compared += back.length;
          }
        }
        expect(compared).toBe(summary.events);
        expect(summary.runs).toBe(3);
      });

      test("int64 edges, unicode symbols and non-finite indicators read as DuckDB values", async () => {
        const edges = await query(
          `SELECT ${format === "parquet" ? 'epoch_ns("ts_event_ns")' : "ts_event_ns"} AS t, typeof(ts_event_ns) AS type
           FROM ${reader(format, out, "OrderSubmissionRequest")} WHERE run_id = '${EDGE_RUN}' ORDER BY t`,
        );
        expect(edges.map((r) => r.t)).toEqual([T_NEG, sampleEvents()[0]?.ts_event_ns]);
        // Parquet carries the nanosecond timestamp type: DuckDB shows times, not just integers.
        expect(edges[0]?.type).toBe(format === "parquet" ? "TIMESTAMP_NS" : "BIGINT");
        const broker = await query(
          `SELECT DISTINCT ${format === "parquet" ? "epoch_ns(ts_broker_ns)" : "ts_broker_ns"} AS t FROM ${reader(format, out, "OrderAccepted")} WHERE run_id = '${EDGE_RUN}'`,
        );
        expect(broker).toEqual([{ t: T1 }]);
        const [processed] = await query(
          `SELECT symbol, json_extract(indicators, '$."SMA 5"')::DOUBLE AS nan,
             json_extract(indicators, '$.neg')::DOUBLE AS neg,
             json_extract(indicators, '$."Grüße \\"q\\""')::DOUBLE AS inf
           FROM ${reader(format, out, "BarProcessed")} WHERE run_id = '${EDGE_RUN}'`,
        );
        expect(processed).toEqual({
          symbol: "日本語 🚀",
          nan: Number.NaN,
          neg: Number.NEGATIVE_INFINITY,
          inf: Number.POSITIVE_INFINITY,
        });
      });

      test("a GROUP BY run_id over the Hive layout matches inspect", async () => {
        const tables = `'${out}/*/*/*.${format}'`;
        const counted = await query(
          format === "parquet"
            ? `SELECT run_id, count(*) AS n FROM read_parquet(${tables}, union_by_name = true, hive_types = {'run_id': VARCHAR}) GROUP BY run_id ORDER BY run_id`
            : `SELECT run_id, count(*) AS n FROM read_csv(${tables}, union_by_name = true, hive_types = {'run_id': VARCHAR}, all_varchar = true) GROUP BY run_id ORDER BY run_id`,
        );
        const db = openRunsDb(DB);
        const inspected = listRunSummaries(db)
          .map((r) => ({ run_id: r.runId, n: r.events }))
          .sort((a, b) => (a.run_id < b.run_id ? -1 : 1));
        db.close();
        expect(counted).toEqual(inspected);
      });

      test("the runs file holds the runs rows", async () => {
        const ns = (name: string) => (format === "parquet" ? `epoch_ns(${name}) AS ${name}` : name);
        const rows = await query(
          `SELECT run_id, name, ${ns("ts_start")}, ${ns("ts_end")}, status, config, metadata FROM '${out}/runs.${format}' ORDER BY run_id`,
        );
        const db = openRunsDb(DB);
        const stored = db.sqlite
          .query(`SELECT ${RUN_COLUMNS.map((c) => c.name).join(", ")} FROM runs ORDER BY run_id`)
          .all();
        db.close();
        expect(rows).toEqual(stored as Row[]);
      });
    });
  }

  // The Parquet writer is pure JavaScript so that it is inside the single-file binary: prove it.
  test("the compiled binary writes Parquet that DuckDB reads", async () => {
    const out = join(tempDir(), "binary");
    const result = await runtape(["export", DB, "--format", "parquet", "--out", out], {
      via: "binary",
    });
    expect([result.code, result.stdout]).toEqual([0, ""]);
    const raw = rawDb(DB);
    const stored = raw.query("SELECT run_id, count(*) AS n FROM bars GROUP BY run_id").all();
    raw.close();
    expect(stored.length).toBe(3);
    const rows = await query(
      `SELECT run_id, count(*) AS n FROM ${reader("parquet", out, "BarReceived")} GROUP BY run_id`,
    );
    const sorted = (r: Row[]) =>
      [...r].sort((a, b) => String(a.run_id).localeCompare(String(b.run_id)));
    expect(sorted(rows)).toEqual(sorted(stored as Row[]));
  });

  test.each(FORMATS)(
    "--indicator-columns: one DOUBLE per name, NaN and ±Infinity as numbers (%s)",
    async (format) => {
      const out = join(tempDir(), "spread");
      await exportRuns(DB, { format, out, types: ["BarProcessed"], indicatorColumns: true });
      let compared = 0;
      for (const runId of [EDGE_RUN, ...DEMO_RUNS]) {
        const processed = [...replay(DB, { run: runId, types: ["BarProcessed"] })] as Extract<
          Event,
          { type: "BarProcessed" }
        >[];
        const names = [...new Set(processed.flatMap((e) => Object.keys(e.indicators)))];
        const path = partFile(partitionPath(out, "bars_processed", runId), format);
        // All text for CSV: the values are what is checked, not what DuckDB's sniffer guesses.
        const file = `read_${format}('${path}', hive_partitioning = false${format === "csv" ? ", all_varchar = true" : ""})`;
        const described = await query(`DESCRIBE SELECT * FROM ${file}`);
        expect(described.map((r) => r.column_name)).toEqual([
          ...eventColumns("BarProcessed").map((c) => c.name),
          ...names.map((n) => `indicator_${n}`),
        ]);
        const cast = (n: string) => `TRY_CAST("indicator_${n.replaceAll('"', '""')}" AS DOUBLE)`;
        const rows = await query(
          `SELECT ${names.map((n, i) => `${cast(n)} AS c${i}`).join(", ")} FROM ${file} ORDER BY seq::BIGINT`,
        );
        expect(rows).toEqual(
          processed.map((e) =>
            Object.fromEntries(names.map((n, i) => [`c${i}`, e.indicators[n] ?? null])),
          ),
        );
        compared += rows.length;
      }
      expect(compared).toBeGreaterThan(100);
    },
  );

  test("--indicator-columns: a name like constructor or __proto__ is empty in a row without it", async () => {
    const path = join(tempDir(), "odd.db");
    const recorder = Recorder.start(path, { runId: "odd" });
    // JSON.parse makes "__proto__" an own member, as reading it from a run does.
    recorder.record(processedBar(0, JSON.parse('{"constructor": 1.5, "__proto__": 2}')));
    recorder.record(processedBar(1, { x: 3 }));
    recorder.close();
    const out = join(tempDir(), "odd");
    await exportRuns(path, { format: "csv", out, indicatorColumns: true });
    const [header, ...rows] = readFileSync(
      partFile(partitionPath(out, "bars_processed", "odd"), "csv"),
      "utf8",
    )
      .trimEnd()
      .split("\r\n");
    expect(header?.split(",").slice(-3)).toEqual([
      "indicator_constructor",
      "indicator___proto__",
      "indicator_x",
    ]);
    expect(rows.map((row) => row.split(",").slice(-3))).toEqual([
      ["1.5", "2", ""],
      ["", "", "3"],
    ]);
  });

  test.each(FORMATS)(
    "run ids ending in a dot or a space read back exact, from folders that end in neither (%s)",
    async (format) => {
      const path = join(tempDir(), "dots.db");
      const ids = ["v1", "v1.", "v1 ", "..", "a. ."];
      recordDemoRuns(path, ids, { bars: 5 });
      const out = join(tempDir(), "dots");
      await exportRuns(path, { format, out, types: ["BarReceived"] });
      // Windows drops a trailing dot or space from a folder name: `v1.` would land in `v1`.
      const folders = readdirSync(join(out, "bars"));
      expect(folders.filter((name) => /[. ]$/.test(name))).toEqual([]);
      const rows = await query(
        `SELECT DISTINCT run_id FROM ${reader(format, out, "BarReceived")} ORDER BY run_id`,
      );
      expect(rows.map((row) => row.run_id)).toEqual([...ids].sort());
    },
  );

  test("the README's DuckDB snippet answers P&L per run of a sweep as the events say", async () => {
    const readme = readFileSync(join(import.meta.dir, "../README.md"), "utf8");
    const snippet = /P&L per run of a sweep[\s\S]*?```sql\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(snippet).toBeDefined();
    const out = join(tempDir(), "sweep");
    await exportRuns(DB, { format: "parquet", out, runs: DEMO_RUNS });
    const rows = await query((snippet as string).replaceAll("'sweep/", `'${out}/`));
    const expected = DEMO_RUNS.map((runId) => {
      const books = new Map<string, { cash: number; position: number; close: number }>();
      const book = (symbol: string) =>
        books.get(symbol) ?? books.set(symbol, { cash: 0, position: 0, close: 0 }).get(symbol);
      for (const e of replay(DB, { run: runId })) {
        if (e.type === "BarReceived") (book(e.symbol) as { close: number }).close = e.close;
        if (e.type !== "FillEvent") continue;
        const b = book(e.symbol) as { cash: number; position: number };
        const qty = e.side === "BUY" ? e.quantity_filled : -e.quantity_filled;
        b.cash += -qty * e.fill_price - e.commission;
        b.position += qty;
      }
      let pnl = 0;
      for (const b of books.values()) if (b.cash !== 0) pnl += b.cash + b.position * b.close;
      return { run_id: runId, pnl };
    });
    expect(expected.some((r) => r.pnl !== 0)).toBe(true);
    expect(rows.map((r) => r.run_id).sort()).toEqual([...DEMO_RUNS].sort());
    for (const row of rows) {
      const want = expected.find((r) => r.run_id === row.run_id);
      expect(row.pnl as number).toBeCloseTo(want?.pnl as number, 1);
      expect(row.seed).toBe(null);
    }
  });

  test("the README's DuckDB snippets read a sweep's indicator columns by name, from Parquet and from CSV, as the events say", async () => {
    const readme = readFileSync(join(import.meta.dir, "../README.md"), "utf8");
    const snippet = (after: string) => {
      const sql = new RegExp(`${after}[\\s\\S]*?\`\`\`sql\\n([\\s\\S]*?)\`\`\``).exec(readme)?.[1];
      expect(sql).toBeDefined();
      return sql as string;
    };
    const path = join(tempDir(), "sweep.db");
    const ids = ["fast-5", "fast-8"];
    recordSweep(path, [
      { id: "fast-5", strategy: { fastPeriod: 5 } },
      { id: "fast-8", strategy: { fastPeriod: 8 } },
    ]);
    const processed = ids.flatMap((runId) =>
      [...replay(path, { run: runId })].flatMap((event, i) =>
        event.type === "BarProcessed" ? [{ runId, seq: BigInt(i + 1), event }] : [],
      ),
    );
    const names = [...new Set(processed.flatMap((p) => Object.keys(p.event.indicators)))];
    expect(names).toContain("SMA_5_CLOSE");
    expect(names).toContain("SMA_8_CLOSE");
    const exported = async (format: Format) => {
      const out = join(tempDir(), `sweep-${format}`);
      await exportRuns(path, { format, out, types: ["BarProcessed"], indicatorColumns: true });
      return (sql: string) => query(sql.replaceAll("'sweep/", `'${out}/`));
    };

    const counts = await (await exported("parquet"))(snippet("Indicator columns of a sweep"));
    const count = (runId: string, symbol: string, name: string) =>
      BigInt(
        processed.filter(
          (p) =>
            p.runId === runId &&
            p.event.symbol === symbol &&
            Object.hasOwn(p.event.indicators, name),
        ).length,
      );
    expect(counts).toEqual(
      counts.map((row) => ({
        run_id: row.run_id,
        symbol: row.symbol,
        sma_5: count(row.run_id as string, row.symbol as string, "SMA_5_CLOSE"),
        sma_8: count(row.run_id as string, row.symbol as string, "SMA_8_CLOSE"),
      })),
    );
    expect(counts.map((row) => row.run_id)).toEqual(expect.arrayContaining(ids));

    const rows = await (await exported("csv"))(snippet("The processed bars of a CSV export"));
    expect(rows).toEqual(
      processed.map(({ runId, seq, event }) => ({
        run_id: runId,
        seq,
        ts_event_ns: event.ts_event_ns,
        close: event.close,
        ...Object.fromEntries(
          names.map((name) => [`indicator_${name}`, event.indicators[name] ?? null]),
        ),
      })),
    );
  });

  test("the Parquet writer puts each row group on disk as it goes, holding none back for close", async () => {
    const path = join(tempDir(), "groups.parquet");
    const columns: ExportColumn[] = [
      { name: "t", kind: "int", nullable: false },
      { name: "s", kind: "text", nullable: true },
    ];
    const sink = parquet.open(path, columns);
    const onDisk = [statSync(path).size];
    for (let group = 0; group < 3; group++) {
      for (let i = 0; i < ROW_GROUP_ROWS; i++) {
        const n = group * ROW_GROUP_ROWS + i;
        sink.write([BigInt(n) * 1_000_003n, n % 7 === 0 ? null : `id-${n}`]);
      }
      onDisk.push(statSync(path).size);
    }
    sink.write([-1n, "last"]);
    sink.close();
    // Every group is written when it is full: the file grows with each, before close.
    for (let g = 1; g < onDisk.length; g++) {
      expect(onDisk[g] as number).toBeGreaterThan((onDisk[g - 1] as number) + 10_000);
    }
    const groups = await query(
      `SELECT row_group_id, max(row_group_num_rows) AS n FROM parquet_metadata('${path}') GROUP BY ALL ORDER BY 1`,
    );
    expect(groups.map((g) => Number(g.n))).toEqual([
      ROW_GROUP_ROWS,
      ROW_GROUP_ROWS,
      ROW_GROUP_ROWS,
      1,
    ]);
    const [sums] = await query(
      `SELECT count(*) AS n, sum(t) AS t, count(s) AS s FROM read_parquet('${path}')`,
    );
    const n = 3 * ROW_GROUP_ROWS;
    expect(sums?.n).toBe(BigInt(n + 1));
    expect(BigInt(String(sums?.t))).toBe((BigInt(n * (n - 1)) / 2n) * 1_000_003n - 1n);
    expect(sums?.s).toBe(BigInt(n + 1 - Math.ceil(n / 7)));
  });

  fixtureTest("a Python-written run exports with replay's reconstructed order as seq", async () => {
    const path = fixtureCopy();
    const out = join(tempDir(), "out");
    const summary = await exportRuns(path, { format: "parquet", out });
    const db = openRunsDb(path);
    const runs = listRunSummaries(db);
    db.close();
    for (const { runId } of runs) {
      const replayed = [...replay(path, { run: runId })];
      const seqs = await query(
        `SELECT seq, typeof(seq) AS t FROM read_parquet('${out}/*/*/*.parquet', union_by_name = true, hive_types = {'run_id': VARCHAR}) WHERE run_id = '${runId.replaceAll("'", "''")}' ORDER BY seq`,
      );
      expect(seqs.map((r) => r.seq)).toEqual(replayed.map((_, i) => BigInt(i + 1)));
      for (const type of ["FillEvent", "BarProcessed"] as const) {
        const back = await readBack("parquet", out, type, runId);
        expect(back).toEqual(
          replayed
            .map((event, i) => ({ ...event, seq: BigInt(i + 1) }))
            .filter((e) => e.type === type),
        );
      }
    }
    expect(summary.runs).toBe(runs.length);
  });
});

describe("choices and refusals", () => {
  test("--types and --run pick tables and runs; tables without rows get no file", async () => {
    const out = join(tempDir(), "picked");
    const summary = await exportRuns(DB, {
      format: "csv",
      out,
      runs: [DEMO_RUNS[0] as string],
      types: ["FillEvent", "BarReceived"],
    });
    expect(readdirSync(out).sort()).toEqual(["bars", "fills", "runs.csv"]);
    expect(readdirSync(join(out, "fills"))).toEqual([`run_id=${DEMO_RUNS[0]}`]);
    expect(summary.runs).toBe(1);
    expect(summary.files).toBe(3);
  });

  test("a directory that is not empty is refused and left as it was", async () => {
    const out = join(tempDir(), "full");
    mkdirSync(out);
    writeFileSync(join(out, "keep.txt"), "mine");
    await expect(exportRuns(DB, { format: "parquet", out })).rejects.toBeInstanceOf(
      OutputNotEmptyError,
    );
    expect(readdirSync(out)).toEqual(["keep.txt"]);
  });

  test("a directory that cannot be made is one line naming it, not a stack trace", async () => {
    const file = join(tempDir(), "plain-file");
    writeFileSync(file, "x");
    const error = await exportRuns(DB, { format: "csv", out: join(file, "sub") }).catch((e) => e);
    expect(error.code).toBe("EXPORT_WRITE");
    expect(error.message).toStartWith(`cannot write the export into ${join(file, "sub")}: `);
    expect(error.message).not.toContain("\n");
  });

  test("a run id too long for a directory name is one line saying what to do; nothing stays", async () => {
    const path = join(tempDir(), "long.db");
    const long = "日".repeat(100);
    recordDemoRuns(path, [long], { bars: 5 });
    const out = join(tempDir(), "long");
    const error = await exportRuns(path, { format: "csv", out }).catch((e) => e);
    expect(error.code).toBe("RUN_ID_TOO_LONG");
    expect(error.message).toContain("makes a directory name of 307 bytes (at most 255)");
    expect(existsSync(out)).toBe(false);
  });

  test("a stored row that replay would refuse is refused by the export too, nothing left", async () => {
    const path = join(tempDir(), "bad.db");
    const recorder = Recorder.start(path, { runId: "bad" });
    for (const event of sampleEvents()) recorder.record(event);
    recorder.close();
    const db = new Database(path);
    db.run("UPDATE fills SET fill_price = 'cheap' WHERE id = (SELECT min(id) FROM fills)");
    db.close();
    for (const format of FORMATS) {
      const out = join(tempDir(), `bad-${format}`);
      const error = await exportRuns(path, { format, out }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RowDecodeError);
      expect(String((error as Error).message)).toMatch(/^fills row \d+, fill_price: /);
      expect(existsSync(out)).toBe(false);
    }
  });

  test("an aborted signal stops the export with its reason and nothing stays, copied or replayed", async () => {
    const path = join(tempDir(), "python-order.db");
    recordDemoRuns(path, ["replayed"], { bars: 30 });
    forgetSequence(path, "replayed");
    for (const source of [DB, path]) {
      const out = join(tempDir(), "aborted");
      const signal = AbortSignal.abort();
      await expect(exportRuns(source, { format: "parquet", out, signal })).rejects.toBe(
        signal.reason,
      );
      expect(existsSync(out)).toBe(false);
    }
  });

  test("a missing run fails before anything is written", async () => {
    const out = join(tempDir(), "none");
    await expect(exportRuns(DB, { format: "parquet", out, runs: ["nope"] })).rejects.toBeInstanceOf(
      RunNotFoundError,
    );
    expect(existsSync(out)).toBe(false);
  });
});

describe("a signal stops an export and removes what it wrote", () => {
  let big: string;
  beforeAll(() => {
    big = join(tempDir(), "big.db");
    // Long enough to export that the signal arrives while the first file is being written.
    bulkRun(big, "big", 1_000_000);
  });

  test.each([
    ["SIGHUP", 129, "the directory it created is removed"],
    ["SIGINT", 130, "the empty directory it was given is empty again"],
    ["SIGTERM", 143, "the directory it created is removed"],
  ] as const)("%s: exit %d, one line, %s", async (signal, code, left) => {
    const given = left.includes("given");
    const out = join(tempDir(), "export");
    if (given) mkdirSync(out);
    const proc = await spawnRuntape(["export", big, "--format", "parquet", "--out", out], {
      env: USER_ENV,
    });
    const partition = join(out, "bars", "run_id=big");
    await until(() => existsSync(partition) && readdirSync(partition).length > 0, "a file begun");
    proc.kill(signal);
    expect(await proc.exited).toBe(code);
    const stderr = await new Response(proc.stderr).text();
    expect(lines(stderr)).toEqual([`✖ ${signal}: export cancelled, nothing kept under ${out}`]);
    if (given) expect(readdirSync(out)).toEqual([]);
    else expect(existsSync(out)).toBe(false);
  });
});

describe("kill -9 during an export", () => {
  let db: string;
  beforeAll(() => {
    db = join(tempDir(), "two.db");
    bulkRun(db, "small", 10);
    // Long enough to export that the kill arrives while its file is being written.
    bulkRun(db, "big", 1_000_000);
  });

  test.each(FORMATS)(
    "%s: no file under its own name before it is complete, only names that say so",
    async (format) => {
      const out = join(tempDir(), "export");
      const proc = await spawnRuntape([
        "export",
        db,
        "--format",
        format,
        "--out",
        out,
        "--run",
        "small",
        "--run",
        "big",
      ]);
      const partition = join(out, "bars", "run_id=big");
      await until(() => existsSync(partition) && readdirSync(partition).length > 0, "a file begun");
      proc.kill("SIGKILL");
      await proc.exited;
      // The small run's file was finished before the big one's was begun; the runs file comes last.
      expect(Object.keys(filesUnder(out)).sort()).toEqual([
        `bars/run_id=big/part-0.${format}.incomplete`,
        `bars/run_id=small/part-0.${format}`,
      ]);
      // Another export into the directory is refused, as into any that is not empty.
      const again = await runtape(["export", db, "--format", format, "--out", out]);
      expect([again.code, lines(again.stderr)]).toEqual([
        1,
        [`runtape: ${out} exists and is not an empty directory`],
      ]);
    },
  );
});

/** Every row of a runs database's tables into a store, as they are (no push command yet). */
async function copyIntoStore(path: string, url: string): Promise<void> {
  const store = await PgStore.open(url, { mode: "write" });
  const db = rawDb(path);
  try {
    for (const table of ["runs", "runtape_runs", ...EVENT_TYPES.map((t) => catalog[t].table)]) {
      const rows = db.query(`SELECT * FROM ${table}`).values();
      const columns = (db.query(`PRAGMA table_info(${table})`).all() as { name: string }[]).map(
        (c) => c.name,
      );
      for (let i = 0; i < rows.length; i += 200) {
        const chunk = rows.slice(i, i + 200);
        const marks = chunk.map(
          (_, r) => `(${columns.map((_, c) => `$${r * columns.length + c + 1}`).join(", ")})`,
        );
        await store.sql.unsafe(
          `INSERT INTO ${table} (${columns.join(", ")}) VALUES ${marks.join(", ")}`,
          chunk.flat(),
        );
      }
    }
  } finally {
    db.close();
    await store.close();
  }
}

/** Every file under `dir` by relative path, with its bytes. */
function filesUnder(dir: string): Record<string, Buffer> {
  const files: Record<string, Buffer> = {};
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    files[path.slice(dir.length + 1)] = readFileSync(path);
  }
  return files;
}

describeWithPg("export from a PostgreSQL store", (cluster) => {
  test("a store URL exports the same files, byte for byte, as the file its runs came from", async () => {
    await copyIntoStore(DB, cluster().url());
    for (const format of FORMATS) {
      const fromFile = join(tempDir(), "file");
      const fromStore = join(tempDir(), "store");
      await exportRuns(DB, { format, out: fromFile });
      const summary = await exportRuns(cluster().url(), { format, out: fromStore });
      const expected = filesUnder(fromFile);
      expect(Object.keys(expected).length).toBe(summary.files);
      expect(filesUnder(fromStore)).toEqual(expected);
    }
  });

  test("a store's small runs are read a batch at a time, into the same files", async () => {
    const path = join(tempDir(), "sweep.db");
    const runs = Array.from({ length: 16 }, (_, i) => ({
      id: `export-${i}`,
      strategy: { fastPeriod: 2 + i },
    }));
    recordSweep(path, runs);
    const url = await cluster().createDatabase("export_batches");
    await push(path, url);
    const proxy = startProxy(cluster());
    try {
      const fromFile = join(tempDir(), "file");
      const fromStore = join(tempDir(), "store");
      await exportRuns(path, { format: "csv", out: fromFile });
      proxy.reset();
      await exportRuns(proxy.url("export_batches"), { format: "csv", out: fromStore });
      // Alone, each run took a statement for its id, one for its bookkeeping row and one a table
      // (~16 a run); together, the batch's statements are the same few whatever its runs.
      expect(proxy.statements()).toBeLessThan(4 * runs.length);
      expect(filesUnder(fromStore)).toEqual(filesUnder(fromFile));
    } finally {
      proxy.stop();
    }
  });
});
