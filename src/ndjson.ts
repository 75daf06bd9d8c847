/**
 * The NDJSON interchange format: one event per line, `"type"` then the columns of its table,
 * 64-bit integers as exact JSON integers, non-finite floats as the strings "NaN", "Infinity",
 * "-Infinity" (also inside `indicators`), null for absent optional fields.
 */
import { readFileSync } from "node:fs";
import { describeValue, InvalidEventError, NdjsonError, RuntapeError } from "./errors.ts";
import { type Event, type EventType, fieldsOf, isEventType } from "./events/catalog.ts";
import { findInvalidField, parseEvent } from "./events/schemas.ts";
import { LineBuffer } from "./formats/line-buffer.ts";
import { lineWriter } from "./formats/ndjson-lines.ts";
import { type Int64Style, nonFinite } from "./json.ts";

/** Longest line accepted; a longer one is an error, not an out-of-memory crash. */
export const MAX_LINE_BYTES = 16 * 1024 * 1024;

let scratch = new LineBuffer();

function encode(event: Event, int64: Int64Style): string {
  scratch.clear();
  try {
    lineWriter(event.type, int64)(event as unknown as Record<string, unknown>, scratch);
  } catch (error) {
    // The writers trust their events: what broke is found only now, off the hot path.
    throw findInvalidField(event) ?? error;
  }
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
 * `names` (whose quoted forms are `quoted`), by name. In a line with no backslash, no string
 * holds a quote, so `"name"` occurs only as a whole key or string value; where it occurs once,
 * followed by a colon, it is the member's key if the line has that member at all (a key nested
 * in another object may be read instead only where the top level lacks the name, whose value
 * is then never asked for). Found so, a member costs two indexOf calls instead of a walk over
 * the line; anything else is walked ({@link topLevelNumbers}).
 */
function integerTokens(
  text: string,
  names: readonly string[],
  quoted: readonly string[],
): Map<string, string> {
  if (text.includes("\\")) return topLevelNumbers(text, names);
  const out = new Map<string, string>();
  for (let k = 0; k < names.length; k++) {
    const q = quoted[k] as string;
    const at = text.indexOf(q);
    if (at === -1) continue;
    if (text.indexOf(q, at + 1) !== -1) return topLevelNumbers(text, names);
    let i = at + q.length;
    while (isSpace(text.charCodeAt(i))) i++;
    if (text.charCodeAt(i) !== 58) return topLevelNumbers(text, names);
    i++;
    while (isSpace(text.charCodeAt(i))) i++;
    let end = i;
    while (isNumberChar(text.charCodeAt(end))) end++;
    if (end > i) out.set(names[k] as string, text.slice(i, end));
  }
  return out;
}

/** JSON's whitespace: space, tab, line feed, carriage return. */
const isSpace = (c: number) => c === 32 || c === 9 || c === 10 || c === 13;

/**
 * The source text of each number that is the value of a top-level member of `text` named in
 * `names`, by name. `text` is a JSON object that JSON.parse has accepted, so a scan of quotes,
 * brackets and commas is enough: strings are skipped whole (a 10 MB one by a single indexOf),
 * nested values ignored, and a key is only read where a number follows it.
 */
function topLevelNumbers(text: string, names: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  // Keys before the line's first backslash are their own text: compared where they stand, with
  // no string made of them (a slice and a hash per numeric member cost ~15% of decoding a line).
  const backslash = text.indexOf("\\");
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
      const key =
        backslash === -1 || backslash > keyEnd
          ? nameAt(text, keyStart + 1, keyEnd, names)
          : escapedName(text.slice(keyStart, keyEnd + 1), names);
      if (key !== undefined) out.set(key, text.slice(i, end));
      keyStart = -1;
      i = end - 1;
    }
  }
  return out;
}

/** The one of `names` that `quoted`, a key with escapes in it, spells, if any. */
function escapedName(quoted: string, names: readonly string[]): string | undefined {
  const key = JSON.parse(quoted) as string;
  return names.includes(key) ? key : undefined;
}

/** The one of `names` that `text` holds from `start` to `end`, if any. */
function nameAt(text: string, start: number, end: number, names: readonly string[]) {
  for (const name of names) {
    if (name.length === end - start && text.startsWith(name, start)) return name;
  }
  return undefined;
}

