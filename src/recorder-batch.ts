/**
 * What a recorder's flush stores, and how: the rows it took, table by table, and the run's
 * counters, written in one transaction. The recorder's own thread and its writer thread
 * (src/recorder-sink.ts) write batches with the same statements.
 */
import type { Database, Statement } from "bun:sqlite";
import type { EventCatalog } from "./events/event-catalog.ts";
import type { SqlValue } from "./events/fields.ts";
import { SEQ_COLUMN } from "./schema.ts";

/**
 * Rows per multi-row INSERT: one statement call per chunk instead of per row, well under SQLite's
 * limit of bound parameters.
 */
export const CHUNK_ROWS = 64;

/** A flush: the rows taken since the last one, and the run's counters as they then stood. */
export interface Batch {
  /**
   * Per table, in the order of {@link tableSql}: chunks of CHUNK_ROWS rows, then the values of
   * the rows after them (fewer than CHUNK_ROWS). A row's values: run id, fields, `seq`.
   */
  readonly tables: readonly { readonly chunks: SqlValue[][]; readonly rest: SqlValue[] }[];
  readonly counters: Counters;
}

/** runtape_runs' counters of the run: events, refused, last ts_event_ns, bar periods, run id. */
export type Counters = readonly [number, number, bigint | null, string, string];

/** What a table's rows are written with: plain data, so a writer thread can have it. */
export interface TableSql {
  /** `INSERT INTO table (run_id, fields…, seq) VALUES ` */
  readonly insert: string;
  /** `(?, …)`: one row's placeholders. */
  readonly row: string;
  /** Values in a row. */
  readonly width: number;
}

/** The tables of `catalog`'s types, in the catalog's order: Batch.tables follows it. */
export function tableSql(catalog: EventCatalog): TableSql[] {
  return catalog.types.map((type) => {
    const columns = ["run_id", ...catalog.fields(type).map(([name]) => name), SEQ_COLUMN];
    return {
      insert: `INSERT INTO ${catalog.table(type)} (${columns.join(", ")}) VALUES `,
      row: `(${columns.map(() => "?").join(", ")})`,
      width: columns.length,
    };
  });
}

/**
 * Readies a connection that writes batches and nothing else. Each multi-row INSERT in a batch's
 * transaction keeps a statement journal (to undo that statement alone), and SQLite spills one
 * past 64 KB into a temporary file: ~1.5 page writes an event, half the recorder's system time
 * (1M mixed events: 4.3–4.4 → 3.8–4.2 s, system time 1.4–1.5 → 0.8 s). In memory it is freed
 * after each statement. Not for a connection the caller also uses: the setting drops its
 * temporary tables and moves all its temporary storage (a VACUUM's copy, large sorts) into memory.
 */
export function readyForBatches(sqlite: Database): void {
  sqlite.exec("PRAGMA temp_store = MEMORY");
}

/** Writes batches on one connection; see {@link prepareBatchWriter}. */
export interface BatchWriter {
  /** Stores `batches` in order in one write transaction: all of them, or (if it throws) none. */
  write(batches: readonly Batch[]): void;
  /** Finalizes the statements: a statement left open keeps its connection alive past close(). */
  finalize(): void;
}

/**
 * Prepares the statements that write batches of the tables `tables` on `sqlite`. A table's two
 * INSERTs are prepared when a batch first has rows for it: the 64-row ones bind ~1,000 parameters
 * each, and preparing both of every table's took ~1 ms a run, 40% of starting a recorder (a sweep
 * starts thousands; a short run fills two or three of the event tables).
 */
export function prepareBatchWriter(sqlite: Database, tables: readonly TableSql[]): BatchWriter {
  const statements = tables.map(({ insert, row, width }) => {
    let one: Statement | undefined;
    let chunk: Statement | undefined;
    return {
      width,
      one: () => (one ??= sqlite.prepare(insert + row)),
      chunk: () => (chunk ??= sqlite.prepare(insert + Array(CHUNK_ROWS).fill(row).join(", "))),
      finalize() {
        one?.finalize();
        chunk?.finalize();
      },
    };
  });
  const counters = sqlite.prepare(
    "UPDATE runtape_runs SET events = ?, refused = ?, last_ts_event_ns = ?, bar_periods = ? WHERE run_id = ?",
  );
  const write = sqlite.transaction((batches: readonly Batch[]) => {
    for (const batch of batches) {
      batch.tables.forEach(({ chunks, rest }, t) => {
        const table = statements[t] as (typeof statements)[number];
        if (chunks.length > 0) {
          const chunk = table.chunk();
          for (const rows of chunks) chunk.run(rows);
        }
        if (rest.length > 0) {
          const { width } = table;
          const one = table.one();
          for (let i = 0; i < rest.length; i += width) one.run(rest.slice(i, i + width));
        }
      });
    }
    const last = batches.at(-1);
    if (last !== undefined) counters.run(...last.counters);
  }).immediate;
  return {
    write,
    finalize() {
      for (const table of statements) table.finalize();
      counters.finalize();
    },
  };
}
