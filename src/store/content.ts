/**
 * A run's rows as the text of PostgreSQL's COPY format: what push sends, and what the digest that
 * makes a push exactly-once is taken over. Read from a file or from the store, one run gives the
 * same text, so a digest tells whether two places hold the same run.
 */
import { type RunsDb, toDbError } from "../db.ts";
import { RuntapeError, UnstorableValueError } from "../errors.ts";
import { defaultCatalog as cat, type EventType } from "../events/catalog.ts";
import { EXTENSION_SCHEMA_VERSION } from "../events/event-catalog.ts";
import { counted } from "../format.ts";
import { hasSequence } from "../runs.ts";
import { declaredTables, EXTENSION, RUNS_TABLE, SEQ_COLUMN, storedColumns } from "../schema.ts";
import { SequenceTally, sequenced } from "../sequence.ts";

/** Columns of `runs` and of runtape's bookkeeping per run, as the SQLite layout declares them. */
export const RUN_COLUMNS = declaredTables(RUNS_TABLE).get("runs") as readonly string[];
export const BOOKKEEPING_COLUMNS = declaredTables(EXTENSION).get(
  "runtape_runs",
) as readonly string[];

/**
 * Columns of an event table as the store holds them: those of a runs database of the current
 * layout, in its order. `id` is the row's position within its run and table (1, 2, ...), in the
 * order the file keeps them: the same wherever the run is copied.
 */
export const storeColumns = (type: EventType) => [
  "id",
  "run_id",
  ...storedColumns(cat, type).map((c) => c.name),
];

/** The store columns the rows of a table fill (a piece's COPY text, a page of stored rows). */
export function copyColumns(piece: { table: string; type?: EventType }): readonly string[] {
  if (piece.type !== undefined) return storeColumns(piece.type);
  return piece.table === "runs" ? RUN_COLUMNS : BOOKKEEPING_COLUMNS;
}

const ESCAPES: Record<string, string> = { "\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r" };

/** A value COPY text cannot carry, at index `at` of its row: its caller names run and column. */
class Unstorable extends Error {
  constructor(
    readonly at: number,
    readonly value: unknown,
    readonly reason: string,
  ) {
    super(reason);
  }
}

/**
 * One value (at index `at` of its row) in COPY's text format: `\N` for NULL, exact integers,
 * shortest round-trip floats.
 */
function copyValue(value: unknown, at: number): string {
  switch (typeof value) {
    case "string":
      // biome-ignore lint/suspicious/noControlCharactersInRegex: U+0000 is what it looks for
      if (!/[\\\t\n\r\u0000]/.test(value)) return value;
      // SQLite keeps it, but no PostgreSQL text can hold it (COPY fails on the whole run).
      if (value.includes("\u0000")) {
        throw new Unstorable(at, value, "PostgreSQL text cannot hold U+0000");
      }
      return value.replace(/[\\\t\n\r]/g, (c) => ESCAPES[c] as string);
    case "bigint":
      return value.toString();
    case "number":
      return String(value);
    default:
      if (value === null) return "\\N";
      throw new Unstorable(
        at,
        value,
        `the store holds no value of kind ${value instanceof Uint8Array ? "blob" : typeof value}`,
      );
  }
}

/** `error`, where it is a value COPY cannot carry, as the error naming run, table and column. */
function named(error: unknown, runId: string, table: string, columns: readonly string[]): unknown {
  if (!(error instanceof Unstorable)) return error;
  const column = columns[error.at] as string;
  return new UnstorableValueError(runId, table, column, error.value, error.reason);
}

/** A `runs` or `runtape_runs` row of run `runId` as a piece, in COPY's text format. */
export function rowPiece(table: string, runId: string, row: readonly unknown[]): ContentPiece {
  try {
    return { table, bytes: Buffer.from(`${row.map(copyValue).join("\t")}\n`), rows: 1 };
  } catch (error) {
    throw named(error, runId, table, copyColumns({ table }));
  }
}

/** COPY text is sent and hashed in pieces of about this many characters. */
const PIECE_CHARS = 1 << 18;

