import type { Statement } from "bun:sqlite";
import * as v from "valibot";
import type { EventBus } from "./bus.ts";
import { CausalGate, type GatedStream } from "./causal.ts";
import { asRunsDb, endRead, type RunsDb, toDbError } from "./db.ts";
import { describeValue, IneffectiveOptionError, RowDecodeError, RuntapeError } from "./errors.ts";
import { defaultCatalog, type Event, type EventType } from "./events/catalog.ts";
import type { EventCatalog } from "./events/event-catalog.ts";
import { asInt64, type Field, nullable, type SqlValue, text } from "./events/fields.ts";
import { refusal } from "./events/schemas.ts";
import type { LineBuffer } from "./formats/line-buffer.ts";
import { lineWriter, lowPart } from "./formats/ndjson-lines.ts";
import type { Int64Style } from "./json.ts";
import { checkOptions } from "./options.ts";
import { Pacer } from "./pacing.ts";
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
   * so whole order lifecycles stay together. Types that belong to no symbol are left out.
   */
  symbols?: readonly string[];
  /** Inclusive window on `ts_event_ns`. */
  from?: bigint;
  to?: bigint;
  /** At most this many events. */
  limit?: number;
  /**
   * A row that does not decode throws RowDecodeError (default), or is skipped and counted, or is
   * skipped, counted and handed to the function given.
   */
  onInvalidRow?: "throw" | "skip" | ((error: RowDecodeError) => void);
  /** Filled in as the replay goes: the run replayed, events yielded and rows skipped. */
  stats?: ReplayStats;
}

const ReplayOptionsSchema = v.object({
  run: v.optional(v.string("expected a run id")),
  stats: v.optional(v.object({ runId: v.string(), events: v.number(), skipped: v.number() })),
  // SliceOptions' window on seq, for replay-parallel's threads.
  seqRange: v.optional(v.tuple([v.number(), v.number()])),
  // Names checked against the file's catalog once it is open.
  types: v.optional(v.pipe(v.array(v.string()), v.minLength(1, "expected an event type"))),
  excludeTypes: v.optional(v.array(v.string())),
  symbols: v.optional(v.pipe(v.array(v.string()), v.minLength(1, "expected a symbol"))),
  from: v.optional(v.bigint("expected a bigint (nanoseconds)")),
  to: v.optional(v.bigint("expected a bigint (nanoseconds)")),
  limit: v.optional(
    v.pipe(
      v.number("expected a whole number"),
      v.safeInteger("expected a whole number"),
      v.minValue(0, "expected ≥ 0"),
    ),
  ),
  onInvalidRow: v.optional(
    v.union(
      [v.picklist(["throw", "skip"]), v.function()],
      'expected "throw", "skip" or a function',
    ),
  ),
});

/**
 * Replay options with a window on the sequence column, `[from, to)`: one slice of a runtape run,
 * for the threads that encode a run's lines slice by slice (src/replay-parallel.ts).
 */
export type SliceOptions = ReplayOptions & { seqRange?: readonly [number, number] };

/** What a replay went through. */
export interface ReplayStats {
  runId: string;
  events: number;
  skipped: number;
}

/**
 * One table's rows of a run in the merge that puts a run back in publication order. Exported for
 * the store's replay, which feeds the same merge page by page: one ordering rule for every source.
 */
export interface Stream<T = Event> {
  readonly type: string;
  readonly table: string;
  /** The rows at hand, in table order (the store's replay swaps in the next page). */
  rows: Iterator<Record<string, SqlValue>>;
  readonly decode: (row: Record<string, SqlValue>) => T | RowDecodeError;
  /** Catalog position: the last tie-break, the order in which one moment's events arise. */
  readonly rank: number;
  head: Record<string, SqlValue> | undefined;
  /** `seq`, or for Python-written rows `ts_created_ns`. */
  key: bigint | number;
}

