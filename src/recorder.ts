import { resolve } from "node:path";
import * as v from "valibot";
import type { EventBus, SubscribeOptions } from "./bus.ts";
import { asRunsDb, type RunsDb, sqliteCode, toDbError } from "./db.ts";
import { DuplicateRunError, describeValue, RuntapeError } from "./errors.ts";
import type { Event } from "./events/catalog.ts";
import { nowNs } from "./events/clock.ts";
import type { Field, SqlValue } from "./events/fields.ts";
import { invalid, unknownTypeError } from "./events/schemas.ts";
import { summarizeClosedRun } from "./inspect/summary.ts";
import { withMembers } from "./json.ts";
import { checkOptions } from "./options.ts";
import { type Batch, CHUNK_ROWS, readyForBatches, tableSql } from "./recorder-batch.ts";
import { type BatchSink, inlineSink, threadSink } from "./recorder-sink.ts";
import { checkRunId, jsonColumnOf, RUN_STATUSES, type RunStatus, recorderHost } from "./runs.ts";
import { TradingTally } from "./trading.ts";

/** Options of {@link Recorder.start}. */
export interface RecorderOptions {
  /** Default: a new time-ordered UUID (v7). An id that already exists is refused. */
  runId?: string;
  /** Default: the run id. */
  name?: string;
  config?: Record<string, unknown> | null;
  metadata?: Record<string, unknown> | null;
  /**
   * Buffered events that trigger a flush before their age does: the cap on the buffer's memory,
   * a whole number >= 1. Default 16,384. Each flush rewrites the partly filled last pages of every
   * table and index it touches, so fewer, larger flushes write fewer bytes per event.
   */
  batchSize?: number;
  /** Age of the oldest buffered event that triggers a flush: what a crash may lose. Default 100 ms. */
  flushIntervalMs?: number;
  /**
   * The file's journal when the recorder opens it by path: `wal` (default), or `rollback`, which
   * writes about half the bytes but holds each flush back while a reader is in a transaction
   * (see OpenOptions.journal).
   */
  journal?: "wal" | "rollback";
  /**
   * Store the batches on a thread of its own (a Worker with a second connection to the file):
   * `record` then returns while the last batch commits, and waits only if the thread is still
   * storing the batch before it. It makes a run faster where the strategy's own work per event is
   * about the recorder's or more (one backtest, live or paper trading), at about a fifth more CPU
   * and a second JavaScript heap. Where one process per core records at full speed (a sweep), in
   * line (the default) is faster. Every guarantee holds (order, refused events, a failed batch kept
   * for the next try); a crash may also lose the batch being stored.
   */
  thread?: boolean;
  /**
   * Ask Bun for a full garbage collection (`Bun.gc(true)`) each time another `batchSize` events
   * are stored. A stored batch is garbage that JavaScriptCore keeps room for until it collects
   * its old objects, so the heap grows batch by batch first: a 1M-event mixed recording peaks at
   * 71–75 MB with it, ~110 MB without (bars: 63–69 and ~80 MB), for up to ~10% more time. Each
   * collection pauses the whole process for as long as its heap takes to mark, a few ms where
   * the recorder is most of it: for a process that records and does little else, as `runtape
   * record`, `backtest` and `replay --into` do. A collection is skipped while the time since the
   * last one is under ten times what that one took, so that a large heap (a strategy's) costs at
   * most about a tenth of the time. With `thread`, the writer thread also collects its own heap
   * after each batch it stores, once the recorder may go on. Default false: a library leaves its
   * host's collections to the host.
   */
  collectGarbage?: boolean;
}

/** The longest timer Node's timers keep: a longer one fires after 1 ms, over and over. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The options {@link Recorder.start} takes; a caller that takes them among its own spreads it. */
export const RecorderOptionsSchema = v.object({
  runId: v.optional(v.string("expected text")),
  name: v.optional(v.string("expected text")),
  // Checked where they become JSON text (jsonColumnOf), which names what is wrong inside them.
  config: v.optional(v.unknown()),
  metadata: v.optional(v.unknown()),
  batchSize: v.optional(v.pipe(v.number(), v.safeInteger(), v.minValue(1))),
  flushIntervalMs: v.optional(
    v.pipe(v.number(), v.finite(), v.gtValue(0), v.maxValue(2 * MAX_TIMER_MS)),
  ),
  journal: v.optional(v.picklist(["wal", "rollback"], 'expected "wal" or "rollback"')),
  thread: v.optional(v.boolean()),
  collectGarbage: v.optional(v.boolean()),
});

