/**
 * A run as NDJSON text, in blocks, from either kind of source: what `runtape replay` writes to
 * stdout, and what a program piping a run elsewhere wants, without a line per write.
 */

import * as v from "valibot";
import type { RunsDb } from "./db.ts";
import type { Event } from "./events/catalog.ts";
import { LineBuffer } from "./formats/line-buffer.ts";
import { lineWriter } from "./formats/ndjson-lines.ts";
import type { Int64Style } from "./json.ts";
import { checkOptions } from "./options.ts";
import { type ReplayOptions, type ReplayStats, replayLines, type SliceOptions } from "./replay.ts";
import { parallelLines, worthSlicing } from "./replay-parallel.ts";
import type { RunSource } from "./store/index.ts";
import { SqliteSource } from "./store/sqlite.ts";

const NdjsonOptionsSchema = v.object({
  int64: v.optional(v.picklist(["number", "string"], 'expected "number" or "string"')),
  threads: v.optional(v.picklist([1, 2], "expected 1 or 2")),
});

// One write per line would cost more than the replay itself.
const BLOCK_BYTES = 1 << 16;

/** Options of {@link replayNdjson}: the replay's, and how the lines are made. */
export interface NdjsonReplayOptions extends ReplayOptions {
  /** 64-bit integers as JSON numbers (default) or strings. */
  int64?: Int64Style;
  /** 2: a large run of a file is encoded by this thread and a worker together. Default 1. */
  threads?: 1 | 2;
  /** Filled as the replay goes; `workerSlices` says how many slices the worker took. */
  stats?: ReplayStats & { workerSlices?: number };
}

/**
 * The run's events as NDJSON lines, in blocks of whole lines of about 64 KB, in replay order. A
 * file's lines come straight from its rows, with no event built; a store's from its events. Each
 * block is valid only until the next is asked for (its bytes are reused): write it first.
 */
export async function* replayNdjson(
  source: RunSource,
  options: NdjsonReplayOptions = {},
): AsyncGenerator<Uint8Array> {
  const { int64 = "number", threads = 1, ...replayOptions } = options;
  checkOptions(NdjsonOptionsSchema, { int64, threads }, "replay");
  const stats = options.stats ?? { runId: "", events: 0, skipped: 0 };
  const sliced = { ...replayOptions, stats };
  if (source instanceof SqliteSource) {
    if (threads === 2 && worthSlicing(source.db, sliced)) {
      // Asked for two, the worker is waited for, so that it shares even a run done before it starts.
      yield* parallelLines(source.db, sliced, int64, stats, { workerFirst: true });
      return;
    }
    yield* fileBlocks(source.db, sliced, int64);
    return;
  }
  const buffer = new LineBuffer();
  for await (const events of source.chunks(sliced)) yield* eventBlocks(events, int64, buffer);
  if (buffer.length > 0) yield* take(buffer);
}

// Plain generators hold the loops: a loop over every row ran up to a fifth slower in the async
// generator's body (300k mixed events of a file: 596–602 against 480–556 ms of CPU).
function* fileBlocks(db: RunsDb, options: SliceOptions, int64: Int64Style): Generator<Uint8Array> {
  const buffer = new LineBuffer();
  for (const _ of replayLines(db, options, int64, buffer)) {
    if (buffer.length > BLOCK_BYTES) yield* take(buffer);
  }
  if (buffer.length > 0) yield* take(buffer);
}

function* eventBlocks(
  events: readonly Event[],
  int64: Int64Style,
  buffer: LineBuffer,
): Generator<Uint8Array> {
  for (const event of events) {
    lineWriter(event.type, int64)(event as unknown as Record<string, unknown>, buffer);
    if (buffer.length > BLOCK_BYTES) yield* take(buffer);
  }
}

function* take(buffer: LineBuffer): Generator<Uint8Array> {
  yield buffer.view();
  buffer.clear();
}
