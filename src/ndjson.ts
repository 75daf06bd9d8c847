/**
 * The NDJSON interchange format: one event per line, `"type"` then the columns of its table,
 * 64-bit integers as exact JSON integers, non-finite floats as the strings "NaN", "Infinity",
 * "-Infinity" (also inside `indicators`), null for absent optional fields.
 */
import { readFileSync } from "node:fs";
import { InvalidEventError, NdjsonError, RuntapeError } from "./errors.ts";
import { type Event, type EventType, fieldsOf, isEventType } from "./events/catalog.ts";
import type { FieldEntry } from "./events/event-catalog.ts";
import type { Field } from "./events/fields.ts";
import { parseEvent } from "./events/schemas.ts";
import type { Int64Style } from "./json.ts";

/** Longest line accepted; a longer one is an error, not an out-of-memory crash. */
export const MAX_LINE_BYTES = 16 * 1024 * 1024;

const utf8 = new TextEncoder();

/**
 * NDJSON lines as UTF-8 bytes, appended by the line writers ({@link lineWriter}). Made as strings,
 * a run's lines cost about as much again to flatten, join and encode before they could be
 * written: `runtape replay` is 1.26× faster with lines made as bytes.
 */
export class LineBuffer {
  /** The lines written since the last {@link clear}: bytes 0 to `length`. */
  bytes = new Uint8Array(1 << 16);
  length = 0;
  #text = Buffer.from(this.bytes.buffer);

  /** The buffer, with room for `n` bytes more. */
  reserve(n: number): Uint8Array {
    if (this.length + n > this.bytes.length) {
      const grown = new Uint8Array(Math.max(2 * this.bytes.length, this.length + n));
      grown.set(this.bytes.subarray(0, this.length));
      this.bytes = grown;
      this.#text = Buffer.from(grown.buffer);
    }
    return this.bytes;
  }

  /** Appends `text` as UTF-8. */
  write(text: string): void {
    // UTF-8 takes at most 3 bytes per UTF-16 unit (a surrogate pair: 4 for 2).
    this.length += utf8.encodeInto(
      text,
      this.reserve(3 * text.length).subarray(this.length),
    ).written;
  }

  /** The lines written: a view, valid until the next write or {@link clear}. */
  view(): Uint8Array {
    return this.bytes.subarray(0, this.length);
  }

  /** The bytes from `start` to `end` as text. */
  text(start = 0, end = this.length): string {
    return this.#text.toString("utf8", start, end);
  }

  clear(): void {
    this.length = 0;
  }
}

/** Appends `text`, which is ASCII (the digits of an integer, a float as JavaScript prints it). */
function writeAscii(out: LineBuffer, text: string): void {
  const n = text.length;
  const b = out.reserve(n);
  let p = out.length;
  for (let i = 0; i < n; i++) b[p++] = text.charCodeAt(i);
  out.length = p;
}

/** Appends a constant piece of a line. */
function writeBytes(out: LineBuffer, bytes: Uint8Array): void {
  const n = bytes.length;
  const b = out.reserve(n);
  let p = out.length;
  for (let i = 0; i < n; i++) b[p++] = bytes[i] as number;
  out.length = p;
}

/**
 * Appends `text` as a JSON string. Printable ASCII other than `"` and `\` is its own JSON text
 * (symbols, ids, periods): copied as it is; anything else goes through JSON.stringify.
 */
function writeText(out: LineBuffer, text: string): void {
  const n = text.length;
  const b = out.reserve(n + 2);
  let p = out.length;
  b[p++] = 34;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c < 32 || c > 126 || c === 34 || c === 92) {
      out.write(JSON.stringify(text));
      return;
    }
    b[p++] = c;
  }
  b[p++] = 34;
  out.length = p;
}

/** Appends the digits of `n`, an integer from 0 to 2^53. */
function writeDigits(b: Uint8Array, p: number, n: number): number {
  let end = p + 1;
  for (let rest = n; rest >= 10; rest = Math.floor(rest / 10)) end++;
  let q = end;
  do {
    const digit = n % 10;
    b[--q] = 48 + digit;
    n = (n - digit) / 10;
  } while (n > 0);
  return end;
}

