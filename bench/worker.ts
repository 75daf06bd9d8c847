/**
 * One benchmark measurement in a process of its own, so that its peak RSS and the bytes it wrote
 * are its own:  bun bench/worker.ts <case> <args…>  → one JSON line (a {@link Sample}).
 */
import { mkdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { main } from "../src/cli/main.ts";
import { captureOutput } from "../src/cli/output.ts";
import { type ExportValue, eventColumns } from "../src/formats/columns.ts";
import { LineBuffer } from "../src/formats/line-buffer.ts";
import { lineWriter, rowOf } from "../src/formats/ndjson-lines.ts";
import {
  catalog,
  checkDatabase,
  diffRuns,
  EVENT_TYPES,
  type Event,
  EventBus,
  type EventType,
  type ExportFormat,
  encodeEvent,
  exportRuns,
  fieldsOf,
  listRunSummaries,
  mergeRuns,
  openRunsDb,
  Recorder,
  replay,
  type SqlValue,
} from "../src/index.ts";
import { SEQ_COLUMN } from "../src/schema.ts";
import { barAt, mixedAt } from "./data.ts";
import { prepareLimit, streamingRecorder } from "./limit.ts";

const [kind, ...args] = process.argv.slice(2);
const generators: Record<string, (i: number) => Event> = { bars: barAt, mixed: mixedAt };

/** What a worker reports. */
export interface Sample {
  seconds: number;
  events: number;
  maxRssMb: number;
  /** Bytes this process had the kernel write to storage (WAL and checkpoints included). */
  writeBytes?: number;
  /** The database file once closed. */
  fileBytes?: number;
  /** Time spent inside `bus.publish`: what the strategy pays. */
  publishSeconds?: number;
  /** The longest single `bus.publish`. */
  publishMaxMs?: number;
  /** Bytes of the files an export wrote. */
  exportBytes?: number;
}

/** `write_bytes` of /proc/self/io: bytes sent to the storage layer, page cache write-back included. */
function writtenBytes(): number {
  const match = /^write_bytes: (\d+)$/m.exec(readFileSync("/proc/self/io", "utf8"));
  return Number(match?.[1] ?? Number.NaN);
}

function report(sample: Omit<Sample, "maxRssMb">): void {
  // The peak of this process's own memory. getrusage's maxRSS is no measure here: a process spawned
  // (vfork, then exec) starts with its parent's peak, so every worker of a bench grown to 300 MB
  // would say 300 MB.
  const peak = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1];
  const maxRssMb = peak === undefined ? process.resourceUsage().maxRSS / 1024 : Number(peak) / 1024;
  console.log(JSON.stringify({ ...sample, maxRssMb }));
}

/** Seconds `make` takes to build `n` events: the strategy's own cost, not the recorder's. */
function generation(make: (i: number) => Event, n: number): number {
  const start = performance.now();
  let sink = 0;
  for (let i = 0; i < n; i++) sink += make(i).type.length;
  if (sink === 0) throw new Error("no events");
  return (performance.now() - start) / 1000;
}

/**
 * The recorder's path: events published on a bus, recorded until the run is closed. Generating
 * the events is timed apart and taken off: what is left is what recording costs the publisher.
 * `batchSize` overrides the recorder's (to measure an earlier setting). With `timePublish`, each
 * `bus.publish` is timed too: two clock reads an event, ~80 ms per 1M events on this machine, so
 * not in the runs whose speed is compared with the limit. `collectGarbage` is the recorder's option.
 */
