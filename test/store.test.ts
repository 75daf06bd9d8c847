import { Database } from "bun:sqlite";
import { expect, test } from "bun:test";
import { copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SQL } from "bun";
import {
  checkStore,
  DatabaseMissingError,
  diffRuns,
  diffStreams,
  type Event,
  EventBus,
  encodeEvent,
  inspectRun,
  inspectStoredRun,
  listRunSummaries,
  listRuns,
  listSourceSummaries,
  type NdjsonReplayOptions,
  openRunsDb,
  openSource,
  PgStore,
  type PushedRun,
  parseStoreUrl,
  pull,
  push,
  Recorder,
  type ReplayOptions,
  RunConflictError,
  RunNotFoundError,
  type RunSource,
  RunsNotPushedError,
  RuntapeError,
  replay,
  replayNdjson,
  runDemo,
  SCHEMA_VERSION,
  StoreAccessError,
  StoreDigestError,
  StoreFormatError,
  StoreUrlError,
} from "../src/index.ts";
import { listSweep } from "../src/report.ts";
import { BATCH_EVENTS } from "../src/store/batches.ts";
import { ANALYZE_FROM_EVENTS } from "../src/store/push.ts";
import { removeStoredRuns } from "../src/store/remove.ts";
import {
  bulkRun,
  CAUSAL_EVENTS,
  causalRun,
  fixtureCopy,
  fixtureTest,
  sampleEvents,
  tempDir,
} from "./helpers.ts";
import { describeWithPg, SECRET_PASSWORD, SECRET_ROLE } from "./pg.ts";
import { startProxy } from "./pg-proxy.ts";

/** Tests that wait on a server: a loaded machine needs room. */
const SLOW = 60_000;

/** Records demo runs (one per id) into `path`; returns the path. */
function demoFile(runIds: readonly string[], path = join(tempDir(), "runs.db"), bars = 60): string {
  runIds.forEach((runId, i) => {
    const bus = new EventBus();
    const recorder = Recorder.start(path, { runId, batchSize: 500 });
    recorder.attach(bus);
    runDemo(bus, { bars, symbols: ["AAA", "BBB"], seed: i + 1 });
    recorder.close();
  });
  return path;
}

async function collect(events: AsyncIterable<Event>): Promise<Event[]> {
  const out: Event[] = [];
  for await (const e of events) out.push(e);
  return out;
}

/** Every number compared with Object.is (-0, NaN), every bigint exactly. */
function expectIdentical(actual: Event[], expected: Event[]): void {
  expect(actual.length).toBe(expected.length);
  const same = (x: unknown, y: unknown): boolean =>
    typeof x === "object" && x !== null && typeof y === "object" && y !== null
      ? Object.keys(x).length === Object.keys(y).length &&
        Object.keys(x).every((k) => same((x as never)[k], (y as never)[k]))
      : Object.is(x, y);
  const mismatch = actual.findIndex((e, i) => !same(e, expected[i]));
  expect(mismatch === -1 ? undefined : [actual[mismatch], expected[mismatch]]).toBeUndefined();
}

test("a file source lists, counts and replays as the synchronous library does", async () => {
  const path = demoFile(["first", "second"]);
  const source = await openSource(path);
  try {
    expect(source.kind).toBe("sqlite");
    expect(source.label).toBe(path);
    const db = openRunsDb(path);
    expect(await source.listRuns()).toEqual(listRuns(db));
    expect(await listSourceSummaries(source)).toEqual(listRunSummaries(db));
    db.close();
    expect(await source.resolveRunId()).toBe("second");
    expect((await source.getRun("first")).status).toBe("completed");
    const expected = [...replay(path, { run: "first" })];
    const counts = await source.countEvents("first");
    expect(Object.values(counts).reduce((a, b) => a + b, 0n)).toBe(BigInt(expected.length));
    expect(await collect(source.events({ run: "first" }))).toEqual(expected);
    const chunks: (readonly Event[])[] = [];
    for await (const chunk of source.chunks({ run: "first", types: ["FillEvent"] })) {
      chunks.push(chunk);
    }
    expect(chunks.flat()).toEqual(expected.filter((e) => e.type === "FillEvent"));
    await expect(source.getRun("nope")).rejects.toBeInstanceOf(RunNotFoundError);
  } finally {
    await source.close();
  }
});

test("openSource: a missing file, another URL scheme, malformed URLs; no password in any message", async () => {
  await expect(openSource(join(tempDir(), "none.db"))).rejects.toBeInstanceOf(DatabaseMissingError);
  const cases: [string, string][] = [
    ["mysql://u:hunter2@h/db", "NOT_POSTGRES"],
    ["postgres://u:hunter2@h:99999/db", "BAD_URL"],
    ["postgres://u:hunter2@h/db?sslmode=sometimes", "BAD_URL"],
    ["postgres://u:hunter2@h/db?colour=blue", "BAD_URL"],
    ["postgres://u:hunter2@h/a/b", "BAD_URL"],
    ["postgres://u:hunter2@[::1/db", "BAD_URL"],
    ["postgres://u:hunter2@h/db?host=/a&host=/b", "BAD_URL"],
    ["postgres://u:hunter2@h/db?password=other", "BAD_URL"],
  ];
  for (const [url, code] of cases) {
    const error = await openSource(url).catch((e) => e);
    expect(error).toBeInstanceOf(StoreUrlError);
    expect([url, error.code]).toEqual([url, code]);
    expect(error.message).not.toContain("hunter2");
  }
});

fixtureTest("a Python-written file replays through the source as through replay()", async () => {
  const path = fixtureCopy();
  const source = await openSource(path);
  try {
    expect(await collect(source.events())).toEqual([...replay(path)]);
  } finally {
    await source.close();
  }
});

