import { RuntapeError } from "./errors.ts";

/**
 * How 64-bit integers (bigints) are written: exact JSON numbers, or strings for readers that
 * take every JSON number for a double (jq, spreadsheets) and would round 19-digit timestamps.
 */
export type Int64Style = "number" | "string";

/**
 * JSON text in which bigints are exact integers (JSON.stringify refuses them), or strings with
 * `int64: "string"`, and non-finite numbers are the strings "NaN", "Infinity", "-Infinity"
 * (JSON.stringify turns them into null).
 */
export function stringifyExact(
  value: unknown,
  indent?: number,
  options: { int64?: Int64Style } = {},
): string {
  const asString = options.int64 === "string";
  const marks: string[] = [];
  const text = JSON.stringify(
    value,
    (_key, v) => {
      if (typeof v === "bigint" && asString) return v.toString();
      if (typeof v === "bigint") {
        marks.push(v.toString());
        return `\u0000${marks.length - 1}\u0000`;
      }
      if (typeof v === "number" && !Number.isFinite(v)) return String(v);
      // JSON.stringify writes -0 as 0; Python's json.dumps writes -0.0, which both read back as -0.
      if (Object.is(v, -0)) return rawJson("-0.0");
      return v;
    },
    indent,
  );
  return marks.length === 0
    ? text
    : text.replace(/"\\u0000(\d+)\\u0000"/g, (_m, i) => marks[Number(i)] as string);
}

const NON_FINITE: Readonly<Record<string, number>> = {
  NaN: Number.NaN,
  Infinity: Number.POSITIVE_INFINITY,
  "-Infinity": Number.NEGATIVE_INFINITY,
};

/**
 * The number JSON cannot write that `name` stands for ("NaN", "Infinity", "-Infinity": the strings
 * runtape writes and the bare tokens Python writes), or undefined.
 */
export const nonFinite = (name: string): number | undefined =>
  Object.hasOwn(NON_FINITE, name) ? NON_FINITE[name] : undefined;

/**
 * JSON text that `stringifyExact` wrote of numbers, nulls, arrays and objects, read back: the
 * strings "NaN", "Infinity" and "-Infinity" are the numbers they stand for. Not for documents
 * that hold strings of their own.
 */
export function parseNumbers(text: string): unknown {
  return JSON.parse(text, (_key, value) =>
    typeof value === "string" ? (nonFinite(value) ?? value) : value,
  );
}

const INTEGER = /^-?\d+$/;

/** A camelCase name in snake_case: `totalPnl` → `total_pnl`. */
export const snakeCase = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/**
 * `value` with the camelCase keys of its objects in snake_case, the style of the database's
 * columns, so that every JSON document the CLI prints speaks one style. The values of `opaque`
 * keys (user data such as a run's config, or maps keyed by event type) are kept as they are.
 */
export function snakeCaseKeys(value: unknown, opaque: readonly string[] = []): unknown {
  if (Array.isArray(value)) return value.map((v) => snakeCaseKeys(v, opaque));
  if (typeof value !== "object" || value === null) return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [
      snakeCase(k),
      opaque.includes(k) ? v : snakeCaseKeys(v, opaque),
    ]),
  );
}

/** The reviver's third argument (the number's source text): in Bun, not yet in the DOM types. */
type Reviver = (key: string, value: unknown, context?: { source?: string }) => unknown;

/** `text` parsed through `revive`, refused (INVALID_JSON, naming `what`) unless a JSON object. */
function parseObject(text: string, what: string, revive: Reviver): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text, revive as (key: string, value: unknown) => unknown);
  } catch (error) {
    if (error instanceof RuntapeError) throw error;
    throw new RuntapeError(
      `${what} is not valid JSON: ${(error as Error).message}`,
      "INVALID_JSON",
    );
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new RuntapeError(`${what} must be a JSON object`, "INVALID_JSON");
  }
  return parsed as Record<string, unknown>;
}

/**
 * Parses JSON text that must hold an object: a run's config or metadata, wherever it comes from
 * (a command line, a stored column, a copied run). Integers beyond 2^53 come back as exact
 * bigints (a seed or an id must not be rounded), so `stringifyExact` writes back the same text.
 * Throws RuntapeError (code INVALID_JSON) naming `what`.
 */
export function parseJsonObject(text: string, what: string): Record<string, unknown> {
  return parseObject(text, what, (_key, value, context) => {
    // An integer -0 is Python's 0 (written back as -0.0 it would be a float); -0.0 keeps its sign.
    if (Object.is(value, -0) && INTEGER.test(context?.source ?? "")) return 0;
    if (typeof value !== "number" || Number.isSafeInteger(value)) return value;
    const source = context?.source ?? String(value);
    if (INTEGER.test(source)) return BigInt(source);
    // JSON has no Infinity: stored, it would come back as the string "Infinity".
    if (!Number.isFinite(value)) {
      throw new RuntapeError(`${what} holds a number no double holds: ${source}`, "INVALID_JSON");
    }
    return value;
  });
}

const VERBATIM = Symbol("JSON text kept as stored");

/**
 * The stored JSON object `text` as a value that {@link jsonColumnOf} writes back as `text`, byte
 * for byte: a copied run's config is what its source's is, escapes and spacing included, where
 * writing the parsed object again gives other text of equal values (`"\u00d6BB"` as `"ÖBB"`).
 */
export function storedJson(text: string): Record<string, unknown> {
  return { [VERBATIM]: text };
}

/** The text of a {@link storedJson} value; undefined for any other value. */
export const storedText = (value: unknown): string | undefined =>
  typeof value === "object" && value !== null
    ? (value as { [VERBATIM]?: string })[VERBATIM]
    : undefined;

