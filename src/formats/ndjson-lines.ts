/**
 * NDJSON lines as UTF-8 bytes: the line writers of the event types, compiled from the catalog's
 * columns, and the buffer they append to. The format's rules are src/ndjson.ts's; `encodeEvent`
 * there and `runtape replay` both write through these.
 */
import { type EventType, fieldsOf } from "../events/catalog.ts";
import type { FieldEntry } from "../events/event-catalog.ts";
import type { Field } from "../events/fields.ts";
import { dumpsIndicators } from "../events/pyjson.ts";
import type { Int64Style } from "../json.ts";

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

// "00" to "99": digits are written two at a time, half the divisions.
const TWO_DIGITS = utf8.encode(
  Array.from({ length: 100 }, (_, i) => `${i}`.padStart(2, "0")).join(""),
);

/** How many digits `n`, an integer from 0 to 2^53, has: comparisons, no division. */
function digitCount(n: number): number {
  if (n < 1e8) {
    if (n < 1e4) return n < 1e2 ? (n < 1e1 ? 1 : 2) : n < 1e3 ? 3 : 4;
    return n < 1e6 ? (n < 1e5 ? 5 : 6) : n < 1e7 ? 7 : 8;
  }
  let count = 9;
  for (let bound = 1e9; n >= bound && count < 16; bound *= 10) count++;
  return count;
}