test.each([
  [
    "postgres://ann:p%40ss@db.example:6543/runs?sslmode=require",
    {},
    { label: "postgres://ann@db.example:6543/runs", password: "p@ss", sslmode: "require" },
  ],
  [
    "postgresql://bob@/sweeps?host=/run/postgresql",
    {},
    { label: "postgres://bob@localhost/sweeps?host=/run/postgresql", socketDir: "/run/postgresql" },
  ],
  [
    "postgres://",
    { PGHOST: "pg.internal", PGPORT: "5433", PGUSER: "eve", PGDATABASE: "team", PGPASSWORD: "x" },
    { label: "postgres://eve@pg.internal:5433/team", password: "x", database: "team" },
  ],
  [
    "postgres://:5444/db",
    { PGHOST: "/tmp/sockets" },
    { label: "postgres://u@localhost/db?host=/tmp/sockets", port: 5444, socketDir: "/tmp/sockets" },
  ],
  [
    "postgres://carl@h/db",
    { PGDATABASE: "other", PGUSER: "nobody" },
    { username: "carl", database: "db", password: undefined },
  ],
] as const)("parseStoreUrl %s with %o", (url, env, expected) => {
  const target = parseStoreUrl(url, { PGUSER: "u", ...env, PGPASSFILE: "/nonexistent" });
  expect(target).toMatchObject(expected);
  expect(target.label).not.toContain(":x@");
});

test("a parameter given twice, or a query that contradicts the URL before it, is refused", () => {
  const env = { PGPASSFILE: "/nonexistent" };
  const refused: [string, string][] = [
    ["postgres://u@h/db?host=/a&host=/b", 'parameter "host" given twice in the store URL'],
    [
      "postgres://u@h/db?sslmode=require&sslmode=disable",
      'parameter "sslmode" given twice in the store URL',
    ],
    [
      "postgres://u:hunter2@h/db?password=other",
      "the store URL gives two passwords: one before the @, another in ?password=",
    ],
    [
      "postgres://u@h/db?dbname=other",
      'the store URL names two databases: "db" in its path, "other" in ?dbname=',
    ],
    ["postgres://u@h/db?user=v", 'the store URL names two users: "u" before the @, "v" in ?user='],
  ];
  for (const [url, message] of refused) {
    const error = (() => {
      try {
        return parseStoreUrl(url, env);
      } catch (e) {
        return e;
      }
    })();
    expect([url, error]).toEqual([url, expect.any(StoreUrlError)]);
    expect([url, (error as StoreUrlError).code, (error as Error).message]).toEqual([
      url,
      "BAD_URL",
      message,
    ]);
  }
  // The same value twice says one thing: taken.
  expect(parseStoreUrl("postgres://u:pw@h/db?password=pw&dbname=db&user=u", env)).toMatchObject({
    username: "u",
    password: "pw",
    database: "db",
  });
});

test("the password file: host, port, database and user matched with * and escapes", () => {
  const file = join(tempDir(), "pgpass");
  writeFileSync(
    file,
    [
      "# comment",
      "other:5432:runs:ann:wrong",
      "db.example:*:runs:ann:a\\:b\\\\c",
      "*:*:*:*:fallback",
    ].join("\n"),
  );
  const env = { PGPASSFILE: file };
  expect(parseStoreUrl("postgres://ann@db.example/runs", env).password).toBe("a:b\\c");
  expect(parseStoreUrl("postgres://zed@elsewhere/x", env).password).toBe("fallback");
  expect(parseStoreUrl("postgres://ann:given@db.example/runs", env).password).toBe("given");
});