function record(
  data: string,
  n: number,
  path: string,
  runId: string,
  batchSize?: number,
  journal?: "wal" | "rollback",
  { timePublish = false, collectGarbage = false } = {},
): void {
  const make = generators[data] as (i: number) => Event;
  const generating = generation(make, n);
  Bun.gc(true); // as the limit starts: on a heap just collected
  const written = writtenBytes();
  const start = performance.now();
  const bus = new EventBus();
  const recorder = Recorder.start(path, {
    runId,
    journal,
    collectGarbage,
    ...(batchSize && { batchSize }),
  });
  recorder.attach(bus);
  let publishing = 0;
  let longest = 0;
  if (timePublish) {
    for (let i = 0; i < n; i++) {
      const event = make(i);
      const before = performance.now();
      bus.publish(event);
      const took = performance.now() - before;
      publishing += took;
      if (took > longest) longest = took;
    }
  } else {
    for (let i = 0; i < n; i++) bus.publish(make(i));
  }
  recorder.close();
  const seconds = (performance.now() - start) / 1000 - generating;
  report({
    seconds,
    events: n,
    writeBytes: writtenBytes() - written,
    fileBytes: statSync(path).size,
    ...(timePublish && { publishSeconds: publishing / 1000, publishMaxMs: longest }),
  });
}

/**
 * The limit baseline (bench/limit.ts) in a process of its own: rows built before the clock; with
 * `indexes` false, into the tables alone.
 */
function limit(
  data: string,
  n: number,
  path: string,
  runId: string,
  batch: number,
  indexes: boolean,
): void {
  const make = generators[data] as (i: number) => Event;
  const insert = prepareLimit(path, make, n, runId, batch, indexes);
  // The rows built beforehand are the limit's input, not its work: with them collected first, no
  // collection of their heap falls on the timed insert by chance (the limit's time moved by a
  // fifth from one process to the next: 1.54-1.85 s for 1M mixed events, 1.60-1.64 s so).
  Bun.gc(true);
  const written = writtenBytes();
  const start = performance.now();
  insert();
  report({
    seconds: (performance.now() - start) / 1000,
    events: n,
    writeBytes: writtenBytes() - written,
    fileBytes: statSync(path).size,
  });
}

/**
 * The recorder's publisher with nothing recording: the same events on a bus with one no-op
 * subscriber. Its peak RSS is what the process takes before any recorder.
 */
function publishOnly(data: string, n: number): void {
  const make = generators[data] as (i: number) => Event;
  const start = performance.now();
  const bus = new EventBus();
  let seen = 0;
  bus.subscribeAll(() => {
    seen++;
  });
  for (let i = 0; i < n; i++) bus.publish(make(i));
  report({ seconds: (performance.now() - start) / 1000, events: seen });
}

/**
 * The plainest streaming recorder (bench/limit.ts) on the same bus and events as the recorder:
 * what recording takes in memory when nothing is held but the batch. With `collect`, a full
 * collection after each batch inserted, as the Recorder's `collectGarbage` does.
 */
function stream(
  data: string,
  n: number,
  path: string,
  runId: string,
  batch: number,
  collect: boolean,
): void {
  const make = generators[data] as (i: number) => Event;
  const written = writtenBytes();
  const start = performance.now();
  const bus = new EventBus();
  const recorder = streamingRecorder(path, runId, batch);
  let taken = 0;
  bus.subscribeAll((event) => {
    recorder.take(event);
    if (collect && ++taken % batch === 0) Bun.gc(true);
  });
  for (let i = 0; i < n; i++) bus.publish(make(i));
  recorder.close();
  report({
    seconds: (performance.now() - start) / 1000,
    events: n,
    writeBytes: writtenBytes() - written,
    fileBytes: statSync(path).size,
  });
}

/** Replay into typed events published on a bus with one no-op subscriber. */
function replayRun(path: string, runId: string): void {
  const start = performance.now();
  const bus = new EventBus();
  let seen = 0;
  bus.subscribeAll(() => {
    seen++;
  });
  for (const event of replay(path, { run: runId })) bus.publish(event);
  report({ seconds: (performance.now() - start) / 1000, events: seen });
}

/** The baseline of replay: a plain iterate over the same rows of a bars run, in the same order. */
function iterate(path: string, runId: string): void {
  const start = performance.now();
  const db = openRunsDb(path);
  let n = 0;
  const statement = db.sqlite.prepare(`SELECT * FROM bars WHERE run_id = ? ORDER BY ${SEQ_COLUMN}`);
  for (const _ of statement.iterate(runId)) n++;
  statement.finalize();
  db.close();
  report({ seconds: (performance.now() - start) / 1000, events: n });
}

