/**
 * The layout of a runs database, generated from an event catalog and its history: the DDL of a
 * new file, the additive migration of a file of any older layout version, and the tables each
 * version must have.
 */
import { defaultCatalog } from "./events/catalog.ts";
import { type EventCatalog, EXTENSION_SCHEMA_VERSION } from "./events/event-catalog.ts";

/** The layout runtape writes; the Python recorder's files are version 1. */
export const SCHEMA_VERSION = defaultCatalog.version;
/** runtape's per-run publication sequence column, added to every event table. */
export const SEQ_COLUMN = "seq";
/** runtape's per-run bookkeeping table, part of layout 2. */
export const EXTENSION_TABLE = "runtape_runs";

/** The Python layout's `runs` table (the store derives its own from it). */
export const RUNS_TABLE = `CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    ts_start INTEGER NOT NULL,
    ts_end INTEGER,
    status TEXT NOT NULL CHECK(status IN ('running', 'completed', 'failed', 'cancelled')),
    config TEXT,
    metadata TEXT
);`;

// runtape's bookkeeping per run, kept out of `runs` so the Python tools see their layout unchanged.
export const EXTENSION = `-- runtape's additions to the Python layout (version 1 -> 2), all additive:
-- * every event table has a nullable \`${SEQ_COLUMN}\` column: the event's position in its run's
--   publication order (1, 2, 3, ... across all tables). Replay merges the tables on it, which is
--   the only exact order across tables; rows written by the Python recorder leave it NULL.
-- * idx_<table>_run_seq on (run_id, ${SEQ_COLUMN}) reads one run in order without touching others.
-- * runtape_runs: per run, the recording process (pid, host) so that a run left 'running' by a dead
--   process can be told from a live one, and what spares inspect a scan of the event tables:
--   counters, the last event's time, the bar periods seen (no index covers bar_period).
CREATE TABLE runtape_runs (
    run_id TEXT PRIMARY KEY,
    pid INTEGER,
    host TEXT,
    events INTEGER NOT NULL DEFAULT 0,
    refused INTEGER NOT NULL DEFAULT 0,
    last_ts_event_ns INTEGER,
    bar_periods TEXT,
    FOREIGN KEY (run_id) REFERENCES runs(run_id)
);`;

/** A stored column of an event table and the layout version that added it. */
export interface Column {
  readonly name: string;
  readonly ddl: string;
  readonly since: number;
}

/**
 * The stored columns of `type` in the order a file of the current version has them: ordered by
 * the version that added them, so that a new file and a migrated one have the same tables.
 */
export function storedColumns(cat: EventCatalog, type: string): Column[] {
  const fields = cat.fields(type).map(([name, f]) => ({
    name,
    ddl: `${name} ${f.sql}${f.notNull ? " NOT NULL" : ""}`,
    since: cat.sinceOf(type, name),
  }));
  const seq = {
    name: SEQ_COLUMN,
    ddl: `${SEQ_COLUMN} INTEGER`,
    since: Math.max(EXTENSION_SCHEMA_VERSION, cat.sinceOf(type)),
  };
  const before = fields.filter((c) => c.since <= seq.since);
  const after = fields.filter((c) => c.since > seq.since).sort((a, b) => a.since - b.since);
  return [...before, seq, ...after];
}

function createTable(cat: EventCatalog, type: string): string {
  const lines = [
    "id INTEGER PRIMARY KEY",
    "run_id TEXT NOT NULL",
    ...storedColumns(cat, type).map((c) => c.ddl),
    "FOREIGN KEY (run_id) REFERENCES runs(run_id)",
  ];
  return `CREATE TABLE ${cat.table(type)} (\n    ${lines.join(",\n    ")}\n);`;
}

/** The indexes of the Python layout of `type`: by order id and by symbol, as its roles say. */
function roleIndexes(cat: EventCatalog, type: string): string[] {
  const t = cat.table(type);
  const orderId = cat.orderIdField(type);
  const symbol = cat.symbolField(type);
  const out: string[] = [];
  if (orderId) out.push(`CREATE INDEX idx_${t}_run_ts ON ${t}(run_id, ts_event_ns);`);
  if (cat.spec(type).symbolIndex) {
    out.push(`CREATE INDEX idx_${t}_run_symbol_ts ON ${t}(run_id, ${symbol}, ts_event_ns);`);
  }
  if (orderId) out.push(`CREATE INDEX idx_${t}_order_id ON ${t}(${orderId});`);
  return out;
}

