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
import { SCHEMA_VERSION, SEQ_COLUMN } from "../schema.ts";
import {
  BOOKKEEPING_COLUMNS,
  type ContentPiece,
  pieces,
  RUN_COLUMNS,
  rowPiece,
  storeColumns,
} from "./content.ts";
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
      (await this.sql.unsafe(`${SELECT_RUNS} ORDER BY r.ts_start DESC, p.ordinal DESC`)).map(
        toRunRow,
      ),
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
    const runId = await this.resolveRunId(options.run);
    const stats: ReplayStats = options.stats ?? { runId, events: 0, skipped: 0 };
    stats.runId = runId;
    const reject = invalidRowHandler(options, stats);
    const bySeq = await this.hasSequence(runId);
    const excluded = new Set(options.excludeTypes ?? []);
    const wanted = new Set(options.types ?? EVENT_TYPES);
    const streams: PagedStream[] = [];
    for (const type of EVENT_TYPES) {
      if (!wanted.has(type) || excluded.has(type)) continue;
      const stream = this.pagedStream(type, runId, bySeq, options);
      await stream.refill(reject);
      if (stream.head !== undefined) streams.push(stream);
    }
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
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
      const columns = table === "runs" ? RUN_COLUMNS : BOOKKEEPING_COLUMNS;
      const rows = await this.guard(() =>
        this.sql
          .unsafe(`SELECT ${columns.join(", ")} FROM ${table} WHERE run_id = $1`, [runId])
          .values(),
      );
      if (rows.length > 0) yield { table, rows, before: 0n };
    }
    for (const type of EVENT_TYPES) {
      const table = cat.table(type);
      const text = `SELECT ${storeColumns(type)
        .filter((c) => c !== "run_id")
        .join(", ")} FROM ${table} WHERE run_id = $1 AND id > $2 ORDER BY id LIMIT ${PAGE_ROWS}`;
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
