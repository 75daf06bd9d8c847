import { constants, Database, type SQLQueryBindings, type Statement } from "bun:sqlite";
import { accessSync, existsSync, constants as fs, statSync } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import * as v from "valibot";
import {
  DatabaseAccessError,
  DatabaseFormatError,
  DatabaseMissingError,
  describeValue,
  RuntapeError,
  StoreUrlAsFileError,
} from "./errors.ts";
import { defaultCatalog } from "./events/catalog.ts";
import {
  EventCatalog,
  EXTENSION_SCHEMA_VERSION,
  PYTHON_SCHEMA_VERSION,
} from "./events/event-catalog.ts";
import { checkOptions } from "./options.ts";
import {
  EXTENSION,
  EXTENSION_TABLE,
  RUNS_TABLE,
  renderMigration,
  renderSchema,
  requiredTables,
  storedColumns,
} from "./schema.ts";
import { isStoreUrl, redactUrls } from "./store/url.ts";

/** How long a writer waits for another process's write transaction before giving up. */
const BUSY_TIMEOUT_MS = 30_000;

/** Options of {@link openRunsDb}. */
export interface OpenOptions {
  /**
   * `read` (default) opens read-only and never changes the file; a missing file is an error.
   * `write` creates a missing or empty file with the schema and migrates a Python-written one.
   */
  mode?: "read" | "write";
  /** With `write`: create a missing file (default true). */
  create?: boolean;
  /**
   * With `write`: put the schema into an empty file (default true). `false` refuses an empty file
   * untouched: for commands that change an existing runs database and must not create one.
   */
  initialize?: boolean;
  /** The event catalog to read and write with (default: runtape's); a test may add types. */
  catalog?: EventCatalog;
  /**
   * With `write`: the file's journal. `wal` (default) lets readers run beside the writer, and
   * writes every page twice (to the log, then into the file). `rollback` writes about 1.2× the
   * file instead of 2.2× (pages the file grows by are not journaled) and stays crash safe, but a
   * reader's transaction holds each commit back until it ends, and the file must have no other
   * connection when it switches: for runs nobody reads while they are recorded (batch backtests).
   */
  journal?: "wal" | "rollback";
}

/**
 * How a database opened for reading is reached. `query-only`: a read-write connection that refuses
 * writes, so that SQLite removes the -wal and -shm files it made when it closes. `read-only`: where
 * the file or its directory may not be written, SQLite's read-only mode (it needs an -shm it can
 * write, or make). `immutable`: on read-only storage, no locks and no side files at all; sound
 * where nobody can write, and where another user can, a read the writer changed meanwhile fails
 * saying so (see changedUnderImmutable).
 */
export type ReadAccess = "query-only" | "read-only" | "immutable";

/** An open runs database. Integers come back as `bigint` (the connection uses safeIntegers). */
export interface RunsDb {
  readonly sqlite: Database;
  readonly path: string;
  /**
   * `user_version` of the layout: 1 as the Python recorder writes it, 2 with runtape's extension,
   * more as the catalog grows. Tables and columns newer than the file read as empty and NULL:
   * see `catalog.typesAt` and `catalog.fieldsAt`. A file opened for writing is at `catalog.version`.
   */
  readonly version: number;
  /** The event catalog the database is read and written with. */
  readonly catalog: EventCatalog;
  readonly writable: boolean;
  /** How it was opened: `write`, or the way a read reached it. */
  readonly access: "write" | ReadAccess;
  close(): void;
  /** `using db = openRunsDb(…)` closes it at the end of the scope. */
  [Symbol.dispose](): void;
}

/**
 * `target` itself, or opened with `options` where it is a path: what every function that takes
 * "a path or an open RunsDb" starts with (the caller closes what it opened: `db !== target`).
 * Throws RuntapeError (INVALID_OPTION) for anything else, where a property read of it would throw
 * a TypeError deep inside.
 */
export function asRunsDb(target: string | RunsDb, options?: OpenOptions): RunsDb {
  if (typeof target === "string") return openRunsDb(target, options);
  if (target?.sqlite instanceof Database) return target;
  throw new RuntapeError(
    `expected a runs database path or an open RunsDb (got ${describeValue(target)})`,
    "INVALID_OPTION",
  );
}

/**
 * `body` on {@link asRunsDb}'s database: an open RunsDb as it is, a path opened with `options`
 * (read-only by default) and closed after, its SQLite failures as typed errors (see toDbError).
 */