/** A piece of a run's content: COPY text for one table. */
export interface ContentPiece {
  /** `runs`, `runtape_runs`, or an event type's table. */
  table: string;
  /** Event type of an event table's piece. */
  type?: EventType;
  /** The COPY text as UTF-8: encoded once, then both hashed and sent. */
  bytes: Uint8Array;
  rows: number;
}

/**
 * A run's content from a runs database: its `runs` row, its bookkeeping row, then each event
 * table's rows in catalog order, as COPY text in pieces. A run recorded without sequence numbers
 * (the Python recorder's) is sent as runtape's merge copies it: numbered in the order its replay
 * reconstructs, with the bookkeeping row that says so, so the store replays it by `seq` to the
 * same events as the file. Rows are read in replay's order, so ids number them as replay meets them.
 */
export function* fileContent(db: RunsDb, runId: string): Generator<ContentPiece> {
  try {
    yield* readContent(db, runId);
  } catch (error) {
    // Read inside a store transaction, a corrupt page would pass for the store's failure.
    throw toDbError(db.path, error);
  }
}

function* readContent(db: RunsDb, runId: string): Generator<ContentPiece> {
  const select = (table: string, columns: readonly string[]) =>
    db.sqlite.query(`SELECT ${columns.join(", ")} FROM ${table} WHERE run_id = ?`).values(runId);
  for (const row of select("runs", RUN_COLUMNS)) yield rowPiece("runs", runId, row);
  const bySeq = hasSequence(db, runId);
  const order = bySeq ? undefined : replayOrder(db, runId);
  const bookkeeping = order
    ? [
        [
          runId,
          null,
          null,
          order.tally.events,
          0,
          order.tally.lastTsEventNs,
          order.tally.barPeriods,
        ],
      ]
    : select("runtape_runs", BOOKKEEPING_COLUMNS);
  for (const row of bookkeeping) yield rowPiece("runtape_runs", runId, row);
  // Tables the file's layout predates hold no rows; columns it predates read as NULL.
  for (const type of db.catalog.typesAt(db.version) as EventType[]) {
    const table = cat.table(type);
    const columns = storedColumns(cat, type);
    const stored = columns.map((c) =>
      (c.name === SEQ_COLUMN ? EXTENSION_SCHEMA_VERSION : cat.sinceOf(type, c.name)) <= db.version
        ? c.name
        : `NULL AS ${c.name}`,
    );
    const pages = order
      ? pagesOf(
          db.sqlite
            .query(`SELECT ${stored.join(", ")} FROM ${table} WHERE run_id = ? ORDER BY id`)
            .iterate(runId) as Iterable<Record<string, unknown>>,
          columns.findIndex((c) => c.name === SEQ_COLUMN),
          order.seqs.get(type) ?? [],
        )
      : pagesBySeq(db, table, stored, runId);
    let sent = 0;
    for (const page of pages) {
      yield* pieces(table, type, runId, page, sent);
      sent += page.length;
    }
  }
}

/** A run without sequence numbers in replay order: each table's seqs in row order, and the tally. */
function replayOrder(db: RunsDb, runId: string) {
  const seqs = new Map<string, number[]>();
  const tally = new SequenceTally();
  for (const [seq, event] of sequenced(db, runId)) {
    tally.add(event);
    const list = seqs.get(event.type);
    if (list === undefined) seqs.set(event.type, [seq]);
    else list.push(seq);
  }
  return { seqs, tally };
}

const PAGE_ROWS = 8192;

/**
 * A table's rows as arrays, a page at a time, each given the seq replay placed it at. Replay keeps
 * a table's rows in id order, so the i-th row's seq is the i-th of `seqs`.
 */
function* pagesOf(
  rows: Iterable<Record<string, unknown>>,
  seqAt: number,
  seqs: readonly number[],
): Generator<unknown[][]> {
  let page: unknown[][] = [];
  let i = 0;
  for (const row of rows) {
    const values = Object.values(row);
    values[seqAt] = seqs[i++];
    page.push(values);
    if (page.length === PAGE_ROWS) {
      yield page;
      page = [];
    }
  }
  if (page.length > 0) yield page;
}

/**
 * A runtape run's rows of `table` in seq order, a page at a time (flat memory, native arrays).
 * Paging on seq would pass over a row without one, so the rows are counted too: a run that
 * cannot be sent whole is refused, never sent in part.
 */