/** Events held at once where the encoder is timed alone (see {@link encode}). */
const ENCODE_CHUNK = 16_384;

/**
 * NDJSON encoding alone, two ways. `held`: the run replayed chunk by chunk, each chunk held while
 * its lines are made and only that timed: the encoder's own speed, the median of three passes
 * after a warm-up (`rows` is always measured so, on replay's rows). Holding the whole run instead
 * made each collection mark 1M events, and the figure for strings swung by half from run to run.
 * Otherwise a replay with and one without encoding, the difference being what encoding adds to a
 * replay, whose events and lines are then collected together. `bytes`: lines written into a
 * LineBuffer by the line writers; `strings`: each line made as a string by `encodeEvent`; `rows`:
 * the line writers alone on the run's events as replay's NDJSON path reads a file's rows
 * (integers as floats, timestamps in parts).
 */
function encode(
  path: string,
  runId: string,
  how: "strings" | "bytes" | "rows",
  held: boolean,
): void {
  const out = new LineBuffer();
  // One event's line: written into `out` (cleared now and then), or made as a string.
  const line = (event: Event): void => {
    if (how === "strings") encodeEvent(event);
    else {
      lineWriter(event.type, "number")(event as unknown as Record<string, unknown>, out);
      if (out.length > 1 << 16) out.clear();
    }
  };
  if (how === "rows" || held) {
    const pass = () => {
      let seconds = 0;
      let n = 0;
      const chunk: Event[] = [];
      const encodeChunk = () => {
        const rows =
          how === "rows"
            ? chunk.map((event) =>
                rowOf(event as unknown as Record<string, unknown> & { type: EventType }),
              )
            : [];
        const start = performance.now();
        if (how === "rows") {
          for (const row of rows) {
            lineWriter(row.type as EventType, "number", "row")(row, out);
            if (out.length > 1 << 16) out.clear();
          }
        } else for (const event of chunk) line(event);
        seconds += (performance.now() - start) / 1000;
        n += chunk.length;
        chunk.length = 0;
      };
      for (const event of replay(path, { run: runId })) {
        if (chunk.push(event) === ENCODE_CHUNK) encodeChunk();
      }
      encodeChunk();
      return { seconds, n };
    };
    pass(); // warm-up
    const passes = [pass(), pass(), pass()].sort((x, y) => x.seconds - y.seconds);
    report({ seconds: passes[1]?.seconds as number, events: passes[1]?.n as number });
    return;
  }
  const pass = (encoding: boolean) => {
    const start = performance.now();
    let n = 0;
    for (const event of replay(path, { run: runId })) {
      if (encoding) line(event);
      n++;
    }
    return { seconds: (performance.now() - start) / 1000, n };
  };
  pass(false); // warm-up: the first pass pays for compiling the decoders
  // The difference of two passes carries the noise of both: the median of three pairs.
  const differences: number[] = [];
  let events = 0;
  for (let k = 0; k < 3; k++) {
    const plain = pass(false);
    const encoded = pass(true);
    differences.push(encoded.seconds - plain.seconds);
    events = plain.n;
  }
  const median = differences.sort((x, y) => x - y)[1] as number;
  report({ seconds: Math.max(1e-9, median), events });
}

/** `diffRuns` of the run `runId` of two files. */
function diff(a: string, b: string, runId: string): void {
  const start = performance.now();
  const result = diffRuns({ db: a, run: runId }, { db: b, run: runId });
  if (!result.match) throw new Error("the runs differ");
  const events = Object.values(result.countsA).reduce((n, k) => n + k, 0);
  report({ seconds: (performance.now() - start) / 1000, events });
}

/**
 * The limit of diff: the run's rows of both files read side by side (each table in seq order,
 * streamed, values as SQLite gives them, every field but ts_created_ns) and compared in JS,
 * without a snapshot, checks or typed events.
 */