/**
 * The events of one run, streamed in publication order as typed events equal to those recorded.
 *
 * Runs recorded by runtape are merged across tables on their sequence number: the exact order.
 * Runs written by the Python recorder carry none; their tables (each in `id` order, which is
 * publication order within a table) are merged on `ts_created_ns`, the moment each event was
 * built, then `ts_event_ns`, then catalog order (bar, processed bar, requests, responses), and no
 * event comes before its cause (a response before its request, a fill before its order's
 * acceptance, a processed bar before its bar: see src/causal.ts). That restores the publication
 * order of the reference fixture without a single event out of place, stays close when its clock
 * is coarsened to a millisecond, and matches the naive merge on runs published from several
 * threads, whose exact order no column holds (`bun scripts/measure-order.ts`).
 *
 * Opens a path read-only and never writes to it; closes it when done, when the consumer stops
 * early and on error. Memory stays flat: one row per table is held. Rows that do not decode
 * throw RowDecodeError, or with `onInvalidRow: "skip"` are counted in `stats.skipped`.
 */
export function replay(source: string | RunsDb, options: ReplayOptions = {}): Generator<Event> {
  // merge's own generator, not one delegating to it: a second resume per event cost 2–8% of a replay.
  return merge(source, options, (db, type) => ({
    columns: selectColumns(db, type),
    decode: decoder(type, db.catalog.table(type), db.catalog.fields(type)),
  }));
}

/**
 * How a merge reads one table of a run: the SELECT list of its fields and what a row becomes;
 * `floats`: every integer read as a float (a key or id too: see keysAreFloats), not a bigint.
 */
type RowReader<T> = (
  db: RunsDb,
  type: string,
  bySeq: boolean,
  runId: string,
) => {
  columns: string[];
  decode: (row: Record<string, SqlValue>) => T | RowDecodeError;
  floats?: boolean;
};

/**
 * Writes the run's NDJSON lines into `out`, byte for byte `encodeEvent` (or, with `int64`
 * "string", `encodeEventInt64Strings`) of each event {@link replay} yields, newline after each
 * (same filters, order, checks and errors); yields after each line, for the caller to take what
 * is written. For runs that carry `seq`, no event is built: 64-bit integers are read as floats,
 * a timestamp in two parts that a float holds (see lowPart), for bigints cost more than the rest
 * of the replay and SQLite's text of an integer a third of its reading; stored indicators are
 * copied from their text (see writeStoredIndicators). A row whose integers are not stored as
 * integers, whose indicators are not in Python's form, or that fails a check, is read again by id
 * and goes through the event path, so errors and foreign storage classes come out exactly as
 * replay's.
 */
export function replayLines(
  source: string | RunsDb,
  options: SliceOptions,
  int64: Int64Style,
  out: LineBuffer,
): Generator<void> {
  return merge(source, options, (db, type, bySeq, runId) => {
    const table = db.catalog.table(type);
    const fields = db.catalog.fields(type);
    const columns = selectColumns(db, type);
    const decode = decoder(type, table, fields);
    const write = lineWriter(type as EventType, int64);
    const viaEvent = (row: Record<string, SqlValue>): undefined | RowDecodeError => {
      const event = decode(row);
      if (event instanceof RowDecodeError) return event;
      write(event as unknown as Record<string, unknown>, out);
    };
    // Python-written runs are merged on ts_event_ns and gated on their causes: bigints there.
    if (!bySeq || !keysAreFloats(db, table, runId)) return { columns, decode: viaEvent };
    const again = `SELECT id, ${columns.join(", ")} FROM ${table} WHERE id = ?`;
    // Timestamps' high parts go back into the row (indicators stay their text: see lineWriter).
    const converted = fields.flatMap(([name, field], i) =>
      field.kind === "ns" ? [`row[${JSON.stringify(name)}] = v${i}`] : [],
    );
    const fast = compileRow<Record<string, unknown>>(
      table,
      fields,
      `(${[...converted, "row"].join(", ")})`,
      "row",
    );
    const writeRow = lineWriter(type as EventType, int64, "row");
    return {
      columns: columns.flatMap((column, i) => {
        const [name, field] = fields[i] as readonly [string, Field<unknown>];
        if (column !== name || field.kind !== "ns") return [column];
        return [column, `${name} % ${NS_LOW} AS "${lowPart(name)}"`];
      }),
      floats: true,
      decode: (row) => {
        const record = fast(row);
        if (!(record instanceof RowDecodeError) && writeRow(record, out)) return;
        return viaEvent(db.sqlite.query(again).get(rowId(row)) as Record<string, SqlValue>);
      },
    };
  });
}

