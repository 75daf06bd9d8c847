/**
 * NDJSON lines as UTF-8 bytes: the line writers of the event types, compiled from the catalog's
 * columns, for events and for rows as `runtape replay` reads them from a file. The format's rules
 * are src/ndjson.ts's; `encodeEvent` there and `runtape replay` both write through these.
 */
import { type EventType, fieldsOf } from "../events/catalog.ts";
import type { FieldEntry } from "../events/event-catalog.ts";
import type { Field } from "../events/fields.ts";
import { dumpsIndicators } from "../events/pyjson.ts";
import type { Int64Style } from "../json.ts";
import {
  type LineBuffer,
  writeAscii,
  writeBytes,
  writeDigits,
  writeIndicators,
  writeReal,
  writeText,
} from "./line-buffer.ts";
import { writeStoredIndicators } from "./stored-indicators.ts";

const utf8 = new TextEncoder();

const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Appends one field's value; a row's timestamp comes with its low part. */
type ValueWriter = (out: LineBuffer, value: unknown, low?: unknown) => void;

/** Quotes what `digits` appends for the "string" style. */
function styled(int64: Int64Style, digits: ValueWriter): ValueWriter {
  if (int64 === "number") return digits;
  // Fixed parameters, not rest ones: an array a value would be made on replay's hot path.
  return (out, value, low) => {
    out.reserve(1)[out.length++] = 34;
    digits(out, value, low);
    out.reserve(1)[out.length++] = 34;
  };
}

/** Appends a 64-bit count of an event, a bigint. */
function writeCount(out: LineBuffer, v: bigint): void {
  if (v >= 0n && v <= SAFE) out.length = writeDigits(out.reserve(16), out.length, Number(v));
  else writeAscii(out, `${v}`);
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
      length = writeSeconds(digits, high) + 9;
    }
    if (low !== lastLow) {
      lastLow = low;
      writeNine(digits, length - 9, low);
    }
    out.length = copyDigits(b, p, digits, length);
  };
}

/**
 * A writer of one timestamp field of events, bigints, that keeps the last value's digits and its
 * parts (seconds and the last nine digits, as floats). An instant repeats from event to event
 * (every symbol's bar of one minute); any other step from it, found by a subtraction, moves the
 * parts, where printing a bigint costs four times as much: within the second (`ts_created_ns`)
 * only the last nine digits change, and a step into another second (the next minute's bar)
 * carries into the seconds.
 */
function timestampWriter(): (out: LineBuffer, value: bigint) => void {
  // As if it had written 0, which is not split into parts.
  let last = 0n;
  let high = -1; // the last value's seconds where they take steps (from 1 to 2^53), else below 1
  let low = 0;
  // Room for any value with parts (seconds below 2^53: 16 digits, and nine); `split` grows it.
  let digits = new Uint8Array(25).fill(48);
  let length = 1;
  return (out, value) => {
    if (value !== last) {
      // Exact below 2^53; only steps below 2^52 are taken, so that the sums stay exact too.
      const step = Number(value - last);
      const total = low + step;
      if (high > 0 && total >= 0 && total < 1e9) {
        low = total;
        writeNine(digits, length - 9, low);
      } else if (high > 0 && step > -TWO_52 && step < TWO_52) {
        const carry = Math.floor(total / 1e9);
        high += carry;
        low = total - carry * 1e9;
        if (high > 0 && high <= Number.MAX_SAFE_INTEGER && low >= 0 && low < 1e9) {
          length = writeSeconds(digits, high) + 9;
          writeNine(digits, length - 9, low);
        } else length = split(`${value}`);
      } else length = split(`${value}`);
      last = value;
    }
    out.length = copyDigits(out.reserve(length), out.length, digits, length);
  };

  /** Takes `text`, a value's digits, and its parts where it has them; returns its length. */
  function split(text: string): number {
    if (text.length > digits.length) digits = new Uint8Array(text.length); // past 64 bits: not ours to refuse
    for (let i = 0; i < text.length; i++) digits[i] = text.charCodeAt(i);
    // Seconds below 1 (a value below 10^9, or negative) or past 2^53 take no steps.
    const seconds = Number(text.slice(0, -9));
    high = Number.isSafeInteger(seconds) ? seconds : -1;
    low = Number(text.slice(-9));
    return text.length;
  }
}

const TWO_52 = 2 ** 52;

/** Writes the digits of `n`, a whole float from 1 below 2^53, at 0 in `b`; returns their count. */
function writeSeconds(b: Uint8Array, n: number): number {
  let count = 1;
  for (let power = 10; power <= n; power *= 10) count++;
  for (let i = count - 1; i >= 0; i--) {
    const rest = Math.floor(n / 10);
    b[i] = 48 + (n - rest * 10);
    n = rest;
  }
  return count;
}

/** Copies the first `length` of `digits` to `p` in `b`; returns the position after them. */
function copyDigits(b: Uint8Array, p: number, digits: Uint8Array, length: number): number {
  for (let i = 0; i < length; i++) b[p++] = digits[i] as number;
  return p;
}

/** Writes `n`, from 0 to 999,999,999, as nine digits at `p`. */
function writeNine(b: Uint8Array, p: number, n: number): void {
  const millions = Math.floor(n / 1e6);
  const rest = n - millions * 1e6;
  const thousands = Math.floor(rest / 1e3);
  writeThree(b, writeThree(b, writeThree(b, p, millions), thousands), rest - thousands * 1e3);
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
function valueWriter(field: Field<unknown>, int64: Int64Style, from: LineSource): ValueWriter {
  switch (field.kind) {
    case "ns":
      return styled(int64, (from === "row" ? partsWriter() : timestampWriter()) as ValueWriter);
    case "int":
      return styled(int64, (from === "row" ? writeInteger : writeCount) as ValueWriter);
    case "real":
      return writeReal as ValueWriter;
    case "indicators":
      return (from === "row" ? writeStoredIndicators : writeIndicators) as ValueWriter;
    default:
      return writeText as ValueWriter;
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