export function withRunsDb<T>(
  target: string | RunsDb,
  body: (db: RunsDb) => T,
  options?: OpenOptions,
): T {
  const db = asRunsDb(target, options);
  if (db === target) return body(db);
  try {
    return body(db);
  } catch (error) {
    throw toDbError(db.path, error);
  } finally {
    db.close();
  }
}

/** The SQLite error code behind a bun:sqlite error, if any. */
export function sqliteCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && code.startsWith("SQLITE_") ? code : undefined;
}

/**
 * Turns an SQLite failure on `path` into a typed, one-line error. Errors that are already typed
 * pass through unchanged.
 */
export function toDbError(path: string, error: unknown): Error {
  if (error instanceof RuntapeError) return error;
  const code = sqliteCode(error);
  const message = error instanceof Error ? error.message : String(error);
  // Extended codes (SQLITE_CANTOPEN_ISDIR, ...) share the handling of their primary code.
  switch (code?.split("_").slice(0, 2).join("_")) {
    case undefined:
      return error instanceof Error ? error : new Error(message);
    case "SQLITE_NOTADB":
      return new DatabaseFormatError(path, "not an SQLite database", "NOT_SQLITE");
    case "SQLITE_CORRUPT":
      if (changedUnderImmutable(path)) {
        return new DatabaseAccessError(
          path,
          "another process wrote it while it was read without locks (you may not write its directory, so SQLite cannot share locks with a writer): read it again once nobody writes it, or read a copy",
          { cause: error },
        );
      }
      return new DatabaseFormatError(path, `the database is corrupt (${message})`, "CORRUPT");
    case "SQLITE_READONLY":
      return new DatabaseAccessError(path, "the database is read-only here", { cause: error });
    case "SQLITE_CANTOPEN":
      return new DatabaseAccessError(path, "cannot open the database file", { cause: error });
    case "SQLITE_BUSY":
      return new DatabaseAccessError(
        path,
        "another connection kept the database locked for the whole wait: try again once it is done",
        { cause: error },
      );
    case "SQLITE_FULL":
      return new DatabaseAccessError(
        path,
        "the disk is full: free some space, then `runtape recover` closes a run it left running",
        { cause: error },
      );
    default:
      return new DatabaseAccessError(path, message, { cause: error });
  }
}

const emptyFile = (path: string) =>
  new DatabaseFormatError(path, "an empty file, not a runs database (nothing recorded in it)");

/** The longest path SQLite's unix VFS opens (its MAX_PATHNAME), in bytes. */
const SQLITE_MAX_PATH_BYTES = 512;
/** The longest file name most file systems take (NAME_MAX), in bytes. */
const MAX_NAME_BYTES = 255;

/** Refuses a path SQLite or the file system cannot open, saying why instead of "cannot open". */
function checkPath(path: string): void {
  if (isStoreUrl(path)) throw new StoreUrlAsFileError(redactUrls(path));
  const full = Buffer.byteLength(resolve(path));
  if (full > SQLITE_MAX_PATH_BYTES) {
    throw new DatabaseAccessError(
      path.length > 80 ? `${path.slice(0, 40)}…${path.slice(-30)}` : path,
      `the full path is ${full} bytes long; SQLite opens paths of up to ${SQLITE_MAX_PATH_BYTES} bytes`,
    );
  }
  const name = Buffer.byteLength(basename(path));
  if (name > MAX_NAME_BYTES) {
    throw new DatabaseAccessError(
      `${path.slice(0, 40)}…`,
      `the file name is ${name} bytes long; file systems take names of up to ${MAX_NAME_BYTES} bytes`,
    );
  }
}

const OpenOptionsSchema = v.object({
  mode: v.optional(v.picklist(["read", "write"], 'expected "read" or "write"')),
  create: v.optional(v.boolean()),
  initialize: v.optional(v.boolean()),
  journal: v.optional(v.picklist(["wal", "rollback"], 'expected "wal" or "rollback"')),
  catalog: v.optional(v.instance(EventCatalog, "expected an EventCatalog")),
});