/** What splits a timestamp into the parts a float holds (see lowPart). */
const NS_LOW = 1_000_000_000;

/**
 * The high part of a stored timestamp read as a float, `value`, and its low part, `low`: exact,
 * for the value is within 512 of the float, and NaN where the two are no 64-bit integer (a REAL
 * with a fraction, or beyond the 64-bit range; such rows take the event path).
 */
function highPart(value: number, low: unknown): number {
  if (typeof low !== "number") return Number.NaN;
  const magnitude = Math.abs(value);
  if (magnitude <= Number.MAX_SAFE_INTEGER) {
    return Number.isInteger(value) ? (value - low) / NS_LOW : Number.NaN;
  }
  return magnitude < TWO_63 ? Math.round((value - low) / NS_LOW) : Number.NaN;
}

const TWO_63 = 2 ** 63;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * Whether floats hold every id of `table` and every `seq` of the run there exactly (so for every
 * run a recorder writes): its rows can then be read with integers as floats, no bigint made.
 * Four lookups at the ends of the indexes.
 */
function keysAreFloats(db: RunsDb, table: string, runId: string): boolean {
  const ends = db.sqlite
    .query(
      `SELECT (SELECT min(id) FROM ${table}), (SELECT max(id) FROM ${table}), (SELECT min(${SEQ_COLUMN}) FROM ${table} WHERE run_id = ?1), (SELECT max(${SEQ_COLUMN}) FROM ${table} WHERE run_id = ?1)`,
    )
    .values(runId)[0] as SqlValue[];
  return ends.every(
    (end) =>
      end === null ||
      (typeof end === "bigint" && end >= -MAX_SAFE && end <= MAX_SAFE) ||
      (typeof end === "number" && Math.abs(end) <= Number.MAX_SAFE_INTEGER),
  );
}

/**
 * Throws RuntapeError (INVALID_OPTION) for options that are no {@link ReplayOptions}, and
 * IneffectiveOptionError where `types` and `excludeTypes` both name a type (which would leave
 * it out however it was asked for): what every source checks before it reads (one face, one set of rules; see
 * checkReplayTypes for the rest).
 */
export function checkReplayOptions(options: unknown): asserts options is ReplayOptions {
  checkOptions(ReplayOptionsSchema, options, "replay");
  const { types, excludeTypes } = options as ReplayOptions;
  const both = types?.find((type) => excludeTypes?.includes(type));
  if (both !== undefined) {
    throw new IneffectiveOptionError(
      "replay",
      ["types", "excludeTypes"],
      ` both name ${both}: it would replay none`,
    );
  }
}

/**
 * Throws RuntapeError (INVALID_OPTION) for an event type of `types` or `excludeTypes` that
 * `catalog`, the one the source reads with, does not know: a name mistyped would otherwise
 * select nothing, or leave out nothing, without a word.
 */
export function checkReplayTypes(options: ReplayOptions, catalog: EventCatalog): void {
  for (const key of ["types", "excludeTypes"] as const) {
    const unknown = options[key]?.find((type) => !catalog.types.includes(type));
    if (unknown !== undefined) {
      throw new RuntapeError(
        `replay option ${key}: unknown event type ${JSON.stringify(unknown)}`,
        "INVALID_OPTION",
      );
    }
  }
}

/**
 * What a replay does with a row that does not decode, as `onInvalidRow` says: throw it, or count
 * it in `stats.skipped` (and hand it to the function given).
 */
export function invalidRowHandler(
  options: ReplayOptions,
  stats: ReplayStats,
): (error: RowDecodeError) => void {
  const onInvalid = options.onInvalidRow ?? "throw";
  return (error) => {
    if (onInvalid === "throw") throw error;
    stats.skipped++;
    if (typeof onInvalid === "function") onInvalid(error);
  };
}