/** Writes the digits of `n`, an integer from 0 to 2^53, at `p`; returns the position after them. */
function writeDigits(b: Uint8Array, p: number, n: number): number {
  const end = p + digitCount(n);
  let q = end;
  while (n >= 100) {
    const next = Math.floor(n / 100);
    const pair = 2 * (n - next * 100);
    b[--q] = TWO_DIGITS[pair + 1] as number;
    b[--q] = TWO_DIGITS[pair] as number;
    n = next;
  }
  if (n >= 10) {
    b[--q] = TWO_DIGITS[2 * n + 1] as number;
    b[--q] = TWO_DIGITS[2 * n] as number;
  } else b[--q] = 48 + n;
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

// Where the keys of the object being transcribed sit in the buffer, to find a repeated one.
const MAX_STORED_KEYS = 64;
const keySpans = new Int32Array(2 * MAX_STORED_KEYS);

/**
 * Appends indicators given as their stored text, the JSON that Python's `json.dumps` writes
 * (src/events/pyjson.ts), as {@link writeIndicators} writes the object the text holds, without
 * making it: keys of printable ASCII copied, values with 15 significant digits or fewer copied
 * (such a decimal is the shortest text of its float, so JavaScript prints the same digits; an
 * integral float loses Python's ".0"), other values parsed and written as floats. False, with
 * nothing written, where the text is in any other form: a key that needs escaping, could be an
 * array index (JavaScript would move it first) or comes twice, other spacing, a value not a
 * number; the caller then takes the event path, which parses the text or reports it.
 */
function writeStoredIndicators(out: LineBuffer, text: string): boolean {
  const n = text.length;
  const start = out.length;
  // The fast path writes no more than the text and two quotes per value.
  let b = out.reserve(2 * n + 2);
  let p = start;
  const fail = () => {
    out.length = start;
    return false;
  };
  if (text.charCodeAt(0) !== 123) return fail();
  b[p++] = 123;
  if (text.charCodeAt(1) === 125 && n === 2) {
    b[p++] = 125;
    out.length = p;
    return true;
  }
  let i = 1;
  for (let keys = 0; ; keys++) {
    if (text.charCodeAt(i) !== 34 || keys === MAX_STORED_KEYS) return fail();
    const first = text.charCodeAt(i + 1);
    if (first >= 48 && first <= 57) return fail();
    b[p++] = 34;
    const keyStart = p;
    for (i++; ; i++) {
      const c = text.charCodeAt(i);
      if (c === 34) break;
      if (!(c >= 32 && c <= 126) || c === 92) return fail();
      b[p++] = c;
    }
    if (sameKeyBefore(b, keys, keyStart, p)) return fail();
    keySpans[2 * keys] = keyStart;
    keySpans[2 * keys + 1] = p;
    if (text.charCodeAt(i + 1) !== 58 || text.charCodeAt(i + 2) !== 32) return fail();
    b[p++] = 34;
    b[p++] = 58;
    i += 3;
    const end = valueEnd(text, i);
    if (end < 0) return fail();
    if (!isDigit(text.charCodeAt(text.charCodeAt(i) === 45 ? i + 1 : i))) {
      // NaN, Infinity, -Infinity: JSON strings in a line.
      b[p++] = 34;
      for (let k = i; k < end; k++) b[p++] = text.charCodeAt(k);
      b[p++] = 34;
    } else {
      const copied = copyableEnd(text, i, end);
      if (copied === -2) return fail();
      if (copied >= 0) {
        for (let k = i; k < copied; k++) b[p++] = text.charCodeAt(k);
      } else {
        out.length = p;
        writeReal(out, Number(text.slice(i, end)));
        p = out.length;
        b = out.reserve(2 * (n - end) + 2);
      }
    }
    i = end;
    const next = text.charCodeAt(i);
    if (next === 125 && i === n - 1) {
      b[p++] = 125;
      out.length = p;
      return true;
    }
    if (next !== 44 || text.charCodeAt(i + 1) !== 32) return fail();
    b[p++] = 44;
    i += 2;
  }
}

/** Whether the key written from `start` to `end` repeats one of the `keys` before it. */
function sameKeyBefore(b: Uint8Array, keys: number, start: number, end: number): boolean {
  for (let k = 0; k < keys; k++) {
    const from = keySpans[2 * k] as number;
    if ((keySpans[2 * k + 1] as number) - from !== end - start) continue;
    let same = true;
    for (let j = 0; same && j < end - start; j++) same = b[from + j] === b[start + j];
    if (same) return true;
  }
  return false;
}

/**
 * Where the value that starts at `i` ends: at the `,` or `}` after a JSON number or a non-finite
 * token; -1 where there is no such value.
 */
function valueEnd(text: string, i: number): number {
  let j = i;
  if (text.charCodeAt(j) === 45) j++;
  const c = text.charCodeAt(j);
  if (c === 73) return text.startsWith("Infinity", j) ? j + 8 : -1;
  if (c === 78) return j === i && text.startsWith("NaN", j) ? j + 3 : -1;
  const whole = j;
  while (isDigit(text.charCodeAt(j))) j++;
  if (j === whole || (text.charCodeAt(whole) === 48 && j > whole + 1)) return -1;
  if (text.charCodeAt(j) === 46) {
    const fraction = ++j;
    while (isDigit(text.charCodeAt(j))) j++;
    if (j === fraction) return -1;
  }
  const e = text.charCodeAt(j);
  if (e === 101 || e === 69) {
    j++;
    if (text.charCodeAt(j) === 43 || text.charCodeAt(j) === 45) j++;
    const exponent = j;
    while (isDigit(text.charCodeAt(j))) j++;
    if (j === exponent) return -1;
  }
  return j;
}

const isDigit = (c: number) => c >= 48 && c <= 57;

/**
 * For the number from `i` to `end` (see valueEnd): where the part of it to copy as it is ends
 * (an integral float's ".0" left out); -1 where it is to be parsed and written instead; -2 where
 * it is an integer of 16 digits or more, which a float may not hold (the event path says).
 */
function copyableEnd(text: string, i: number, end: number): number {
  const at = text.charCodeAt(i) === 45 ? i + 1 : i;
  const c = text.charCodeAt(at);
  let dot = -1;
  for (let j = at; j < end; j++) {
    const d = text.charCodeAt(j);
    if (d === 46) dot = j;
    else if (!isDigit(d)) return -1; // an exponent
  }
  if (dot < 0) return end - at > 15 ? -2 : end;
  if (dot - at > 15) return -1;
  if (end === dot + 2 && text.charCodeAt(dot + 1) === 48) return dot;
  if (text.charCodeAt(end - 1) === 48) return -1; // a trailing zero: not the shortest text
  // Significant digits, and below 1 at most five zeros after the point (from 1e-6 up,
  // JavaScript prints a float without an exponent).
  let significant = end - at - 1;
  if (c === 48) {
    let zeros = 0;
    while (text.charCodeAt(dot + 1 + zeros) === 48) zeros++;
    if (zeros > 5) return -1;
    significant -= 1 + zeros;
  }
  return significant > 15 ? -1 : end;
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

/** Quotes what `digits` appends for the "string" style. */
function styled<A extends unknown[]>(
  int64: Int64Style,
  digits: (out: LineBuffer, ...value: A) => void,
): (out: LineBuffer, ...value: A) => void {
  if (int64 === "number") return digits;
  return (out, ...value) => {
    out.reserve(1)[out.length++] = 34;
    digits(out, ...value);
    out.reserve(1)[out.length++] = 34;
  };
}

/** Appends a 64-bit integer of an event, a bigint; quoted for the "string" style. */
function int64Writer(kind: "ns" | "int", int64: Int64Style): (out: LineBuffer, v: unknown) => void {
  const last = new LastText();
  return styled(int64, (out: LineBuffer, v: unknown): void => {
    if (kind === "ns") writeAscii(out, last.of(v as bigint));
    else if ((v as bigint) >= 0n && (v as bigint) <= SAFE) {
      out.length = writeDigits(out.reserve(16), out.length, Number(v));
    } else writeAscii(out, `${v as bigint}`);
  });
}

/**
 * Where a row (see {@link lineWriter}) holds the low part of a timestamp field: the value's last
 * nine digits, `value % 10^9` with the value's sign, beside the high part, `value / 10^9`
 * truncated, which takes the field's own name. Both fit a float, where the value itself does not.
 */
export const lowPart = (name: string): string => `${name} low`;

const BILLION = 1_000_000_000n;

/**
 * An event in the form of a row (see {@link LineSource}): what a line is written from when
 * replay's NDJSON path reads a file. Its counts must be ones a float holds; the path reads any
 * other through the event.
 */
export function rowOf(
  event: Record<string, unknown> & { type: EventType },
): Record<string, unknown> {
  const row: Record<string, unknown> = { ...event };
  for (const [name, field] of fieldsOf(event.type)) {
    const value = event[name];
    if (field.kind === "indicators" && value != null) {
      row[name] = dumpsIndicators(value as Record<string, number>);
    }
    if (typeof value !== "bigint") continue;
    if (field.kind === "ns") {
      row[name] = Number(value / BILLION);
      row[lowPart(name)] = Number(value % BILLION);
    } else row[name] = Number(value);
  }
  return row;
}

// "000" to "999": the low part of a timestamp is written three digits at a time.
const THREE_DIGITS = utf8.encode(
  Array.from({ length: 1000 }, (_, i) => `${i}`.padStart(3, "0")).join(""),
);

/**
 * A writer of one timestamp field given as its high and low parts (see {@link lowPart}). The
 * digits of the last value are kept: an instant repeats from event to event (every symbol's bar
 * of one minute), and a timestamp's seconds rarely change between events.
 */
function partsWriter(): (out: LineBuffer, high: number, low: number) => void {
  let lastHigh = -1;
  let lastLow = -1;
  const digits = new Uint8Array(32);
  let length = 0;
  return (out, high, low) => {
    const b = out.reserve(21);
    let p = out.length;
    if (high < 0 || low < 0) {
      b[p++] = 45;
      high = -high;
      low = -low;
    }
    if (high === 0) {
      out.length = writeDigits(b, p, low);
      return;
    }
    if (high !== lastHigh) {
      // Not writeDigits: a high part is beyond 2^31, and one double there slows every caller.
      lastHigh = high;
      lastLow = -1;
      const text = `${high}`;
      length = text.length + 9;
      for (let i = 0; i < text.length; i++) digits[i] = text.charCodeAt(i);
    }
    if (low !== lastLow) {
      lastLow = low;
      const millions = Math.floor(low / 1e6);
      const rest = low - millions * 1e6;
      const thousands = Math.floor(rest / 1e3);
      writeThree(
        digits,
        writeThree(digits, writeThree(digits, length - 9, millions), thousands),
        rest - thousands * 1e3,
      );
    }
    for (let i = 0; i < length; i++) b[p++] = digits[i] as number;
    out.length = p;
  };
}

/** Writes `n`, from 0 to 999, as three digits at `p`; returns the position after them. */
function writeThree(b: Uint8Array, p: number, n: number): number {
  const at = 3 * n;
  b[p] = THREE_DIGITS[at] as number;
  b[p + 1] = THREE_DIGITS[at + 1] as number;
  b[p + 2] = THREE_DIGITS[at + 2] as number;
  return p + 3;
}

/** Appends an integer of a row: a float that holds it exactly. */
function writeInteger(out: LineBuffer, v: number): void {
  if (v >= 0) out.length = writeDigits(out.reserve(16), out.length, v);
  else writeAscii(out, `${v}`);
}

/**
 * The writer of one field's value (never null: the line writer writes null itself); a row's
 * timestamp comes with its low part.
 */
function valueWriter(
  field: Field<unknown>,
  int64: Int64Style,
  from: LineSource,
): (out: LineBuffer, v: unknown, low?: unknown) => void {
  switch (field.kind) {
    case "ns":
      return from === "row"
        ? (styled(int64, partsWriter()) as (out: LineBuffer, v: unknown, low?: unknown) => void)
        : int64Writer(field.kind, int64);
    case "int":
      return from === "row"
        ? (styled(int64, writeInteger) as (out: LineBuffer, v: unknown) => void)
        : int64Writer(field.kind, int64);
    case "real":
      return writeReal as (out: LineBuffer, v: unknown) => void;
    case "indicators":
      return (from === "row" ? writeStoredIndicators : writeIndicators) as (
        out: LineBuffer,
        v: unknown,
      ) => void;
    default:
      return writeText as (out: LineBuffer, v: unknown) => void;
  }
}

/**
 * Appends one event's line, newline included, to `out`. False, with nothing written, where a
 * row's stored indicators are not in the form they are copied from (see writeStoredIndicators):
 * the line is then the event's.
 */
export type LineWriter = (event: Record<string, unknown>, out: LineBuffer) => boolean;

const NULL = utf8.encode("null");

/**
 * The line writer of one event type, compiled from the catalog's columns into straight-line code
 * (a loop over the fields with a switch per value ran at half the speed). An event with a field
 * left out (a golden file leaves out the wall clock) takes the general path, which leaves it out
 * of the line too.
 */
function compileWriter(type: EventType, int64: Int64Style, from: LineSource): LineWriter {
  const fields = fieldsOf(type);
  const writers = fields.map(([, field]) => valueWriter(field, int64, from));
  const opening = `{"type":"${type}"`;
  // Before each value: `,"name":`; the first field's key also opens the line in the common case.
  const keys = fields.map(([name]) => utf8.encode(`,"${name}":`));
  const head = utf8.encode(`${opening},"${(fields[0] as FieldEntry)[0]}":`);
  const read = (i: number) => `e[${JSON.stringify((fields[i] as FieldEntry)[0])}]`;
  const args = fields.map(([name, field], i) =>
    from === "row" && field.kind === "ns"
      ? `${read(i)}, e[${JSON.stringify(lowPart(name))}]`
      : read(i),
  );
  // A row's stored indicators may not be copied: the line written so far is taken back.
  const call = (i: number) =>
    from === "row" && (fields[i] as FieldEntry)[1].kind === "indicators"
      ? `if (!w[${i}](out, ${args[i]})) { out.length = start; return false; }`
      : `w[${i}](out, ${args[i]});`;
  // Where every field is known to be there, `=== null` is all the check needs; `== null` on a
  // bigint takes a slow path.
  const value = (i: number, isNull: string) =>
    `if (${read(i)} ${isNull} null) bytes(out, NULL); else { ${call(i)} }`;
  const complete = fields.map((_, i) => `${read(i)} !== undefined`).join(" && ");
  const common = fields.map(
    (_, i) => `bytes(out, ${i === 0 ? "head" : `keys[${i}]`}); ${value(i, "===")}`,
  );
  const general = fields.map(
    ([name], i) =>
      `if (${JSON.stringify(name)} in e) { bytes(out, keys[${i}]); ${value(i, "==")} }`,
  );
  const source = `return (e, out) => {
    const start = out.length;
    if (${complete}) { ${common.join(" ")} } else { bytes(out, opening); ${general.join(" ")} }
    bytes(out, closing);
    return true;
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

/**
 * What a line is written from: an event, or a row as replay's NDJSON path reads a file (no bigint
 * made, no indicators parsed): the event's fields with every 64-bit integer a float, whole, that
 * holds it exactly; a timestamp split in two, its high part under the field's name and its low
 * part beside it (see {@link lowPart}); indicators as their stored text.
 */
export type LineSource = "event" | "row";

const writers: Record<LineSource, Record<Int64Style, Map<string, LineWriter>>> = {
  event: { number: new Map(), string: new Map() },
  row: { number: new Map(), string: new Map() },
};

/**
 * The line writer of `type`'s events (or, `from` "row", of its rows), with 64-bit integers as JSON
 * numbers or strings. The line of a row is, byte for byte, that of the event it holds.
 */
export function lineWriter(
  type: EventType,
  int64: Int64Style,
  from: LineSource = "event",
): LineWriter {
  const compiled = writers[from][int64];
  let writer = compiled.get(type);
  if (writer === undefined) {
    writer = compileWriter(type, int64, from);
    compiled.set(type, writer);
  }
  return writer;
}
