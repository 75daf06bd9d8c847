/**
 * A run's rows as the text of PostgreSQL's COPY format: what push sends, and what the digest that
 * makes a push exactly-once is taken over. Read from a file or from the store, one run gives the
 * same text, so a digest tells whether two places hold the same run.
 */
import type { RunsDb } from "../db.ts";
import { RuntapeError } from "../errors.ts";
import { type EventType, fieldsOf } from "../events/catalog.ts";
import { hasSequence } from "../runs.ts";
import { EXTENSION, EXTENSION_SCHEMA_VERSION, RUNS_TABLE, SEQ_COLUMN } from "../schema.ts";

/** The columns a `CREATE TABLE` statement declares, in order. */
function declaredColumns(ddl: string, table: string): string[] {
  const body = new RegExp(`CREATE TABLE ${table} \\(([^;]*)\\);`).exec(ddl)?.[1] ?? "";
  return [...body.matchAll(/^\s+([a-z_]+) (?:TEXT|INTEGER|REAL)/gm)].map((m) => m[1] as string);
}

/** Columns of `runs` and of runtape's bookkeeping per run, as the SQLite layout declares them. */
export const RUN_COLUMNS = declaredColumns(RUNS_TABLE, "runs");
export const BOOKKEEPING_COLUMNS = declaredColumns(EXTENSION, "runtape_runs");

/**
 * Columns of an event table as the store holds them. `id` is the row's position within its run
 * and table (1, 2, ...), in the order the file keeps them: the same wherever the run is copied.
 */
export const storeColumns = (type: EventType) => [
  "id",
  "run_id",
  ...fieldsOf(type).map(([n]) => n),
  SEQ_COLUMN,
];

const ESCAPES: Record<string, string> = { "\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r" };

/** One value in COPY's text format: `\N` for NULL, exact integers, shortest round-trip floats. */
export function copyValue(value: unknown): string {
  switch (typeof value) {
    case "string":
      return /[\\\t\n\r]/.test(value)
        ? value.replace(/[\\\t\n\r]/g, (c) => ESCAPES[c] as string)
        : value;
    case "bigint":
      return value.toString();
    case "number":
      return String(value);
    default:
      if (value === null) return "\\N";
      throw new RuntapeError(
        `a value of kind ${value instanceof Uint8Array ? "blob" : typeof value} cannot go to the store`,
        "UNSTORABLE_VALUE",
      );
  }
}

/** A row in COPY's text format, with its newline. */
export const copyRow = (values: readonly unknown[]) => `${values.map(copyValue).join("\t")}\n`;

/** COPY text is sent and hashed in pieces of about this many characters. */
const PIECE_CHARS = 1 << 18;

/** A piece of a run's content: COPY text for one table. */
export interface ContentPiece {
  /** `runs`, `runtape_runs`, or an event type's table. */
  table: string;
  /** Event type of an event table's piece. */
  type?: EventType;
  text: string;
  rows: number;
}

/**
 * A run's content from a runs database: its `runs` row, its bookkeeping row (when runtape recorded
 * it), then each event table's rows in catalog order, as COPY text in pieces. A file that predates
 * `seq` gives NULL for it. Rows are read in replay's order, so ids number them as replay meets them.
 */
export function* fileContent(db: RunsDb, runId: string): Generator<ContentPiece> {
  const select = (table: string, columns: readonly string[]) =>
    db.sqlite.query(`SELECT ${columns.join(", ")} FROM ${table} WHERE run_id = ?`).values(runId);
  for (const row of select("runs", RUN_COLUMNS))
    yield { table: "runs", text: copyRow(row), rows: 1 };
  const hasSeqColumn = db.version >= EXTENSION_SCHEMA_VERSION;
  if (hasSeqColumn) {
    for (const row of select("runtape_runs", BOOKKEEPING_COLUMNS)) {
      yield { table: "runtape_runs", text: copyRow(row), rows: 1 };
    }
  }
  const bySeq = hasSequence(db, runId);
  // Tables and columns newer than the file hold nothing: none read, NULL read.
  for (const type of db.catalog.typesAt(db.version) as EventType[]) {
    const table = db.catalog.table(type);
    const names = fieldsOf(type).map(([n]) =>
      db.catalog.sinceOf(type, n) <= db.version ? n : `NULL AS ${n}`,
    );
    const statement = db.sqlite.prepare(
      `SELECT ${names.join(", ")}, ${hasSeqColumn ? SEQ_COLUMN : "NULL"} FROM ${table} WHERE run_id = ? ORDER BY ${bySeq ? SEQ_COLUMN : "id"}`,
    );
    try {
      yield* pieces(
        table,
        type,
        runId,
        statement.iterate(runId) as Iterable<unknown[]>,
        names.length + 1,
      );
    } finally {
      statement.finalize();
    }
  }
}

/**
 * Event rows (the catalog's columns and seq) as COPY pieces of the store's columns, numbering
 * them on from `before` + 1. The run id is encoded once.
 */
export function* pieces(
  table: string,
  type: EventType,
  runId: string,
  rows: Iterable<unknown[] | Record<string, unknown>>,
  width: number,
  /** The id before the first row's. */
  before = 0n,
): Generator<ContentPiece> {
  const run = copyValue(runId);
  let text = "";
  let count = 0;
  let id = before;
  for (const raw of rows) {
    const row = Array.isArray(raw) ? raw : Object.values(raw);
    let line = `${++id}\t${run}`;
    for (let i = 0; i < width; i++) line += `\t${copyValue(row[i])}`;
    text += `${line}\n`;
    count++;
    if (text.length >= PIECE_CHARS) {
      yield { table, type, text, rows: count };
      text = "";
      count = 0;
    }
  }
  if (count > 0) yield { table, type, text, rows: count };
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
    this.hasher.update(piece.text);
    if (piece.type !== undefined) this.events += BigInt(piece.rows);
  }

  hex(): string {
    return this.hasher.digest("hex");
  }
}