/**
 * Appends a float as JSON: as JavaScript prints it (`${x}`), -0 with its sign, non-finite values
 * as the strings "NaN", "Infinity", "-Infinity". Prices have a few decimals: where |x| < 1e9 is
 * m / 10^6 for an integer m, the shortest text that reads back as x is m's digits with the point
 * put back (no other decimal of 15 digits or fewer is the same double), printed here without
 * making a string; a test holds it to `${x}`.
 */
function writeReal(out: LineBuffer, x: number): void {
  const b = out.reserve(32);
  let p = out.length;
  const negative = x < 0 || (x === 0 && 1 / x < 0);
  const a = negative ? -x : x;
  if (a < 1e9) {
    const m = Math.round(a * 1e6);
    if (m / 1e6 === a) {
      if (negative) b[p++] = 45;
      const whole = Math.floor(a);
      let fraction = m - whole * 1e6;
      p = writeDigits(b, p, whole);
      if (fraction !== 0) {
        b[p++] = 46;
        for (let unit = 1e5; fraction !== 0; unit /= 10) {
          const digit = Math.floor(fraction / unit);
          b[p++] = 48 + digit;
          fraction -= digit * unit;
        }
      }
      out.length = p;
      return;
    }
  }
  writeAscii(out, Number.isFinite(x) ? `${x}` : `"${x}"`);
}

// Indicator names repeat on every event: their JSON form is kept, as bytes.
const keyBytes = new Map<string, Uint8Array>();

/** Appends indicator values as a JSON object, in their order. */
function writeIndicators(out: LineBuffer, values: Record<string, number>): void {
  let open = 123; // `{`, then `,` before each next member
  for (const key in values) {
    let k = keyBytes.get(key);
    if (k === undefined) {
      if (keyBytes.size >= 4096) keyBytes.clear();
      k = utf8.encode(`${JSON.stringify(key)}:`);
      keyBytes.set(key, k);
    }
    out.reserve(1)[out.length++] = open;
    open = 44;
    writeBytes(out, k);
    writeReal(out, values[key] as number);
  }
  if (open === 123) out.reserve(1)[out.length++] = 123;
  out.reserve(1)[out.length++] = 125;
}

/**
 * The text of the last value of one 64-bit timestamp field: an instant repeats from event to
 * event (every symbol's bar of one minute, the orders of that bar), and printing a bigint costs
 * as much as the rest of a line.
 */
class LastText {
  value: bigint | undefined = undefined;
  text = "";
  of(value: bigint): string {
    if (value !== this.value) {
      this.value = value;
      this.text = `${value}`;
    }
    return this.text;
  }
}

const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * Appends a 64-bit integer: a bigint, or its decimal text (how replay's NDJSON path reads it,
 * with no bigint made); quoted for the "string" style.
 */
function int64Writer(kind: "ns" | "int", int64: Int64Style): (out: LineBuffer, v: unknown) => void {
  const last = new LastText();
  const digits = (out: LineBuffer, v: unknown): void => {
    if (typeof v === "string") writeAscii(out, v);
    else if (kind === "ns") writeAscii(out, last.of(v as bigint));
    else if ((v as bigint) >= 0n && (v as bigint) <= SAFE) {
      out.length = writeDigits(out.reserve(16), out.length, Number(v));
    } else writeAscii(out, `${v as bigint}`);
  };
  if (int64 === "number") return digits;
  return (out, v) => {
    out.reserve(1)[out.length++] = 34;
    digits(out, v);
    out.reserve(1)[out.length++] = 34;
  };
}

/** The writer of one field's value (never null: the line writer writes null itself). */
function valueWriter(
  field: Field<unknown>,
  int64: Int64Style,
): (out: LineBuffer, v: unknown) => void {
  switch (field.kind) {
    case "ns":
    case "int":
      return int64Writer(field.kind, int64);
    case "real":
      return writeReal as (out: LineBuffer, v: unknown) => void;
    case "indicators":
      return writeIndicators as (out: LineBuffer, v: unknown) => void;
    default:
      return writeText as (out: LineBuffer, v: unknown) => void;
  }
}

