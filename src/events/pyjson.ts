/**
 * The JSON dialect of Python's `json.dumps` for indicator objects: `", "` and `": "` separators,
 * non-ASCII escaped as `\uXXXX`, floats in `repr` form and bare `NaN`/`Infinity`/`-Infinity`.
 * Writing it keeps runtape's files byte-compatible with the Python recorder's.
 */
import { nonFinite } from "../json.ts";

/** Python's `repr(float)`: the shortest round-trip digits, fixed for 1e-4 <= |x| < 1e16. */
export function pyFloatRepr(x: number): string {
  const magnitude = x < 0 ? -x : x;
  // The common case first; NaN, zero and the infinities all fail this test.
  if (magnitude >= 1e-4 && magnitude < 1e16) {
    // Both languages print the same shortest digits in fixed notation here; Python adds ".0".
    const fixed = `${x}`;
    return fixed.includes(".") ? fixed : `${fixed}.0`;
  }
  if (Number.isNaN(x)) return "NaN";
  if (x === Number.POSITIVE_INFINITY) return "Infinity";
  if (x === Number.NEGATIVE_INFINITY) return "-Infinity";
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  // Outside that range the shortest digits' exponent is < -4 or >= 16, where Python switches to
  // exponent form: the same digits as toExponential, the exponent padded to two digits.
  const [mantissa = "", exponent = ""] = x.toExponential().split("e");
  const exp = Number(exponent);
  return `${mantissa}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
}

const ESCAPES: Record<string, string> = {
  '"': '\\"',
  "\\": "\\\\",
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
  "\b": "\\b",
  "\f": "\\f",
};

// Everything Python's ensure_ascii escapes: quotes, backslash and all but printable ASCII (so DEL too).
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it escapes
const NEEDS_ESCAPE = /["\\\u0000-\u001f\u007f-\uffff]/g;

/** Python's `json.dumps(str)` with `ensure_ascii=True`. */
function pyStringRepr(s: string): string {
  return `"${s.replace(
    NEEDS_ESCAPE,
    (c) => ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  )}"`;
}

// A strategy's indicator names are few and repeat on every event: their JSON form is kept.
const keyReprs = new Map<string, string>();

function keyRepr(key: string): string {
  let repr = keyReprs.get(key);
  if (repr === undefined) {
    if (keyReprs.size >= 4096) keyReprs.clear();
    repr = pyStringRepr(key);
    keyReprs.set(key, repr);
  }
  return repr;
}

// What comes before each value, by position, for the keys of the last object (up to a bound): a
// strategy's indicators come in the same order on every event.
const KEPT_POSITIONS = 256;
const lastKeys: string[] = [];
const lastPrefixes: string[] = [];

/** `json.dumps(indicators)` as Python writes it. */
export function dumpsIndicators(values: Record<string, number>): string {
  let text = "{";
  let i = 0;
  for (const key in values) {
    let prefix = lastKeys[i] === key ? lastPrefixes[i] : undefined;
    if (prefix === undefined) {
      prefix = `${i === 0 ? "" : ", "}${keyRepr(key)}: `;
      if (i < KEPT_POSITIONS) {
        lastKeys[i] = key;
        lastPrefixes[i] = prefix;
      }
    }
    text += prefix + pyFloatRepr(values[key] as number);
    i++;
  }
  return `${text}}`;
}

const SENTINEL = "\u0000runtape:";
// A whole JSON string is matched first, so the tokens are replaced only outside strings.
const STRING_OR_TOKEN = /"(?:[^"\\]|\\.)*"|-?Infinity|NaN/g;

// Python writes its (unbounded) integers as JSON integers; beyond 2^53 a float would round them.
// Only a text with 16 digits in a row can hold one, so the others skip the check.
const LONG_DIGITS = /\d{16}/;
const INTEGER = /^-?\d+$/;

/**
 * `json.loads` of Python's output: standard JSON plus the bare non-finite tokens. Throws
 * SyntaxError, also for an integer that a float cannot hold exactly.
 */
export function loadsIndicators(text: string): unknown {
  const long = LONG_DIGITS.test(text);
  const tokens = text.includes("NaN") || text.includes("Infinity");
  if (!long && !tokens) return JSON.parse(text);
  const json = tokens
    ? text.replace(STRING_OR_TOKEN, (m) =>
        // The escape, not the raw NUL: JSON strings may not hold control characters.
        m.charCodeAt(0) === 34 ? m : `"\\u0000runtape:${m}"`,
      )
    : text;
  // JSON.parse hands a reviver each primitive's source text (TypeScript's lib does not know it).
  const revive = (_key: string, value: unknown, context?: { source?: string }) => {
    if (tokens && typeof value === "string" && value.startsWith(SENTINEL))
      return nonFinite(value.slice(SENTINEL.length));
    const source = context?.source;
    if (long && typeof value === "number" && source !== undefined && INTEGER.test(source)) {
      if (BigInt(source) !== BigInt(value))
        throw new SyntaxError(`${source} is not exact as a float`);
    }
    return value;
  };
  return JSON.parse(json, revive as (key: string, value: unknown) => unknown);
}
