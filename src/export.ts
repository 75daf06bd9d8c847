/**
 * `runtape export`: runs of a runs database as one file per event table and run, in the Hive
 * layout of src/formats/layout.ts, plus the runs rows, in any format of src/formats/.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import * as v from "valibot";
import type { RunsDb } from "./db.ts";
import { fileWriteError, OutputNotEmptyError, RunNotFoundError } from "./errors.ts";
import { catalog, EVENT_TYPES, type Event, type EventType, fieldsOf } from "./events/catalog.ts";
import type { Indicators } from "./events/fields.ts";
import { dumpsIndicators, loadsIndicators } from "./events/pyjson.ts";
import {
  type ExportColumn,
  type ExportValue,
  eventColumns,
  type FileFormat,
  indicatorColumn,
  RUN_COLUMNS,
  type TableSink,
} from "./formats/columns.ts";
import { checkPartitions, partFile, partitionPath, runsFile } from "./formats/layout.ts";
import { checkOptions, eventTypeName } from "./options.ts";
import type { RunRow } from "./runs.ts";
import { openSource, type RunSource, SqliteSource } from "./store/index.ts";

/** The formats `export` writes, by name; each is loaded when first used. */
export const EXPORT_FORMATS = {
  parquet: () => import("./formats/parquet.ts").then((m) => m.parquet),
  csv: () => import("./formats/csv.ts").then((m) => m.csv),
} as const satisfies Record<string, () => Promise<FileFormat>>;
/** A format `export` writes: `parquet` or `csv`. */
export type ExportFormat = keyof typeof EXPORT_FORMATS;

/** What to export, and where. */
export interface ExportOptions {
  format: ExportFormat;
  /** The directory to write: created if missing; it must be empty. */
  out: string;
  /** Run ids (or `"latest"`); default every run. */
  runs?: readonly string[];
  /** Only the tables of these event types; default all. */
  types?: readonly EventType[];
  /**
   * Also one DOUBLE column per indicator name (`indicator_<name>`, NULL where a row lacks it)
   * beside the JSON text, so that NaN and ±Infinity are numbers a reader can use. Costs a
   * second read of the tables that hold indicators, to learn the names first.
   */
  indicatorColumns?: boolean;
  /**
   * Stops the export once aborted, between chunks of rows: it rejects with the signal's reason,
   * having removed what it wrote.
   */
  signal?: AbortSignal;
}

/** What an export wrote. */
export interface ExportSummary {
  runs: number;
  events: number;
  files: number;
  bytes: number;
}

const FORMAT_NAMES = Object.keys(EXPORT_FORMATS);

const ExportOptionsSchema = v.object({
  format: v.picklist(FORMAT_NAMES, `expected one of ${FORMAT_NAMES.join(", ")}`),
  out: v.pipe(v.string("expected a directory"), v.nonEmpty("expected a directory")),
  runs: v.optional(v.array(v.string("expected run ids"))),
  types: v.optional(v.array(eventTypeName)),
  indicatorColumns: v.optional(v.boolean()),
  signal: v.optional(v.instance(AbortSignal)),
});

/**
 * Writes the runs of `source` into `options.out`: a runs database path or a `postgres://` URL
 * (opened and closed here), an open database or any {@link RunSource}. Streams: a run of any
 * length costs at most one row group per table in memory. Every event keeps its exact values;
 * `seq` numbers it in its run's publication order, as replay restores it (also for runs the
 * Python recorder wrote). A run being recorded exports as it stood when its reading began; a run
 * removed before its reading began is passed over (the summary counts the runs written). On
 * failure or cancellation the files written so far are removed. Each file is written as
 * `<name>.incomplete`, renamed when complete, and the runs file last: a process killed outright
 * leaves no file that passes for a whole one.
 */