/** Appends one event's line, newline included, to `out`. */
export type LineWriter = (event: Record<string, unknown>, out: LineBuffer) => void;

const NULL = utf8.encode("null");

/**
 * The line writer of one event type, compiled from the catalog's columns into straight-line code
 * (a loop over the fields with a switch per value ran at half the speed). An event with a field
 * left out (a golden file leaves out the wall clock) takes the general path, which leaves it out
 * of the line too.
 */
function compileWriter(type: EventType, int64: Int64Style): LineWriter {
  const fields = fieldsOf(type);
  const writers = fields.map(([, field]) => valueWriter(field, int64));
  const opening = `{"type":"${type}"`;
  // Before each value: `,"name":`; the first field's key also opens the line in the common case.
  const keys = fields.map(([name]) => utf8.encode(`,"${name}":`));
  const head = utf8.encode(`${opening},"${(fields[0] as FieldEntry)[0]}":`);
  const read = (i: number) => `e[${JSON.stringify((fields[i] as FieldEntry)[0])}]`;
  // Where every field is known to be there, `=== null` is all the check needs; `== null` on a
  // bigint takes a slow path.
  const value = (i: number, isNull: string) =>
    `if (${read(i)} ${isNull} null) bytes(out, NULL); else w[${i}](out, ${read(i)});`;
  const complete = fields.map((_, i) => `${read(i)} !== undefined`).join(" && ");
  const common = fields.map(
    (_, i) => `bytes(out, ${i === 0 ? "head" : `keys[${i}]`}); ${value(i, "===")}`,
  );
  const general = fields.map(
    ([name], i) =>
      `if (${JSON.stringify(name)} in e) { bytes(out, keys[${i}]); ${value(i, "==")} }`,
  );
  const source = `return (e, out) => {
    if (${complete}) { ${common.join(" ")} } else { bytes(out, opening); ${general.join(" ")} }
    bytes(out, closing);
  }`;
  return new Function("bytes", "NULL", "w", "head", "keys", "opening", "closing", source)(
    writeBytes,
    NULL,
    writers,
    head,
    keys,
    utf8.encode(opening),
    utf8.encode("}\n"),
  ) as LineWriter;
}

const writers: Record<Int64Style, Map<string, LineWriter>> = {
  number: new Map(),
  string: new Map(),
};

/**
 * The line writer of `type`'s events, with 64-bit integers as JSON numbers or strings. It also
 * takes a record shaped as such an event whose 64-bit integers are their decimal text (how
 * replay's NDJSON path reads them, with no bigint made): the line is the same byte for byte.
 */
export function lineWriter(type: EventType, int64: Int64Style): LineWriter {
  let writer = writers[int64].get(type);
  if (writer === undefined) {
    writer = compileWriter(type, int64);
    writers[int64].set(type, writer);
  }
  return writer;
}

let scratch = new LineBuffer();

function encode(event: Event, int64: Int64Style): string {
  scratch.clear();
  lineWriter(event.type, int64)(event as unknown as Record<string, unknown>, scratch);
  const line = scratch.text(0, scratch.length - 1);
  if (scratch.bytes.length > 1 << 20) scratch = new LineBuffer(); // not kept for the next line
  return line;
}

/** One event as one NDJSON line (without the newline); keys in catalog order. */
export function encodeEvent(event: Event): string {
  return encode(event, "number");
}

/**
 * As {@link encodeEvent}, with the 64-bit integer columns (timestamps, volumes) as strings, for
 * readers that take every number for a double (jq). Such a line is for reading: `decodeEvent`
 * wants exact integers.
 */
export function encodeEventInt64Strings(event: Event): string {
  return encode(event, "string");
}

const INTEGER = /^-?\d+$/;