describeWithPg("PostgreSQL store", (cluster) => {
  test(
    "an empty database is a store without runs; the first writers create the layout once",
    async () => {
      const empty = await openSource(cluster().url());
      expect(empty.kind).toBe("postgres");
      expect(await empty.listRuns()).toEqual([]);
      await expect(empty.resolveRunId()).rejects.toThrow("holds no runs");
      await empty.close();
      const stores = await Promise.all(
        [1, 2, 3, 4].map(() => PgStore.open(cluster().url(), { mode: "write" })),
      );
      for (const s of stores) await s.close();
      const store = await openSource(cluster().url());
      expect(await store.listRuns()).toEqual([]);
      await expect(store.countEvents("x")).rejects.toBeInstanceOf(RunNotFoundError);
      await store.close();
    },
    SLOW,
  );

  test(
    "edge values replay from the store bit for bit, as from the file they were pushed from",
    async () => {
      const path = join(tempDir(), "runs.db");
      const recorder = Recorder.start(path, { runId: "edges", config: { k: "ü" } });
      for (const event of sampleEvents()) recorder.record(event);
      recorder.close();
      expect(await push(path, cluster().url())).toMatchObject([
        { runId: "edges", outcome: "pushed", events: BigInt(sampleEvents().length) },
      ]);
      const store = await PgStore.open(cluster().url());
      try {
        expectIdentical(await collect(store.events({ run: "edges" })), [
          ...replay(path, { run: "edges" }),
        ]);
        const db = openRunsDb(path);
        expect(await store.getRun("edges")).toEqual(listRuns(db)[0] as never);
        expect(await store.countEvents("edges")).toEqual(
          (await openSource(path).then(async (s) => {
            const c = await s.countEvents("edges");
            await s.close();
            return c;
          })) as never,
        );
        expect(await inspectStoredRun(store, "edges")).toEqual(inspectRun(db, "edges"));
        db.close();
      } finally {
        await store.close();
      }
    },
    SLOW,
  );

  test(
    "a large push leaves the planner's statistics current, so a replay reads pages by the seq index",
    async () => {
      const path = join(tempDir(), "runs.db");
      bulkRun(path, "small", 1000);
      bulkRun(path, "large", Number(ANALYZE_FROM_EVENTS));
      const analyzed = async () => {
        const sql = new SQL(cluster().url("planner"));
        const rows = await sql.unsafe(
          "SELECT last_analyze IS NOT NULL AS analyzed FROM pg_stat_user_tables WHERE relname = 'bars'",
        );
        await sql.close();
        return rows[0]?.analyzed;
      };
      await cluster().createDatabase("planner");
      await push(path, cluster().url("planner"), { runs: ["small"] });
      expect(await analyzed()).toBe(false);
      await push(path, cluster().url("planner"), { runs: ["large"] });
      expect(await analyzed()).toBe(true);
      const store = await PgStore.open(cluster().url("planner"));
      try {
        let n = 0;
        for await (const chunk of store.chunks({ run: "large" })) n += chunk.length;
        expect(n).toBe(Number(ANALYZE_FROM_EVENTS));
      } finally {
        await store.close();
      }
    },
    SLOW,
  );

  test(
    "filters select the same events from the store as from the file",
    async () => {
      const path = demoFile(["filters"], undefined, 200);
      await push(path, cluster().url(), { runs: ["filters"] });
      const store = await PgStore.open(cluster().url());
      const all = [...replay(path, { run: "filters" })];
      const mid = (all[Math.floor(all.length / 2)] as Event).ts_event_ns;
      const cases: ReplayOptions[] = [
        { symbols: ["AAA"] },
        { types: ["OrderAccepted", "FillEvent"], from: mid },
        { excludeTypes: ["BarReceived"], to: mid },
        { symbols: ["BBB"], limit: 25 },
        { limit: 0 },
      ];
      try {
        for (const filter of cases) {
          const options = { run: "filters", ...filter };
          const expected = [...replay(path, options)];
          expect(await collect(store.events(options))).toEqual(expected);
        }
        expect(cases.length).toBe(5);
      } finally {
        await store.close();
      }
    },
    SLOW,
  );

  test(
    "the store refuses the replay options the file refuses, with the same message, and counts no run it lacks",
    async () => {
      const path = demoFile(["checked"]);
      await push(path, cluster().url(), { runs: ["checked"] });
      const store = await openSource(cluster().url());
      const file = await openSource(path);
      const refusal = async (source: RunSource, options: unknown) => {
        const error = await collect(source.events(options as ReplayOptions)).catch((e) => e);
        return error instanceof RuntapeError ? `${error.code}: ${error.message}` : error;
      };
      // What a caller from JS may hand over: each refused before a row is read.
      const cases: unknown[] = [
        { limit: 1.5 },
        { limit: Number.NaN },
        { limit: -1 },
        { limit: "5" },
        { types: ["X"] },
        { types: "FillEvent" },
        { excludeTypes: ["X"] },
        { from: 5 },
        { onInvalidRow: "x" },
        { symbols: "XYZ" },
        { run: 5 },
      ];
      try {
        for (const options of cases) {
          const expected = await refusal(file, options);
          expect(expected).toStartWith("INVALID_OPTION: replay option ");
          expect([options, await refusal(store, options)]).toEqual([options, expected]);
        }
        await expect(store.countEvents("nope")).rejects.toBeInstanceOf(RunNotFoundError);
        await expect(file.countEvents("nope")).rejects.toBeInstanceOf(RunNotFoundError);
        expect(await store.countEvents("latest")).toEqual(await file.countEvents("checked"));
      } finally {
        await store.close();
        await file.close();
      }
    },
    SLOW,
  );

  test(
    "replayNdjson of a store gives the file's bytes, filters and int64 style alike",
    async () => {
      const path = demoFile(["lines"]);
      await push(path, cluster().url(), { runs: ["lines"] });
      const text = async (source: RunSource, options: NdjsonReplayOptions) => {
        let all = "";
        for await (const block of replayNdjson(source, options)) {
          all += new TextDecoder().decode(block);
        }
        return all;
      };
      await using store = await openSource(cluster().url());
      await using file = await openSource(path);
      for (const options of [
        { run: "lines" },
        { run: "lines", int64: "string", symbols: ["BBB"] },
      ] as NdjsonReplayOptions[]) {
        const expected = await text(file, options);
        expect(expected.split("\n").length).toBeGreaterThan(10);
        expect(await text(store, options)).toBe(expected);
      }
    },
    SLOW,
  );

  for (const fixture of ["reference", "threaded"] as const) {
    fixtureTest(
      `Python-written runs (no sequence) keep their order and values through the store (${fixture})`,
      async () => {
        const path = fixtureCopy(fixture);
        const url = cluster().url();
        const pushed = await push(path, url, { includeUnfinished: true });
        expect(pushed.length).toBeGreaterThan(0);
        const store = await PgStore.open(url);
        try {
          for (const { runId } of pushed) {
            const whole = [...replay(path, { run: runId })];
            expectIdentical(await collect(store.events({ run: runId })), whole);
            // The pushed run is numbered in the file's whole replay order (as merge numbers it):
            // a filter selects the file's filtered events, in that order.
            const bar = whole.find((e) => e.type === "BarReceived") as { symbol: string };
            const filter = { run: runId, symbols: [bar.symbol] };
            const selected = new Set(Array.from(replay(path, filter), encodeEvent));
            const expected = whole.filter((e) => selected.has(encodeEvent(e)));
            expect(expected.length).toBeGreaterThan(0);
            expect(await collect(store.events(filter))).toEqual(expected);
          }
        } finally {
          await store.close();
        }
      },
      fixture,
      SLOW,
    );
  }

  test(
    "a Python-written run whose tables merged on creation time alone break causality replays from the store as from its file",
    async () => {
      const path = causalRun();
      const url = cluster().url();
      expect(await push(path, url, { runs: ["run"] })).toMatchObject([{ outcome: "pushed" }]);
      const store = await openSource(url);
      try {
        const fromFile = [...replay(path, { run: "run" })];
        expect(fromFile.length).toBe(Object.keys(CAUSAL_EVENTS).length);
        expectIdentical(await collect(store.events({ run: "run" })), fromFile);
      } finally {
        await store.close();
      }
      // The file's content, as push computes it, is what the store holds: pushing again is a no-op.
      expect(await push(path, url, { runs: ["run"] })).toMatchObject([{ outcome: "present" }]);
      // Pulled, the run keeps that order as its seq; the pulled file is the same run to the store.
      const pulled = join(tempDir(), "pulled.db");
      await pull(url, pulled, { runs: ["run"] });
      expectIdentical([...replay(pulled, { run: "run" })], [...replay(path, { run: "run" })]);
      expect(await push(pulled, url, { runs: ["run"] })).toMatchObject([{ outcome: "present" }]);
    },
    SLOW,
  );

  test(
    "exactly once: a second push is a no-op, another run under the id is refused, --replace swaps it whole",
    async () => {
      const url = cluster().url();
      const a = demoFile(["twice"]);
      expect((await push(a, url))[0]?.outcome).toBe("pushed");
      expect((await push(a, url))[0]?.outcome).toBe("present");
      const other = join(tempDir(), "other.db");
      const recorder = Recorder.start(other, { runId: "twice" });
      for (const event of sampleEvents()) recorder.record(event);
      recorder.close();
      const refused = await push(other, url).catch((e) => e);
      expect(refused).toBeInstanceOf(RunsNotPushedError);
      expect([refused.refused[0], refused.pushed]).toEqual([expect.any(RunConflictError), []]);
      expect(refused.message).toContain('"twice"');
      const store = await PgStore.open(url);
      try {
        expect(await collect(store.events({ run: "twice" }))).toEqual([...replay(a)]);
        expect((await push(other, store, { replace: true }))[0]?.outcome).toBe("replaced");
        expect(await collect(store.events({ run: "twice" }))).toEqual([...replay(other)]);
        expect((await store.listRuns()).filter((r) => r.run_id === "twice")).toHaveLength(1);
      } finally {
        await store.close();
      }
    },
    SLOW,
  );

  test(
    "a stored run is read in a few round trips: every table's first page asked for at once",
    async () => {
      const url = await cluster().createDatabase("round_trips");
      const path = demoFile(["trips-a", "trips-b", "trips-c"], undefined, 20);
      await push(path, url);
      // With a delay, what a client sends together reaches the server before any reply: a
      // burst is one round trip, however the driver cut it into writes.
      const proxy = startProxy(cluster(), { delayMs: 20 });
      const store = await PgStore.open(proxy.url("round_trips"));
      try {
        // The driver pipelines only statements it has prepared (the first use of each text
        // takes two trips of its own), and the pool's second connection opens: read once first.
        await collect(store.events({ run: "trips-a" }));
        await store.pagesOfRuns(["trips-a", "trips-b"]);
        proxy.reset();
        const events = await collect(store.events({ run: "trips-b" }));
        // A table at a time, it took a trip for the run, one for its kind and one a table (15).
        expect(proxy.roundTrips()).toBeLessThanOrEqual(3);
        expectIdentical(events, [...replay(path, { run: "trips-b" })]);
        proxy.reset();
        const pages = await store.pagesOfRuns(["trips-a", "trips-b", "trips-c"]);
        expect(proxy.roundTrips()).toBeLessThanOrEqual(3);
        expect([...pages.keys()]).toEqual(["trips-a", "trips-b", "trips-c"]);
      } finally {
        await store.close();
        proxy.stop();
      }
    },
    SLOW,
  );

  test(
    "small runs go in batches: a few statements for thirty runs, each run whole, in the file's order of arrival",
    async () => {
      const url = await cluster().createDatabase("batches");
      const ids = Array.from({ length: 30 }, (_, i) => `small-${i}`);
      const path = demoFile(ids, undefined, 20);
      const proxy = startProxy(cluster());
      try {
        const pushed = await push(path, proxy.url("batches"));
        expect(pushed.map((r) => [r.runId, r.outcome])).toEqual(ids.map((id) => [id, "pushed"]));
        // Alone, each run took a statement for its digest, a transaction and a COPY per table.
        expect(proxy.statements()).toBeLessThan(ids.length);
        proxy.reset();
        const again = await push(path, proxy.url("batches"));
        expect(again.map((r) => r.outcome)).toEqual(ids.map(() => "present"));
        expect(proxy.statements()).toBeLessThan(10);
      } finally {
        proxy.stop();
      }
      const store = await PgStore.open(url);
      try {
        const arrived = await store.sql`SELECT run_id FROM runtape_pushes ORDER BY ordinal`;
        expect(arrived.map((r: { run_id: string }) => r.run_id)).toEqual(ids);
        for (const id of ids) {
          expectIdentical(await collect(store.events({ run: id })), [...replay(path, { run: id })]);
        }
      } finally {
        await store.close();
      }
    },
    SLOW,
  );

  test(
    "two pushes of the same runs in other orders at once: every run once, neither push fails",
    async () => {
      const url = await cluster().createDatabase("two_orders");
      await push(demoFile(["first"], undefined, 5), url); // the store's tables
      const ids = Array.from({ length: 30 }, (_, i) => `order-${String(i).padStart(2, "0")}`);
      const path = demoFile(ids, undefined, 5);
      // A third transaction holds the middle id until both pushes wait on a lock: taking the ids
      // in their own orders, each has written half of them by then, and each next wants a row of
      // the other's (a deadlock, one push lost), unless both take them in one order.
      const gate = new SQL(url, { max: 2 });
      const held = await gate.reserve();
      try {
        await held`BEGIN`;
        await held`INSERT INTO runs (run_id, name, ts_start, status) VALUES (${ids[15]}, 'gate', 0, 'running')`;
        const pushes = [
          push(path, url, { runs: ids }),
          push(path, url, { runs: [...ids].reverse() }),
        ];
        for (;;) {
          const [{ n }] =
            await gate`SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'COPY runs%'`;
          if (n >= 2) break;
          await Bun.sleep(20);
        }
        await held`ROLLBACK`;
        const [forward, reverse] = await Promise.all(pushes);
        const outcomes = (results: PushedRun[] | undefined, id: string) =>
          (results ?? []).filter((r) => r.runId === id).map((r) => r.outcome);
        for (const id of ids) {
          expect([id, ...[...outcomes(forward, id), ...outcomes(reverse, id)].sort()]).toEqual([
            id,
            "present",
            "pushed",
          ]);
        }
        const [counts] =
          await gate`SELECT (SELECT count(*)::int FROM runs) AS runs, (SELECT count(*)::int FROM runtape_pushes) AS pushes`;
        expect(counts).toEqual({ runs: ids.length + 1, pushes: ids.length + 1 });
      } finally {
        held.release();
        await gate.close();
      }
    },
    SLOW,
  );

  test(
    "a run named twice is pushed once, present the second time; a run the file cannot give ends the push after the runs before it",
    async () => {
      const url = await cluster().createDatabase("twice_and_broken");
      const path = demoFile(["twice-a", "broken-b", "after-c"], undefined, 5);
      expect(
        (await push(path, url, { runs: ["twice-a", "twice-a"] })).map((r) => [r.runId, r.outcome]),
      ).toEqual([
        ["twice-a", "pushed"],
        ["twice-a", "present"],
      ]);
      const raw = new Database(path);
      raw.run(
        "UPDATE bars SET seq = NULL WHERE run_id = 'broken-b' AND seq = (SELECT min(seq) FROM bars WHERE run_id = 'broken-b')",
      );
      raw.close();
      const told: string[] = [];
      const error = await push(path, url, {
        runs: ["twice-a", "after-c", "broken-b"],
        onRun: (r) => told.push(`${r.runId}:${r.outcome}`),
      }).catch((e) => e);
      expect(error.code).toBe("ROWS_WITHOUT_SEQ");
      expect(told).toEqual(["twice-a:present", "after-c:pushed"]);
      const store = await PgStore.open(url);
      try {
        expect((await store.listRuns()).map((r) => r.run_id).sort()).toEqual([
          "after-c",
          "twice-a",
        ]);
      } finally {
        await store.close();
      }
    },
    SLOW,
  );

  test(
    "a run gone from the store since it was listed is not found, as when read alone, not an empty run; a listing passes it over",
    async () => {
      const url = await cluster().createDatabase("gone_since");
      await push(demoFile(["stays", "goes", "also"], undefined, 5), url);
      const store = await PgStore.open(url);
      try {
        const listed = await store.listRuns();
        await removeStoredRuns(store, ["goes"]);
        const read: string[] = [];
        const error = await (async () => {
          for await (const { run, chunks } of store.eachRun(listed)) {
            for await (const _ of chunks) read.push(run.run_id);
          }
        })().catch((e) => e);
        expect(error).toBeInstanceOf(RunNotFoundError);
        expect(error.message).toContain('"goes"');
        // Pull: a run removed between its digest and its rows (the removal made to come there).
        const into = join(tempDir(), "pulled.db");
        const pagesOfRuns = store.pagesOfRuns.bind(store);
        store.pagesOfRuns = async (ids) => {
          await removeStoredRuns(store, ["also"]);
          return pagesOfRuns(ids);
        };
        const gone = await pull(store, into, { runs: ["stays", "also"] }).catch((e) => e);
        expect(gone).toBeInstanceOf(RunNotFoundError);
        expect(gone.message).toContain('"also"');
        // A listing of metrics passes such a run over, as a listing a moment later would.
        await push(demoFile(["late"], undefined, 5), url);
        store.pagesOfRuns = async (ids) => {
          await removeStoredRuns(store, ["late"]);
          return pagesOfRuns(ids);
        };
        expect((await listSweep(store)).entries.map((e) => e.runId)).toEqual(["stays"]);
      } finally {
        await store.close();
      }
    },
    SLOW,
  );

  test(
    "in a batch, a run the store holds otherwise is refused as alone and the others go; with replace it is swapped whole",
    async () => {
      const url = await cluster().createDatabase("batch_replace");
      const first = demoFile(["kept", "changed"], undefined, 20);
      expect((await push(first, url)).map((r) => r.outcome)).toEqual(["pushed", "pushed"]);
      const second = join(tempDir(), "second.db");
      copyFileSync(first, second);
      demoFile(["added"], second, 20);
      const raw = new Database(second);
      raw.run("UPDATE bars SET close = close + 1 WHERE run_id = 'changed' AND seq = 5");
      raw.close();
      const refused = await push(second, url).catch((e) => e);
      expect(refused).toBeInstanceOf(RunsNotPushedError);
      expect(refused.refused).toEqual([expect.any(RunConflictError)]);
      expect(refused.refused[0].runId).toBe("changed");
      expect(
        refused.pushed.map((r: { runId: string; outcome: string }) => [r.runId, r.outcome]),
      ).toEqual([
        ["kept", "present"],
        ["added", "pushed"],
      ]);
      const replaced = await push(second, url, { replace: true });
      expect(replaced.map((r) => [r.runId, r.outcome])).toEqual([
        ["kept", "present"],
        ["changed", "replaced"],
        ["added", "present"],
      ]);
      const store = await PgStore.open(url);
      try {
        for (const run of ["kept", "changed", "added"]) {
          expectIdentical(await collect(store.events({ run })), [...replay(second, { run })]);
        }
        expect((await store.listRuns()).map((r) => r.run_id).sort()).toEqual([
          "added",
          "changed",
          "kept",
        ]);
      } finally {
        await store.close();
      }
    },
    SLOW,
  );

  test(
    "run ids with quotes and SQL round-trip: push, list, replay, pull, diff",
    async () => {
      const ids = [
        'it\'s "quoted"',
        "'); DROP TABLE runs;--",
        "2026-11-23_20-03-12_SMA Crossover ü",
      ];
      const path = demoFile(ids);
      const url = cluster().url();
      await push(path, url, { runs: ids });
      const into = join(tempDir(), "pulled.db");
      expect((await pull(url, into, { runs: ids })).map((r) => r.outcome)).toEqual(
        ids.map(() => "pulled"),
      );
      const store = await PgStore.open(url);
      try {
        const listed = (await store.listRuns()).map((r) => r.run_id);
        for (const id of ids) {
          expect(listed).toContain(id);
          expect(await collect(store.events({ run: id }))).toEqual([...replay(path, { run: id })]);
          expect([...replay(into, { run: id })]).toEqual([...replay(path, { run: id })]);
          const fromStore = await diffStreams(
            store.events({ run: id }),
            (await openSource(path)).events({ run: id }),
          );
          expect(fromStore.match).toBe(true);
          expect(diffRuns({ db: into, run: id }, { db: path, run: id }).match).toBe(true);
        }
      } finally {
        await store.close();
      }
    },
    SLOW,
  );

  test(
    "pull: again is a no-op, a different run under the id in the file is refused, nothing half-copied",
    async () => {
      const url = cluster().url();
      const path = demoFile(["pulled-once"]);
      await push(path, url);
      const into = join(tempDir(), "into.db");
      expect((await pull(url, into, { runs: ["pulled-once"] }))[0]?.outcome).toBe("pulled");
      expect((await pull(url, into, { runs: ["pulled-once"] }))[0]?.outcome).toBe("present");
      // The pulled copy pushes as the same run: the digest does not depend on the file's row ids.
      expect((await push(into, url, { runs: ["pulled-once"] }))[0]?.outcome).toBe("present");
      const clash = join(tempDir(), "clash.db");
      const recorder = Recorder.start(clash, { runId: "pulled-once" });
      recorder.record(sampleEvents()[0] as Event);
      recorder.close();
      await expect(pull(url, clash, { runs: ["pulled-once"] })).rejects.toBeInstanceOf(
        RunConflictError,
      );
      await expect(pull(url, into, { runs: ["no such run"] })).rejects.toBeInstanceOf(
        RunNotFoundError,
      );
      // A store URL where the file goes: refused as such, never taken for a path.
      const asFile = await pull(url, cluster().secretUrl()).catch((e) => e);
      expect([asFile.code, asFile.message]).toEqual([
        "STORE_URL_AS_FILE",
        cluster().secretUrl().replace(encodeURIComponent(SECRET_PASSWORD), "***") +
          " is a store URL, not a runs database file",
      ]);
    },
    SLOW,
  );

  /** The runs of `into` replay as those of `path`, and push back to `url` as the runs it holds. */
  async function expectPulledWhole(into: string, path: string, url: string, ids: string[]) {
    for (const id of ids) {
      expectIdentical([...replay(into, { run: id })], [...replay(path, { run: id })]);
    }
    expect((await push(into, url, { runs: ids })).map((r) => [r.runId, r.outcome])).toEqual(
      ids.map((id) => [id, "present"]),
    );
  }

  test(
    "pull reads small runs in batches: far fewer statements than runs, each run whole and in order",
    async () => {
      const url = await cluster().createDatabase("batches_db");
      const ids = Array.from({ length: 100 }, (_, i) => `small-${String(i).padStart(2, "0")}`);
      const path = demoFile(ids, undefined, 10);
      await push(path, url);
      const proxy = startProxy(cluster());
      try {
        const into = join(tempDir(), "into.db");
        const seen: string[] = [];
        const pulled = await pull(proxy.url("batches_db"), into, {
          onRun: (r) => seen.push(r.runId),
        });
        // A run at a time it was sixteen statements a run, 1,600 for these; now one a table for the
        // batch (two where the connection meets the statement first: Bun.SQL prepares it then).
        expect(proxy.statements()).toBeLessThan(ids.length / 2);
        expect(pulled.map((r) => [r.runId, r.outcome])).toEqual(ids.map((id) => [id, "pulled"]));
        expect(seen).toEqual(ids);
        await expectPulledWhole(into, path, url, ids);
        // Named runs resolve in one statement, "latest" and a run named twice as before.
        proxy.reset();
        const named = ["small-07", "latest", "small-02", "small-07"];
        const some = join(tempDir(), "some.db");
        const picked = await pull(proxy.url("batches_db"), some, { runs: named });
        expect(picked.map((r) => [r.runId, r.outcome])).toEqual([
          ["small-07", "pulled"],
          ["small-99", "pulled"],
          ["small-02", "pulled"],
          ["small-07", "present"],
        ]);
        expect(proxy.statements()).toBeLessThan(ids.length / 2);
        await expectPulledWhole(some, path, url, ["small-07", "small-99", "small-02"]);
        // Again: every run present, compared by digest, none of their rows read.
        proxy.reset();
        const again = await pull(proxy.url("batches_db"), into);
        expect(again.map((r) => r.outcome)).toEqual(ids.map(() => "present"));
        expect(proxy.statements()).toBeLessThan(10);
      } finally {
        proxy.stop();
      }
    },
    SLOW,
  );

  test(
    "a run among a batch that no longer matches its digest fails the pull: the runs before it are in the file whole, none of its rows",
    async () => {
      const url = await cluster().createDatabase("batch_digest_db");
      const label = parseStoreUrl(url).label;
      const ids = ["batch-1", "batch-2", "batch-3", "batch-4", "batch-5"];
      const path = demoFile(ids, undefined, 20);
      await push(path, url);
      const raw = new SQL(url);
      await raw`UPDATE bars SET volume = volume + 1 WHERE run_id = ${"batch-3"} AND id = 1`;
      await raw.close();
      const into = join(tempDir(), "into.db");
      const seen: string[] = [];
      const error = await pull(url, into, { onRun: (r) => seen.push(r.runId) }).catch((e) => e);
      expect(error).toBeInstanceOf(StoreDigestError);
      expect([error.runId, error.message]).toEqual([
        "batch-3",
        `run "batch-3" in ${label} does not match the digest it was pushed with (nothing pulled)`,
      ]);
      expect(seen).toEqual(["batch-1", "batch-2"]);
      expect(listRuns(into).map((r) => r.run_id)).toEqual(["batch-2", "batch-1"]);
      await expectPulledWhole(into, path, url, ["batch-1", "batch-2"]);
      const file = new Database(into);
      try {
        const tables = file
          .query(
            "SELECT m.name FROM sqlite_master m WHERE m.type = 'table' AND EXISTS (SELECT 1 FROM pragma_table_info(m.name) WHERE name = 'run_id')",
          )
          .values()
          .map(([name]) => name as string);
        expect(tables).toContain("fills");
        for (const table of tables) {
          const { n } = file
            .query(`SELECT COUNT(*) AS n FROM ${table} WHERE run_id IN ('batch-3', 'batch-4')`)
            .get() as { n: number };
          expect([table, n]).toEqual([table, 0]);
        }
      } finally {
        file.close();
      }
    },
    SLOW,
  );

  test(
    "a run larger than a batch among small ones is pulled whole, in its place",
    async () => {
      const url = await cluster().createDatabase("batch_large_db");
      const path = demoFile(["before-1", "before-2"], undefined, 20);
      bulkRun(path, "large", BATCH_EVENTS + 1);
      demoFile(["after-1", "after-2"], path, 20);
      const ids = ["before-1", "before-2", "large", "after-1", "after-2"];
      await push(path, url);
      const into = join(tempDir(), "into.db");
      const pulled = await pull(url, into);
      expect(pulled.map((r) => [r.runId, r.outcome])).toEqual(ids.map((id) => [id, "pulled"]));
      expect(pulled[2]?.events).toBe(BigInt(BATCH_EVENTS + 1));
      await expectPulledWhole(into, path, url, ids);
    },
    SLOW,
  );

  test(
    "a run with a row that lost its sequence number is refused whole, never sent in part",
    async () => {
      const path = demoFile(["holed"]);
      const raw = new Database(path);
      raw.run("UPDATE fills SET seq = NULL WHERE id = (SELECT MIN(id) FROM fills)");
      raw.close();
      const error = await push(path, cluster().url()).catch((e) => e);
      expect(error.code).toBe("ROWS_WITHOUT_SEQ");
      expect(error.message).toContain("fills holds 1 row of run");
      const store = await PgStore.open(cluster().url());
      try {
        await expect(store.getRun("holed")).rejects.toBeInstanceOf(RunNotFoundError);
      } finally {
        await store.close();
      }
    },
    SLOW,
  );

  test(
    "push among ids narrows the default rule: completed runs of those, oldest first; with runs it is refused",
    async () => {
      const path = demoFile(["among-old", "among-broke", "among-new", "among-other"]);
      const raw = new Database(path);
      raw.run("UPDATE runs SET status = 'failed' WHERE run_id = 'among-broke'");
      raw.close();
      const url = await cluster().createDatabase("among_db");
      const among = ["among-new", "among-broke", "among-old"];
      const sent = await push(path, url, { among });
      expect(sent.map((r) => r.runId)).toEqual(["among-old", "among-new"]);
      const all = await push(path, url, { among, includeUnfinished: true });
      expect(all.map((r) => [r.runId, r.outcome])).toEqual([
        ["among-old", "present"],
        ["among-broke", "pushed"],
        ["among-new", "present"],
      ]);
      const refused = await push(path, url, { among, runs: ["among-old"] }).catch((e) => e);
      expect([refused.code, refused.message]).toEqual([
        "INVALID_OPTION",
        "push: runs and among exclude each other",
      ]);
    },
    SLOW,
  );

  test(
    "check finds rows changed in the store behind runtape's back",
    async () => {
      const url = cluster().url();
      await push(demoFile(["tampered"]), url);
      const store = await PgStore.open(url);
      try {
        expect(await checkStore(store)).toEqual([]);
        await store.sql`UPDATE fills SET fill_price = fill_price + 1 WHERE run_id = ${"tampered"} AND id = 1`;
        const findings = await checkStore(store);
        expect(findings).toHaveLength(1);
        expect(findings[0]).toMatchObject({ kind: "integrity", runId: "tampered" });
      } finally {
        await store.close();
      }
    },
    SLOW,
  );

  test(
    "check reads small runs a batch at a time and still finds the one changed among them, and a run no push published",
    async () => {
      const url = await cluster().createDatabase("check_batches");
      const ids = Array.from({ length: 30 }, (_, i) => `checked-${i}`);
      await push(demoFile(ids, undefined, 20), url);
      const proxy = startProxy(cluster());
      try {
        const store = await PgStore.open(proxy.url("check_batches"));
        try {
          proxy.reset();
          expect(await checkStore(store)).toEqual([]);
          // Alone, each run took a statement for its digest and one a table (497 in all); a batch
          // takes that many for all its runs, each sent twice the first time (prepared, then run).
          expect(proxy.statements()).toBeLessThan(2 * ids.length);
          await store.sql`UPDATE bars SET close = close + 1 WHERE run_id = ${"checked-17"} AND id = 3`;
          await store.sql`INSERT INTO runs (run_id, name, ts_start, status) VALUES (${"by-hand"}, ${"by-hand"}, 1, ${"completed"})`;
          const findings = await checkStore(store);
          // Newest first, as the runs are listed: the run added by hand started at 1 ns.
          expect(findings.map((f) => [f.runId, f.message])).toEqual([
            [
              "checked-17",
              'run "checked-17" differs from what was pushed (its rows were changed in the store)',
            ],
            ["by-hand", 'run "by-hand" was not published by a push'],
          ]);
        } finally {
          await store.close();
        }
      } finally {
        proxy.stop();
      }
    },
    SLOW,
  );

  test(
    "a foreign database, a newer layout and a table without a column of its layout are refused, untouched",
    async () => {
      await cluster().createDatabase("foreign_db");
      await cluster().createDatabase("newer_db");
      const foreign = new SQL({ path: cluster().dir, username: "runtape", database: "foreign_db" });
      await foreign.unsafe("CREATE TABLE runs (id int, what text)");
      const refused = await PgStore.open(cluster().url("foreign_db"), { mode: "write" }).catch(
        (e) => e,
      );
      expect(refused).toBeInstanceOf(StoreFormatError);
      expect(refused.message).toContain("not a runtape store");
      expect(
        (
          await foreign`SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'public'`
        )[0].n,
      ).toBe(1);
      await foreign.close();
      (await PgStore.open(cluster().url("newer_db"), { mode: "write" })).close();
      const newer = new SQL({ path: cluster().dir, username: "runtape", database: "newer_db" });
      await newer`UPDATE runtape_meta SET value = '999' WHERE name = 'layout_version'`;
      const error = await push(demoFile(["x"]), cluster().url("newer_db")).catch((e) => e);
      expect(error).toBeInstanceOf(StoreFormatError);
      expect(error.code).toBe("NEWER_STORE");
      await newer`UPDATE runtape_meta SET value = ${String(SCHEMA_VERSION)} WHERE name = 'layout_version'`;
      await newer`ALTER TABLE bars DROP COLUMN seq`;
      const noSeq = await PgStore.open(cluster().url("newer_db")).catch((e) => e);
      expect(noSeq).toBeInstanceOf(StoreFormatError);
      expect(noSeq.message).toContain("bars has no column seq");
      await newer.close();
    },
    SLOW,
  );

  test(
    "a store table without one of its columns is refused when the store is opened, nothing written",
    async () => {
      const url = await cluster().createDatabase("lacking_db");
      await push(demoFile(["kept"]), url);
      const other = demoFile(["new"]);
      const raw = new SQL({ path: cluster().dir, username: "runtape", database: "lacking_db" });
      try {
        const lacking = [
          ["runs", "name"],
          ["runtape_runs", "host"],
          ["runtape_pushes", "digest"],
          ["runtape_meta", "value"],
          ["bars", "run_id"],
        ];
        for (const [table, column] of lacking) {
          await raw.unsafe(`ALTER TABLE ${table} RENAME COLUMN ${column} TO renamed`);
          for (const open of [() => PgStore.open(url), () => push(other, url)]) {
            const error = await open().catch((e) => e);
            expect([table, error]).toEqual([table, expect.any(StoreFormatError)]);
            expect(error.message).toBe(
              `${parseStoreUrl(url).label}: not a runtape store (${table} has no column ${column})`,
            );
          }
          await raw.unsafe(`ALTER TABLE ${table} RENAME COLUMN renamed TO ${column}`);
        }
        const runs = await raw`SELECT run_id FROM runs`;
        expect(runs.map((r: { run_id: string }) => r.run_id)).toEqual(["kept"]);
      } finally {
        await raw.close();
      }
    },
    SLOW,
  );

  test(
    "credentials: the right password works; a wrong one, a missing database, no server: one line without the password",
    async () => {
      const path = demoFile(["secret"]);
      expect((await push(path, cluster().secretUrl()))[0]?.outcome).toBe("pushed");
      const wrong = `not-the-${SECRET_PASSWORD}`;
      const failures = [
        [cluster().secretUrl(wrong), "password authentication failed"],
        [cluster().url("no_such_db"), "does not exist"],
        [
          `postgres://runtape:${encodeURIComponent(wrong)}@localhost/x?host=${tempDir()}`,
          "cannot connect",
        ],
        [`postgres://runtape:${encodeURIComponent(wrong)}@127.0.0.1:1/x`, "cannot connect"],
      ] as const;
      // The password from a password file, none in the URL.
      const file = join(tempDir(), "pgpass");
      writeFileSync(file, `localhost:5432:${SECRET_ROLE}:${SECRET_ROLE}:${SECRET_PASSWORD}\n`);
      const target = parseStoreUrl(cluster().secretUrl("").replace(":@", "@"), {
        PGPASSFILE: file,
      });
      expect(target.password).toBe(SECRET_PASSWORD);
      const viaFile = await PgStore.open(target);
      expect((await viaFile.listRuns()).map((r) => r.run_id)).toEqual(["secret"]);
      await viaFile.close();
      for (const [url, reason] of failures) {
        const error = await push(path, url).catch((e) => e);
        expect(error).toBeInstanceOf(StoreAccessError);
        expect(error.message).toContain(reason);
        expect(error.message).not.toContain(wrong);
        expect(error.message).not.toContain(encodeURIComponent(wrong));
        expect(error.message).not.toContain("\n");
      }
    },
    SLOW,
  );
});