function* merge<T>(
  source: string | RunsDb,
  options: SliceOptions,
  reader: RowReader<T>,
): Generator<T> {
  checkReplayOptions(options);
  const db = asRunsDb(source);
  const streams: Stream<T>[] = [];
  const statements: Statement[] = [];
  let gate: CausalGate | undefined;
  // One read transaction: a run being recorded meanwhile replays as one moment of it, every table
  // cut at the same point, never a later event without the earlier ones of another table.
  const snapshot = !db.sqlite.inTransaction;
  try {
    if (snapshot) db.sqlite.exec("BEGIN");
    const runId = resolveRunId(db, options.run);
    const stats = options.stats ?? { runId, events: 0, skipped: 0 };
    stats.runId = runId;
    const reject = invalidRowHandler(options, stats);
    checkReplayTypes(options, db.catalog);
    const bySeq = hasSequence(db, runId);
    const excluded = new Set<string>(options.excludeTypes ?? []);
    const wanted = options.types && new Set<string>(options.types);
    // Tables that the file's layout predates hold no events.
    const gated: GatedStream[] = [];
    for (const type of db.catalog.typesAt(db.version)) {
      if ((wanted && !wanted.has(type)) || excluded.has(type)) continue;
      const [stream, statement, filter] = openStream(db, type, runId, bySeq, options, reader);
      statements.push(statement); // before its first row: finalized even if that row throws
      advance(stream, bySeq, reject);
      if (stream.head !== undefined) streams.push(stream);
      gated.push({ stream, ...filter });
    }
    // Sequence numbers are the exact order; without them causes go first.
    if (!bySeq) gate = new CausalGate(db, gated);
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    for (let yielded = 0; yielded < limit; ) {
      const stream = gate ? earliestReady(streams, gate) : earliest(streams);
      if (stream === undefined) break;
      const decoded = stream.decode(stream.head as Record<string, SqlValue>);
      advance(stream, bySeq, reject);
      gate?.moved(stream);
      if (decoded instanceof RowDecodeError) {
        reject(decoded);
        continue;
      }
      yielded++;
      stats.events++;
      yield decoded;
    }
  } catch (error) {
    throw toDbError(db.path, error);
  } finally {
    for (const statement of statements) statement.finalize();
    gate?.finalize();
    if (snapshot) endRead(db);
    if (typeof source === "string") db.close();
  }
}

const PacingOptionsSchema = v.object({
  speed: v.optional(
    v.pipe(
      v.number("expected a number ≥ 0 (0: as fast as possible)"),
      v.minValue(0, "expected a number ≥ 0 (0: as fast as possible)"),
    ),
  ),
  signal: v.optional(v.instance(AbortSignal, "expected an AbortSignal")),
});

/**
 * Publishes the events of a run onto `bus` (see {@link replay} for the options), each one only
 * after the bus has finished with the one before. Resolves with the summary when done; rejects
 * with the signal's reason when aborted (the database is closed either way). A `bus` without a
 * `publish` method, or options of the wrong type, throw RuntapeError (INVALID_OPTION).
 */
export async function replayOnto(
  bus: EventBus,
  source: string | RunsDb,
  options: ReplayOptions & {
    /**
     * 1 = the original pace of `ts_event_ns`, 60 = sixty times faster; left out, 0 or Infinity:
     * as fast as possible (no pacing at all). A negative speed or NaN is refused.
     */
    speed?: number;
    signal?: AbortSignal;
  } = {},
): Promise<ReplayStats> {
  if (typeof (bus as Partial<EventBus> | null)?.publish !== "function") {
    throw new RuntapeError(
      `replay: expected an EventBus to publish onto (got ${describeValue(bus)})`,
      "INVALID_OPTION",
    );
  }
  const { speed, signal, ...replayOptions } = options;
  checkOptions(PacingOptionsSchema, { speed, signal }, "replay");
  const stats: ReplayStats = options.stats ?? { runId: "", events: 0, skipped: 0 };
  const pacer = new Pacer(speed, signal);
  for (const event of replay(source, { ...replayOptions, stats })) {
    const due = pacer.wait(event.ts_event_ns);
    if (due !== undefined) await due;
    bus.publish(event);
  }
  return stats;
}

