/**
 * Indicators copied into a line from the JSON text they are stored as, without parsing it: how
 * `runtape replay` writes a run's processed bars (see writeStoredIndicators).
 */
import { type LineBuffer, writeReal } from "./line-buffer.ts";

// Where the keys of the object being transcribed sit in the buffer, to find a repeated one.
const MAX_STORED_KEYS = 64;
const keySpans = new Int32Array(2 * MAX_STORED_KEYS);

/**
 * Appends indicators given as their stored text, the JSON that Python's `json.dumps` writes
 * (src/events/pyjson.ts), as writeIndicators (src/formats/line-buffer.ts) writes the object the
 * text holds, without making it: keys of printable ASCII copied, values with 15 significant
 * digits or fewer copied (such a decimal is the shortest text of its float, so JavaScript prints
 * the same digits; an integral float loses Python's ".0"), other values parsed and written as
 * floats. False, with nothing written, where the text is in any other form: a key that needs
 * escaping, could be an array index (JavaScript would move it first) or comes twice, other
 * spacing, a value not a number, an integer of 16 digits or more; the caller then takes the event
 * path, which parses the text or reports it.
 */
export function writeStoredIndicators(out: LineBuffer, text: string): boolean {
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