/** What a run can be closed as. */
const CLOSED_STATUSES = RUN_STATUSES.filter((status) => status !== "running") as readonly string[];

/** What a finished recording holds. */
export interface RecordingSummary {
  runId: string;
  status: RunStatus;
  events: number;
  refused: number;
}

/** A run the process is leaving while it is still `running`: see {@link onExitWithOpenRuns}. */
export interface OpenRunAtExit {
  runId: string;
  path: string;
  /** Events recorded; all of them are stored (flushed at exit) unless the flush failed. */
  events: number;
}

/** Open recorders, each with what it does if the process exits before it is closed. */
const openRecorders = new Map<Recorder, () => OpenRunAtExit>();
const exitListeners = new Set<(runs: OpenRunAtExit[]) => void>();
let exitHooked = false;

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.once("exit", () => {
    if (openRecorders.size === 0) return;
    const runs = [...openRecorders.values()].map((leftOpen) => leftOpen());
    for (const listener of exitListeners) listener(runs);
  });
}

/**
 * Calls `listener` once, with every run still being recorded, if the process exits before they
 * are closed (a forgotten `close()`, `process.exit` in the middle of a backtest). Their buffered
 * events are stored first; the runs stay `running`, for `runtape recover`. The library prints
 * nothing itself: the CLI and `runtape/testing` turn this into a warning ({@link openRunsWarning}).
 * Returns the function that removes the listener.
 */
export function onExitWithOpenRuns(listener: (runs: OpenRunAtExit[]) => void): () => void {
  exitListeners.add(listener);
  return () => exitListeners.delete(listener);
}

/**
 * Closes every run this process is still recording with `status`, `metadata`'s members set in its
 * metadata (as {@link Recorder.close}: the rest, a backtest's lineage, is kept), for a process
 * that must end while its runs cannot (what it awaits will never settle): they are then ended,
 * not left `running` for `runtape recover`. A run that cannot be closed stays open, and is
 * reported at exit as any other. Returns the runs closed.
 */
export function closeOpenRuns(
  status: Exclude<RunStatus, "running">,
  metadata?: Record<string, unknown>,
): RecordingSummary[] {
  const closed: RecordingSummary[] = [];
  for (const recorder of [...openRecorders.keys()]) {
    try {
      closed.push(recorder.close(status, metadata));
    } catch {
      // Left open: the warning at exit names it.
    }
  }
  return closed;
}

/** One line for people about runs left open at exit. */
export function openRunsWarning(runs: readonly OpenRunAtExit[]): string {
  const list = runs.map((r) => `${r.runId} in ${r.path} (${r.events} events)`).join(", ");
  return `the process exited with ${runs.length === 1 ? "a run" : `${runs.length} runs`} still open: ${list}; close runs when done, or mark them with \`runtape recover\``;
}

interface TableWriter {
  readonly fields: readonly (readonly [string, Field<unknown>])[];
  /**
   * Writes the row of the event (run id, stored values, `seq`) into `values` from index `at` if
   * every field passes its check, else writes nothing and returns false. Compiled from the
   * catalog: one inline check per field, instead of a predicate call per value (350–490 against
   * 520–550 ms of CPU for 1M mixed events, timed alone), and stores by index into an array made
   * at its full size, where pushing grew each array step by step (the recorder's own work on 1M
   * events: mixed 763 → 609, bars 331 → 217 ms of CPU).
   */
  readonly push: (
    values: SqlValue[],
    at: number,
    event: Record<string, unknown>,
    runId: string,
    seq: number,
  ) => boolean;
  readonly width: number;
  /** Values of CHUNK_ROWS rows each, bound as they are: no copying at flush time. */
  full: SqlValue[][];
  /** The chunk being filled: room for CHUNK_ROWS rows, of which the first `filled` values are set. */
  values: SqlValue[];
  filled: number;
  /** Events of this type taken: the run's count, which closing stores without counting the table. */
  taken: number;
  /** Requests and fills: the recorder tallies their trading as it takes them. */
  readonly trades: boolean;
}

