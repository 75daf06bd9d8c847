import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import {
  catalog,
  DatabaseAccessError,
  DatabaseFormatError,
  DatabaseMissingError,
  diffRuns,
  type ErrorCode,
  EVENT_TYPES,
  encodeEvent,
  exportRuns,
  getRun,
  listRuns,
  makeEvent,
  openRunsDb,
  openSource,
  push,
  Recorder,
  RunNotFoundError,
  RuntapeError,
  replay,
  SCHEMA_VERSION,
} from "../src/index.ts";
import {
  bar,
  fixtureCopy,
  fixtureTest,
  rawDb,
  rowCounts,
  runContentHash,
  tempDir,
} from "./helpers.ts";

type ErrorClass = new (...args: never[]) => RuntapeError;

/**
 * Everything in `dir`, recursively, with each file's bytes: to prove nothing was touched.
 * SQLite itself gives any reader of a WAL database an -shm index and an empty -wal; those are left
 * out, but a -wal with content (a write) would show.
 */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    const path = join(dir, name);
    const stat = statSync(path);
    if (name.endsWith("-shm") || (name.endsWith("-wal") && stat.size === 0)) continue;
    out[name] = stat.isDirectory()
      ? "dir"
      : new Bun.CryptoHasher("sha256").update(readFileSync(path)).digest("hex");
  }
  return out;
}

/** Opening `path` in `mode` fails with `error` (and `code`), and leaves its directory as it was. */
function expectRefused(
  path: string,
  mode: "read" | "write",
  error: ErrorClass,
  code: ErrorCode,
): void {
  const before = snapshot(dirname(path));
  let thrown: unknown;
  try {
    openRunsDb(path, { mode }).close();
  } catch (e) {
    thrown = e;
  }
  expect([mode, thrown]).toEqual([mode, expect.any(error)]);
  expect([mode, (thrown as RuntapeError).code]).toEqual([mode, code]);
  const message = (thrown as Error).message;
  expect([message.includes(path), message.includes("\n")]).toEqual([true, false]);
  // No byte changed, no journal left beside it, nothing created.
  expect(snapshot(dirname(path))).toEqual(before);
}

/** A directory holding one file `name` with `content`. */
function fileWith(name: string, content: string | Uint8Array): string {
  const path = join(tempDir(), name);
  writeFileSync(path, content);
  return path;
}