/**
 * The condition that keeps a row of `type` in a replay of `symbols`: its symbol field, or for a
 * type without one that points to an order, the symbol of the request naming that order (whole
 * order lifecycles stay together). A type with neither belongs to no symbol and is left out.
 */
function symbolFilter(
  db: RunsDb,
  type: string,
  symbols: readonly string[],
): { sql: string; params: SqlValue[] } {
  const link = db.catalog.symbolLink(type, db.version);
  const marks = symbols.map(() => "?").join(", ");
  if (link === undefined) return { sql: "0", params: [] };
  if ("field" in link) return { sql: `${link.field} IN (${marks})`, params: [...symbols] };
  const table = db.catalog.table(type);
  // Row by row through the order id index (`+run_id` keeps the planner off the run index, which
  // would scan every request of the run per response): flat memory, no set built.
  const exists = link.requests.map(
    (r) =>
      `EXISTS (SELECT 1 FROM ${r.table} r WHERE r.${r.orderId} = ${table}.${link.orderId} AND +r.run_id = ${table}.run_id AND r.${r.symbol} IN (${marks}))`,
  );
  return { sql: `(${exists.join(" OR ")})`, params: link.requests.flatMap(() => symbols) };
}

function openStream<T>(
  db: RunsDb,
  type: string,
  runId: string,
  bySeq: boolean,
  options: SliceOptions,
  reader: RowReader<T>,
): [Stream<T>, Statement, { where: string; params: SqlValue[] }] {
  const table = db.catalog.table(type);
  const { columns, decode, floats } = reader(db, type, bySeq, runId);
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
  if (options.seqRange !== undefined) {
    where.push(`${SEQ_COLUMN} >= ? AND ${SEQ_COLUMN} < ?`);
    params.push(...options.seqRange);
  }
  if (options.symbols !== undefined) {
    const filter = symbolFilter(db, type, options.symbols);
    where.push(filter.sql);
    params.push(...filter.params);
  }
  // A runtape row's id and sequence number come as floats where one holds them exactly (as for
  // every row a recorder writes): a bigint each per row costs a sixth of the replay. Keys stay
  // comparable (see advance); the causal gate of Python-written rows works on bigint ids. Where
  // the reader takes every integer as a float, the table's keys are known to fit one.
  const [id, key] = floats
    ? ["id", SEQ_COLUMN]
    : bySeq
      ? [asFloat("id"), asFloat(SEQ_COLUMN)]
      : ["id", "ts_created_ns"];
  const sql = `SELECT ${id} AS id, ${key} AS merge_key, ${columns.join(", ")} FROM ${table} WHERE ${where.join(" AND ")} ORDER BY ${bySeq ? SEQ_COLUMN : "id"}`;
  const statement = db.sqlite.prepare(sql);
  if (floats) statement.safeIntegers(false);
  const rows = statement.iterate(...params) as Iterator<Record<string, SqlValue>>;
  return [
    newStream(type, rows, db.catalog, decode),
    statement,
    { where: where.join(" AND "), params },
  ];
}

/**
 * An integer `column` as a float where one holds it exactly, as stored anywhere else. No typeof()
 * call: SQLite orders text and blobs after every number and compares NULL as unknown, so the range
 * alone lets only numbers through, and a float in range stays the same float (~6% of the query).
 */
const asFloat = (column: string) =>
  `CASE WHEN ${column} BETWEEN ${-Number.MAX_SAFE_INTEGER} AND ${Number.MAX_SAFE_INTEGER} THEN ${column} + 0.0 ELSE ${column} END`;

/** A row's id as RowDecodeError takes it: runtape rows are read with a float id (see openStream). */
const rowId = (row: Record<string, SqlValue>): bigint =>
  typeof row.id === "number" ? BigInt(row.id) : (row.id as bigint);

/** The fields of `type` as a SELECT list; a column newer than the file reads as NULL, as the migration would leave it. */
export function selectColumns(db: RunsDb, type: string): string[] {
  return db.catalog
    .fields(type)
    .map(([name]) => (db.catalog.sinceOf(type, name) <= db.version ? name : `NULL AS ${name}`));
}