export async function exportRuns(
  source: string | RunsDb | RunSource,
  options: ExportOptions,
): Promise<ExportSummary> {
  checkOptions(ExportOptionsSchema, options, "export");
  const format = await EXPORT_FORMATS[options.format]();
  const runs: RunSource =
    typeof source === "string"
      ? await openSource(source)
      : "sqlite" in source
        ? new SqliteSource(source)
        : source;
  const summary: ExportSummary = { runs: 0, events: 0, files: 0, bytes: 0 };
  try {
    const selected = await selectRuns(runs, options.runs);
    checkPartitions(selected.map((run) => run.run_id));
    const created = writing(options.out, () => prepareDirectory(options.out));
    try {
      const job: Job = {
        source: runs,
        format,
        out: options.out,
        wanted: new Set(options.types ?? EVENT_TYPES),
        indicatorColumns: options.indicatorColumns === true,
        signal: options.signal,
        summary,
      };
      // Read together where the source reads many runs cheaper so (a store across a network);
      // not for indicator columns, whose names take a pass over each run's events before it.
      const together = job.indicatorColumns ? undefined : runs.eachRun?.(selected);
      const exported: RunRow[] = [];
      const exportOne = async (run: RunRow, chunks?: AsyncIterable<readonly Event[]>) => {
        try {
          await exportRun(job, run.run_id, chunks);
        } catch (error) {
          // Removed since it was listed (its first read fails, before a file of it is made): passed
          // over, as an export begun a moment later would pass it over.
          if (error instanceof RunNotFoundError && error.runId === run.run_id) return;
          throw error;
        }
        exported.push(run);
        summary.runs++;
      };
      if (together !== undefined) {
        for await (const { run, chunks } of together) await exportOne(run, chunks);
      } else {
        for (const run of selected) await exportOne(run);
      }
      // Last: a directory with the runs file in it holds a finished export.
      const sink = openPart(format, runsFile(options.out, format.extension), RUN_COLUMNS);
      try {
        for (const run of exported) sink.write(runValues(run));
        summary.bytes += sink.close();
      } finally {
        sink.abandon();
      }
      summary.files++;
      // Aborted while the last files were written: what is kept is still only a finished export.
      options.signal?.throwIfAborted();
      return summary;
    } catch (error) {
      removeWritten(options.out, created);
      throw writeError(options.out, error);
    }
  } finally {
    if (typeof source === "string") await runs.close();
  }
}

async function selectRuns(
  source: RunSource,
  ids: readonly string[] | undefined,
): Promise<RunRow[]> {
  if (ids === undefined) return source.listRuns();
  const unique = new Set<string>();
  for (const id of ids) unique.add(await source.resolveRunId(id));
  return Promise.all([...unique].map((id) => source.getRun(id)));
}

interface Job {
  source: RunSource;
  format: FileFormat;
  out: string;
  wanted: ReadonlySet<EventType>;
  indicatorColumns: boolean;
  signal: AbortSignal | undefined;
  summary: ExportSummary;
}

/**
 * Where an export stops once its signal is aborted. It lets the event loop run first: whatever
 * aborts the signal (a signal handler, a timer) runs there, never while a chunk is being written.
 */
async function checkpoint(signal: AbortSignal | undefined): Promise<void> {
  if (signal === undefined) return;
  await new Promise((resolve) => setImmediate(resolve));
  signal.throwIfAborted();
}

/** The indicator field of `type`, if it has one. */
const indicatorField = (type: EventType) =>
  fieldsOf(type).find(([, field]) => field.kind === "indicators")?.[0];

/** The indicator names a run's events of each type hold, in the order they first appear. */
async function indicatorNames(job: Job, runId: string): Promise<Map<EventType, string[]>> {
  const types = [...job.wanted].filter((t) => indicatorField(t) !== undefined);
  if (!job.indicatorColumns || types.length === 0) return new Map();
  const names = new Map<EventType, Set<string>>(types.map((t) => [t, new Set()]));
  for await (const chunk of job.source.chunks({ run: runId, types })) {
    for (const event of chunk) {
      const values = (event as unknown as Record<string, Indicators>)[
        indicatorField(event.type) as string
      ];
      const seen = names.get(event.type) as Set<string>;
      for (const name in values) seen.add(name);
    }
    await checkpoint(job.signal);
  }
  return new Map([...names].map(([type, set]) => [type, [...set]]));
}

/** Writes a run's files: from `chunks` where they were read already, else from the source. */
async function exportRun(
  job: Job,
  runId: string,
  chunks?: AsyncIterable<readonly Event[]>,
): Promise<void> {
  const { format, out, wanted, summary } = job;
  const spread = await indicatorNames(job, runId);
  const sinks = new Map<EventType, PartSink>();
  const write = (type: EventType, values: ExportValue[], indicators?: Indicators) => {
    const names = spread.get(type);
    let sink = sinks.get(type);
    if (sink === undefined) {
      const partition = partitionPath(out, catalog[type].table, runId);
      mkdirSync(partition, { recursive: true });
      const columns = [...eventColumns(type), ...(names ?? []).map(indicatorColumn)];
      sink = openPart(format, partFile(partition, format.extension), columns);
      sinks.set(type, sink);
    }
    if (names !== undefined && indicators !== undefined) {
      // Own members only: a name like "constructor" from another row is not this row's value.
      for (const name of names)
        values.push(Object.hasOwn(indicators, name) ? (indicators[name] as number) : null);
    }
    sink.write(values);
    summary.events++;
  };
  try {
    // A runtape-written SQLite run is copied as stored, table by table: no events to build.
    const copied =
      chunks === undefined &&
      (await job.source.eachStoredRow?.(runId, [...wanted], async (type, rows) => {
        const at = INDICATOR_AT[type];
        for (const row of rows) {
          const indicators = spread.has(type)
            ? (loadsIndicators(row[at] as string) as Indicators)
            : undefined;
          write(type, row, indicators);
        }
        await checkpoint(job.signal);
      }));
    if (!copied) await exportEvents(job, chunks ?? job.source.chunks({ run: runId }), write);
    for (const [type, sink] of sinks) {
      summary.bytes += sink.close();
      summary.files++;
      sinks.delete(type);
    }
  } finally {
    // Closed on failure too, so that no file stays open; each stays incomplete by its name.
    for (const sink of sinks.values()) sink.abandon();
  }
}

