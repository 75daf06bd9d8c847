/**
 * The JSON dialect of Python's `json.dumps` for indicator objects: `", "` and `": "` separators,
 * non-ASCII escaped as `\uXXXX`, floats in `repr` form and bare `NaN`/`Infinity`/`-Infinity`.
 * Writing it keeps runtape's files byte-compatible with the Python recorder's.
 */

/** Python's `repr(float)`: the shortest round-trip digits, fixed for 1e-4 <= |x| < 1e16. */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return "NaN";
  if (x === Number.POSITIVE_INFINITY) return "Infinity";
  if (x === Number.NEGATIVE_INFINITY) return "-Infinity";
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  const magnitude = Math.abs(x);
  if (magnitude >= 1e-4 && magnitude < 1e16) {
    // Both languages print the same shortest digits in fixed notation here; Python adds ".0".
    const fixed = String(x);
    return fixed.includes(".") ? fixed : `${fixed}.0`;
  }
  const sign = x < 0 ? "-" : "";
  const [mantissa = "", exponent = ""] = magnitude.toExponential().split("e");
  const digits = mantissa.replace(".", "");
  const exp = Number(exponent);
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${m}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
  }
  if (exp < 0) return `${sign}0.${"0".repeat(-exp - 1)}${digits}`;
  const intLength = exp + 1;
  if (digits.length <= intLength) return `${sign}${digits.padEnd(intLength, "0")}.0`;
  return `${sign}${digits.slice(0, intLength)}.${digits.slice(intLength)}`;
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
export function pyStringRepr(s: string): string {
  return `"${s.replace(
    NEEDS_ESCAPE,
    (c) => ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  )}"`;
}

/** `json.dumps(indicators)` as Python writes it. */
export function dumpsIndicators(values: Record<string, number>): string {
  const parts: string[] = [];
  for (const key in values)
    parts.push(`${pyStringRepr(key)}: ${pyFloatRepr(values[key] as number)}`);
  return `{${parts.join(", ")}}`;
}

const NON_FINITE: Record<string, number> = {
  NaN: Number.NaN,
  Infinity: Number.POSITIVE_INFINITY,
  "-Infinity": Number.NEGATIVE_INFINITY,
};
const SENTINEL = "\u0000runtape:";
// A whole JSON string is matched first, so the tokens are replaced only outside strings.
const STRING_OR_TOKEN = /"(?:[^"\\]|\\.)*"|-?Infinity|NaN/g;

/** `json.loads` of Python's output: standard JSON plus the bare non-finite tokens. Throws SyntaxError. */
export function loadsIndicators(text: string): unknown {
  if (!text.includes("NaN") && !text.includes("Infinity")) return JSON.parse(text);
  const quoted = text.replace(STRING_OR_TOKEN, (m) =>
    // The escape, not the raw NUL: JSON strings may not hold control characters.
    m.charCodeAt(0) === 34 ? m : `"\\u0000runtape:${m}"`,
  );
  return JSON.parse(quoted, (_key, value) =>
    typeof value === "string" && value.startsWith(SENTINEL)
      ? NON_FINITE[value.slice(SENTINEL.length)]
      : value,
  );
}