/** A stream of `type`'s rows, before its first row; by default its rows become events. */
export function newStream<T = Event>(
  type: string,
  rows: Iterator<Record<string, SqlValue>>,
  cat: EventCatalog = defaultCatalog,
  decode?: (row: Record<string, SqlValue>) => T | RowDecodeError,
): Stream<T> {
  const table = cat.table(type);
  return {
    type,
    table,
    rows,
    decode: decode ?? (decoder(type, table, cat.fields(type)) as Stream<T>["decode"]),
    rank: cat.types.indexOf(type),
    head: undefined,
    key: 0n,
  };
}

/** Moves to the stream's next row that can be placed in the run's order. */
export function advance(
  stream: Stream<unknown>,
  bySeq: boolean,
  reject: (error: RowDecodeError) => void,
): void {
  for (;;) {
    const next = stream.rows.next();
    const row = next.done ? undefined : next.value;
    stream.head = row;
    if (row === undefined) return;
    // Both are ns columns: an integral REAL there is placed by its exact value, as it decodes. A
    // key is a number where a float holds it exactly and a bigint beyond, so equal keys compare
    // equal and all compare exactly.
    const raw = row.merge_key;
    const key = typeof raw === "number" && Number.isSafeInteger(raw) ? raw : asInt64(raw);
    if (typeof key === "bigint" || Number.isSafeInteger(key)) {
      stream.key = key as bigint | number;
      return;
    }
    const column = bySeq ? SEQ_COLUMN : "ts_created_ns";
    stream.head = undefined;
    reject(
      new RowDecodeError(
        stream.table,
        rowId(row),
        column,
        key,
        "cannot place the row in the run's order",
      ),
    );
  }
}

/**
 * Negative, zero or positive as the head of `a` comes before, with or after that of `b` on equal
 * keys: by `ts_event_ns`, for Python-written rows within one clock tick the earlier fact first.
 * Read only where two keys are equal (for runtape's rows, damaged `seq`s), not for every row. A
 * bad ts_event_ns is reported by the decoder, and any order will do until then.
 */
const tieOrder = (a: Stream<unknown>, b: Stream<unknown>): number => {
  const x = tieOf(a);
  const y = tieOf(b);
  return x < y ? -1 : x > y ? 1 : 0;
};

const tieOf = (s: Stream<unknown>): bigint => {
  const raw = s.head?.ts_event_ns;
  const low = s.head?.[TIE_LOW];
  if (typeof raw === "number" && typeof low === "number") {
    // Read as floats (see replayLines): the value is exact from its parts.
    const high = highPart(raw, low);
    return Number.isNaN(high) ? 0n : BigInt(high) * BigInt(NS_LOW) + BigInt(low);
  }
  const tie = asInt64(raw);
  return typeof tie === "bigint" ? tie : 0n;
};

const TIE_LOW = lowPart("ts_event_ns");

/** The stream whose head comes first: smallest key, then tie, then catalog order. */
export function earliest<S extends Stream<unknown>>(streams: S[]): S | undefined {
  let best: S | undefined;
  for (const s of streams) {
    if (s.head === undefined) continue;
    if (
      best === undefined ||
      s.key < best.key ||
      (s.key === best.key && (tieOrder(s, best) || s.rank - best.rank) < 0)
    )
      best = s;
  }
  return best;
}

/**
 * The earliest stream whose head the gate lets through. Should every head be held (a cause that
 * never comes), the earliest of all: the replay never stalls.
 */
function earliestReady<S extends Stream<unknown>>(streams: S[], gate: CausalGate): S | undefined {
  let candidates = streams;
  for (;;) {
    const best = earliest(candidates);
    if (best === undefined) return earliest(streams);
    if (gate.ready(best)) return best;
    candidates = candidates.filter((s) => s !== best);
  }
}

/**
 * The check of value `v<i>` of `field`, named `name`, as code. A stored integer is a 64-bit one
 * (SQLite's and PostgreSQL's integers are), so for 64-bit integers the type alone is the whole
 * rule, without the range comparisons of `is`; other kinds are checked by their `isCode`, or else
 * their predicate. Read as floats (`integers` "float", see replayLines), an integer is one a
 * float holds, and a timestamp becomes its high part, NaN where it is no 64-bit integer.
 */
