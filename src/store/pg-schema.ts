/**
 * The store's layout in PostgreSQL: the runs database's tables and columns (from the catalog and
 * the SQLite DDL, never listed twice) plus the store's own bookkeeping.
 */
import { METRICS_TABLE } from "../cache-table.ts";
import { defaultCatalog as cat, EVENT_TYPES, type EventType } from "../events/catalog.ts";
import {
  declaredColumns,
  declaredTables,
  EXTENSION,
  pythonIndexes,
  RUNS_TABLE,
  SCHEMA_VERSION,
  seqIndexes,
  storedColumns,
} from "../schema.ts";

/** The store's own tables: its layout version and what each push published. */
export const META_TABLE = "runtape_meta";
export const PUSHES_TABLE = "runtape_pushes";

/** SQLite's column types as PostgreSQL spells them: int64 and float64 both ways, exactly. */
const toPgTypes = (ddl: string) =>
  ddl.replace(/\bINTEGER\b/g, "BIGINT").replace(/\bREAL\b/g, "DOUBLE PRECISION");

/**
 * An event table: the columns a runs database of the current layout has, in its order (from the
 * catalog's history). `id` is the row's position within its run and table, not the file's row id
 * (unique within the run, not across machines), so the key is (run_id, id).
 */
function eventTable(type: EventType): string {
  const columns = [
    "id BIGINT NOT NULL",
    "run_id TEXT NOT NULL REFERENCES runs(run_id)",
    ...storedColumns(cat, type).map((c) => c.ddl),
    "PRIMARY KEY (run_id, id)",
  ];
  return toPgTypes(`CREATE TABLE ${cat.table(type)} (\n    ${columns.join(",\n    ")}\n);`);
}

const roleIndexesOf = (type: EventType) =>
  pythonIndexes().filter((ddl) => ddl.includes(` ON ${cat.table(type)}(`));
const seqIndexOf = (type: EventType) =>
  seqIndexes().filter((ddl) => ddl.includes(` ON ${cat.table(type)}(`));

/**
 * The DDL that brings a store of layout `from` (2 or later) to the current one, as the runs
 * database's migration does: tables of newer types, columns added since; rows untouched.
 */
export function renderPgMigration(from: number): string {
  const out: string[] = [];
  for (const type of EVENT_TYPES) {
    if (cat.sinceOf(type) > from) {
      out.push(eventTable(type), ...roleIndexesOf(type), ...seqIndexOf(type));
      continue;
    }
    for (const column of storedColumns(cat, type)) {
      if (column.since > from) {
        out.push(toPgTypes(`ALTER TABLE ${cat.table(type)} ADD COLUMN ${column.ddl};`));
      }
    }
  }
  out.push(`UPDATE ${META_TABLE} SET value = '${SCHEMA_VERSION}' WHERE name = 'layout_version';`);
  return out.join("\n");
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

/**
 * The store's cache of each run's metrics (report/cache.ts), one row per run and metrics version,
 * so that machines running different runtape versions against one store keep their own. Not part
 * of the layout: created by a push or by the first listing allowed to, never required, and safe to
 * drop. A row holds for the push it was computed from (`push_ordinal`, never reused: a run
 * replaced under its id is another push) and goes with it: removing or replacing a run deletes its
 * `runtape_pushes` row, and the cascade its metrics.
 */
export const PG_METRICS_DDL = `CREATE TABLE IF NOT EXISTS ${METRICS_TABLE} (
    run_id TEXT NOT NULL REFERENCES ${PUSHES_TABLE}(run_id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    push_ordinal BIGINT NOT NULL,
    metrics TEXT NOT NULL,
    PRIMARY KEY (run_id, version)
);`;

let layout: ReadonlyMap<string, readonly string[]> | undefined;

/**
 * Every table a store of layout `version` has and its columns: those of the DDL that creates a
 * store (so the layout check and the store's tables never disagree), less the event tables and
 * columns the catalog's history adds after `version`.
 */
export function storeTables(version = SCHEMA_VERSION): Map<string, readonly string[]> {
  layout ??= declaredTables(renderPgSchema());
  const tables = new Map(layout);
  for (const type of EVENT_TYPES) {
    const table = cat.table(type);
    const added = new Set(
      storedColumns(cat, type)
        .filter((c) => c.since > version)
        .map((c) => c.name),
    );
    if (cat.sinceOf(type) > version) tables.delete(table);
    else
      tables.set(
        table,
        (tables.get(table) ?? []).filter((c) => !added.has(c)),
      );
  }
  return tables;
}

/** Types of the store's DDL whose name in PostgreSQL's catalog is not their own in lower case. */
const CATALOG_NAMES: Record<string, string> = {
  BIGSERIAL: "bigint",
  TIMESTAMPTZ: "timestamp with time zone",
};

let types: ReadonlyMap<string, string> | undefined;

/**
 * The type of `table.column` in a store, as `information_schema.columns.data_type` names it
 * (`bigint`, `double precision`, `text`...); undefined for a column the store has not.
 */
export function storeColumnType(table: string, column: string): string | undefined {
  types ??= new Map(
    [...declaredColumns(renderPgSchema())].flatMap(([t, columns]) =>
      columns.map((c) => [`${t}.${c.name}`, CATALOG_NAMES[c.type] ?? c.type.toLowerCase()]),
    ),
  );
  return types.get(`${table}.${column}`);
}