/** Whether a parsed value's text (a string, or an object's keys) is well-formed Unicode. */
function wellFormed(value: unknown): boolean {
  if (typeof value === "string") return value.isWellFormed();
  if (typeof value !== "object" || value === null) return true;
  for (const key in value) if (!key.isWellFormed()) return false;
  return true;
}

/** A type's 64-bit integer fields, read from their source text: names, and names as JSON. */
interface IntegerFields {
  names: readonly string[];
  quoted: readonly string[];
}
const integers = new Map<string, IntegerFields>();
function integerFields(type: EventType): IntegerFields {
  let fields = integers.get(type);
  if (fields === undefined) {
    const names = fieldsOf(type)
      .filter(([, field]) => field.kind === "ns" || field.kind === "int")
      .map(([name]) => name);
    fields = { names, quoted: names.map((name) => JSON.stringify(name)) };
    integers.set(type, fields);
  }
  return fields;
}

const toNumber = (v: unknown) => (typeof v === "string" ? (nonFinite(v) ?? v) : v);

/** decodeEvent's work on the members of one type's parsed line: see {@link compileConvert}. */
type Convert = (record: Record<string, unknown>, tokens: Map<string, string>) => void;
const converts = new Map<string, Convert>();

function convertOf(type: EventType): Convert {
  let convert = converts.get(type);
  if (convert === undefined) {
    convert = compileConvert(type);
    converts.set(type, convert);
  }
  return convert;
}

/**
 * What decodeEvent does to the members of a parsed line of `type`, compiled from the catalog into
 * straight-line code (a loop over the fields took ~1/6 of decoding a line): each member present
 * checked for lone surrogates (JSON's \u escapes can spell half a pair: text that is not
 * Unicode, as invalid as bad UTF-8 bytes, which the decoder refuses); 64-bit integers made exact
 * from their source text (`tokens`); non-finite floats read from their strings.
 */
function compileConvert(type: EventType): Convert {
  const steps = fieldsOf(type).map(([name, field]) => {
    const key = JSON.stringify(name);
    let convert = "";
    if (field.kind === "ns" || field.kind === "int") {
      convert = `const t = tokens.get(${key});
if (typeof v !== "number" || t === undefined || !INTEGER.test(t)) throw invalid(${key}, v, "expected an integer", t);
r[${key}] = BigInt(t);`;
    } else if (field.kind === "real") {
      convert = `r[${key}] = toNumber(v);`;
    } else if (field.kind === "indicators") {
      convert = `if (typeof v === "object") for (const k of Object.keys(v)) v[k] = toNumber(v[k]);`;
    }
    return `v = r[${key}];
if (v !== undefined && v !== null) {
if (!wellFormed(v)) throw invalid(${key}, v, "not valid Unicode (a lone surrogate)");
${convert}
}`;
  });
  const invalid = (name: string, value: unknown, reason: string, source?: string) =>
    new InvalidEventError(type, name, value, reason, source);
  return new Function(
    "wellFormed",
    "toNumber",
    "INTEGER",
    "invalid",
    `return (r, tokens) => {\nlet v;\n${steps.join("\n")}\n};`,
  )(wellFormed, toNumber, INTEGER, invalid) as Convert;
}

/**
 * Parses one NDJSON line into an event, exactly (integers never pass through a float) and
 * validated by the catalog's schemas. With `defaults`, fields the model fills itself may be
 * left out. Throws InvalidEventError naming the field, or RuntapeError for malformed JSON.
 */
export function decodeEvent(line: string, options: { defaults?: boolean } = {}): Event {
  return decodeLine(line, options.defaults === true);
}

/** {@link decodeEvent}; given `filled`, the defaulted fields the line leaves out are added to it. */
function decodeLine(line: string, defaults: boolean, filled?: string[]): Event {
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
  const { names, quoted } = integerFields(type);
  convertOf(type)(record, integerTokens(line, names, quoted));
  if (filled !== undefined) {
    for (const [name, field] of fieldsOf(type)) {
      if (field.default !== undefined && record[name] === undefined) filled.push(name);
    }
  }
  return parseEvent(record, { defaults });
}

