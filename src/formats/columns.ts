/**
 * The tables an export writes, as columns a file format can type: derived from the catalog, so
 * every format (Parquet, CSV) writes the same columns in the same order.
 */
import { type EventType, fieldsOf } from "../events/catalog.ts";
import type { FieldKind } from "../events/fields.ts";
import { SEQ_COLUMN } from "../schema.ts";

/**
 * What an exported column holds: `ns` nanoseconds since the epoch and `int` integers (both 64-bit,
 * as `bigint`), `real` a double, `text` UTF-8 text (vocabularies and indicators' JSON included).
 */
export type ColumnKind = "ns" | "int" | "real" | "text";

/** One column of an exported table. */
export interface ExportColumn {
  readonly name: string;
  readonly kind: ColumnKind;
  readonly nullable: boolean;
}

/** A value as the formats take it. */
export type ExportValue = bigint | number | string | null;

const KINDS: Record<FieldKind, ColumnKind> = {
  ns: "ns",
  int: "int",
  real: "real",
  text: "text",
  enum: "text",
  indicators: "text",
};

/**
 * The columns of an event table in an export: the catalog's fields in insert order, then `seq`,
 * the event's position in its run's publication order (for Python-written runs, the order replay
 * reconstructs). The run id is not a column: it is the Hive partition in the path.
 */
export function eventColumns(type: EventType): readonly ExportColumn[] {
  return [
    ...fieldsOf(type).map(([name, field]) => ({
      name,
      kind: KINDS[field.kind],
      nullable: !field.notNull,
    })),
    { name: SEQ_COLUMN, kind: "int", nullable: false },
  ];
}

/** The column of one indicator, beside the JSON text, when an export spreads indicators out. */
export const indicatorColumn = (name: string): ExportColumn => ({
  name: `indicator_${name}`,
  kind: "real",
  nullable: true,
});

/** The columns of the `runs` table, as `runs.parquet` / `runs.csv` hold them. */
export const RUN_COLUMNS: readonly ExportColumn[] = [
  { name: "run_id", kind: "text", nullable: false },
  { name: "name", kind: "text", nullable: false },
  { name: "ts_start", kind: "ns", nullable: false },
  { name: "ts_end", kind: "ns", nullable: true },
  { name: "status", kind: "text", nullable: false },
  { name: "config", kind: "text", nullable: true },
  { name: "metadata", kind: "text", nullable: true },
];

/** Writes the rows of one table into one file, as they come. */
export interface TableSink {
  /** One row, its values in the order of the columns the sink was opened with. */
  write(row: readonly ExportValue[]): void;
  /** Writes what is buffered and closes the file; returns its size in bytes. */
  close(): number;
}

/** A file format an export can write. */
export interface FileFormat {
  /** The file name extension, without the dot. */
  readonly extension: string;
  /** Creates the file at `path` (replacing any) for rows of `columns`. */
  open(path: string, columns: readonly ExportColumn[]): TableSink;
}