function diffPlain(a: string, b: string, runId: string): void {
  const start = performance.now();
  const [x, y] = [openRunsDb(a), openRunsDb(b)];
  let events = 0;
  for (const type of EVENT_TYPES) {
    const names = [SEQ_COLUMN, ...fieldsOf(type).map(([name]) => name)].filter(
      (name) => name !== "ts_created_ns",
    );
    const sql = `SELECT ${names.join(", ")} FROM ${catalog[type].table} WHERE run_id = ? ORDER BY ${SEQ_COLUMN}`;
    const statements = [x.sqlite.prepare(sql), y.sqlite.prepare(sql)];
    const [left, right] = statements.map(
      (s) => s.iterate(runId) as Iterator<Record<string, SqlValue>>,
    ) as [Iterator<Record<string, SqlValue>>, Iterator<Record<string, SqlValue>>];
    for (;;) {
      const [p, q] = [left.next(), right.next()];
      if (p.done || q.done) {
        if (p.done !== q.done) throw new Error("the runs differ");
        break;
      }
      for (const name of names)
        if (p.value[name] !== q.value[name]) throw new Error("the runs differ");
      events++;
    }
    for (const statement of statements) statement.finalize();
  }
  x.close();
  y.close();
  report({ seconds: (performance.now() - start) / 1000, events });
}

/** `checkDatabase` of a file; the events are those of all its runs. */
function check(path: string): void {
  const start = performance.now();
  const db = openRunsDb(path);
  const findings = checkDatabase(db);
  if (findings.length > 0) throw new Error(findings[0]?.message);
  const events = listRunSummaries(db).reduce((n, r) => n + Number(r.events), 0);
  const seconds = (performance.now() - start) / 1000;
  db.close();
  report({ seconds, events });
}

/**
 * The limit of check: SQLite's integrity and foreign-key checks, then every row of the run read
 * once (each table in seq order, streamed), without the checks of each value, the sequence or the
 * counters, on one thread.
 */
function checkPlain(path: string, runId: string): void {
  const start = performance.now();
  const db = openRunsDb(path);
  db.sqlite.query("PRAGMA integrity_check").all();
  db.sqlite.query("PRAGMA foreign_key_check").all();
  let events = 0;
  for (const type of EVENT_TYPES) {
    const statement = db.sqlite.prepare(
      `SELECT * FROM ${catalog[type].table} WHERE run_id = ? ORDER BY ${SEQ_COLUMN}`,
    );
    for (const _ of statement.iterate(runId)) events++;
    statement.finalize();
  }
  db.close();
  report({ seconds: (performance.now() - start) / 1000, events });
}

/** `runtape merge`: the runs of `inputs` into `out`. */
function merge(out: string, inputs: string[]): void {
  const start = performance.now();
  const merged = mergeRuns(out, inputs);
  const events = merged.reduce((n, m) => n + m.events, 0);
  report({ seconds: (performance.now() - start) / 1000, events });
}

/**
 * The limit of merge: each input attached to a new runs database and every table copied with one
 * plain `INSERT … SELECT` (no plan, no conflict check, no ORDER BY), one transaction per input.
 */
function attachCopy(out: string, inputs: string[]): void {
  const start = performance.now();
  const db = openRunsDb(out, { mode: "write" });
  let events = 0;
  for (const input of inputs) {
    db.sqlite.run("ATTACH DATABASE ? AS src", [input]);
    db.sqlite.transaction(() => {
      db.sqlite.run("INSERT INTO main.runs SELECT * FROM src.runs");
      db.sqlite.run("INSERT INTO main.runtape_runs SELECT * FROM src.runtape_runs");
      for (const type of EVENT_TYPES) {
        const columns = ["run_id", ...fieldsOf(type).map(([name]) => name), SEQ_COLUMN].join(", ");
        const table = catalog[type].table;
        events += db.sqlite.run(
          `INSERT INTO main.${table} (${columns}) SELECT ${columns} FROM src.${table}`,
        ).changes;
      }
    })();
    db.sqlite.run("DETACH DATABASE src");
  }
  db.close();
  report({ seconds: (performance.now() - start) / 1000, events });
}

/** `runtape export` of one run. */
async function exportRun(format: string, path: string, runId: string, out: string) {
  const start = performance.now();
  const summary = await exportRuns(path, { format: format as ExportFormat, out, runs: [runId] });
  const seconds = (performance.now() - start) / 1000;
  report({ seconds, events: summary.events, exportBytes: summary.bytes });
}

