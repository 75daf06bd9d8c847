/**
 * One benchmark measurement in a process of its own, so that its peak RSS is its own:
 *   bun bench/worker.ts <case> <args…>  → one JSON line {seconds, events, maxRssMb}
 */
import type { Statement } from "bun:sqlite";
import { hostname } from "node:os";
import { dumpsIndicators } from "../src/events/pyjson.ts";
import {
  catalog,
  EVENT_TYPES,
  type Event,
  EventBus,
  fieldsOf,
  openRunsDb,
  Recorder,
  replay,
} from "../src/index.ts";
import { barAt, mixedAt } from "./data.ts";

const [kind, ...args] = process.argv.slice(2);
const generators: Record<string, (i: number) => Event> = { bars: barAt, mixed: mixedAt };

function report(seconds: number, events: number): void {
  const maxRssMb = process.resourceUsage().maxRSS / 1024;
  console.log(JSON.stringify({ seconds, events, maxRssMb }));
}

/** The recorder's path: events published on a bus, recorded until the run is closed. */
function record(data: string, n: number, path: string, runId: string): void {
  const make = generators[data] as (i: number) => Event;
  const start = performance.now();
  const bus = new EventBus();
  const recorder = Recorder.start(path, { runId });
  recorder.attach(bus);
  for (let i = 0; i < n; i++) bus.publish(make(i));
  recorder.close();
  report((performance.now() - start) / 1000, n);
}

/**
 * The baseline: the same rows through plain cached prepared statements, 1,000 rows per
 * transaction. Bars are bound field by field, as hand-written code would; it also writes the
 * runtape bookkeeping, so that the databases it builds replay like recorded ones.
 */
function insert(data: string, n: number, path: string, runId: string): void {
  const make = generators[data] as (i: number) => Event;
  const db = openRunsDb(path, { mode: "write" });
  const sqlite = db.sqlite;
  const start = performance.now();
  sqlite.run("INSERT INTO runs (run_id, name, ts_start, status) VALUES (?, ?, 0, 'running')", [
    runId,
    runId,
  ]);
  sqlite.run("INSERT INTO runtape_runs (run_id, pid, host) VALUES (?, ?, ?)", [
    runId,
    process.pid,
    hostname(),
  ]);
  const statements = new Map<string, Statement>();
  const columns = new Map<string, string[]>();
  for (const type of EVENT_TYPES) {
    const names = fieldsOf(type).map(([name]) => name);
    columns.set(type, names);
    statements.set(
      type,
      sqlite.prepare(
        `INSERT INTO ${catalog[type].table} (run_id, ${names.join(", ")}, seq) VALUES (?, ${names.map(() => "?").join(", ")}, ?)`,
      ),
    );
  }
  const bars = statements.get("BarReceived") as Statement;
  sqlite.run("BEGIN");
  for (let i = 0; i < n; i++) {
    const e = make(i);
    if (e.type === "BarReceived") {
      bars.run(
        runId,
        e.ts_event_ns,
        e.ts_created_ns,
        e.symbol,
        e.bar_period,
        e.open,
        e.high,
        e.low,
        e.close,
        e.volume,
        i + 1,
      );
    } else {
      const record = e as unknown as Record<string, unknown>;
      const values = (columns.get(e.type) as string[]).map((c) =>
        c === "indicators" ? dumpsIndicators(record[c] as Record<string, number>) : record[c],
      );
      (statements.get(e.type) as Statement).run(runId, ...(values as never[]), i + 1);
    }
    if ((i + 1) % 1000 === 0) {
      sqlite.run("COMMIT");
      sqlite.run("BEGIN");
    }
  }
  sqlite.run("UPDATE runtape_runs SET events = ?, bar_periods = 'MINUTE' WHERE run_id = ?", [
    n,
    runId,
  ]);
  sqlite.run("UPDATE runs SET status = 'completed', ts_end = 1 WHERE run_id = ?", [runId]);
  sqlite.run("COMMIT");
  db.close();
  report((performance.now() - start) / 1000, n);
}

/** Replay into typed events published on a bus with one no-op subscriber. */
function replayRun(path: string, runId: string): void {
  const start = performance.now();
  const bus = new EventBus();
  let seen = 0;
  bus.subscribe(EVENT_TYPES, () => {
    seen++;
  });
  for (const event of replay(path, { run: runId })) bus.publish(event);
  report((performance.now() - start) / 1000, seen);
}

/** The baseline of replay: a plain iterate over the same rows, in the same order, with safeIntegers. */
function iterate(path: string, runId: string): void {
  const start = performance.now();
  const db = openRunsDb(path);
  let n = 0;
  for (const _ of db.sqlite
    .prepare("SELECT * FROM bars WHERE run_id = ? ORDER BY seq")
    .iterate(runId))
    n++;
  db.close();
  report((performance.now() - start) / 1000, n);
}

switch (kind) {
  case "record":
    record(args[0] as string, Number(args[1]), args[2] as string, args[3] as string);
    break;
  case "insert":
    insert(args[0] as string, Number(args[1]), args[2] as string, args[3] as string);
    break;
  case "replay":
    replayRun(args[0] as string, args[1] as string);
    break;
  case "iterate":
    iterate(args[0] as string, args[1] as string);
    break;
  default:
    throw new Error(`unknown benchmark case ${kind}`);
}
