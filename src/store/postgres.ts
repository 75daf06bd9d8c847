import type { SQL } from "bun";
import { METRICS_TABLE } from "../cache-table.ts";
import {
  RowDecodeError,
  RunNotFoundError,
  RuntapeError,
  StoreAccessError,
  StoreFormatError,
} from "../errors.ts";
import {
  defaultCatalog as cat,
  EVENT_TYPES,
  type Event,
  type EventType,
} from "../events/catalog.ts";
import type { SqlValue } from "../events/fields.ts";
import {
  advance,
  checkReplayOptions,
  checkReplayTypes,
  earliest,
  invalidRowHandler,
  newStream,
  type ReplayOptions,
  type ReplayStats,
  type Stream,
} from "../replay.ts";
import { type RunRow, toRunRow } from "../runs.ts";
import { SCHEMA_VERSION, SEQ_COLUMN, storedColumns } from "../schema.ts";
import { batches } from "./batches.ts";
import { type ContentPiece, copyColumns, pieces, rowPiece, storeColumns } from "./content.ts";
import {
  META_TABLE,
  PG_METRICS_DDL,
  PUSHES_TABLE,
  renderPgMigration,
  renderPgSchema,
  storeColumnType,
  storeTables,
} from "./pg-schema.ts";
import {
  CHUNK_EVENTS,
  type ComputedMetrics,
  flatten,
  type MetricsCache,
  type RunSource,
} from "./source.ts";
import { parseStoreUrl, type StoreTarget } from "./url.ts";

/** Options of {@link PgStore.open}. */
export interface PgOpenOptions {
  /** `read` (default) changes nothing; `write` creates the store's tables in an empty database. */
  mode?: "read" | "write";
  /** Connections in the pool (default 2). */
  max?: number;
  /** Seconds to wait for a connection (default 10). */
  connectTimeout?: number;
}

/** Rows fetched per query when a run is read: memory stays flat, queries stay few. */
const PAGE_ROWS = 10_000;

/**
 * A PostgreSQL runs store, reached through Bun.SQL. Its tables are the runs database's (same
 * names, same columns, int64 and float64 exact), keyed by run, so runs from many machines sit
 * side by side. Every value reaches the server as a parameter; the only names in the SQL text are
 * the catalog's own table and column names.
 */
export class PgStore implements RunSource {
  readonly kind = "postgres";
  readonly label: string;

  private constructor(
    readonly sql: SQL,
    readonly target: StoreTarget,
    /** The layout version; 0 for a database runtape has not written to yet. */
    readonly version: number,
  ) {
    this.label = target.label;
  }

  /** Connects to the store at `url` and checks its layout (see {@link PgOpenOptions}). */
  static async open(url: string | StoreTarget, options: PgOpenOptions = {}): Promise<PgStore> {
    const target = typeof url === "string" ? parseStoreUrl(url) : url;
    const sql = connect(target, options);
    try {
      const version =
        options.mode === "write"
          ? await prepareForWriting(sql, target)
          : await checkLayout(sql, target);
      return new PgStore(sql, target, version);
    } catch (error) {
      await sql.close({ timeout: 0 }).catch(() => {});
      throw storeError(target, error);
    }
  }