/**
 * The limit of export: the same Parquet writer fed straight from each table's rows (`SELECT` in
 * seq order, streamed, values as SQLite gives them), without a snapshot, checks or typed events.
 */
async function exportPlain(path: string, runId: string, out: string) {
  const { parquet } = await import("../src/formats/parquet.ts");
  const start = performance.now();
  const db = openRunsDb(path);
  let events = 0;
  let exportBytes = 0;
  for (const type of EVENT_TYPES) {
    const columns = eventColumns(type);
    const names = columns.map((c) => c.name);
    const statement = db.sqlite.prepare(
      `SELECT ${names.join(", ")} FROM ${catalog[type].table} WHERE run_id = ? ORDER BY ${SEQ_COLUMN}`,
    );
    let sink: ReturnType<typeof parquet.open> | undefined;
    for (const row of statement.iterate(runId) as Iterable<Record<string, ExportValue>>) {
      if (sink === undefined) {
        mkdirSync(join(out, catalog[type].table), { recursive: true });
        sink = parquet.open(join(out, catalog[type].table, "part-0.parquet"), columns);
      }
      sink.write(names.map((name) => row[name] as ExportValue));
      events++;
    }
    statement.finalize();
    if (sink !== undefined) exportBytes += sink.close();
  }
  db.close();
  report({ seconds: (performance.now() - start) / 1000, events, exportBytes });
}

/**
 * A command of the CLI run in this process, as the binary runs it (its output dropped), for its
 * peak memory: `cli EVENTS ARGS…`, where EVENTS is how many events the command handles.
 */
async function cli(events: number, argv: readonly string[]) {
  captureOutput(() => {});
  const start = performance.now();
  const code = await main(argv);
  if (code !== 0) throw new Error(`runtape ${argv.join(" ")} exited ${code}`);
  report({ seconds: (performance.now() - start) / 1000, events });
}

/** The arguments the recording cases begin with: data, events, database, run id. */
const recording = () =>
  [args[0] as string, Number(args[1]), args[2] as string, args[3] as string] as const;

switch (kind) {
  case "record":
  case "record-publish":
  case "record-collect":
    record(
      ...recording(),
      args[4] ? Number(args[4]) : undefined,
      (args[5] || undefined) as "wal" | "rollback" | undefined,
      { timePublish: kind === "record-publish", collectGarbage: kind === "record-collect" },
    );
    break;
  case "limit":
    limit(...recording(), Number(args[4]), args[5] !== "no-indexes");
    break;
  case "stream":
  case "stream-collect":
    stream(...recording(), Number(args[4]), kind === "stream-collect");
    break;
  case "publish-only":
    publishOnly(args[0] as string, Number(args[1]));
    break;
  case "replay":
    replayRun(args[0] as string, args[1] as string);
    break;
  case "iterate":
    iterate(args[0] as string, args[1] as string);
    break;
  case "encode":
    encode(
      args[0] as string,
      args[1] as string,
      (args[2] ?? "strings") as "strings" | "bytes" | "rows",
      args[3] === "held",
    );
    break;
  case "diff":
    diff(args[0] as string, args[1] as string, args[2] as string);
    break;
  case "diff-plain":
    diffPlain(args[0] as string, args[1] as string, args[2] as string);
    break;
  case "check":
    check(args[0] as string);
    break;
  case "check-plain":
    checkPlain(args[0] as string, args[1] as string);
    break;
  case "merge":
    merge(args[0] as string, args.slice(1));
    break;
  case "attach-copy":
    attachCopy(args[0] as string, args.slice(1));
    break;
  case "export":
    await exportRun(args[0] as string, args[1] as string, args[2] as string, args[3] as string);
    break;
  case "export-plain":
    await exportPlain(args[0] as string, args[1] as string, args[2] as string);
    break;
  case "cli":
    await cli(Number(args[0]), args.slice(1));
    break;
  default:
    throw new Error(`unknown benchmark case ${kind}`);
}