/** Index of the quote that closes the string opening at `start`. */
function closingQuote(text: string, start: number): number {
  for (let end = text.indexOf('"', start + 1); ; end = text.indexOf('"', end + 1)) {
    let slashes = 0;
    while (text.charCodeAt(end - 1 - slashes) === 92) slashes++;
    if (slashes % 2 === 0) return end;
  }
}

const isNumberChar = (c: number) =>
  (c >= 48 && c <= 57) || c === 45 || c === 43 || c === 46 || c === 101 || c === 69;

/**
 * The source text of each number that is the value of a top-level member of `text` named in
 * `names`, by name. `text` is a JSON object that JSON.parse has accepted, so a scan of quotes,
 * brackets and commas is enough: strings are skipped whole (a 10 MB one by a single indexOf),
 * nested values ignored, and a key is only read where a number follows it.
 */
function topLevelNumbers(text: string, names: ReadonlySet<string>): Map<string, string> {
  const out = new Map<string, string>();
  let depth = 0;
  let expectKey = false;
  // The quotes around the current top-level key; -1 when there is none.
  let keyStart = -1;
  let keyEnd = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34) {
      const end = closingQuote(text, i);
      if (depth === 1 && expectKey) {
        keyStart = i;
        keyEnd = end;
        expectKey = false;
      }
      i = end;
    } else if (c === 123 || c === 91) {
      depth++;
      expectKey = depth === 1;
    } else if (c === 125 || c === 93) {
      depth--;
    } else if (c === 44) {
      expectKey = depth === 1;
      if (expectKey) keyStart = -1;
    } else if (depth === 1 && keyStart !== -1 && isNumberChar(c)) {
      let end = i + 1;
      while (isNumberChar(text.charCodeAt(end))) end++;
      const raw = text.slice(keyStart + 1, keyEnd);
      const key = raw.includes("\\") ? JSON.parse(text.slice(keyStart, keyEnd + 1)) : raw;
      if (names.has(key)) out.set(key, text.slice(i, end));
      keyStart = -1;
      i = end - 1;
    }
  }
  return out;
}

/** Whether a parsed value's text (a string, or an object's keys) is well-formed Unicode. */
function wellFormed(value: unknown): boolean {
  if (typeof value === "string") return value.isWellFormed();
  if (typeof value !== "object" || value === null) return true;
  for (const key in value) if (!key.isWellFormed()) return false;
  return true;
}

const integers = new Map<string, ReadonlySet<string>>();
/** The names of `type`'s 64-bit integer fields, read from their source text. */
function integerFields(type: EventType): ReadonlySet<string> {
  let names = integers.get(type);
  if (names === undefined) {
    names = new Set(
      fieldsOf(type)
        .filter(([, field]) => field.kind === "ns" || field.kind === "int")
        .map(([name]) => name),
    );
    integers.set(type, names);
  }
  return names;
}

const NON_FINITE: Record<string, number> = {
  NaN: Number.NaN,
  Infinity: Number.POSITIVE_INFINITY,
  "-Infinity": Number.NEGATIVE_INFINITY,
};
const toNumber = (v: unknown) => (typeof v === "string" && v in NON_FINITE ? NON_FINITE[v] : v);

/**
 * Parses one NDJSON line into an event, exactly (integers never pass through a float) and
 * validated by the catalog's schemas. With `defaults`, fields the model fills itself may be
 * left out. Throws InvalidEventError naming the field, or RuntapeError for malformed JSON.
 */