/**
 * The fields each event read by {@link readNdjsonFile} (or first by {@link readNdjsonNotingFirst})
 * took from the model, not from its file.
 */
const FILLED = new WeakMap<Event, readonly string[]>();

/**
 * The fields of `event` that its NDJSON file left out and the model filled in (a golden run's
 * `ts_created_ns`, made from the clock as the file was read): no value of the file, so nothing
 * to compare. None for an event from anywhere else.
 */
export const filledFields = (event: Event): readonly string[] => FILLED.get(event) ?? [];

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
  // A byte order mark some editors write: readNdjson's TextDecoder drops it, so this does too.
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let number = 0;
  for (const line of text.split("\n")) {
    number++;
    if (line.trim() === "") continue;
    try {
      const filled: string[] = [];
      const event = decodeLine(line, true, filled);
      if (filled.length > 0) FILLED.set(event, filled);
      yield event;
    } catch (error) {
      if (error instanceof RuntapeError) throw new NdjsonError(number, error.message, path);
      throw error;
    }
  }
}

/**
 * Keeps a string out of {@link NdjsonInput}: a string is an iterable of its characters, so a path
 * given as the input type-checked and was read as NDJSON, one character at a time.
 */
type NotAString = { readonly charAt?: never };

/**
 * An NDJSON source: a stream, or any iterable (sync or async) of bytes or text chunks; not a
 * string (a file: `Bun.file(path).stream()`; text in a string: `[text]`).
 */
export type NdjsonInput =
  | (AsyncIterable<Uint8Array | string> & NotAString)
  | (Iterable<Uint8Array | string> & NotAString)
  | ReadableStream<Uint8Array>;

/**
 * Throws RuntapeError (INVALID_OPTION) where `input` is no {@link NdjsonInput}: a string above all
 * (from JavaScript, or typed `any`), whose characters would be read as the lines.
 */
export function checkNdjsonInput(input: unknown, what: string): void {
  if (typeof input === "string" || input instanceof String) {
    throw new RuntapeError(
      `${what}: expected NDJSON as a stream or an iterable of chunks, not a string (a file: pass Bun.file(path).stream(); text: pass [text])`,
      "INVALID_OPTION",
    );
  }
  const iterable = input as { [Symbol.asyncIterator]?: unknown; [Symbol.iterator]?: unknown };
  if (
    typeof iterable?.[Symbol.asyncIterator] !== "function" &&
    typeof iterable?.[Symbol.iterator] !== "function"
  ) {
    throw new RuntapeError(
      `${what}: expected NDJSON as a stream or an iterable of chunks (got ${describeValue(input)})`,
      "INVALID_OPTION",
    );
  }
}

/**
 * Reads events from NDJSON, one per non-blank line, streaming. Stops with NdjsonError (line
 * number and the reason, naming the field) at the first invalid line; invalid UTF-8 and lines
 * longer than {@link MAX_LINE_BYTES} are invalid lines too. An input that is no NdjsonInput (a
 * string: a path, say) throws RuntapeError (INVALID_OPTION) at the call.
 */
export function readNdjson(
  input: NdjsonInput,
  options: { defaults?: boolean } = {},
): AsyncGenerator<Event> {
  checkNdjsonInput(input, "readNdjson");
  return readLines(input, options, false);
}

/**
 * {@link readNdjson} with defaults, for a caller that checked `input` itself (recordNdjson, which
 * names itself in the refusal): the first event's {@link filledFields} are noted, since it is read
 * before the run starts and a `ts_created_ns` made from the clock then would precede the run.
 */
export function readNdjsonNotingFirst(input: NdjsonInput): AsyncGenerator<Event> {
  return readLines(input, { defaults: true }, true);
}

async function* readLines(
  input: NdjsonInput,
  options: { defaults?: boolean },
  noteFirst: boolean,
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
      if (!noteFirst) return decodeEvent(text, options);
      // Only the first: noting every line's would slow the reading of millions of them.
      noteFirst = false;
      const filled: string[] = [];
      const event = decodeLine(text, options.defaults === true, filled);
      if (filled.length > 0) FILLED.set(event, filled);
      return event;
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
