/**
 * NDJSON lines as UTF-8 bytes: the buffer the line writers (src/formats/ndjson-lines.ts) append
 * to, and the writers of the values a line is made of, each as JavaScript prints it.
 */
const utf8 = new TextEncoder();

/**
 * NDJSON lines as UTF-8 bytes, appended by the line writers (`lineWriter`,
 * src/formats/ndjson-lines.ts). Made as strings, a run's lines cost about as much again to
 * flatten, join and encode before they could be written: `runtape replay` is 1.26× faster with
 * lines made as bytes.
 */
export class LineBuffer {
  /** The lines written since the last {@link clear}: bytes 0 to `length`. */
  bytes = new Uint8Array(1 << 16);
  length = 0;
  #text = Buffer.from(this.bytes.buffer);
  /**
   * No byte past ASCII written since the last {@link clear}: {@link text} then decodes as
   * Latin-1, which maps each byte to its character without UTF-8's checks (`encodeEvent` ~3%
   * faster). Only {@link write} writes other bytes: every other writer of a line writes
   * ASCII (digits, catalog names, JSON punctuation, text copied only when it is printable ASCII).
   */
  #ascii = true;

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
    const { written } = utf8.encodeInto(text, this.reserve(3 * text.length).subarray(this.length));
    this.length += written;
    // One byte per unit only where every unit is ASCII.
    if (written !== text.length) this.#ascii = false;
  }

  /** The lines written: a view, valid until the next write or {@link clear}. */
  view(): Uint8Array {
    return this.bytes.subarray(0, this.length);
  }

  /** The bytes from `start` to `end` as text. */
  text(start = 0, end = this.length): string {
    return this.#text.toString(this.#ascii ? "latin1" : "utf8", start, end);
  }

  clear(): void {
    this.length = 0;
    this.#ascii = true;
  }
}

/** Appends `text`, which is ASCII (the digits of an integer, a float as JavaScript prints it). */
export function writeAscii(out: LineBuffer, text: string): void {
  const n = text.length;
  const b = out.reserve(n);
  let p = out.length;
  for (let i = 0; i < n; i++) b[p++] = text.charCodeAt(i);
  out.length = p;
}

/** Appends a constant piece of a line, ASCII (see LineBuffer's `text`). */
export function writeBytes(out: LineBuffer, bytes: Uint8Array): void {
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
export function writeText(out: LineBuffer, text: string): void {
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
export function writeDigits(b: Uint8Array, p: number, n: number): number {
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
export function writeReal(out: LineBuffer, x: number): void {
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

// Indicator names repeat on every event: their JSON form is kept, as bytes where it is ASCII, as
// text past it (written through `write`, which notes it for `text`).
const keyBytes = new Map<string, Uint8Array | string>();

/** Appends indicator values as a JSON object, in their order. */
export function writeIndicators(out: LineBuffer, values: Record<string, number>): void {
  let open = 123; // `{`, then `,` before each next member
  for (const key in values) {
    let k = keyBytes.get(key);
    if (k === undefined) {
      if (keyBytes.size >= 4096) keyBytes.clear();
      const json = `${JSON.stringify(key)}:`;
      const bytes = utf8.encode(json);
      k = bytes.length === json.length ? bytes : json;
      keyBytes.set(key, k);
    }
    out.reserve(1)[out.length++] = open;
    open = 44;
    if (typeof k === "string") out.write(k);
    else writeBytes(out, k);
    writeReal(out, values[key] as number);
  }
  if (open === 123) out.reserve(1)[out.length++] = 123;
  out.reserve(1)[out.length++] = 125;
}