  /** Runs `fn`, turning driver failures into one-line store errors that never hold the password. */
  async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw storeError(this.target, error);
    }
  }

  async listRuns(): Promise<RunRow[]> {
    if (this.version === 0) return [];
    return this.guard(async () =>
      (await this.sql.unsafe(`${SELECT_RUNS} ORDER BY ${NEWEST_FIRST}`)).map(toRunRow),
    );
  }

  async getRun(runId: string): Promise<RunRow> {
    const rows =
      this.version === 0
        ? []
        : await this.guard(() => this.sql.unsafe(`${SELECT_RUNS} WHERE r.run_id = $1`, [runId]));
    if (rows.length === 0) throw new RunNotFoundError(runId);
    return toRunRow(rows[0]);
  }

  async resolveRunId(run?: string): Promise<string> {
    if (run !== undefined && run !== "latest") return (await this.getRun(run)).run_id;
    const [latest] = await this.listRuns();
    if (latest === undefined) throw new RuntapeError(`${this.label} holds no runs`, "NO_RUNS");
    return latest.run_id;
  }

  /**
   * The runs `runs` names (ids, or "latest"), in that order, as {@link resolveRunId} resolves each
   * (RunNotFoundError for the first id the store lacks, NO_RUNS for "latest" in an empty store), in
   * one statement: `pull --where` names thousands, and a statement each is a round trip each.
   */
  async resolveRuns(runs: readonly string[]): Promise<RunRow[]> {
    const byId = new Map<string, RunRow>();
    let newest: RunRow | undefined;
    if (this.version > 0 && runs.length > 0) {
      // The newest run (a listing's first) only where "latest" is asked for: LIMIT 0 reads none.
      const text = `SELECT true AS newest, s.* FROM (${SELECT_RUNS} ORDER BY ${NEWEST_FIRST} LIMIT $2) s
        UNION ALL SELECT false, s.* FROM (${SELECT_RUNS} WHERE r.run_id = ANY($1)) s`;
      const rows = await this.guard(() =>
        this.sql.unsafe(text, [runs, runs.includes("latest") ? 1 : 0]),
      );
      for (const { newest: isNewest, ...raw } of rows) {
        const run = toRunRow(raw);
        if (isNewest) newest = run;
        else byId.set(run.run_id, run);
      }
    }
    return runs.map((id) => {
      const run = id === "latest" ? newest : byId.get(id);
      if (run !== undefined) return run;
      if (id === "latest") throw new RuntapeError(`${this.label} holds no runs`, "NO_RUNS");
      throw new RunNotFoundError(id);
    });
  }

  async countEvents(runId: string): Promise<Record<EventType, bigint>> {
    // A run that is not there is an error, as everywhere else, not a run of no events.
    const id = await this.resolveRunId(runId);
    const counts = Object.fromEntries(EVENT_TYPES.map((t) => [t, 0n])) as Record<EventType, bigint>;
    const union = EVENT_TYPES.map(
      (t, i) => `SELECT ${i} AS i, COUNT(*) AS n FROM ${cat.table(t)} WHERE run_id = $1`,
    ).join(" UNION ALL ");
    for (const { i, n } of await this.guard(() => this.sql.unsafe(union, [id]))) {
      counts[EVENT_TYPES[i] as EventType] = n;
    }
    return counts;
  }

  /** Whether runtape recorded the run, so that its rows carry sequence numbers. */
  async hasSequence(runId: string): Promise<boolean> {
    const rows = await this.guard(() =>
      this.sql.unsafe("SELECT 1 FROM runtape_runs WHERE run_id = $1", [runId]),
    );
    return rows.length > 0;
  }

  events(options: ReplayOptions = {}): AsyncGenerator<Event> {
    return flatten(this.chunks(options));
  }

  /**
   * The run's events in publication order: the same merge as the file's replay (one ordering
   * rule), fed a page of each table at a time.
   */
  async *chunks(options: ReplayOptions = {}): AsyncGenerator<Event[]> {
    // The file's checks, before anything is read: a source of either kind takes the same options.
    checkReplayOptions(options);
    checkReplayTypes(options, cat);
    // A run named by its id is looked up and its kind read at once: one round trip, not two.
    const named = options.run === "latest" ? undefined : options.run;
    const [runId, bySeq] =
      named === undefined
        ? await this.resolveRunId().then(async (id) => [id, await this.hasSequence(id)] as const)
        : await Promise.all([this.resolveRunId(named), this.hasSequence(named)]);
    const stats: ReplayStats = options.stats ?? { runId, events: 0, skipped: 0 };
    stats.runId = runId;
    const reject = invalidRowHandler(options, stats);
    const excluded = new Set(options.excludeTypes ?? []);
    const wanted = new Set(options.types ?? EVENT_TYPES);
    const streams = EVENT_TYPES.filter((type) => wanted.has(type) && !excluded.has(type)).map(
      (type) => this.pagedStream(type, runId, bySeq, options),
    );
    // Every table's first page asked for at once: the driver pipelines them, one round trip.
    await inOrder(streams.map((stream) => stream.refill(reject)));
    yield* merged(
      streams.filter((stream) => stream.head !== undefined),
      bySeq,
      reject,
      stats,
      options.limit,
    );
  }

  /**
   * The events of each of `runs`, in their order: small runs read a batch at a time (a statement
   * a table for the batch, as pull reads them, see batches.ts), a large one as {@link chunks}
   * reads it, a page of each table at a time.
   */
  async *eachRun(
    runs: readonly RunRow[],
  ): AsyncGenerator<{ run: RunRow; chunks: AsyncIterable<readonly Event[]> }> {
    const byId = new Map(runs.map((run) => [run.run_id, run]));
    for (const batch of batches(runs)) {
      if (batch.length === 1) {
        const run = byId.get(batch[0] as string) as RunRow;
        yield { run, chunks: this.chunks({ run: run.run_id }) };
        continue;
      }
      const pages = await this.pagesOfRuns(batch);
      for (const runId of batch) {
        const run = byId.get(runId) as RunRow;
        // Gone since it was listed (removed, or replaced under way): as reading it alone says, the
        // moment its events are asked for, not before the runs after it are read.
        const own = pages.get(runId) ?? [];
        const chunks = own.some((page) => page.table === "runs")
          ? readStoredPages(own, runId)
          : gone(runId);
        yield { run, chunks };
      }
    }
  }

  /** A merge stream over `type`'s rows of the run, read in pages by key (no cursor to hold open). */
  private pagedStream(
    type: EventType,
    runId: string,
    bySeq: boolean,
    options: ReplayOptions,
  ): PagedStream {
    const table = cat.table(type);
    const names = cat.fields(type).map(([name]) => name);
    const params: unknown[] = [runId];
    const mark = (value: unknown) => {
      params.push(value);
      return `$${params.length}`;
    };
    const where = ["t.run_id = $1"];
    if (options.from !== undefined) where.push(`t.ts_event_ns >= ${mark(options.from)}`);
    if (options.to !== undefined) where.push(`t.ts_event_ns <= ${mark(options.to)}`);
    if (options.symbols !== undefined) {
      where.push(symbolFilter(type, options.symbols.map(mark).join(", ")));
    }
    // Keyset paging: after the last row's (seq, id), or id for the Python recorder's rows.
    const after = bySeq
      ? `(t.${SEQ_COLUMN}, t.id) > ($${params.length + 1}, $${params.length + 2})`
      : `t.id > $${params.length + 1}`;
    const order = bySeq ? `t.${SEQ_COLUMN}, t.id` : "t.id";
    const key = bySeq ? SEQ_COLUMN : "ts_created_ns";
    const text = `SELECT t.id, t.${key} AS merge_key, ${names.map((n) => `t.${n}`).join(", ")} FROM ${table} t WHERE ${where.join(" AND ")} AND ${after} ORDER BY ${order} LIMIT ${PAGE_ROWS}`;
    const min = -(2n ** 63n);
    let cursor: unknown[] = bySeq ? [min, min] : [min];
    let done = false;
    const stream = newStream(type, [][Symbol.iterator]()) as PagedStream;
    stream.refill = async (reject) => {
      while (stream.head === undefined && !done) {
        const rows = (await this.guard(() =>
          this.sql.unsafe(text, [...params, ...cursor]),
        )) as Record<string, SqlValue>[];
        done = rows.length < PAGE_ROWS;
        const last = rows[rows.length - 1];
        if (last !== undefined) cursor = bySeq ? [last.merge_key, last.id] : [last.id];
        stream.rows = rows[Symbol.iterator]();
        advance(stream, bySeq, reject);
      }
    };
    return stream;
  }

  /**
   * A run's rows as the store holds them, a page at a time: its `runs` row, its bookkeeping row,
   * then each event table's rows (the catalog's columns and seq) in id order.
   */
  async *pages(runId: string): AsyncGenerator<StoredPage> {
    for (const table of ["runs", "runtape_runs"]) {
      const rows = await this.guard(() =>
        this.sql.unsafe(selectStored({ table }, "one"), [runId]).values(),
      );
      if (rows.length > 0) yield { table, rows, before: 0n };
    }
    for (const type of EVENT_TYPES) {
      const table = cat.table(type);
      const text = selectStored({ table, type }, "one");
      for (let after = 0n; ; ) {
        const rows = (await this.guard(() =>
          this.sql.unsafe(text, [runId, after]).values(),
        )) as unknown[][];
        const last = rows[rows.length - 1];
        if (last === undefined) break;
        const before = after;
        after = last[0] as bigint;
        yield { table, type, rows: rows.map((r) => r.slice(1)), before };
        if (rows.length < PAGE_ROWS) break;
      }
    }
  }

  /**
   * The rows of several runs, each run's as {@link pages} gives them (same pages in the same
   * order, but cut where a statement's page ends), read together: a statement a table for the
   * lot, where reading each run costs a round trip a table. Every run's rows are held at once, so
   * the caller bounds their events; each statement still reads at most a page of rows.
   */
  async pagesOfRuns(runIds: readonly string[]): Promise<Map<string, StoredPage[]>> {
    const ids = [...new Set(runIds)];
    const byRun = new Map<string, StoredPage[]>(ids.map((id) => [id, []]));
    if (ids.length === 0) return byRun;
    // Every table asked for at once (the driver pipelines them: a round trip for the lot), the
    // pages then put in each run's order of tables.
    const tables = await inOrder([
      ...["runs", "runtape_runs"].map((table) => this.runRowsOfRuns(table, ids)),
      ...EVENT_TYPES.map((type) => this.eventPagesOfRuns(type, ids)),
    ]);
    for (const pages of tables) {
      for (const page of pages) byRun.get(page.runId)?.push(page.page);
    }
    return byRun;
  }

  /** The `runs` or `runtape_runs` rows of `ids`, a page per run. */
  private async runRowsOfRuns(
    table: string,
    ids: readonly string[],
  ): Promise<{ runId: string; page: StoredPage }[]> {
    const at = copyColumns({ table }).indexOf("run_id");
    const rows = (await this.guard(() =>
      this.sql.unsafe(selectStored({ table }, "many"), [ids]).values(),
    )) as unknown[][];
    return [...Map.groupBy(rows, (row) => row[at] as string)].map(([runId, own]) => ({
      runId,
      page: { table, rows: own, before: 0n },
    }));
  }

  /** `type`'s rows of `ids`, by run then id, cut into pages as each run's own paging has them. */
  private async eventPagesOfRuns(
    type: EventType,
    ids: readonly string[],
  ): Promise<{ runId: string; page: StoredPage }[]> {
    const table = cat.table(type);
    const text = selectStored({ table, type }, "many");
    const pages: { runId: string; page: StoredPage }[] = [];
    // Each run's last id read so far: the `before` of its next page, as its own paging has it.
    const lastId = new Map<string, bigint>();
    // From before every run's first row: "" sorts before any id, and ids start at 1.
    for (let after: [string, bigint] = ["", 0n]; ; ) {
      const rows = (await this.guard(() =>
        this.sql.unsafe(text, [ids, ...after]).values(),
      )) as unknown[][];
      // Rows come by run, then id: a run's rows in this page are one stretch.
      for (let start = 0, end = 1; start < rows.length; end++) {
        const runId = (rows[start] as unknown[])[0] as string;
        if (end < rows.length && (rows[end] as unknown[])[0] === runId) continue;
        const own = rows.slice(start, end);
        pages.push({
          runId,
          page: { table, type, rows: own.map((r) => r.slice(2)), before: lastId.get(runId) ?? 0n },
        });
        lastId.set(runId, (own[own.length - 1] as unknown[])[1] as bigint);
        start = end;
      }
      if (rows.length < PAGE_ROWS) return pages;
      const last = rows[rows.length - 1] as unknown[];
      after = [last[0] as string, last[1] as bigint];
    }
  }

  /** The run's content as the store holds it: the same pieces as the file it came from gives. */
  async *content(runId: string): AsyncGenerator<ContentPiece> {
    for await (const page of this.pages(runId)) yield* pageContent(page, runId);
  }

  async readMetrics(runs: readonly RunRow[], version: number): Promise<MetricsCache> {
    const ids = runs.map((r) => r.run_id);
    // The push each run's content comes from, read before its events are: a row holds for it only.
    const pushes = new Map<string, bigint>();
    if (this.version > 0 && ids.length > 0) {
      const rows = await this.guard(() =>
        this.sql.unsafe(`SELECT run_id, ordinal FROM ${PUSHES_TABLE} WHERE run_id = ANY($1)`, [
          ids,
        ]),
      );
      for (const { run_id, ordinal } of rows) pushes.set(run_id, ordinal);
    }
    const cached = new Map<string, string>();
    if (pushes.size > 0) {
      try {
        const rows = await this.sql.unsafe(
          `SELECT run_id, push_ordinal, metrics FROM ${METRICS_TABLE} WHERE version = $1 AND run_id = ANY($2)`,
          [version, ids],
        );
        for (const { run_id, push_ordinal, metrics } of rows) {
          if (pushes.get(run_id) === push_ordinal) cached.set(run_id, metrics);
        }
      } catch {
        // A store made before the table, or a role that may not read it: all computed.
      }
    }
    return {
      get: (run) => cached.get(run.run_id),
      store: (entries) => this.storeMetrics(entries, pushes, version),
    };
  }

  private async storeMetrics(
    entries: readonly ComputedMetrics[],
    pushes: ReadonlyMap<string, bigint>,
    version: number,
  ): Promise<boolean> {
    // By id: one statement may not write a row twice.
    const rows = new Map<string, [bigint, string]>();
    for (const { run, metrics } of entries) {
      const ordinal = pushes.get(run.run_id);
      if (ordinal !== undefined) rows.set(run.run_id, [ordinal, metrics]);
    }
    if (rows.size === 0) return true;
    // In the order of the ids: two listings that insert overlapping rows then lock them in one
    // order, where their own orders (a --runs B,A beside a runs listing) could deadlock (40P01).
    const ids = [...rows.keys()].sort();
    const values = ids.map((id) => rows.get(id) as [bigint, string]);
    const params = [ids, values.map(([o]) => o), values.map(([, m]) => m), version];
    // Several machines list one store at once. A row goes in only while its run is still the push
    // its events were read from (a run removed or replaced meanwhile gets none), and replaces the
    // row of an older push, never that of a newer one.
    const insert = () =>
      this.sql.unsafe(
        `INSERT INTO ${METRICS_TABLE} (run_id, version, push_ordinal, metrics)
         SELECT u.run_id, $4, u.push_ordinal, u.metrics
         FROM unnest($1::text[], $2::bigint[], $3::text[]) AS u(run_id, push_ordinal, metrics)
         WHERE EXISTS (SELECT 1 FROM ${PUSHES_TABLE} p WHERE p.run_id = u.run_id AND p.ordinal = u.push_ordinal)
         ON CONFLICT (run_id, version) DO UPDATE
         SET push_ordinal = EXCLUDED.push_ordinal, metrics = EXCLUDED.metrics
         WHERE ${METRICS_TABLE}.push_ordinal < EXCLUDED.push_ordinal`,
        params,
      );
    try {
      await insert();
      return true;
    } catch (error) {
      // 42P01: a store made before the table. Anything else (no right to write, the connection
      // lost): the cache is an optimisation, the listing stands and computes them next time.
      if ((error as { errno?: string }).errno !== "42P01") return false;
      if (!(await createMetricsTable(this.sql))) return false;
      return insert().then(
        () => true,
        () => false,
      );
    }
  }

  async close(): Promise<void> {
    await this.sql.close({ timeout: 0 });
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Rows of one table of a run, as {@link PgStore.pages} reads them. */
export interface StoredPage {
  table: string;
  /** The event type of an event table. */
  type?: EventType;
  /** Values in the order of the columns (event tables: the catalog's, then seq). */
  rows: unknown[][];
  /** The id before the first row's. */
  before: bigint;
}

/**
 * The values of `promises`, all settled first; where some reject, the first of them in their
 * order (not the first to come back): an error does not depend on which reply came first.
 */
async function inOrder<T>(promises: readonly Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(promises);
  const failed = settled.find((s) => s.status === "rejected");
  if (failed !== undefined) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}

/**
 * Merges the streams of a run into its events in publication order (one ordering rule for the
 * file's replay and the store's), in arrays of CHUNK_EVENTS, refilling a stream as its page ends.
 */
async function* merged(
  streams: PagedStream[],
  bySeq: boolean,
  reject: (error: RowDecodeError) => void,
  stats: ReplayStats,
  limit = Number.POSITIVE_INFINITY,
): AsyncGenerator<Event[]> {
  let chunk: Event[] = [];
  for (let yielded = 0; yielded < limit; ) {
    const stream = earliest(streams) as PagedStream | undefined;
    if (stream === undefined) break;
    const decoded = stream.decode(stream.head as Record<string, SqlValue>);
    advance(stream, bySeq, reject);
    if (stream.head === undefined) await stream.refill(reject);
    if (decoded instanceof RowDecodeError) {
      reject(decoded);
      continue;
    }
    yielded++;
    stats.events++;
    chunk.push(decoded);
    if (chunk.length === CHUNK_EVENTS) {
      yield chunk;
      chunk = [];
    }
  }
  if (chunk.length > 0) yield chunk;
}

/**
 * A run's events from its pages as {@link PgStore.pagesOfRuns} read them. A pushed run's rows
 * all carry `seq` (push refuses a run with a row without one), and within a table ids follow it.
 */
async function* readStoredPages(
  pages: readonly StoredPage[],
  runId: string,
): AsyncGenerator<Event[]> {
  const stats: ReplayStats = { runId, events: 0, skipped: 0 };
  const reject = invalidRowHandler({}, stats);
  const streams: PagedStream[] = [];
  for (const type of EVENT_TYPES) {
    const names = storedColumns(cat, type).map((c) => c.name);
    const seqAt = names.indexOf(SEQ_COLUMN);
    const rows = pages
      .filter((page) => page.type === type)
      .flatMap((page) => page.rows)
      .map((row) => {
        const record: Record<string, SqlValue> = { merge_key: row[seqAt] as SqlValue };
        names.forEach((name, i) => {
          record[name] = row[i] as SqlValue;
        });
        return record;
      });
    if (rows.length === 0) continue;
    const stream = newStream(type, rows[Symbol.iterator]()) as PagedStream;
    stream.refill = async () => {};
    advance(stream, true, reject);
    if (stream.head !== undefined) streams.push(stream);
  }
  yield* merged(streams, true, reject, stats);
}

/** A page as content pieces. */
export function pageContent(page: StoredPage, runId: string): Iterable<ContentPiece> {
  return page.type === undefined
    ? page.rows.map((row) => rowPiece(page.table, runId, row))
    : pieces(page.table, page.type, runId, page.rows, Number(page.before));
}

/**
 * The condition (over alias `t`) that keeps a row of `type` in a replay of the symbols at
 * `marks`, from the catalog's roles as the file's replay has it: the type's symbol field, or for
 * a type that points to an order, the symbol of the request naming that order.
 */
function symbolFilter(type: EventType, marks: string): string {
  const link = cat.symbolLink(type);
  if (link === undefined) return "FALSE";
  if ("field" in link) return `t.${link.field} IN (${marks})`;
  const exists = link.requests.map(
    (r) =>
      `EXISTS (SELECT 1 FROM ${r.table} r WHERE r.run_id = t.run_id AND r.${r.orderId} = t.${link.orderId} AND r.${r.symbol} IN (${marks}))`,
  );
  return `(${exists.join(" OR ")})`;
}

interface PagedStream extends Stream {
  /** Fetches pages until the stream has a head or the table is done. */
  refill(reject: (error: RowDecodeError) => void): Promise<void>;
}

/** A listing's order, newest first: its first run is what "latest" names. */
const NEWEST_FIRST = "r.ts_start DESC, p.ordinal DESC";

/**
 * The SELECT of a page of `table`'s stored rows (see {@link StoredPage}) of one run (`$1`) or of
 * several (`= ANY($1)`). An event table's rows come after a key (`$2`…), in key order, a page at a
 * time, with the key's columns first: `id`, or `run_id, id` for several runs.
 */
function selectStored(piece: { table: string; type?: EventType }, runs: "one" | "many"): string {
  const which = runs === "one" ? "run_id = $1" : "run_id = ANY($1)";
  if (piece.type === undefined) {
    return `SELECT ${copyColumns(piece).join(", ")} FROM ${piece.table} WHERE ${which}`;
  }
  const key = runs === "one" ? ["id"] : ["run_id", "id"];
  const rest = storeColumns(piece.type).filter((c) => !["id", "run_id"].includes(c));
  const after = key.map((_, i) => `$${i + 2}`);
  return `SELECT ${[...key, ...rest].join(", ")} FROM ${piece.table} WHERE ${which} AND (${key.join(", ")}) > (${after.join(", ")}) ORDER BY ${key.join(", ")} LIMIT ${PAGE_ROWS}`;
}

const SELECT_RUNS = `SELECT r.*, x.pid, x.host, x.events, x.refused, x.bar_periods FROM runs r
  LEFT JOIN runtape_runs x ON x.run_id = r.run_id LEFT JOIN ${PUSHES_TABLE} p ON p.run_id = r.run_id`;

function connect(target: StoreTarget, options: PgOpenOptions): SQL {
  // Bun.SQL loads its driver on first use: reached here, not at import, it costs a command that
  // reads a file nothing (~5 ms of `inspect --run`).
  return new Bun.SQL({
    adapter: "postgres",
    hostname: target.hostname,
    port: target.port,
    ...(target.socketDir !== undefined && { path: target.socketDir }),
    username: target.username,
    password: target.password ?? "",
    database: target.database,
    ...(target.sslmode !== undefined && { tls: target.sslmode }),
    bigint: true,
    max: options.max ?? 2,
    connectionTimeout: options.connectTimeout ?? 10,
    connection: { application_name: "runtape" },
  });
}

/**
 * The store's layout version: 0 for a database without runtape's tables. A newer layout is
 * refused; an older one too, unless `older` (a writer, which migrates it).
 */
async function checkLayout(sql: SQL, target: StoreTarget, older = false): Promise<number> {
  const rows = (await sql.unsafe(
    `SELECT table_name, column_name, data_type FROM information_schema.columns
     WHERE table_schema = current_schema() AND table_name = ANY($1)`,
    [[...storeTables().keys()]],
  )) as { table_name: string; column_name: string; data_type: string }[];
  // Each table's columns and their types.
  const columns = new Map<string, Map<string, string>>();
  for (const { table_name, column_name, data_type } of rows) {
    const types = columns.get(table_name) ?? new Map<string, string>();
    columns.set(table_name, types.set(column_name, data_type));
  }
  if (columns.size === 0) return 0;
  if (!columns.has(META_TABLE)) {
    throw new StoreFormatError(
      target.label,
      `not a runtape store (it has a table ${[...columns.keys()][0]} but no ${META_TABLE})`,
    );
  }
  const requireColumns = (table: string, wanted: readonly string[] = []) => {
    const have = columns.get(table);
    const absent = have === undefined ? "" : wanted.find((c) => !have.has(c));
    if (absent !== undefined) {
      throw new StoreFormatError(
        target.label,
        `not a runtape store (${have === undefined ? `no table ${table}` : `${table} has no column ${absent}`})`,
      );
    }
    // A column of another type (real for double precision) would take the run and give back
    // other values, or none a replay can read: refused before anything is written or read.
    for (const column of wanted) {
      const [found, expected] = [have?.get(column), storeColumnType(table, column)];
      if (found !== expected) {
        throw new StoreFormatError(
          target.label,
          `not a runtape store (${table}.${column} has type ${found}, runtape's has ${expected})`,
        );
      }
    }
  };
  // Before it is read: the version is in one of its columns.
  requireColumns(META_TABLE, storeTables().get(META_TABLE));
  const [meta] = await sql.unsafe(`SELECT value FROM ${META_TABLE} WHERE name = 'layout_version'`);
  const version = Number(meta?.value);
  if (!Number.isInteger(version) || version < 1) {
    throw new StoreFormatError(target.label, "not a runtape store (no layout version)");
  }
  if (version > SCHEMA_VERSION) {
    throw new StoreFormatError(
      target.label,
      `written by a newer runtape (layout version ${version}; this one knows up to ${SCHEMA_VERSION})`,
      "NEWER_STORE",
    );
  }
  if (version < SCHEMA_VERSION && !older) {
    throw new StoreFormatError(
      target.label,
      `written by an older runtape (layout version ${version}; this one reads ${SCHEMA_VERSION}): the next push migrates it`,
    );
  }
  for (const [table, wanted] of storeTables(version)) requireColumns(table, wanted);
  return version;
}

/**
 * Brings the store to the current layout: the tables into an empty database, the additive
 * migration into an older store; one writer at a time, decided again under a lock.
 */
async function prepareForWriting(sql: SQL, target: StoreTarget): Promise<number> {
  if ((await checkLayout(sql, target, true)) < SCHEMA_VERSION) {
    await sql.begin(async (tx) => {
      // Any constant key: concurrent first pushes wait here instead of racing to CREATE TABLE.
      await tx.unsafe("SELECT pg_advisory_xact_lock(7012010)");
      const version = await checkLayout(tx, target, true);
      if (version === 0) await tx.unsafe(renderPgSchema()).simple();
      else if (version < SCHEMA_VERSION) await tx.unsafe(renderPgMigration(version)).simple();
    });
  }
  // Made by the pusher, who usually owns the store: readers granted the right to write it cache
  // metrics without the right to create tables.
  await createMetricsTable(sql);
  return SCHEMA_VERSION;
}

/**
 * Creates the metrics cache table where it is missing (see PG_METRICS_DDL); whether the store has
 * it. A role without the right to create tables, or a race with another creator, leaves it as it
 * was: the cache is an optimisation.
 */
async function createMetricsTable(sql: SQL): Promise<boolean> {
  try {
    // Asked first: CREATE TABLE IF NOT EXISTS needs the right to create even when the table is there.
    const [row] = await sql.unsafe("SELECT to_regclass($1) IS NOT NULL AS present", [
      METRICS_TABLE,
    ]);
    if (!row.present) await sql.unsafe(PG_METRICS_DDL);
    return true;
  } catch {
    return false;
  }
}

/** Server codes whose own message says less than these words; others keep the server's message. */
const SQLSTATES: Record<string, string> = {
  "57P01": "the server shut down during the operation",
  "57P02": "the server shut down during the operation",
  "57P03": "the server is not accepting connections yet",
  "53300": "the server has too many connections",
};

/**
 * A driver failure as a one-line StoreAccessError naming the store (without the password);
 * runtape's own errors pass through.
 */
function storeError(target: StoreTarget, error: unknown): Error {
  if (error instanceof RuntapeError) return error;
  const { code, errno, message } = (error ?? {}) as {
    code?: string;
    errno?: string;
    message?: string;
  };
  let reason: string;
  if (errno !== undefined && SQLSTATES[errno] !== undefined) {
    reason = SQLSTATES[errno] as string;
  } else if (
    code === "ERR_POSTGRES_CONNECTION_REFUSED" ||
    code === "ERR_POSTGRES_CONNECTION_TIMEOUT"
  ) {
    reason = `cannot connect to the server at ${target.socketDir ?? `${target.hostname}:${target.port}`}`;
  } else if (code === "ERR_POSTGRES_CONNECTION_CLOSED" || code === "ERR_POSTGRES_UNEXPECTED_EOF") {
    reason = "the connection to the server was lost";
  } else {
    reason = redact(message ?? String(error), target);
  }
  return new StoreAccessError(target.label, reason, { cause: error });
}

function redact(text: string, target: StoreTarget): string {
  const secret = target.password;
  if (!secret) return text;
  return text.split(secret).join("***").split(encodeURIComponent(secret)).join("***");
}

/** The events of a run removed since it was listed: RunNotFoundError, as reading it alone throws. */
// biome-ignore lint/correctness/useYield: it throws before it could yield
async function* gone(runId: string): AsyncGenerator<Event[]> {
  throw new RunNotFoundError(runId);
}
