import { hasTable, METRICS_TABLE, WHILE_THE_RUN_EXISTS, writeCache } from "../cache-table.ts";
import { inSnapshotAsync, openRunsDb, type RunsDb } from "../db.ts";
import type { Event, EventType } from "../events/catalog.ts";
import type { SqlValue } from "../events/fields.ts";
import { sumCounts } from "../inspect/queries.ts";
import { countEvents } from "../inspect.ts";
import { type ReplayOptions, replay, storedRows } from "../replay.ts";
import { getRun, hasSequence, listRuns, type RunRow, resolveRunId } from "../runs.ts";
import { CHUNK_EVENTS, type ComputedMetrics, type MetricsCache, type RunSource } from "./source.ts";

// A row holds for the run it was computed from: same event count and end (a run re-recorded under
// the same id differs in both), finished, and same metrics version.
const METRICS_DDL = `CREATE TABLE IF NOT EXISTS ${METRICS_TABLE} (
    run_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    events INTEGER NOT NULL,
    ts_end INTEGER NOT NULL,
    metrics TEXT NOT NULL
)`;

interface MetricsRow {
  run_id: string;
  version: bigint;
  events: bigint;
  ts_end: bigint;
  metrics: string;
}

/** A runs database file as a {@link RunSource}: the synchronous library behind the common face. */
export class SqliteSource implements RunSource {
  readonly kind = "sqlite";
  readonly label: string;

  /** Wraps an open database; closing the source closes it. */
  constructor(readonly db: RunsDb) {
    this.label = db.path;
  }

  /** Opens the file at `path` read-only (see openRunsDb). */
  static open(path: string): SqliteSource {
    return new SqliteSource(openRunsDb(path));
  }

  async listRuns() {
    return listRuns(this.db);
  }

  async getRun(runId: string) {
    return getRun(this.db, runId);
  }

  async resolveRunId(run?: string) {
    return resolveRunId(this.db, run);
  }

  async countEvents(runId: string) {
    return countEvents(this.db, runId);
  }

  async *events(options: ReplayOptions = {}): AsyncGenerator<Event> {
    yield* replay(this.db, options);
  }

  async *chunks(options: ReplayOptions = {}): AsyncGenerator<Event[]> {
    let chunk: Event[] = [];
    for (const event of replay(this.db, options)) {
      chunk.push(event);
      if (chunk.length === CHUNK_EVENTS) {
        yield chunk;
        chunk = [];
      }
    }
    if (chunk.length > 0) yield chunk;
  }

  async eachStoredRow(
    runId: string,
    types: readonly EventType[],
    take: (type: EventType, rows: readonly SqlValue[][]) => Promise<void>,
  ): Promise<boolean> {
    // As replay's: one read transaction, held across the awaits, so that every table is cut at
    // the same moment of a run being recorded.
    return inSnapshotAsync(this.db, async () => {
      if (!hasSequence(this.db, runId)) return false;
      const present = new Set(this.db.catalog.typesAt(this.db.version));
      for (const type of types) {
        if (!present.has(type)) continue;
        let rows: SqlValue[][] = [];
        for (const row of storedRows(this.db, type, runId)) {
          rows.push(row);
          if (rows.length === CHUNK_EVENTS) {
            await take(type, rows);
            rows = [];
          }
        }
        if (rows.length > 0) await take(type, rows);
      }
      return true;
    });
  }

  async readMetrics(_runs: readonly RunRow[], version: number): Promise<MetricsCache> {
    const { db } = this;
    const rows = hasTable(db, METRICS_TABLE)
      ? (db.sqlite.query(`SELECT * FROM ${METRICS_TABLE}`).all() as MetricsRow[])
      : [];
    const cached = new Map(rows.map((r) => [r.run_id, r]));
    return {
      get(run) {
        const row = cached.get(run.run_id);
        if (row === undefined || Number(row.version) !== version || row.ts_end !== run.ts_end) {
          return undefined;
        }
        const events = run.events ?? sumCounts(countEvents(db, run.run_id));
        return row.events === events ? row.metrics : undefined;
      },
      async store(entries: readonly ComputedMetrics[]) {
        return writeCache(db, (sqlite) => {
          sqlite.exec(METRICS_DDL);
          const insert = sqlite.query(
            `INSERT OR REPLACE INTO ${METRICS_TABLE} (run_id, version, events, ts_end, metrics) SELECT ?, ?, ?, ?, ? ${WHILE_THE_RUN_EXISTS}`,
          );
          for (const { run, events, metrics } of entries) {
            insert.run(run.run_id, version, run.events ?? events, run.ts_end, metrics, run.run_id);
          }
        });
      },
    };
  }

  async close() {
    this.db.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