const tablesOf = (path: string) => {
  const db = rawDb(path);
  const names = (
    db.query("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]
  ).map((r) => r.name);
  db.close();
  return names.sort();
};

const ALL_TABLES = ["runs", "runtape_runs", ...EVENT_TYPES.map((t) => catalog[t].table)].sort();

describe("opening a runs database", () => {
  test("a missing file for reading is DatabaseMissingError, and no file is created", () => {
    const path = join(tempDir(), "nope.db");
    expectRefused(path, "read", DatabaseMissingError, "DB_MISSING");
    expect(existsSync(path)).toBe(false);
    // Writing without `create` refuses it too.
    expect(() => openRunsDb(path, { mode: "write", create: false })).toThrow(DatabaseMissingError);
    expect(existsSync(path)).toBe(false);
  });

  test("a missing file for writing is created with the schema", () => {
    const path = join(tempDir(), "new.db");
    const db = openRunsDb(path, { mode: "write" });
    expect([db.version, db.writable]).toEqual([SCHEMA_VERSION, true]);
    db.close();
    expect(tablesOf(path)).toEqual(ALL_TABLES);
  });

  test("an empty (0-byte) file gets the schema for writing, and is refused for reading unchanged", () => {
    const path = fileWith("empty.db", "");
    expectRefused(path, "read", DatabaseFormatError, "FOREIGN_DATABASE");
    expect(statSync(path).size).toBe(0);
    const db = openRunsDb(path, { mode: "write" });
    expect(db.version).toBe(SCHEMA_VERSION);
    db.close();
    expect(tablesOf(path)).toEqual(ALL_TABLES);
    const reader = openRunsDb(path);
    expect([reader.version, reader.writable, listRuns(reader)]).toEqual([
      SCHEMA_VERSION,
      false,
      [],
    ]);
    reader.close();
  });

  test("a text file is refused as NOT_SQLITE", () => {
    const path = fileWith("notes.db", "hello, this is not a database\n".repeat(200));
    expectRefused(path, "read", DatabaseFormatError, "NOT_SQLITE");
    expectRefused(path, "write", DatabaseFormatError, "NOT_SQLITE");
  });

  test("another application's SQLite database is refused as FOREIGN_DATABASE", () => {
    const path = join(tempDir(), "shop.db");
    const other = new Database(path);
    other.run("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)");
    other.run("INSERT INTO customers (name) VALUES ('ada')");
    other.close();
    expectRefused(path, "read", DatabaseFormatError, "FOREIGN_DATABASE");
    expectRefused(path, "write", DatabaseFormatError, "FOREIGN_DATABASE");
  });

  test("a table of ours missing a column is refused as FOREIGN_DATABASE", () => {
    const path = join(tempDir(), "runs.db");
    openRunsDb(path, { mode: "write" }).close();
    const raw = new Database(path);
    raw.run("ALTER TABLE fills DROP COLUMN exchange");
    raw.close();
    expectRefused(path, "read", DatabaseFormatError, "FOREIGN_DATABASE");
    expectRefused(path, "write", DatabaseFormatError, "FOREIGN_DATABASE");
  });

  test("a database of a newer layout (user_version 99) is refused as NEWER_VERSION", () => {
    const path = join(tempDir(), "newer.db");
    openRunsDb(path, { mode: "write" }).close();
    const raw = new Database(path);
    raw.run("PRAGMA user_version = 99");
    raw.close();
    expectRefused(path, "read", DatabaseFormatError, "NEWER_VERSION");
    expectRefused(path, "write", DatabaseFormatError, "NEWER_VERSION");
  });

  test("a directory is refused as DatabaseAccessError", () => {
    const path = join(tempDir(), "folder.db");
    mkdirSync(path);
    writeFileSync(join(path, "inside"), "x");
    expectRefused(path, "read", DatabaseAccessError, "DB_ACCESS");
    expectRefused(path, "write", DatabaseAccessError, "DB_ACCESS");
  });

  test("a read-only open cannot write", () => {
    const path = join(tempDir(), "runs.db");
    openRunsDb(path, { mode: "write" }).close();
    const db = openRunsDb(path);
    expect(() =>
      db.sqlite.run("INSERT INTO runs VALUES ('r', 'n', 1, NULL, 'running', NULL, NULL)"),
    ).toThrow();
    db.close();
  });
});

describe("a database written by the Python recorder (version 1)", () => {
  const pythonRuns = (path: string) => {
    const db = rawDb(path);
    const ids = (db.query("SELECT run_id FROM runs").all() as { run_id: string }[]).map(
      (r) => r.run_id,
    );
    db.close();
    return ids;
  };

  fixtureTest("opened for reading stays version 1 and byte-identical", () => {
    const path = fixtureCopy();
    const before = readFileSync(path);
    const db = openRunsDb(path);
    expect([db.version, db.writable]).toEqual([1, false]);
    expect(listRuns(db)).toHaveLength(2);
    db.close();
    expect(readFileSync(path).equals(before)).toBe(true);
    const raw = rawDb(path);
    expect(raw.query("PRAGMA user_version").get()).toEqual({ user_version: 1n });
    expect(
      raw.query("SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'runtape_runs'").get(),
    ).toEqual({ n: 0n });
    raw.close();
  });

  fixtureTest(
    "opened for writing is migrated to the current version with every old row intact",
    () => {
      const path = fixtureCopy();
      const runs = pythonRuns(path);
      const state = () =>
        runs.map((r) => ({ rows: rowCounts(path, r), hash: runContentHash(path, r) }));
      const before = state();
      expect(before.every((s) => (s.rows.bars ?? 0) > 0)).toBe(true);
      expect(runs).toHaveLength(2);

      const db = openRunsDb(path, { mode: "write" });
      expect(db.version).toBe(SCHEMA_VERSION);
      db.close();

      expect(state()).toEqual(before);
      expect(tablesOf(path)).toEqual(ALL_TABLES);
      const raw = rawDb(path);
      expect(raw.query("PRAGMA user_version").get()).toEqual({
        user_version: BigInt(SCHEMA_VERSION),
      });
      // The added column is NULL in every Python row: nothing claims an order it does not know.
      for (const type of EVENT_TYPES) {
        const table = catalog[type].table;
        expect([
          table,
          raw.query(`SELECT COUNT(*) AS n FROM ${table} WHERE seq IS NOT NULL`).get(),
        ]).toEqual([table, { n: 0n }]);
      }
      raw.close();
      // Opening it again changes nothing more.
      const again = openRunsDb(path, { mode: "write" });
      expect(again.version).toBe(SCHEMA_VERSION);
      again.close();
      expect(state()).toEqual(before);
    },
  );
});

describe("errors", () => {
  test("each error class goes by its own name, as a stack trace and String() show it", () => {
    const path = join(tempDir(), "runs.db");
    openRunsDb(path, { mode: "write" }).close();
    let thrown: unknown;
    try {
      getRun(path, "nope");
    } catch (error) {
      thrown = error;
    }
    expect([thrown instanceof RunNotFoundError, String(thrown)]).toEqual([
      true,
      'RunNotFoundError: no run with id "nope"',
    ]);
    expect(new RuntapeError("x", "USAGE").name).toBe("RuntapeError");
  });
});

describe("closing by scope", () => {
  test("using closes a RunsDb, await using a source, at the end of their scope", async () => {
    const path = join(tempDir(), "runs.db");
    let kept: ReturnType<typeof openRunsDb>;
    {
      using db = openRunsDb(path, { mode: "write" });
      kept = db;
      expect(db.sqlite.query("SELECT 1 AS one").get()).toEqual({ one: 1n });
    }
    expect(() => kept.sqlite.query("SELECT 1")).toThrow();
    let source: Awaited<ReturnType<typeof openSource>>;
    {
      await using opened = await openSource(path);
      source = opened;
      expect(await opened.listRuns()).toEqual([]);
    }
    await expect(source.listRuns()).rejects.toThrow();
  });
});

describe("the library's entry points", () => {
  test("refuse an argument that is not theirs with a typed error naming it", async () => {
    const path = join(tempDir(), "runs.db");
    const event = makeEvent("BarReceived", {
      ts_event_ns: 1n,
      symbol: "A",
      bar_period: "MINUTE",
      open: 1,
      high: 1,
      low: 1,
      close: 1,
      volume: 1n,
    });
    const cases: [string, () => unknown, string, string][] = [
      [
        "openRunsDb(5)",
        () => openRunsDb(5 as never),
        "INVALID_OPTION",
        "open: expected a file path (got 5)",
      ],
      [
        "openRunsDb(p, null)",
        () => openRunsDb(path, null as never),
        "INVALID_OPTION",
        "open options: ",
      ],
      [
        "openRunsDb(p, { mode: 'x' })",
        () => openRunsDb(path, { mode: "x" } as never),
        "INVALID_OPTION",
        'open option mode: expected "read" or "write"',
      ],
      [
        "Recorder.start(5)",
        () => Recorder.start(5 as never),
        "INVALID_OPTION",
        "expected a runs database path or an open RunsDb (got 5)",
      ],
      [
        "replay(5)",
        () => [...replay(5 as never)],
        "INVALID_OPTION",
        "expected a runs database path",
      ],
      [
        "diffRuns(null, null)",
        () => diffRuns(null as never, null as never),
        "INVALID_OPTION",
        "expected a runs database path",
      ],
      [
        "encodeEvent(null)",
        () => encodeEvent(null as never),
        "INVALID_EVENT",
        "expected an event object (got null)",
      ],
      [
        "encodeEvent({ type: 'Foo' })",
        () => encodeEvent({ type: "Foo" } as never),
        "INVALID_EVENT",
        'Foo.type: not an event type (got "Foo")',
      ],
      [
        "encodeEvent(ts as a number)",
        () => encodeEvent({ ...event, ts_event_ns: 5 } as never),
        "INVALID_EVENT",
        "BarReceived.ts_event_ns: expected a bigint (got 5)",
      ],
      [
        "makeEvent(type, null)",
        () => makeEvent("BarReceived", null as never),
        "INVALID_EVENT",
        "BarReceived.input: expected an object of the event's fields (got null)",
      ],
      [
        "exportRuns(p, { format: 'xlsx' })",
        () => exportRuns(path, { format: "xlsx", out: "x" } as never),
        "INVALID_OPTION",
        "export option format: expected one of parquet, csv",
      ],
      [
        "exportRuns(p, { format: 'csv' })",
        () => exportRuns(path, { format: "csv" } as never),
        "INVALID_OPTION",
        "export option out: ",
      ],
      [
        "exportRuns(p, { types: ['Foo'] })",
        () => exportRuns(path, { format: "csv", out: "x", types: ["Foo"] } as never),
        "INVALID_OPTION",
        'export option types: unknown event type "Foo"',
      ],
      [
        "exportRuns(p, null)",
        () => exportRuns(path, null as never),
        "INVALID_OPTION",
        "export options: ",
      ],
      [
        "push(p, 5)",
        () => push(path, 5 as never),
        "INVALID_OPTION",
        "push: expected a store URL or an open PgStore (got 5)",
      ],
      [
        "push(p, url, { runs: 'a' })",
        () => push(path, "postgres://localhost/x", { runs: "a" } as never),
        "INVALID_OPTION",
        "push option runs: ",
      ],
    ];
    for (const [call, fn, code, message] of cases) {
      let error: unknown;
      try {
        await fn();
      } catch (e) {
        error = e;
      }
      expect([call, (error as { code?: string })?.code, (error as Error)?.message]).toEqual([
        call,
        code,
        expect.stringContaining(message),
      ]);
    }
    expect(existsSync(path)).toBe(false);
  });

  test("an in-memory database records at once (no WAL to wait for)", () => {
    const recorder = Recorder.start(":memory:", { runId: "m" });
    recorder.record(bar(0));
    expect(recorder.close()).toMatchObject({ status: "completed", events: 1 });
  });
});