/** See TableWriter.push. */
function compilePush(fields: readonly (readonly [string, Field<unknown>])[]): TableWriter["push"] {
  const read = fields.map(([name], i) => `const v${i} = e[${JSON.stringify(name)}];`);
  const checks = fields.map(([, field], i) =>
    field.isCode ? `(${field.isCode(`v${i}`)})` : `f[${i}].is(v${i})`,
  );
  const stored = fields.map(([, field], i) => (field.toSql ? `f[${i}].toSql(v${i})` : `v${i}`));
  const writes = ["runId", ...stored, "seq"].map((value, i) => `values[at + ${i}] = ${value};`);
  const body = `return (values, at, e, runId, seq) => {\n${read.join("\n")}\nif (!(${checks.join(" && ")})) return false;\n${writes.join("\n")}\nreturn true;\n};`;
  return new Function("f", body)(fields.map(([, field]) => field));
}

/**
 * Throws RuntapeError (INVALID_OPTION) for options {@link Recorder.start} refuses, as it would
 * (`schema`: the caller's options, which hold the recorder's), before any database is touched;
 * returns the run id to use and the config and metadata as JSON text.
 */
export function checkRecorderOptions(
  options: RecorderOptions,
  what: string,
  schema: v.GenericSchema = RecorderOptionsSchema,
): { runId: string; config: string | null; metadata: string | null } {
  checkOptions(schema, options, what);
  const runId = options.runId ?? Bun.randomUUIDv7();
  checkRunId(runId);
  return {
    runId,
    config: jsonColumnOf(options.config, `${what} option config`),
    metadata: jsonColumnOf(options.metadata, `${what} option metadata`),
  };
}

/**
 * Writes every event it is given into one run of a runs database: buffered per table, inserted in
 * batches inside one write transaction per flush (in line, or on a thread: see the `thread`
 * option), each row numbered with its position in the run so replay restores the exact order
 * across tables.
 */
export class Recorder {
  /** The id of the run being recorded. */
  readonly runId: string;
  readonly #db: RunsDb;
  readonly #ownsDb: boolean;
  readonly #writers: Record<string, TableWriter>;
  /** The same writers, in the catalog's order: a Batch's. */
  readonly #writerList: TableWriter[];
  readonly #sink: BatchSink;
  readonly #batchSize: number;
  readonly #intervalMs: number;
  readonly #timer: ReturnType<typeof setInterval>;
  #seq = 0;
  #refused = 0;
  #pending = 0;
  readonly #collect: boolean;
  /** Events stored since the last collection asked for (see RecorderOptions.collectGarbage). */
  #uncollected = 0;
  /** When the last collection ended, and how long it took (ms). */
  #collectedAt = 0;
  #collectMs = 0;
  /** A batch the sink could not store: the timer tries again. */
  #unstored = false;
  #oldestAt = 0;
  #lastTsEvent: bigint | null = null;
  /**
   * The run's trading as its events are taken, rejections left out (they would need every order
   * id kept): closing then reads only the run's rejections, not its orders and fills, which had
   * the memory of a 1M-event run jump by ~10 MB as it closed.
   */
  readonly #trading = new TradingTally({ rejections: false });
  /** Bar periods seen, noted for inspect: no index covers them. */
  readonly #barPeriods = new Set<string>();
  #status: RunStatus = "running";
  /** The buses the recorder is attached to, each with its detach. */
  readonly #detach = new Map<EventBus, () => void>();

