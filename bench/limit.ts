/**
 * The limit baseline of recording: the same rows, pre-built as SQL values before the clock
 * starts, inserted by multi-row statements (64 rows a call), one transaction per `batch` events,
 * into the same schema with the same pragmas and indexes. It writes runtape's bookkeeping too, so
 * its databases replay like recorded ones.
 */
import type { Statement } from "bun:sqlite";
import { hostname } from "node:os";
import { type Event, openRunsDb, type SqlValue } from "../src/index.ts";
import { readyForBatches } from "../src/recorder-batch.ts";
import { SEQ_COLUMN } from "../src/schema.ts";

const CHUNK_ROWS = 64;

interface Table {
  chunk: Statement;
  one: Statement;
  width: number;
}

/** Per table, the flat values of its rows: run id, fields, seq. */
type Rows = Map<Table, SqlValue[]>;

/** A batch's rows cut as the statements bind them: per table, 64-row chunks, then single rows. */
type Bound = [Table, SqlValue[][]][];

/** `rows` cut into what each statement call binds. */
function bound(rows: Rows): Bound {
  return [...rows].map(([table, values]) => {
    const calls: SqlValue[][] = [];
    const chunkWidth = table.width * CHUNK_ROWS;
    let i = 0;
    for (; i + chunkWidth <= values.length; i += chunkWidth)
      calls.push(values.slice(i, i + chunkWidth));
    for (; i < values.length; i += table.width) calls.push(values.slice(i, i + table.width));
    return [table, calls];
  });
}

/**
 * The limit's database at `path`, open for writing, its run registered: `rowsOf(event, seq)` adds
 * an event's row to a batch, `insert(batch)` writes one in a transaction, `close(n)` ends the run.
 * With `indexes` false the schema's secondary indexes are dropped first.
 */
function openLimit(path: string, runId: string, indexes: boolean) {
  const db = openRunsDb(path, { mode: "write" });
  const sqlite = db.sqlite;
  readyForBatches(sqlite); // the recorder's own connection is set so, too
  if (!indexes) {
    // A key's own index (sql NULL) cannot be dropped; every CREATE INDEX of the schema can.
    const created = sqlite
      .query("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
      .values() as [string][];
    for (const [name] of created) sqlite.run(`DROP INDEX "${name}"`);
  }
  const cat = db.catalog;
  const tables = new Map<string, Table>();
  for (const type of cat.types) {
    const columns = ["run_id", ...cat.fields(type).map(([name]) => name), SEQ_COLUMN];
    const row = `(${columns.map(() => "?").join(", ")})`;
    const insert = `INSERT INTO ${cat.table(type)} (${columns.join(", ")}) VALUES `;
    tables.set(type, {
      chunk: sqlite.prepare(insert + Array(CHUNK_ROWS).fill(row).join(", ")),
      one: sqlite.prepare(insert + row),
      width: columns.length,
    });
  }
  sqlite.run("INSERT INTO runs (run_id, name, ts_start, status) VALUES (?, ?, 0, 'running')", [
    runId,
    runId,
  ]);
  sqlite.run("INSERT INTO runtape_runs (run_id, pid, host) VALUES (?, ?, ?)", [
    runId,
    process.pid,
    hostname(),
  ]);
  return {
    add(rows: Rows, event: Event, seq: number): void {
      const e = event as unknown as Record<string, unknown> & { type: string };
      const table = tables.get(e.type) as Table;
      const values = rows.get(table) ?? [];
      rows.set(table, values);
      values.push(runId);
      for (const [name, field] of cat.fields(e.type)) {
        const value = e[name];
        values.push(field.toSql ? field.toSql(value) : (value as SqlValue));
      }
      values.push(seq);
    },
    insert(batch: Bound): void {
      sqlite.run("BEGIN IMMEDIATE");
      for (const [{ chunk, one, width }, calls] of batch) {
        for (const values of calls) (values.length === width ? one : chunk).run(values);
      }
      sqlite.run("COMMIT");
    },
    close(n: number): void {
      sqlite.run(
        "UPDATE runtape_runs SET events = ?, bar_periods = 'MINUTE', last_ts_event_ns = 1 WHERE run_id = ?",
        [n, runId],
      );
      sqlite.run("UPDATE runs SET status = 'completed', ts_end = 1 WHERE run_id = ?", [runId]);
      for (const { chunk, one } of tables.values()) {
        chunk.finalize();
        one.finalize();
      }
      db.close();
    },
  };
}

/**
 * Opens `path` for writing and builds the rows of `n` events (`event(i)`, i from 0); returns
 * the insertion itself, the part to time, which also closes the database. With `indexes` false
 * the schema's secondary indexes are dropped first: what the tables alone cost to write.
 */
export function prepareLimit(
  path: string,
  event: (i: number) => Event,
  n: number,
  runId: string,
  batch: number,
  indexes = true,
): () => void {
  const limit = openLimit(path, runId, indexes);
  const batches: Rows[] = [];
  for (let i = 0; i < n; i++) {
    if (i % batch === 0) batches.push(new Map());
    limit.add(batches.at(-1) as Rows, event(i), i + 1);
  }
  // Cut before the clock too, as the recorder hands its chunks over as they are: no copying timed.
  const cut = batches.map(bound);
  return () => {
    for (const batch of cut) limit.insert(batch);
    limit.close(n);
  };
}

/**
 * The plainest recorder that streams: a bus subscriber that adds each event's row to the batch
 * and inserts the batch, as the limit does, every `batch` events. `close()` inserts the rest and
 * ends the run. What recording costs in memory when nothing is held but the batch.
 */
export function streamingRecorder(
  path: string,
  runId: string,
  batch: number,
): { take(event: Event): void; close(): void } {
  const limit = openLimit(path, runId, true);
  let rows: Rows = new Map();
  let seq = 0;
  return {
    take(event) {
      limit.add(rows, event, ++seq);
      if (seq % batch === 0) {
        limit.insert(bound(rows));
        rows = new Map();
      }
    },
    close() {
      limit.insert(bound(rows));
      limit.close(seq);
    },
  };
}