function check(
  field: Field<unknown>,
  i: number,
  name: string,
  integers: "bigint" | "float",
): string {
  const value = `v${i}`;
  if (field.kind === "ns" || field.kind === "int") {
    const nullable = field.notNull ? "" : `${value} === null || `;
    if (integers === "bigint") return `(${nullable}typeof ${value} === "bigint")`;
    if (field.kind === "int") return `(${nullable}Number.isSafeInteger(${value}))`;
    const low = `row[${JSON.stringify(lowPart(name))}]`;
    return `(${nullable}(typeof ${value} === "number" && !Number.isNaN(${value} = high(${value}, ${low}))))`;
  }
  // SQLite's text comes back as well-formed strings: the lone surrogates a value from elsewhere
  // is checked for cannot be there.
  if (field.kind === "text") {
    const nullable = field.notNull ? "" : `${value} === null || `;
    return `(${nullable}typeof ${value} === "string")`;
  }
  return field.isCode ? `(${field.isCode(value)})` : `f[${i}].is(${value})`;
}

/**
 * Turns a row of `table` into an event, checking each value with the catalog's predicates.
 * Compiled once per table from the catalog: a fixed-shape object literal and straight-line checks
 * instead of a loop over the fields, because decoding is most of what a replay costs.
 */
function decoder(
  type: string,
  table: string,
  fields: readonly (readonly [string, Field<unknown>])[],
): (row: Record<string, SqlValue>) => Event | RowDecodeError {
  const literal = fields.map(([name], i) => `${JSON.stringify(name)}: v${i}`).join(", ");
  return compileRow(table, fields, `{ type: ${JSON.stringify(type)}, ${literal} }`, "event");
}

/**
 * Whether replay would take a row of `type` (its {@link selectColumns}), by the decoder's own
 * checks but without building the event; `only` narrows them to some fields. The row's place in
 * the run's order (`seq`) is the caller's to check.
 */
export function rowCheck(
  db: RunsDb,
  type: string,
  only?: (field: string) => boolean,
): (row: Record<string, SqlValue>) => boolean {
  // The catalog's own array, or one kept per selection, so that compileRow's cache holds: inspect
  // --check asks for every table of every run, and compiling anew each time was a quarter of its
  // time over thousands of small runs.
  const all = db.catalog.fields(type);
  const fields = only === undefined ? all : selection(all, only);
  return compileRow<boolean>(db.catalog.table(type), fields, "true", "check") as (
    row: Record<string, SqlValue>,
  ) => boolean;
}

/** The fields of `all` that `only` takes, the same array each time it takes the same ones. */
function selection(
  all: readonly (readonly [string, Field<unknown>])[],
  only: (field: string) => boolean,
): readonly (readonly [string, Field<unknown>])[] {
  const fields = all.filter(([name]) => only(name));
  if (fields.length === all.length) return all;
  let kept = selections.get(all);
  if (kept === undefined) {
    kept = new Map();
    selections.set(all, kept);
  }
  const key = fields.map(([name]) => name).join("\0");
  const known = kept.get(key);
  if (known !== undefined) return known;
  kept.set(key, fields);
  return fields;
}

const selections = new WeakMap<
  readonly (readonly [string, Field<unknown>])[],
  Map<string, readonly (readonly [string, Field<unknown>])[]>
>();

/**
 * The row's checks as {@link decoder} makes them, then `result` (an expression over `v0`…, and
 * `row`). `stored` leaves a stored form as it is stored (indicators stay their JSON text); `row`
 * does too, takes 64-bit integers as a row read with floats holds them (see lineWriter's "row")
 * and tries no foreign storage class. `check` is `event` that answers false for a row it refuses
 * (no RowDecodeError to build).
 */
