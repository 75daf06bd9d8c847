/**
 * The store's layout in PostgreSQL: the runs database's tables and columns (from the catalog and
 * the SQLite DDL, never listed twice) plus the store's own bookkeeping.
 */
import { catalog, EVENT_TYPES, fieldsOf } from "../events/catalog.ts";
import {
  EXTENSION,
  pythonIndexes,
  RUNS_TABLE,
  SCHEMA_VERSION,
  SEQ_COLUMN,
  seqIndexes,
} from "../schema.ts";

/** The store's own tables: its layout version and what each push published. */
export const META_TABLE = "runtape_meta";
export const PUSHES_TABLE = "runtape_pushes";

/** SQLite's column types as PostgreSQL spells them: int64 and float64 both ways, exactly. */
const toPgTypes = (ddl: string) =>
  ddl.replace(/\bINTEGER\b/g, "BIGINT").replace(/\bREAL\b/g, "DOUBLE PRECISION");

/**
 * An event table. `id` is the row's id in the file it was pushed from: unique within the run, not
 * across machines, so the key is (run_id, id); it keeps each table's order (publication order).
 */
function eventTable(type: (typeof EVENT_TYPES)[number]): string {
  const columns = [
    "id BIGINT NOT NULL",
    "run_id TEXT NOT NULL REFERENCES runs(run_id)",
    ...fieldsOf(type).map(([name, f]) => `${name} ${f.sql}${f.notNull ? " NOT NULL" : ""}`),
    `${SEQ_COLUMN} INTEGER`,
    "PRIMARY KEY (run_id, id)",
  ];
  return toPgTypes(`CREATE TABLE ${catalog[type].table} (\n    ${columns.join(",\n    ")}\n);`);
}

/** The full DDL of a new store. */
export function renderPgSchema(): string {
  return [
    `CREATE TABLE ${META_TABLE} (name TEXT PRIMARY KEY, value TEXT NOT NULL);`,
    toPgTypes(RUNS_TABLE),
    ...EVENT_TYPES.map(eventTable),
    ...pythonIndexes(),
    toPgTypes(EXTENSION),
    ...seqIndexes(),
    `-- One row per published run: the digest of its content, so that pushing it again is a no-op
-- and a different run under the same id is refused; ordinal orders runs that start together.
CREATE TABLE ${PUSHES_TABLE} (
    run_id TEXT PRIMARY KEY REFERENCES runs(run_id),
    ordinal BIGSERIAL NOT NULL,
    digest TEXT NOT NULL,
    events BIGINT NOT NULL,
    pushed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    pushed_from TEXT
);`,
    `INSERT INTO ${META_TABLE} VALUES ('layout_version', '${SCHEMA_VERSION}');`,
  ].join("\n");
}

/** Every table the store has, for the layout check. */
export const STORE_TABLES: readonly string[] = [
  META_TABLE,
  "runs",
  ...EVENT_TYPES.map((t) => catalog[t].table),
  "runtape_runs",
  PUSHES_TABLE,
];
