/**
 * CSV as RFC 4180 has it: a header line, CRLF line ends, a field quoted when it holds a comma, a
 * quote, CR or LF (quotes doubled). NULL is an empty field and empty text a quoted empty field
 * (`""`), so the two stay apart for readers that tell them apart. Integers are exact; doubles
 * are the shortest text that reads back to the same double, `NaN`, `Infinity`, `-Infinity` and
 * `-0` spelled out.
 */
import { closeSync, fstatSync, openSync, writeSync } from "node:fs";
import { written } from "./collect.ts";
import type { ExportValue, FileFormat, TableSink } from "./columns.ts";

/** Text gathered before a write to the file. */
const CHUNK_CHARS = 1 << 20;

const NEEDS_QUOTES = /[",\r\n]/;

function field(value: ExportValue): string {
  if (value === null) return "";
  if (typeof value === "string") {
    return value === "" || NEEDS_QUOTES.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
  }
  if (typeof value === "number" && Object.is(value, -0)) return "-0";
  return String(value);
}

const line = (values: readonly ExportValue[]) => `${values.map(field).join(",")}\r\n`;

export const csv: FileFormat = {
  extension: "csv",
  open(path, columns): TableSink {
    const fd = openSync(path, "w");
    let text = line(columns.map((c) => c.name));
    let rows = 0;
    const flush = () => {
      writeSync(fd, text);
      text = "";
      written(rows);
      rows = 0;
    };
    return {
      write(row) {
        text += line(row);
        rows++;
        if (text.length >= CHUNK_CHARS) flush();
      },
      close() {
        try {
          flush();
          return fstatSync(fd).size;
        } finally {
          closeSync(fd);
        }
      },
    };
  },
};
