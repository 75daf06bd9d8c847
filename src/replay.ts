import type { Statement } from "bun:sqlite";
import type { EventBus } from "./bus.ts";
import { openRunsDb, type RunsDb, toDbError } from "./db.ts";
import { RowDecodeError, RuntapeError } from "./errors.ts";
import { catalog, EVENT_TYPES, type Event, type EventType, fieldsOf } from "./events/catalog.ts";
import type { Field, SqlValue } from "./events/fields.ts";
import { refusal } from "./events/schemas.ts";
import { hasSequence, resolveRunId } from "./runs.ts";
import { SEQ_COLUMN } from "./schema.ts";

/** What to replay. Every filter is optional; without any, the whole run in publication order. */
export interface ReplayOptions {
  /** Run id, or `"latest"` (the default). */
  run?: string;
  /** Only these event types. */
  types?: readonly EventType[];
  /** Leave these event types out. */
  excludeTypes?: readonly EventType[];
  /**
   * Only these symbols. Responses carry no symbol: they are kept when the request they answer is,
   * so whole order lifecycles stay together.
   */
  symbols?: readonly string[];
  /** Inclusive window on `ts_event_ns`. */
  from?: bigint;
  to?: bigint;
  /** At most this many events. */
  limit?: number;
  /** A row that does not decode throws RowDecodeError (default), or is skipped and counted. */
  onInvalidRow?: "throw" | "skip";
  /** Filled in as the replay goes: the run replayed, events yielded and rows skipped. */
  stats?: ReplayStats;
}

/** What a replay went through. */
export interface ReplayStats {
  runId: string;
  events: number;
  skipped: number;
}

interface Stream {
  readonly rows: Iterator<Record<string, SqlValue>>;
  readonly statement: Statement;
  readonly decode: (row: Record<string, SqlValue>) => Event | RowDecodeError;
  /** Catalog position: breaks ties between equal keys the same way every time. */
  readonly rank: number;
  head: Record<string, SqlValue> | undefined;
  key: bigint;
}

/**
 * The events of one run, streamed in publication order as typed events equal to those recorded.
 *
 * Runs recorded by runtape are merged across tables on their sequence number: the exact order.
 * Runs written by the Python recorder carry none; their tables (each in `id` order, which is
 * publication order within a table) are merged on `ts_created_ns`, the moment each event was
 * built, which restores the publication order of the reference fixture without a single event
 * out of place (`bun scripts/measure-order.ts`).
 *
 * Opens a path read-only and never writes to it. Memory stays flat: one row per table is held.
 */
export function* replay(source: string | RunsDb, options: ReplayOptions = {}): Generator<Event> {
  const db = typeof source === "string" ? openRunsDb(source) : source;
  const streams: Stream[] = [];
  try {
    const runId = resolveRunId(db, options.run);
    const stats = options.stats ?? { runId, events: 0, skipped: 0 };
    stats.runId = runId;
    const bySeq = hasSequence(db, runId);
    const excluded = new Set(options.excludeTypes ?? []);
    const wanted = (options.types ?? EVENT_TYPES).filter((t) => !excluded.has(t));
    for (const type of EVENT_TYPES) {
      if (!wanted.includes(type)) continue;
      const stream = openStream(db, type, runId, bySeq, options);
      if (stream.head !== undefined) streams.push(stream);
      else stream.statement.finalize();
    }
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    const skip = options.onInvalidRow === "skip";
    while (stats.events < limit) {
      const stream = earliest(streams);
      if (stream === undefined) break;
      const decoded = stream.decode(stream.head as Record<string, SqlValue>);
      advance(stream, bySeq);
      if (decoded instanceof RowDecodeError) {
        if (!skip) throw decoded;
        stats.skipped++;
        continue;
      }
      stats.events++;
      yield decoded;
    }
  } catch (error) {
    throw toDbError(db.path, error);
  } finally {
    for (const stream of streams) stream.statement.finalize();
    if (typeof source === "string") db.close();
  }
}

/** Replays a run onto `bus` (see {@link replay}), optionally paced; resolves when done. */
export async function replayOnto(
  bus: EventBus,
  source: string | RunsDb,
  options: ReplayOptions & {
    /** 1 = the original pace of `ts_event_ns`, 60 = sixty times faster; default as fast as possible. */
    speed?: number;
    signal?: AbortSignal;
  } = {},
): Promise<ReplayStats> {
  const stats: ReplayStats = options.stats ?? { runId: "", events: 0, skipped: 0 };
  const speed =
    options.speed !== undefined && Number.isFinite(options.speed) && options.speed > 0
      ? options.speed
      : undefined;
  let previous: bigint | undefined;
  let sinceYield = 0;
  for (const event of replay(source, { ...options, stats })) {
    options.signal?.throwIfAborted();
    if (speed !== undefined && previous !== undefined && event.ts_event_ns > previous) {
      await sleep(Number(event.ts_event_ns - previous) / 1e6 / speed, options.signal);
    } else if (++sinceYield === 4096) {
      // Let timers and signals run during a long replay at full speed.
      sinceYield = 0;
      await new Promise((resolve) => setImmediate(resolve));
    }
    previous = event.ts_event_ns;
    bus.publish(event);
  }
  return stats;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener("abort", abort);
      resolve();
    }
    function abort() {
      clearTimeout(timer);
      reject(signal?.reason);
    }
    signal?.addEventListener("abort", abort, { once: true });
  });
}