function* pagesBySeq(
  db: RunsDb,
  table: string,
  columns: readonly string[],
  runId: string,
): Generator<unknown[][]> {
  const page = db.sqlite.prepare(
    `SELECT ${columns.join(", ")} FROM ${table} WHERE run_id = ? AND ${SEQ_COLUMN} > ? ORDER BY ${SEQ_COLUMN} LIMIT ${PAGE_ROWS}`,
  );
  const seqAt = columns.indexOf(SEQ_COLUMN);
  let read = 0;
  try {
    for (let after: unknown = -(2n ** 63n); ; ) {
      const rows = page.values(runId, after as bigint) as unknown[][];
      if (rows.length === 0) break;
      read += rows.length;
      after = (rows[rows.length - 1] as unknown[])[seqAt];
      yield rows;
    }
  } finally {
    page.finalize();
  }
  const { n } = db.sqlite
    .query(`SELECT COUNT(*) AS n FROM ${table} WHERE run_id = ?`)
    .get(runId) as { n: bigint };
  if (BigInt(read) !== n) {
    throw new RuntapeError(
      `${table} holds ${counted(n - BigInt(read), "row")} of run ${JSON.stringify(runId)} without a sequence number: the run cannot be sent whole`,
      "ROWS_WITHOUT_SEQ",
    );
  }
}

/**
 * Event rows (the store's columns after `id` and `run_id`) as COPY pieces, numbering them on
 * from `before` + 1. The run id is encoded once.
 */
export function* pieces(
  table: string,
  type: EventType,
  runId: string,
  rows: readonly (readonly unknown[])[],
  before = 0,
): Generator<ContentPiece> {
  const line = lineEncoder(type);
  let text = "";
  let count = 0;
  let id = before;
  try {
    const prefix = `\t${copyValue(runId, 1)}`;
    for (const row of rows) {
      text += line(++id, prefix, row);
      count++;
      if (text.length >= PIECE_CHARS) {
        yield { table, type, bytes: Buffer.from(text), rows: count };
        text = "";
        count = 0;
      }
    }
  } catch (error) {
    throw named(error, runId, table, storeColumns(type));
  }
  if (count > 0) yield { table, type, bytes: Buffer.from(text), rows: count };
}

type LineEncoder = (id: number, prefix: string, row: readonly unknown[]) => string;
const encoders = new Map<EventType, LineEncoder>();

/**
 * One row as a COPY line, compiled per type into a single template literal: encoding is most of
 * what a push costs the pushing machine, and the generic loop over values took twice as long.
 * Numbers and bigints go in as they print; anything else (text, NULL, a stray storage class)
 * through {@link copyValue}, which escapes or refuses it.
 */
function lineEncoder(type: EventType): LineEncoder {
  let encode = encoders.get(type);
  if (encode === undefined) {
    const width = storeColumns(type).length - 2;
    const values = Array.from({ length: width }, (_, i) => {
      const v = `r[${i}]`;
      return `\t\${typeof ${v} === "number" || typeof ${v} === "bigint" ? ${v} : cv(${v}, ${i + 2})}`;
    });
    encode = new Function(
      "cv",
      `return (id, prefix, r) => \`\${id}\${prefix}${values.join("")}\n\`;`,
    )(copyValue) as LineEncoder;
    encoders.set(type, encode);
  }
  return encode;
}

/** Hashes pieces as they pass: the digest of a run is that of its whole content. */
export class ContentDigest {
  private readonly hasher = new Bun.CryptoHasher("sha256");
  private table = "";
  events = 0n;

  add(piece: ContentPiece): void {
    // The table names once where it begins: how its text was cut into pieces does not count.
    if (piece.table !== this.table) this.hasher.update(`\\.\n${piece.table}\n`);
    this.table = piece.table;
    this.hasher.update(piece.bytes);
    if (piece.type !== undefined) this.events += BigInt(piece.rows);
  }

  #hex: string | undefined;

  /** The digest of what was added; asked again, the same (the hasher is finished once). */
  hex(): string {
    this.#hex ??= this.hasher.digest("hex");
    return this.#hex;
  }
}