/** Opens a runs database, checking that it is one; see {@link OpenOptions}. */
export function openRunsDb(path: string, options: OpenOptions = {}): RunsDb {
  if (typeof path !== "string") {
    throw new RuntapeError(
      `open: expected a file path (got ${describeValue(path)})`,
      "INVALID_OPTION",
    );
  }
  checkOptions(OpenOptionsSchema, options, "open");
  const write = options.mode === "write";
  const inMemory = path === ":memory:";
  if (!inMemory) {
    checkPath(path);
    if (!existsSync(path)) {
      if (!write || options.create === false) throw new DatabaseMissingError(path);
      const parent = dirname(resolve(path));
      if (!existsSync(parent)) {
        throw new DatabaseAccessError(path, `the directory ${parent} does not exist`);
      }
    } else {
      const stat = statSync(path);
      if (stat.isDirectory()) {
        throw new DatabaseAccessError(path, "is a directory, not a database file");
      }
      // SQLite would open /dev/null or a pipe, fail on its first read, and leave a -journal beside it.
      if (!stat.isFile()) {
        throw new DatabaseAccessError(path, "is a device, a pipe or a socket, not a database file");
      }
    }
  }
  const catalog = options.catalog ?? defaultCatalog;
  let sqlite: Database;
  let access: RunsDb["access"] = "write";
  try {
    if (write) sqlite = new Database(path, { create: true, readwrite: true, safeIntegers: true });
    else ({ sqlite, access } = openForReading(path));
  } catch (error) {
    throw toDbError(path, error);
  }
  try {
    const version = write
      ? prepareForWriting(sqlite, path, catalog, options.initialize !== false, options.journal)
      : checkLayout(sqlite, path, catalog);
    if (version === 0 && !write) throw emptyFile(path);
    return {
      sqlite,
      path,
      version,
      catalog,
      writable: write,
      access,
      close: () => sqlite.close(),
      [Symbol.dispose]: () => sqlite.close(),
    };
  } catch (error) {
    sqlite.close();
    throw toDbError(path, error);
  }
}

const canWrite = (path: string) => {
  try {
    accessSync(path, fs.W_OK);
    return true;
  } catch {
    return false; // EACCES, or EROFS on read-only storage
  }
};

// One stat, no existsSync first: another connection's close removes its WAL at any moment.
const hasContent = (path: string) => (statSync(path, { throwIfNoEntry: false })?.size ?? 0) > 0;

/**
 * Connections open without locks: their file and its modification time then. Storage this process
 * may not write can still be written by another user's: SQLite then reads pages of two moments,
 * which look like a corrupt file.
 */
const immutableOpen = new Map<Database, { path: string; mtime: number | undefined }>();

/** Whether `path` is open without locks here and has been written since (or has a -wal now). */
function changedUnderImmutable(path: string): boolean {
  const opened = [...immutableOpen.values()].filter((o) => o.path === path);
  if (opened.length === 0) return false;
  const now = statSync(path, { throwIfNoEntry: false })?.mtimeMs;
  return hasContent(`${path}-wal`) || opened.some((o) => o.mtime !== now);
}

/**
 * A connection to a file on storage nobody writes. bun:sqlite takes URI filenames (which carry
 * `immutable=1`) only with raw open flags, which leave safeIntegers out: each statement is made
 * safe as it is prepared instead.
 */
class ImmutableDatabase extends Database {
  constructor(path: string) {
    super(
      `${pathToFileURL(path).href}?immutable=1`,
      constants.SQLITE_OPEN_READONLY | constants.SQLITE_OPEN_URI,
    );
    immutableOpen.set(this, { path, mtime: statSync(path, { throwIfNoEntry: false })?.mtimeMs });
  }

  override close(throwOnError?: boolean): void {
    immutableOpen.delete(this);
    super.close(throwOnError);
  }

  override query<R, P extends SQLQueryBindings | SQLQueryBindings[]>(
    sql: string,
    // biome-ignore lint/suspicious/noExplicitAny: the very type of bun:sqlite's own declaration
  ): Statement<R, P extends any[] ? P : [P]> {
    return super.query<R, P>(sql).safeIntegers(true);
  }

  override prepare<R, P extends SQLQueryBindings | SQLQueryBindings[]>(
    sql: string,
    params?: P,
    // biome-ignore lint/suspicious/noExplicitAny: the very type of bun:sqlite's own declaration
  ): Statement<R, P extends any[] ? P : [P]> {
    return super.prepare<R, P>(sql, params).safeIntegers(true);
  }
}