/** A run's events through replay (a source that cannot copy stored rows): `write` takes each. */
async function exportEvents(
  job: Job,
  chunks: AsyncIterable<readonly Event[]>,
  write: (type: EventType, values: ExportValue[], indicators?: Indicators) => void,
): Promise<void> {
  const { wanted } = job;
  let seq = 0n;
  for await (const chunk of chunks) {
    for (const event of chunk) {
      seq++;
      if (!wanted.has(event.type)) continue;
      const record = event as unknown as Record<string, Indicators>;
      const field = indicatorField(event.type);
      write(event.type, eventValues(event, seq), field === undefined ? undefined : record[field]);
    }
    await checkpoint(job.signal);
  }
}

/** What an export's file name ends in until the file is complete. */
const INCOMPLETE = ".incomplete";

/** A file of an export: complete and under its own name once closed, or abandoned. */
interface PartSink extends TableSink {
  /** Closes the file, if still open, leaving it under its incomplete name; never throws. */
  abandon(): void;
}

/**
 * Opens `path` to be written under a name beside it that says it is incomplete, given its own name
 * by `close` once all of it is written: an export killed midway (kill -9, a power cut) leaves no
 * file that readers would take for a whole one (a CSV that ends on a full line, fewer rows).
 */
function openPart(format: FileFormat, path: string, columns: readonly ExportColumn[]): PartSink {
  const partial = `${path}${INCOMPLETE}`;
  const sink = format.open(partial, columns);
  let open = true;
  return {
    write: (row) => sink.write(row),
    close() {
      open = false;
      const bytes = sink.close();
      renameSync(partial, path);
      return bytes;
    },
    abandon() {
      if (!open) return;
      open = false;
      try {
        sink.close();
      } catch {
        // A file that cannot be finished (a full disk) is closed all the same; it stays incomplete.
      }
    },
  };
}

/** Where each type's indicators are among its stored values (-1: it has none). */
const INDICATOR_AT = Object.fromEntries(
  EVENT_TYPES.map((t) => [t, fieldsOf(t).findIndex(([name]) => name === indicatorField(t))]),
) as Record<EventType, number>;

const FIELDS = Object.fromEntries(EVENT_TYPES.map((t) => [t, fieldsOf(t)])) as Record<
  EventType,
  ReturnType<typeof fieldsOf>
>;

/** An event's values in the order of {@link eventColumns}. */
function eventValues(event: Event, seq: bigint): ExportValue[] {
  const record = event as unknown as Record<string, unknown>;
  const values: ExportValue[] = [];
  for (const [name, field] of FIELDS[event.type]) {
    const value = record[name] as ExportValue | Indicators;
    if (value !== null && field.kind === "indicators") {
      values.push(dumpsIndicators(value as Indicators));
    } else values.push(value as ExportValue);
  }
  values.push(seq);
  return values;
}

const runValues = (run: RunRow): ExportValue[] => [
  run.run_id,
  run.name,
  run.ts_start,
  run.ts_end,
  run.status,
  run.config,
  run.metadata,
];

/** A file system failure under `dir` as one line that names it; other errors pass through. */
const writeError = (dir: string, error: unknown) =>
  fileWriteError(`cannot write the export into ${dir}`, error, "EXPORT_WRITE");

function writing<T>(dir: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    throw writeError(dir, error);
  }
}

/** Creates `dir` or checks that it is empty; returns whether it was created. */
function prepareDirectory(dir: string): boolean {
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true });
    return true;
  }
  if (!statSync(dir).isDirectory() || readdirSync(dir).length > 0) {
    throw new OutputNotEmptyError(dir);
  }
  return false;
}

/** Removes what an export wrote into `dir`, which it found empty or created. */
function removeWritten(dir: string, created: boolean): void {
  if (created) rmSync(dir, { recursive: true, force: true });
  else
    for (const entry of readdirSync(dir))
      rmSync(join(dir, entry), { recursive: true, force: true });
}