export function decodeEvent(line: string, options: { defaults?: boolean } = {}): Event {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch (error) {
    throw new RuntapeError(`not valid JSON (${(error as Error).message})`, "NDJSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new RuntapeError("not a JSON object", "NDJSON");
  }
  const record = parsed as Record<string, unknown>;
  const type = record.type;
  if (!isEventType(type)) {
    throw new InvalidEventError(String(type ?? "event"), "type", type, "unknown event type");
  }
  const integerNames = integerFields(type);
  const raw = topLevelNumbers(line, integerNames);
  for (const [name, field] of fieldsOf(type as EventType)) {
    const value = record[name];
    if (value === undefined || value === null) continue;
    // JSON's \u escapes can spell half a surrogate pair: text that is not Unicode, as invalid as
    // bad UTF-8 bytes (which the decoder refuses).
    if (!wellFormed(value)) {
      throw new InvalidEventError(type, name, value, "not valid Unicode (a lone surrogate)");
    }
    if (integerNames.has(name)) {
      const token = raw.get(name);
      if (typeof value !== "number" || token === undefined || !INTEGER.test(token)) {
        throw new InvalidEventError(type, name, value, "expected an integer");
      }
      record[name] = BigInt(token);
    } else if (field.kind === "real") {
      record[name] = toNumber(value);
    } else if (field.kind === "indicators" && typeof value === "object") {
      const values = value as Record<string, unknown>;
      for (const k of Object.keys(values)) values[k] = toNumber(values[k]);
    }
  }
  return parseEvent(record, options);
}

/**
 * The events of the NDJSON file at `path` (a golden run, an export), read synchronously so that
 * it can be compared with a replay step by step; fields the model fills itself may be left out.
 * Throws RuntapeError (INPUT_MISSING) for a missing file, NdjsonError naming the file and line.
 */
export function* readNdjsonFile(path: string): Generator<Event> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    throw new RuntapeError(`no NDJSON file at ${path}`, "INPUT_MISSING");
  }
  let number = 0;
  for (const line of text.split("\n")) {
    number++;
    if (line.trim() === "") continue;
    try {
      yield decodeEvent(line, { defaults: true });
    } catch (error) {
      if (error instanceof RuntapeError) throw new NdjsonError(number, error.message, path);
      throw error;
    }
  }
}

/** An NDJSON source: a stream, or any iterable (sync or async) of bytes or text. */
export type NdjsonInput =
  | AsyncIterable<Uint8Array | string>
  | Iterable<Uint8Array | string>
  | ReadableStream<Uint8Array>;

/**
 * Reads events from NDJSON, one per non-blank line, streaming. Stops with NdjsonError (line
 * number and the reason, naming the field) at the first invalid line; invalid UTF-8 and lines
 * longer than {@link MAX_LINE_BYTES} are invalid lines too.
 */
export async function* readNdjson(
  input: NdjsonInput,
  options: { defaults?: boolean } = {},
): AsyncGenerator<Event> {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const encoder = new TextEncoder();
  let parts: Uint8Array[] = [];
  let partBytes = 0;
  let lineNumber = 0;

  const parseLine = (bytes: Uint8Array): Event | undefined => {
    lineNumber++;
    let text: string;
    try {
      text = decoder.decode(bytes);
    } catch {
      throw new NdjsonError(lineNumber, "invalid UTF-8");
    }
    if (text.trim() === "") return undefined;
    try {
      return decodeEvent(text, options);
    } catch (error) {
      if (error instanceof RuntapeError) throw new NdjsonError(lineNumber, error.message);
      throw error;
    }
  };

  for await (const chunk of input as AsyncIterable<Uint8Array | string>) {
    const bytes = typeof chunk === "string" ? encoder.encode(chunk) : chunk;
    let start = 0;
    for (let nl = bytes.indexOf(10); nl !== -1; nl = bytes.indexOf(10, start)) {
      let line = bytes.subarray(start, nl);
      if (parts.length > 0) {
        parts.push(line);
        line = Buffer.concat(parts);
        parts = [];
        partBytes = 0;
      }
      if (line.length > MAX_LINE_BYTES) throw new NdjsonError(lineNumber + 1, "line too long");
      const event = parseLine(line);
      if (event !== undefined) yield event;
      start = nl + 1;
    }
    if (start < bytes.length) {
      // Copy: a stream may reuse its chunk buffer.
      parts.push(bytes.slice(start));
      partBytes += bytes.length - start;
      if (partBytes > MAX_LINE_BYTES) throw new NdjsonError(lineNumber + 1, "line too long");
    }
  }
  if (parts.length > 0) {
    const event = parseLine(Buffer.concat(parts));
    if (event !== undefined) yield event;
  }
}