/** Opens `path` for reading the least intrusive way its storage allows; see {@link ReadAccess}. */
function openForReading(path: string): { sqlite: Database; access: ReadAccess } {
  // A -wal with content holds writes not yet in the file: a query-only connection closing last
  // would checkpoint them (changing the file's bytes), and an immutable one would not see them.
  const pendingWal = hasContent(`${path}-wal`);
  if (!pendingWal && canWrite(path) && canWrite(dirname(path))) {
    const sqlite = new Database(path, { readwrite: true, safeIntegers: true });
    sqlite.exec("PRAGMA query_only = ON");
    sqlite.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    return { sqlite, access: "query-only" };
  }
  const sqlite = new Database(path, { readonly: true, safeIntegers: true });
  try {
    sqlite.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    // The first read of a WAL database is what needs the -shm: where it cannot be made, it fails.
    userVersion(sqlite);
    return { sqlite, access: "read-only" };
  } catch (error) {
    sqlite.close();
    const code = sqliteCode(error) ?? "";
    if (!/^SQLITE_(CANTOPEN|READONLY)/.test(code)) throw error;
    if (pendingWal) {
      throw new DatabaseAccessError(
        path,
        "its write-ahead log (-wal) holds writes not yet in the file, and SQLite cannot read them where nothing may be written: copy the file with its -wal somewhere writable",
        { cause: error },
      );
    }
  }
  return { sqlite: new ImmutableDatabase(path), access: "immutable" };
}

/**
 * Runs `body` inside one read transaction, so that all its queries see the same moment of a file
 * that others may be writing meanwhile. Inside a transaction already open it just runs.
 */
export function inSnapshot<T>(db: RunsDb, body: () => T): T {
  if (db.sqlite.inTransaction) return body();
  db.sqlite.exec("BEGIN");
  try {
    return body();
  } finally {
    endRead(db);
  }
}

/** As {@link inSnapshot}, for a body that awaits: the read transaction is held across its awaits. */
export async function inSnapshotAsync<T>(db: RunsDb, body: () => Promise<T>): Promise<T> {
  if (db.sqlite.inTransaction) return body();
  db.sqlite.exec("BEGIN");
  try {
    return await body();
  } finally {
    endRead(db);
  }
}

/**
 * Ends a read transaction. It wrote nothing, so ending it cannot fail in a way that matters, and
 * on a corrupt file it may fail: that must not hide the error that ended the read.
 */
export function endRead(db: RunsDb): void {
  try {
    if (db.sqlite.inTransaction) db.sqlite.exec("ROLLBACK");
  } catch {
    // nothing was written: nothing to lose
  }
}

function userVersion(sqlite: Database): number {
  return Number(
    (sqlite.query("PRAGMA user_version").get() as { user_version: bigint }).user_version,
  );
}

function tableNames(sqlite: Database): Set<string> {
  const rows = sqlite.query("SELECT name FROM sqlite_master WHERE type = 'table'").all();
  return new Set((rows as { name: string }[]).map((r) => r.name));
}

/**
 * Checks the layout against what a file of its version holds by the catalog's history; returns
 * the version. An empty database is version 0.
 */
function checkLayout(sqlite: Database, path: string, catalog: EventCatalog): number {
  // Version and tables from one snapshot: another process creating the file may lay out the
  // schema between two separate reads, and tables beside user_version 0 look foreign.
  if (!sqlite.inTransaction) return sqlite.transaction(() => checkLayout(sqlite, path, catalog))();
  const version = userVersion(sqlite);
  if (version > catalog.version) {
    throw new DatabaseFormatError(
      path,
      `written by a newer runtape (layout version ${version}; this one knows up to ${catalog.version})`,
      "NEWER_VERSION",
    );
  }
  const tables = tableNames(sqlite);
  if (tables.size === 0 && version === 0) return 0;
  const missing = requiredTables(Math.max(version, PYTHON_SCHEMA_VERSION), catalog).find(
    (t) => !tables.has(t),
  );
  if (missing !== undefined || version < PYTHON_SCHEMA_VERSION) {
    throw new DatabaseFormatError(
      path,
      `not a runs database (${missing ? `no table ${missing}` : `user_version ${version}`})`,
    );
  }
  for (const [table, columns] of bookkeepingColumns()) {
    if (table === EXTENSION_TABLE && version < EXTENSION_SCHEMA_VERSION) continue;
    requireColumns(sqlite, path, table, columns);
  }
  for (const type of catalog.typesAt(version)) {
    const columns = storedColumns(catalog, type).filter((c) => c.since <= version);
    requireColumns(
      sqlite,
      path,
      catalog.table(type),
      columns.map((c) => c.name),
    );
  }
  return version;
}

function requireColumns(sqlite: Database, path: string, table: string, columns: string[]): void {
  const rows = sqlite.query(`PRAGMA table_info("${table}")`).all() as { name: string }[];
  const have = new Set(rows.map((r) => r.name));
  const absent = columns.find((c) => !have.has(c));
  if (absent !== undefined) {
    throw new DatabaseFormatError(path, `not a runs database (${table} has no column ${absent})`);
  }
}