function compileRow<T>(
  table: string,
  fields: readonly (readonly [string, Field<unknown>])[],
  result: string,
  mode: Mode,
): (row: Record<string, SqlValue>) => T | RowDecodeError {
  // Compiled once per shape: a run replayed slice by slice would otherwise compile them per slice
  // and run them cold each time (3× slower).
  let compiled = compiledRows.get(fields);
  if (compiled === undefined) {
    compiled = new Map();
    compiledRows.set(fields, compiled);
  }
  const key = `${table}\0${mode}\0${result}`;
  let row = compiled.get(key);
  if (row === undefined) {
    row = compileRowAnew(table, fields, result, mode);
    compiled.set(key, row);
  }
  return row as (row: Record<string, SqlValue>) => T | RowDecodeError;
}

type Mode = "event" | "check" | "stored" | "row";

const compiledRows = new WeakMap<
  readonly (readonly [string, Field<unknown>])[],
  Map<string, (row: Record<string, SqlValue>) => unknown>
>();

function compileRowAnew<T>(
  table: string,
  fields: readonly (readonly [string, Field<unknown>])[],
  result: string,
  mode: Mode,
): (row: Record<string, SqlValue>) => T | RowDecodeError {
  const integers = mode === "row" ? "float" : "bigint";
  const fail =
    mode === "check"
      ? () => false
      : (i: number, row: Record<string, SqlValue>, value: unknown): RowDecodeError => {
          const [name, field] = fields[i] as readonly [string, Field<unknown>];
          return new RowDecodeError(table, rowId(row), name, row[name], refusal(field, value));
        };
  const lines = fields.map(([name, field], i) => {
    const read = `let v${i} = row[${JSON.stringify(name)}];`;
    if ((mode === "stored" || mode === "row") && field.fromSql) {
      // Its stored form is text (indicators' JSON), checked as text is.
      const stored = (field.notNull ? text : nullable(text)) as Field<unknown>;
      return `${read} if (!${check(stored, i, name, integers)}) return fail(${i}, row, v${i});`;
    }
    const fromSql = field.fromSql ? ` v${i} = f[${i}].fromSql(v${i});` : "";
    const foreign =
      field.fromForeign && mode !== "row"
        ? ` && !f[${i}].is(v${i} = f[${i}].fromForeign(v${i}))`
        : "";
    return `${read}${fromSql} if (!${check(field, i, name, integers)}${foreign}) return fail(${i}, row, v${i});`;
  });
  const body = `return (row) => {\n${lines.join("\n")}\nreturn ${result};\n};`;
  return new Function("f", "fail", "high", body)(
    fields.map(([, field]) => field),
    fail,
    highPart,
  ) as (row: Record<string, SqlValue>) => T | RowDecodeError;
}

/**
 * One run's rows of `type` as stored, in `seq` order: the values of the catalog's fields, then
 * `seq`, each checked as replay checks it (a row that fails throws RowDecodeError), but left in
 * its stored form: indicators are the JSON text stored, not an object. For runs that carry `seq`
 * (see hasSequence); `seq` is then the event's position in the whole run. What an export copies
 * without building events; the caller holds the read transaction that spans a run's tables.
 */
export function* storedRows(db: RunsDb, type: EventType, runId: string): Generator<SqlValue[]> {
  const table = db.catalog.table(type);
  const fields = db.catalog.fields(type);
  const columns = selectColumns(db, type);
  const values = compileRow<SqlValue[]>(
    table,
    fields,
    `[${fields.map((_, i) => `v${i}`).join(", ")}, row.${SEQ_COLUMN}]`,
    "stored",
  );
  const statement = db.sqlite.prepare(
    `SELECT id, ${SEQ_COLUMN}, ${columns.join(", ")} FROM ${table} WHERE run_id = ? ORDER BY ${SEQ_COLUMN}`,
  );
  try {
    for (const row of statement.iterate(runId) as Iterable<Record<string, SqlValue>>) {
      const seq = asInt64(row[SEQ_COLUMN]);
      if (typeof seq !== "bigint") {
        const reason = "cannot place the row in the run's order";
        throw new RowDecodeError(table, row.id as bigint, SEQ_COLUMN, seq, reason);
      }
      row[SEQ_COLUMN] = seq;
      const result = values(row);
      if (result instanceof RowDecodeError) throw result;
      yield result;
    }
  } catch (error) {
    throw toDbError(db.path, error);
  } finally {
    statement.finalize();
  }
}