  private constructor(db: RunsDb, ownsDb: boolean, runId: string, options: RecorderOptions) {
    this.#db = db;
    this.#ownsDb = ownsDb;
    this.runId = runId;
    this.#batchSize = options.batchSize ?? 16_384;
    this.#collect = options.collectGarbage === true;
    this.#intervalMs = options.flushIntervalMs ?? 100;
    const tables = tableSql(db.catalog);
    const writers = db.catalog.types.map((type, t): [string, TableWriter] => {
      const fields = db.catalog.fields(type);
      const { width } = tables[t] as (typeof tables)[number];
      const writer: TableWriter = {
        fields,
        push: compilePush(fields),
        width,
        full: [],
        values: new Array(width * CHUNK_ROWS),
        filled: 0,
        taken: 0,
        trades: ["request", "fill"].includes(db.catalog.role(type)?.kind ?? ""),
      };
      return [type, writer];
    });
    this.#writers = Object.fromEntries(writers);
    this.#writerList = writers.map(([, writer]) => writer);
    const inline = () => inlineSink(db.sqlite, tables);
    // The thread opens the file by its full path: the process may change directory before it does.
    const path = resolve(db.path);
    this.#sink = options.thread
      ? threadSink({ path, journal: journalOf(db), tables, collectGarbage: this.#collect }, inline)
      : inline();
    this.#timer = setInterval(() => this.#flushIfDue(), Math.max(1, this.#intervalMs / 2));
    this.#timer.unref();
    openRecorders.set(this, () => this.#leftOpen());
    hookExit();
  }

  /**
   * Registers a new run (`running`, started now) in the database at `target` (a path, created if
   * need be, or a database opened for writing) and returns its recorder.
   * Throws DuplicateRunError if the run id exists; nothing of the existing run changes, and
   * RuntapeError (INVALID_OPTION) for a `batchSize` or `flushIntervalMs` that is not positive.
   * `using recorder = Recorder.start(…)` ends a run left open at the end of the scope `cancelled`.
   */
  static start(target: string | RunsDb, options: RecorderOptions = {}): Recorder {
    const { runId, config, metadata } = checkRecorderOptions(options, "recorder");
    const ownsDb = typeof target === "string";
    const db = asRunsDb(target, { mode: "write", journal: options.journal });
    if (!db.writable) {
      throw new RuntapeError(`${db.path} was opened read-only; open it for writing`, "READ_ONLY");
    }
    try {
      db.sqlite
        .transaction(() => {
          db.sqlite
            .query(
              "INSERT INTO runs (run_id, name, ts_start, ts_end, status, config, metadata) VALUES (?, ?, ?, NULL, 'running', ?, ?)",
            )
            .run(runId, options.name ?? runId, nowNs(), config, metadata);
          db.sqlite
            .query("INSERT INTO runtape_runs (run_id, pid, host) VALUES (?, ?, ?)")
            .run(runId, process.pid, recorderHost());
        })
        .immediate();
      // A connection it opened is the recorder's alone; one it is given stays as the caller set it.
      if (ownsDb) readyForBatches(db.sqlite);
      return new Recorder(db, ownsDb, runId, options);
    } catch (error) {
      if (ownsDb) db.close();
      if (sqliteCode(error)?.startsWith("SQLITE_CONSTRAINT")) throw new DuplicateRunError(runId);
      throw toDbError(db.path, error);
    }
  }

  /** Events stored or buffered so far. */
  get recorded(): number {
    return this.#seq;
  }

  /** Events refused because they did not fit the schema. */
  get refused(): number {
    return this.#refused;
  }

  get status(): RunStatus {
    return this.#status;
  }

  /** The run's id, status and counts as they stand. */
  get summary(): RecordingSummary {
    return { runId: this.runId, status: this.#status, events: this.#seq, refused: this.#refused };
  }

  /**
   * Takes one event. An event of an unknown type, or one that does not fit its schema, is counted
   * as refused and throws InvalidEventError (naming the field); it costs none of the other events.
   */
  record(event: Event): void {
    if (this.#status !== "running") {
      throw new RuntapeError(`run ${this.runId} is closed (${this.#status})`, "RUN_CLOSED");
    }
    const writer = this.#writers[event?.type] as TableWriter | undefined;
    if (writer === undefined || !Object.hasOwn(this.#writers, event.type)) {
      this.#refused++;
      throw unknownTypeError(event);
    }
    const values = writer.values;
    const record = event as unknown as Record<string, unknown>;
    if (!writer.push(values, writer.filled, record, this.runId, this.#seq + 1)) {
      // Which field, and why: the predicates say it.
      for (const [name, field] of writer.fields) {
        if (!field.is(record[name])) {
          this.#refused++;
          throw invalid(event.type, name, field, record[name]);
        }
      }
      throw new TypeError(`${event.type}: the compiled checks refuse what the predicates accept`);
    }
    if ("bar_period" in record) this.#barPeriods.add(record.bar_period as string);
    if (writer.trades) this.#trading.add(event);
    writer.taken++;
    this.#seq++;
    writer.filled += writer.width;
    if (writer.filled === values.length) {
      writer.full.push(values);
      writer.values = new Array(values.length);
      writer.filled = 0;
    }
    this.#lastTsEvent = event.ts_event_ns;
    if (this.#pending++ === 0) this.#oldestAt = performance.now();
    if (
      this.#pending >= this.#batchSize ||
      performance.now() - this.#oldestAt >= this.#intervalMs
    ) {
      this.#store(false);
    }
  }

  /**
   * Subscribes the recorder to every event on `bus`, of unknown types too. Refused events reach
   * `options.onError` (or the bus's error handler) as InvalidEventError. Returns the detach function.
   * A second attach to the same bus (before its detach) throws RuntapeError (INVALID_OPTION): it
   * would record every event twice, which no one means.
   */
  attach(bus: EventBus, options: SubscribeOptions = {}): () => void {
    if (this.#detach.has(bus)) {
      throw new RuntapeError(
        `attach: run ${this.runId}'s recorder is already attached to this bus (each event would be recorded twice)`,
        "INVALID_OPTION",
      );
    }
    const unsubscribe = bus.subscribeAll((event) => this.record(event), options);
    const detach = () => {
      unsubscribe();
      if (this.#detach.get(bus) === detach) this.#detach.delete(bus);
    };
    this.#detach.set(bus, detach);
    return detach;
  }

  /**
   * Stores every event taken, and returns once they are stored. On failure they stay taken (and
   * go first next time) and it throws.
   */
  flush(): void {
    this.#store(true);
  }

  /**
   * Flushes every buffered event, then ends the run with `status` and `ts_end` now (and, given
   * `metadata`, sets its members in the run's metadata in the same transaction: why it failed,
   * say; a member whose value is undefined is removed, the others are kept as stored). `times`
   * sets the run's start and end instead, in that transaction too (a copy keeps its source's). The
   * run is never marked ended while events are still buffered: if the flush fails it stays `running`.
   */
  close(
    status: Exclude<RunStatus, "running"> = "completed",
    metadata?: Record<string, unknown>,
    times: { tsStart?: bigint; tsEnd?: bigint | null } = {},
  ): RecordingSummary {
    if (this.#status === "running") {
      if (!CLOSED_STATUSES.includes(status)) {
        throw new RuntapeError(
          `close: status must be one of ${CLOSED_STATUSES.join(", ")} (got ${describeValue(status)})`,
          "INVALID_OPTION",
        );
      }
      // Checked before anything ends: a member JSON cannot write refuses the close, not the run.
      if (metadata !== undefined) jsonColumnOf(metadata, "close: metadata");
      clearInterval(this.#timer);
      for (const detach of [...this.#detach.values()]) detach();
      // With the counters as they stand, refused events since the last batch included.
      this.#store(true, true);
      try {
        this.#db.sqlite
          .transaction(() => {
            this.#db.sqlite
              .query(
                "UPDATE runs SET status = ?, ts_start = coalesce(?, ts_start), ts_end = ? WHERE run_id = ?",
              )
              .run(
                status,
                times.tsStart ?? null,
                times.tsEnd === undefined ? nowNs() : times.tsEnd,
                this.runId,
              );
            if (metadata !== undefined) {
              this.#db.sqlite
                .query("UPDATE runs SET metadata = ? WHERE run_id = ?")
                .run(this.#metadataWith(metadata), this.runId);
            }
          })
          .immediate();
      } catch (error) {
        throw toDbError(this.#db.path, error);
      }
      this.#status = status;
      const counts = Object.entries(this.#writers).map(([type, w]) => [type, BigInt(w.taken)]);
      summarizeClosedRun(this.#db, this.runId, Object.fromEntries(counts), this.#trading.result());
      // The sink's statements and thread: one left open keeps the connection alive past close(),
      // and SQLite would then leave the -wal and -shm files beside the database until the process
      // ends.
      this.#sink.close();
      openRecorders.delete(this);
      if (this.#ownsDb) this.#db.close();
    }
    return this.summary;
  }

  /**
   * The run's stored metadata with `members` set, the rest as stored (a backtest's lineage beside
   * why it failed). Metadata another tool left that is no JSON object is replaced: it cannot keep
   * the run from ending.
   */
  #metadataWith(members: Record<string, unknown>): string | null {
    const { metadata } = this.#db.sqlite
      .query("SELECT metadata FROM runs WHERE run_id = ?")
      .get(this.runId) as { metadata: string | null };
    const what = `metadata of run ${this.runId}`;
    try {
      return withMembers(metadata, members, what);
    } catch (error) {
      if ((error as RuntapeError).code !== "INVALID_JSON") throw error;
      return withMembers(null, members, what);
    }
  }

  /** Ends a run still open `cancelled`: nothing said it was complete. */
  [Symbol.dispose](): void {
    this.close("cancelled");
  }

  /** At process exit: store what is buffered and tell the listeners; the run stays `running`. */
  #leftOpen(): OpenRunAtExit {
    clearInterval(this.#timer);
    try {
      this.flush();
    } catch {
      // Nothing more can be done at exit; `recover` closes the run with what was stored.
    }
    return { runId: this.runId, path: this.#db.path, events: this.#seq };
  }

  #flushIfDue(): void {
    const due = this.#pending > 0 && performance.now() - this.#oldestAt >= this.#intervalMs;
    if (due || this.#unstored) {
      try {
        this.#store(!due);
      } catch {
        // The events stay taken; the next flush (by size, by age or at close) retries and throws.
      }
    }
  }

  /**
   * Hands the buffered events (and, with `counters`, none) to the sink as a batch with the run's
   * counters; with `wait`, returns once every batch is stored. Throws a batch's failure as a
   * one-line error: the batch stays taken.
   */
  #store(wait: boolean, counters = false): void {
    const events = this.#pending;
    try {
      if (events > 0 || counters) this.#sink.hand(this.#batch());
      if (wait) this.#sink.drain();
      this.#unstored = false;
    } catch (error) {
      this.#unstored = true;
      throw toDbError(this.#db.path, error);
    }
    if (!this.#collect) return;
    this.#uncollected += events;
    const start = performance.now();
    if (this.#uncollected >= this.#batchSize && start - this.#collectedAt >= 10 * this.#collectMs) {
      this.#uncollected = 0;
      Bun.gc(true);
      this.#collectedAt = performance.now();
      this.#collectMs = this.#collectedAt - start;
    }
  }

  /** The buffered events as a batch, which the recorder lets go of, and the run's counters. */
  #batch(): Batch {
    const tables = this.#writerList.map((writer) => {
      const table = { chunks: writer.full, rest: writer.values.slice(0, writer.filled) };
      writer.full = [];
      writer.filled = 0;
      return table;
    });
    this.#pending = 0;
    const periods = [...this.#barPeriods].sort().join(",");
    return { tables, counters: [this.#seq, this.#refused, this.#lastTsEvent, periods, this.runId] };
  }
}

/** The file's journal as its connection has it. */
function journalOf(db: RunsDb): "wal" | "rollback" {
  const { journal_mode } = db.sqlite.query("PRAGMA journal_mode").get() as { journal_mode: string };
  return journal_mode === "wal" ? "wal" : "rollback";
}
