import { catalog, EVENT_TYPES, fieldsOf } from "./events/catalog.ts";

/** The layout runtape writes; the Python recorder's files are version 1. */
export const SCHEMA_VERSION = 2;
/** The Python recorder's layout, which runtape reads as is and extends when it writes. */
export const PYTHON_SCHEMA_VERSION = 1;
/** runtape's per-run publication sequence column, added to every event table. */
export const SEQ_COLUMN = "seq";

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

function eventTable(table: string, columns: readonly string[]): string {
  const lines = [
    "id INTEGER PRIMARY KEY",
    "run_id TEXT NOT NULL",
    ...columns,
    "FOREIGN KEY (run_id) REFERENCES runs(run_id)",
  ];
  return `CREATE TABLE ${table} (\n    ${lines.join(",\n    ")}\n);`;
}

/** The indexes of the Python layout for each event table. */
export function pythonIndexes(): string[] {
  const out: string[] = [];
  for (const type of EVENT_TYPES) {
    const spec = catalog[type];
    const t = spec.table;
    const orderId = fieldsOf(type).find(([n]) => n.endsWith("order_id") && !n.startsWith("broker"));
    if (orderId) out.push(`CREATE INDEX idx_${t}_run_ts ON ${t}(run_id, ts_event_ns);`);
    if ("symbolIndex" in spec) {
      out.push(`CREATE INDEX idx_${t}_run_symbol_ts ON ${t}(run_id, symbol, ts_event_ns);`);
    }
    if (orderId) out.push(`CREATE INDEX idx_${t}_order_id ON ${t}(${orderId[0]});`);
  }
  return out;
}

/** runtape's index per event table that reads one run in publication order. */
export function seqIndexes(): string[] {
  return EVENT_TYPES.map((type) => {
    const t = catalog[type].table;
    return `CREATE INDEX idx_${t}_run_${SEQ_COLUMN} ON ${t}(run_id, ${SEQ_COLUMN});`;
  });
}

/** The full DDL of a new runs database: what `schema.sql` holds. */
export function renderSchema(): string {
  const tables = EVENT_TYPES.map((type) =>
    eventTable(catalog[type].table, [
      ...fieldsOf(type).map(([name, f]) => `${name} ${f.sql}${f.notNull ? " NOT NULL" : ""}`),
      `${SEQ_COLUMN} INTEGER`,
    ]),
  );
  return [
    "-- The runs database of runtape: the layout of onesecondtrader's run recorder (user_version 1),",
    "-- extended additively (user_version 2). Generated from src/events/catalog.ts by",
    "-- `bun run schema`; a test keeps this file and the catalog in step.",
    "",
    RUNS_TABLE,
    "",
    tables.join("\n\n"),
    "",
    pythonIndexes().join("\n"),
    "",
    EXTENSION,
    "",
    seqIndexes().join("\n"),
    "",
    `PRAGMA user_version = ${SCHEMA_VERSION};`,
    "",
  ].join("\n");
}

/** The DDL that brings a version-1 (Python) database to version 2 without touching its rows. */
export function renderMigration(): string {
  return [
    ...EVENT_TYPES.map((t) => `ALTER TABLE ${catalog[t].table} ADD COLUMN ${SEQ_COLUMN} INTEGER;`),
    EXTENSION,
    ...seqIndexes(),
    `PRAGMA user_version = ${SCHEMA_VERSION};`,
  ].join("\n");
}

/** All tables a runs database must have. */
export const REQUIRED_TABLES: readonly string[] = [
  "runs",
  ...EVENT_TYPES.map((t) => catalog[t].table),
];
