import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import schemaSql from "../schema.sql" with { type: "text" };
import {
  catalog,
  defaultCatalog,
  EVENT_TYPES,
  fieldsOf,
  openRunsDb,
  PYTHON_SCHEMA_VERSION,
  SCHEMA_VERSION,
} from "../src/index.ts";
import { renderSchema } from "../src/schema.ts";
import { fixtureCopy, fixtureTest, tempDir } from "./helpers.ts";

interface Column {
  name: string;
  type: string;
  notnull: bigint | number;
  pk: bigint | number;
}

/** A database made from schema.sql alone, as the compiled binary makes it. */
function fromSchemaSql(): Database {
  const db = new Database(join(tempDir(), "schema.db"));
  db.exec(schemaSql);
  return db;
}

const columns = (db: Database, table: string) =>
  (db.query(`PRAGMA table_info(${table})`).all() as Column[]).map(
    (c) => `${c.name} ${c.type}${Number(c.notnull) ? " NOT NULL" : ""}${Number(c.pk) ? " PK" : ""}`,
  );

/** Indexes of a database by name: their table and columns (automatic ones left out). */
function indexes(db: Database): Map<string, string> {
  const rows = db
    .query("SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
    .all() as { name: string; tbl_name: string }[];
  return new Map(
    rows.map((r) => {
      const cols = (db.query(`PRAGMA index_info(${r.name})`).all() as { name: string }[]).map(
        (c) => c.name,
      );
      return [r.name, `${r.tbl_name}(${cols.join(", ")})`];
    }),
  );
}

describe("schema.sql", () => {
  test("is what the catalog renders (run `bun run schema` after changing the catalog)", () => {
    expect(schemaSql).toBe(renderSchema());
  });

  test("every event table has exactly the catalog's columns in order, with SQL types and NOT NULL, then seq", () => {
    const db = fromSchemaSql();
    for (const type of EVENT_TYPES) {
      const table = catalog[type].table;
      expect([table, columns(db, table)]).toEqual([
        table,
        [
          "id INTEGER PK",
          "run_id TEXT NOT NULL",
          ...fieldsOf(type).map(([name, f]) => `${name} ${f.sql}${f.notNull ? " NOT NULL" : ""}`),
          "seq INTEGER",
        ],
      ]);
      const keys = db.query(`PRAGMA foreign_key_list(${table})`).all() as {
        table: string;
        from: string;
        to: string;
      }[];
      expect(keys.map((k) => `${k.from} -> ${k.table}.${k.to}`)).toEqual(["run_id -> runs.run_id"]);
    }
    db.close();
  });

  test("has the spec's runs table, status CHECK included, and runtape's bookkeeping table", () => {
    const db = fromSchemaSql();
    expect(columns(db, "runs")).toEqual([
      "run_id TEXT PK",
      "name TEXT NOT NULL",
      "ts_start INTEGER NOT NULL",
      "ts_end INTEGER",
      "status TEXT NOT NULL",
      "config TEXT",
      "metadata TEXT",
    ]);
    const insert = db.prepare(
      "INSERT INTO runs (run_id, name, ts_start, status) VALUES (?, 'n', 1, ?)",
    );
    for (const status of ["running", "completed", "failed", "cancelled"])
      insert.run(status, status);
    expect(() => insert.run("bad", "paused")).toThrow(/CHECK/);
    expect(columns(db, "runtape_runs")[0]).toBe("run_id TEXT PK");
    expect(db.query("PRAGMA user_version").get()).toEqual({ user_version: SCHEMA_VERSION });
    expect(SCHEMA_VERSION).toBe(defaultCatalog.version);
    db.close();
  });

  test("has the spec's indexes and a (run_id, seq) index on every event table", () => {
    const all = new Set(indexes(fromSchemaSql()).values());
    for (const type of EVENT_TYPES) {
      const { table } = catalog[type];
      const names = fieldsOf(type).map(([name]) => name);
      // An order table: one that names an order (requests by system id, responses by associated id).
      const orderId = names.find((n) => n === "system_order_id" || n === "associated_order_id");
      const wanted = [
        `${table}(run_id, seq)`,
        ...("symbolIndex" in catalog[type] ? [`${table}(run_id, symbol, ts_event_ns)`] : []),
        ...(orderId ? [`${table}(run_id, ts_event_ns)`, `${table}(${orderId})`] : []),
      ];
      for (const index of wanted) expect([index, all.has(index)]).toEqual([index, true]);
    }
    // The spec's symbol indexes on the Python layout's tables: both bar tables and fills.
    const python = defaultCatalog.typesAt(PYTHON_SCHEMA_VERSION).map((t) => `${catalog[t].table}(`);
    const symbolIndexes = [...all].filter((i) => i.endsWith("(run_id, symbol, ts_event_ns)"));
    expect(symbolIndexes.filter((i) => python.some((t) => i.startsWith(t))).sort()).toEqual([
      "bars(run_id, symbol, ts_event_ns)",
      "bars_processed(run_id, symbol, ts_event_ns)",
      "fills(run_id, symbol, ts_event_ns)",
    ]);
  });

  fixtureTest(
    "matches the Python file: its tables, columns and indexes under the same names",
    () => {
      const python = new Database(fixtureCopy(), { readonly: true });
      const ours = fromSchemaSql();
      const tables = (db: Database) =>
        (
          db.query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as {
            name: string;
          }[]
        ).map((r) => r.name);
      const pythonTables = tables(python);
      expect(pythonTables).toHaveLength(14);
      const pythonTypes = defaultCatalog.typesAt(PYTHON_SCHEMA_VERSION);
      expect(pythonTables).toEqual(["runs", ...pythonTypes.map((t) => catalog[t].table)].sort());
      // Ours add runtape_runs and the tables of the types newer than the Python layout.
      const newer = EVENT_TYPES.filter((t) => !pythonTypes.includes(t)).map(
        (t) => catalog[t].table,
      );
      expect(tables(ours)).toEqual([...pythonTables, "runtape_runs", ...newer].sort());
      for (const table of pythonTables) {
        const theirs = columns(python, table);
        // runtape only appends `seq` to the event tables.
        const extra = table === "runs" ? [] : ["seq INTEGER"];
        expect([table, columns(ours, table)]).toEqual([table, [...theirs, ...extra]]);
      }
      const pythonIndexes = indexes(python);
      expect(pythonIndexes.size).toBe(25);
      const ourIndexes = indexes(ours);
      for (const [name, definition] of pythonIndexes)
        expect([name, ourIndexes.get(name)]).toEqual([name, definition]);
      python.close();
      ours.close();
    },
  );
});

describe("a database opened for writing", () => {
  test("is switched to WAL even when it was made from schema.sql by another tool", () => {
    const made = fromSchemaSql();
    expect(made.query("PRAGMA journal_mode").get()).toEqual({ journal_mode: "delete" });
    made.close();
    const db = openRunsDb(made.filename, { mode: "write" });
    expect(db.sqlite.query("PRAGMA journal_mode").get()).toEqual({ journal_mode: "wal" });
    db.close();
  });

  test("is in WAL mode with synchronous NORMAL and a busy timeout", () => {
    const path = join(tempDir(), "runs.db");
    openRunsDb(path, { mode: "write" }).close();
    const db = openRunsDb(path, { mode: "write" });
    const pragma = (name: string) =>
      Object.values(db.sqlite.query(`PRAGMA ${name}`).get() as object)[0];
    expect(pragma("journal_mode")).toBe("wal");
    expect(pragma("synchronous")).toBe(1n); // NORMAL
    expect(Number(pragma("busy_timeout"))).toBeGreaterThan(0);
    expect(pragma("user_version")).toBe(BigInt(SCHEMA_VERSION));
    db.close();
    // WAL is a property of the file: another connection sees it too.
    const other = new Database(path, { readonly: true });
    expect(other.query("PRAGMA journal_mode").get()).toEqual({ journal_mode: "wal" });
    other.close();
  });
});