let bookkeeping: Map<string, string[]> | undefined;

/** The columns of `runs` and of runtape's bookkeeping table, read from their DDL. */
function bookkeepingColumns(): ReadonlyMap<string, string[]> {
  if (bookkeeping === undefined) {
    const scratch = new Database(":memory:");
    try {
      scratch.exec(`${RUNS_TABLE}\n${EXTENSION}`);
      bookkeeping = new Map();
      for (const table of ["runs", EXTENSION_TABLE]) {
        const rows = scratch.query(`PRAGMA table_info("${table}")`).all() as { name: string }[];
        bookkeeping.set(
          table,
          rows.map((r) => r.name),
        );
      }
    } finally {
      scratch.close();
    }
  }
  return bookkeeping;
}

/**
 * Puts the file in `journal` mode (see {@link OpenOptions}): a property of the file, set outside
 * transactions. Switching needs the file to itself and SQLite reports a race with another process
 * opening the same new file as SQLITE_BUSY without waiting (or, leaving WAL, keeps the mode it
 * had), so it is retried within the busy timeout.
 */
function useJournal(sqlite: Database, path: string, journal: "wal" | "rollback"): void {
  // An in-memory or temporary database keeps no journal worth the name, and refuses WAL: waiting
  // for "another process" to let go would wait out the whole timeout for nothing.
  if (path === ":memory:" || path === "") return;
  const wanted = journal === "wal" ? "wal" : "delete";
  const mode = (sql: string) => (sqlite.query(sql).get() as { journal_mode: string }).journal_mode;
  for (let waited = 0; ; waited += 10) {
    try {
      if (mode("PRAGMA journal_mode") === wanted) return;
      if (mode(`PRAGMA journal_mode = ${wanted.toUpperCase()}`) === wanted) return;
    } catch (error) {
      if (!sqliteCode(error)?.startsWith("SQLITE_BUSY")) throw error;
    }
    if (waited >= BUSY_TIMEOUT_MS) {
      throw new DatabaseAccessError(
        path,
        `cannot switch it to the ${journal === "wal" ? "WAL" : "rollback"} journal while another process has it open in the other mode`,
      );
    }
    Bun.sleepSync(10);
  }
}

/**
 * A connection to write runtape's caches (cache-table.ts) into a file opened for reading that
 * could not be opened query-only only because its log holds writes (a run is being recorded);
 * undefined where the file or its directory may not be written.
 */
export function openCacheConnection(db: RunsDb): Database | undefined {
  if (db.access !== "read-only" || !canWrite(db.path) || !canWrite(dirname(db.path))) {
    return undefined;
  }
  const sqlite = new Database(db.path, { readwrite: true, safeIntegers: true });
  useSyncs(sqlite, "wal");
  return sqlite;
}

/**
 * A second connection for writing to a runs database another connection opened for writing (a
 * recorder's writer thread): the same wait for locks and the same syncs.
 */
export function openWriteConnection(path: string, journal: "wal" | "rollback"): Database {
  const sqlite = new Database(path, { readwrite: true, safeIntegers: true });
  sqlite.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
  useSyncs(sqlite, journal);
  return sqlite;
}

/** Under WAL a commit that a power cut loses leaves the file whole; a rollback journal needs full syncs for that. */
function useSyncs(sqlite: Database, journal: "wal" | "rollback"): void {
  sqlite.exec(`PRAGMA synchronous = ${journal === "wal" ? "NORMAL" : "FULL"}`);
}

/** Brings the file to the catalog's layout: the schema into an empty file, else a migration. */
function prepareForWriting(
  sqlite: Database,
  path: string,
  catalog: EventCatalog,
  initialize: boolean,
  journal: "wal" | "rollback" = "wal",
): number {
  sqlite.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
  const version = checkLayout(sqlite, path, catalog);
  if (version === 0 && !initialize) throw emptyFile(path);
  // Also for a current layout: a file made from schema.sql by another tool is not in WAL yet.
  useJournal(sqlite, path, journal);
  useSyncs(sqlite, journal);
  if (version === catalog.version) return version;
  // Another process may be doing the same: decide again inside the write lock.
  sqlite
    .transaction(() => {
      const version = checkLayout(sqlite, path, catalog);
      if (version === 0) sqlite.exec(renderSchema(catalog));
      else if (version < catalog.version) sqlite.exec(renderMigration(version, catalog));
    })
    .immediate();
  return catalog.version;
}