/** A number's JSON text that stringifies as itself: JSON.rawJSON, in Bun, not yet in TypeScript's lib. */
const rawJson = (source: string): unknown =>
  (JSON as unknown as { rawJSON(text: string): unknown }).rawJSON(source);

/**
 * The stored JSON object `text` (a run's config or metadata; null is an empty one) as an object
 * whose numbers are `JSON.rawJSON` of their stored text, which `stringifyExact` writes back as
 * it is: `10.0` stays `10.0` (Python's json.loads reads it as a float, where `10` would be an
 * int), `1e-05` stays `1e-05`, a 20-digit integer keeps its digits. For a copy of the object that
 * means to Python what the stored one does. Throws RuntapeError (INVALID_JSON) naming `what`.
 */
export function parseStoredObject(text: string | null, what: string): Record<string, unknown> {
  if (text === null) return {};
  return parseObject(text, what, (_key, value, context) =>
    typeof value === "number" && context?.source !== undefined ? rawJson(context.source) : value,
  );
}

/**
 * The stored JSON object `text` (null: an empty one) with the top-level `members` set, or removed
 * where their value is undefined; null when nothing is left (the model stores an empty object as
 * NULL). Every other member keeps its stored text, spacing and escapes included (`"\u00d6BB"`
 * stays so, where JSON.stringify would write `"ÖBB"`), and so do the separators between them:
 * what runtape does not change is what it was, byte for byte. A member set keeps its place and its
 * key as spelled; a new one comes last, spaced as the members before it. Throws RuntapeError
 * (INVALID_JSON) naming `what` where `text` is not a JSON object.
 */
export function withMembers(
  text: string | null,
  members: Readonly<Record<string, unknown>>,
  what: string,
): string | null {
  const given = new Map(Object.entries(members));
  if (text === null) {
    const entries = [...given].filter(([, value]) => value !== undefined);
    // Object.fromEntries defines each key as its own property: a `__proto__` member stays one.
    return entries.length === 0 ? null : stringifyExact(Object.fromEntries(entries));
  }
  parseStoredObject(text, what);
  const spans = memberSpans(text);
  const first = spans[0];
  // Spaced as the stored members are: Python's json.dumps writes `, ` and `: `, JavaScript `,`, `:`.
  const colon = first === undefined ? ":" : text.slice(first.keyEnd, first.value);
  const comma =
    spans[1] === undefined
      ? `,${colon.slice(colon.indexOf(":") + 1)}`
      : text.slice(first?.end, spans[1].start);
  const kept: { text: string; before: string }[] = [];
  const placed = new Set<string>();
  spans.forEach((span, i) => {
    const before = i === 0 ? "" : text.slice(spans[i - 1]?.end, span.start);
    if (!given.has(span.key)) {
      kept.push({ text: text.slice(span.start, span.end), before });
      return;
    }
    const value = given.get(span.key);
    // A key stored twice (JSON.parse takes the last) is one member once set.
    if (value === undefined || placed.has(span.key)) return;
    placed.add(span.key);
    kept.push({ text: text.slice(span.start, span.value) + stringifyExact(value), before });
  });
  for (const [key, value] of given) {
    if (value === undefined || spans.some((span) => span.key === key)) continue;
    kept.push({ text: `${JSON.stringify(key)}${colon}${stringifyExact(value)}`, before: comma });
  }
  if (kept.length === 0) return null;
  const open =
    first === undefined ? text.slice(0, text.lastIndexOf("}")) : text.slice(0, first.start);
  const close = text.slice(spans.at(-1)?.end ?? text.lastIndexOf("}"));
  return open + kept.map((m, i) => (i === 0 ? m.text : m.before + m.text)).join("") + close;
}

/** A top-level member of a JSON object's text: its key, and where its parts start and end. */
interface MemberSpan {
  key: string;
  start: number;
  keyEnd: number;
  value: number;
  end: number;
}

const WHITESPACE = /[ \t\n\r]/;

/**
 * The top-level members of `text`, a JSON object that JSON.parse has read: a scan that follows
 * strings and nesting finds them, the text being valid.
 */
function memberSpans(text: string): MemberSpan[] {
  const spans: MemberSpan[] = [];
  const skip = (i: number) => {
    while (WHITESPACE.test(text[i] ?? "")) i++;
    return i;
  };
  let i = skip(text.indexOf("{") + 1);
  while (text[i] === '"') {
    const start = i;
    const keyEnd = endOfString(text, i);
    const value = skip(skip(keyEnd) + 1);
    const end = endOfValue(text, value);
    spans.push({ key: JSON.parse(text.slice(start, keyEnd)), start, keyEnd, value, end });
    i = skip(end);
    if (text[i] === ",") i = skip(i + 1);
  }
  return spans;
}

/** Where the string that starts at `i` (its opening quote) ends: past its closing quote. */
function endOfString(text: string, i: number): number {
  let j = i + 1;
  while (text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
  return j + 1;
}

/** Where the JSON value that starts at `i` ends. */
function endOfValue(text: string, i: number): number {
  if (text[i] === '"') return endOfString(text, i);
  if (text[i] !== "{" && text[i] !== "[") {
    let j = i;
    while (j < text.length && !/[\s,\]}]/.test(text[j] as string)) j++;
    return j;
  }
  let depth = 0;
  let j = i;
  for (;;) {
    const c = text[j];
    if (c === '"') {
      j = endOfString(text, j);
      continue;
    }
    if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") {
      depth--;
      if (depth === 0) return j + 1;
    }
    j++;
  }
}
