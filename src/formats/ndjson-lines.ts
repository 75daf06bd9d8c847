/**
 * NDJSON lines as UTF-8 bytes: the line writers of the event types, compiled from the catalog's
 * columns, and the buffer they append to. The format's rules are src/ndjson.ts's; `encodeEvent`
 * there and `runtape replay` both write through these.
 */
import { type EventType, fieldsOf } from "../events/catalog.ts";
import type { FieldEntry } from "../events/event-catalog.ts";
import type { Field } from "../events/fields.ts";
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