function seqIndex(cat: EventCatalog, type: string): string {
  const t = cat.table(type);
  return `CREATE INDEX idx_${t}_run_${SEQ_COLUMN} ON ${t}(run_id, ${SEQ_COLUMN});`;
}

/** The indexes of the Python layout, for every event table of `cat`. */
export function pythonIndexes(cat: EventCatalog = defaultCatalog): string[] {
  return cat.types.flatMap((type) => roleIndexes(cat, type));
}

/** runtape's index per event table that reads one run in publication order. */
export function seqIndexes(cat: EventCatalog = defaultCatalog): string[] {
  return cat.types.map((type) => seqIndex(cat, type));
}

/** The full DDL of a new runs database: what `schema.sql` holds for the default catalog. */
export function renderSchema(cat: EventCatalog = defaultCatalog): string {
  return [
    "-- The runs database of runtape: the layout of onesecondtrader's run recorder (user_version 1),",
    `-- extended additively (user_version ${cat.version}). Generated from src/events/catalog.ts by`,
    "-- `bun run schema`; a test keeps this file and the catalog in step.",
    "",
    RUNS_TABLE,
    "",
    cat.types.map((type) => createTable(cat, type)).join("\n\n"),
    "",
    pythonIndexes(cat).join("\n"),
    "",
    EXTENSION,
    "",
    seqIndexes(cat).join("\n"),
    "",
    `PRAGMA user_version = ${cat.version};`,
    "",
  ].join("\n");
}

/**
 * The DDL that brings a file of layout version `from` (1 or later) to `cat.version` without
 * touching its rows: the extension, the tables of newer types, the columns added since.
 */
export function renderMigration(from: number, cat: EventCatalog = defaultCatalog): string {
  const out: string[] = [];
  for (const type of cat.types) {
    if (cat.sinceOf(type) > from) {
      out.push(createTable(cat, type), ...roleIndexes(cat, type), seqIndex(cat, type));
      continue;
    }
    const table = cat.table(type);
    for (const column of storedColumns(cat, type)) {
      if (column.since > from) out.push(`ALTER TABLE ${table} ADD COLUMN ${column.ddl};`);
    }
    if (from < EXTENSION_SCHEMA_VERSION) out.push(seqIndex(cat, type));
  }
  if (from < EXTENSION_SCHEMA_VERSION) out.push(EXTENSION);
  out.push(`PRAGMA user_version = ${cat.version};`);
  return out.join("\n");
}

/** A column as a CREATE TABLE declares it: its name and its type as written (`DOUBLE PRECISION`). */
export interface DeclaredColumn {
  readonly name: string;
  readonly type: string;
}

/**
 * The tables a DDL text creates, each with its columns in order: the items of its body that name
 * a column (lower case), not a constraint (PRIMARY KEY, FOREIGN KEY, CHECK: upper case).
 */
export function declaredColumns(ddl: string): Map<string, DeclaredColumn[]> {
  const tables = new Map<string, DeclaredColumn[]>();
  const code = ddl.replace(/--.*$/gm, "");
  for (const [, table, body] of code.matchAll(/CREATE TABLE (\w+) \(([^;]*)\);/g)) {
    const items = [""];
    let depth = 0;
    for (const c of body as string) {
      if (c === "," && depth === 0) items.push("");
      else items[items.length - 1] += c;
      depth += c === "(" ? 1 : c === ")" ? -1 : 0;
    }
    const columns: DeclaredColumn[] = [];
    for (const item of items) {
      const [, name, type = ""] =
        /^\s*([a-z_][a-z0-9_]*)\s+([A-Z]+(?: PRECISION)?)?/.exec(item) ?? [];
      if (name !== undefined) columns.push({ name, type });
    }
    tables.set(table as string, columns);
  }
  return tables;
}

/** {@link declaredColumns}, names only. */
export function declaredTables(ddl: string): Map<string, string[]> {
  return new Map(
    [...declaredColumns(ddl)].map(([table, columns]) => [table, columns.map((c) => c.name)]),
  );
}

/** The tables a file of layout `version` must have. */
export function requiredTables(version: number, cat: EventCatalog = defaultCatalog): string[] {
  return [
    "runs",
    ...(version >= EXTENSION_SCHEMA_VERSION ? ["runtape_runs"] : []),
    ...cat.typesAt(version).map((type) => cat.table(type)),
  ];
}