/** Request tables: they carry the symbol of the orders that responses answer. */
const REQUEST_TABLES = EVENT_TYPES.filter((t) => {
  const names = Object.keys(catalog[t].fields);
  return names.includes("system_order_id") && names.includes("symbol");
}).map((t) => catalog[t].table);

function openStream(
  db: RunsDb,
  type: EventType,
  runId: string,
  bySeq: boolean,
  options: ReplayOptions,
): Stream {
  const fields = fieldsOf(type);
  const names = fields.map(([name]) => name);
  const where = ["run_id = ?"];
  const params: SqlValue[] = [runId];
  if (options.from !== undefined) {
    where.push("ts_event_ns >= ?");
    params.push(options.from);
  }
  if (options.to !== undefined) {
    where.push("ts_event_ns <= ?");
    params.push(options.to);
  }
  if (options.symbols !== undefined) {
    const marks = options.symbols.map(() => "?").join(", ");
    if (names.includes("symbol")) {
      where.push(`symbol IN (${marks})`);
      params.push(...options.symbols);
    } else {
      const requests = REQUEST_TABLES.map(
        (t) => `SELECT system_order_id FROM ${t} WHERE run_id = ? AND symbol IN (${marks})`,
      );
      where.push(`associated_order_id IN (${requests.join(" UNION ")})`);
      for (const _ of REQUEST_TABLES) params.push(runId, ...options.symbols);
    }
  }
  const order = bySeq ? SEQ_COLUMN : "id";
  const key = bySeq ? SEQ_COLUMN : "ts_created_ns";
  const sql = `SELECT id, ${key} AS merge_key, ${names.join(", ")} FROM ${catalog[type].table} WHERE ${where.join(" AND ")} ORDER BY ${order}`;
  const statement = db.sqlite.prepare(sql);
  const stream: Stream = {
    rows: statement.iterate(...params) as Iterator<Record<string, SqlValue>>,
    statement,
    decode: decoder(type, catalog[type].table, fields),
    rank: EVENT_TYPES.indexOf(type),
    head: undefined,
    key: 0n,
  };
  advance(stream, bySeq);
  return stream;
}

function advance(stream: Stream, bySeq: boolean): void {
  const next = stream.rows.next();
  stream.head = next.done ? undefined : next.value;
  if (stream.head !== undefined) {
    const key = stream.head.merge_key;
    if (typeof key !== "bigint") {
      const row = stream.head;
      stream.head = undefined;
      throw new RuntapeError(
        `row ${row.id} has no ${bySeq ? SEQ_COLUMN : "ts_created_ns"}: cannot place it in the run's order`,
        "ROW_DECODE",
      );
    }
    stream.key = key;
  }
}

/** The stream whose head comes first: smallest key, then catalog order. */
function earliest(streams: Stream[]): Stream | undefined {
  let best: Stream | undefined;
  for (const s of streams) {
    if (s.head === undefined) continue;
    if (best === undefined || s.key < best.key || (s.key === best.key && s.rank < best.rank))
      best = s;
  }
  return best;
}

/**
 * Turns a row of `table` into an event, checking each value with the catalog's predicates.
 * Compiled once per table from the catalog: a fixed-shape object literal and straight-line checks
 * instead of a loop over the fields, because decoding is most of what a replay costs.
 */
function decoder(
  type: EventType,
  table: string,
  fields: readonly (readonly [string, Field<unknown>])[],
): (row: Record<string, SqlValue>) => Event | RowDecodeError {
  const fail = (i: number, row: Record<string, SqlValue>, value: unknown): RowDecodeError => {
    const [name, field] = fields[i] as readonly [string, Field<unknown>];
    return new RowDecodeError(table, row.id as bigint, name, row[name], refusal(field, value));
  };
  const lines = fields.map(([name, field], i) => {
    const read = `let v${i} = row[${JSON.stringify(name)}];`;
    const convert = field.fromSql ? ` v${i} = f[${i}].fromSql(v${i});` : "";
    return `${read}${convert} if (!f[${i}].is(v${i})) return fail(${i}, row, v${i});`;
  });
  const literal = fields.map(([name], i) => `${JSON.stringify(name)}: v${i}`).join(", ");
  const body = `return (row) => {\n${lines.join("\n")}\nreturn { type: ${JSON.stringify(type)}, ${literal} };\n};`;
  return new Function("f", "fail", body)(
    fields.map(([, field]) => field),
    fail,
  ) as (row: Record<string, SqlValue>) => Event | RowDecodeError;
}
