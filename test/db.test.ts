import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import schemaSql from "../schema.sql" with { type: "text" };
import {
  catalog,
  DatabaseAccessError,
  DatabaseFormatError,
  DatabaseMissingError,
  EVENT_TYPES,
  fieldsOf,
  openRunsDb,
  Recorder,
  replay,
} from "../src/index.ts";
import { renderSchema } from "../src/schema.ts";
import { bar, fixtureCopy, fixtureTest, tempDir } from "./helpers.ts";

const refuse = (
  path: string,
  mode: "read" | "write",
  error: new (...args: never[]) => Error,
  code?: string,
) => {
  const isFile = existsSync(path) && statSync(path).isFile();
  const before = isFile ? readFileSync(path) : undefined;
  let thrown: unknown;
  try {
    openRunsDb(path, { mode }).close();
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(error);
  if (code) expect((thrown as { code: string }).code).toBe(code);
  expect((thrown as Error).message).not.toContain("\n");
  if (before !== undefined) expect(readFileSync(path).equals(before)).toBe(true);
  else if (!existsSync(`${path}`) || !statSync(path).isDirectory())
    expect(existsSync(path)).toBe(false);
};

describe("schema", () => {
  test("schema.sql is what the catalog renders (run `bun run schema` after changing it)", () => {
    expect(schemaSql).toBe(renderSchema());
  });

  test("every table has the catalog's columns in order, with types and NOT NULL, then seq", () => {
    const db = openRunsDb(join(tempDir(), "runs.db"), { mode: "write" });
    for (const type of EVENT_TYPES) {
      const info = db.sqlite.query(`PRAGMA table_info(${catalog[type].table})`).all() as {
        name: string;
        type: string;
        notnull: bigint;
      }[];
      expect(info.map((c) => [c.name, c.type, Number(c.notnull)])).toEqual([
        ["id", "INTEGER", 0],
        ["run_id", "TEXT", 1],
        ...fieldsOf(type).map(([name, f]) => [name, f.sql, f.notNull ? 1 : 0]),
        ["seq", "INTEGER", 0],
      ]);
    }
    expect(db.sqlite.query("PRAGMA user_version").get()).toEqual({ user_version: 2n });
    expect(db.sqlite.query("PRAGMA journal_mode").get()).toEqual({ journal_mode: "wal" });
    db.close();
  });

  fixtureTest("has the Python layout's tables and indexes under the same names", () => {
    const python = new Database(fixtureCopy(), { readonly: true });
    const ours = openRunsDb(join(tempDir(), "runs.db"), { mode: "write" }).sqlite;
    const names = (db: Database, kind: string) =>
      (
        db
          .query("SELECT name FROM sqlite_master WHERE type = ? AND name NOT LIKE 'sqlite_%'")
          .all(kind) as { name: string }[]
      ).map((r) => r.name);
    const ourIndexes = new Set(names(ours, "index"));
    for (const index of names(python, "index")) expect(ourIndexes.has(index)).toBe(true);
    const ourTables = new Set(names(ours, "table"));
    for (const table of names(python, "table")) {
      expect(ourTables.has(table)).toBe(true);
      const columns = (db: Database) =>
        (
          db.query(`PRAGMA table_info(${table})`).all() as {
            name: string;
            type: string;
            notnull: number;
          }[]
        ).map((c) => `${c.name} ${c.type} ${Number(c.notnull)}`);
      expect(columns(ours).slice(0, columns(python).length)).toEqual(columns(python));
    }
    python.close();
    ours.close();
  });
});

describe("opening a runs database", () => {
  test("a missing file for reading is an error and no file appears", () => {
    refuse(join(tempDir(), "nope.db"), "read", DatabaseMissingError, "DB_MISSING");
  });

  test("a missing or empty file for writing gets the schema", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "empty.db"), "");
    for (const name of ["new.db", "empty.db"]) {
      const db = openRunsDb(join(dir, name), { mode: "write" });
      expect(db.version).toBe(2);
      db.close();
    }
  });

  test("refuses files that are not runs databases, leaving them as they were", () => {
    const dir = tempDir();
    const text = join(dir, "notes.txt");
    writeFileSync(text, "hello, this is not a database\n".repeat(200));
    refuse(text, "read", DatabaseFormatError, "NOT_SQLITE");
    refuse(text, "write", DatabaseFormatError, "NOT_SQLITE");

    const foreign = join(dir, "foreign.db");
    const other = new Database(foreign);
    other.run("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)");
    other.run("INSERT INTO customers (name) VALUES ('ada')");
    other.close();
    refuse(foreign, "read", DatabaseFormatError, "FOREIGN_DATABASE");
    refuse(foreign, "write", DatabaseFormatError, "FOREIGN_DATABASE");

    const newer = join(dir, "newer.db");
    openRunsDb(newer, { mode: "write" }).close();
    const raw = new Database(newer);
    raw.run("PRAGMA user_version = 99");
    raw.close();
    refuse(newer, "read", DatabaseFormatError, "NEWER_VERSION");
    refuse(newer, "write", DatabaseFormatError, "NEWER_VERSION");

    const folder = join(dir, "folder.db");
    mkdirSync(folder);
    refuse(folder, "read", DatabaseAccessError);
    refuse(folder, "write", DatabaseAccessError);
  });

  fixtureTest("reads a Python database without changing it, and migrates it only to write", () => {
    const path = fixtureCopy();
    const before = readFileSync(path);
    const db = openRunsDb(path);
    expect(db.version).toBe(1);
    expect([...replay(db, { limit: 5 })]).toHaveLength(5);
    db.close();
    expect(readFileSync(path).equals(before)).toBe(true);

    const counts = () => {
      const raw = new Database(path, { readonly: true });
      const out = EVENT_TYPES.map(
        (t) =>
          (raw.query(`SELECT COUNT(*) AS n FROM ${catalog[t].table}`).get() as { n: number }).n,
      );
      raw.close();
      return out;
    };
    const rowsBefore = counts();
    const recorder = Recorder.start(path, { runId: "runtape run" });
    recorder.record(bar(0));
    recorder.close();
    const after = openRunsDb(path);
    expect(after.version).toBe(2);
    after.close();
    expect(counts()).toEqual(rowsBefore.map((n, i) => (i === 0 ? n + 1 : n)));
  });
});
