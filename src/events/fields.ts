import * as v from "valibot";
import { dumpsIndicators, loadsIndicators } from "./pyjson.ts";

/** What a column holds; codecs (SQL, NDJSON) switch on it. */
export type FieldKind = "ns" | "int" | "real" | "text" | "enum" | "indicators";

/** A value as bound to or read from bun:sqlite with `safeIntegers`. */
export type SqlValue = bigint | number | string | null;

/** Indicator values by name; NaN and ±Infinity are legal (warm-up, divisions by zero). */
export type Indicators = Record<string, number>;

/**
 * One column of an event table. The valibot `schema` checks values at the boundaries with a
 * readable issue; `is` is the same rule as a plain predicate for the hot paths (recorder, replay),
 * and a test holds the two in agreement.
 */
export interface Field<T> {
  readonly kind: FieldKind;
  readonly sql: "INTEGER" | "REAL" | "TEXT";
  readonly notNull: boolean;
  /** The vocabulary of an `enum` field. */
  readonly options?: readonly string[];
  readonly schema: v.GenericSchema<unknown, T>;
  is(value: unknown): value is T;
  /**
   * The rule of `is` as a JavaScript expression over the expression `value`, where it is short:
   * for the checks the recorder and replay compile from the catalog, which would otherwise call
   * `is` once per value. A test holds it in agreement with `is`.
   */
  readonly isCode?: (value: string) => string;
  /** The layout version that added the column to an existing type (see `addedIn`). */
  readonly since?: number;
  /** Present when the Python model fills the field itself (factories, NDJSON input). */
  readonly default?: () => T;
  /** Present where the stored form differs from the value (indicators as JSON text). */
  toSql?(value: T): SqlValue;
  /** Present where the stored form differs from the value; the result is checked with `is`. */
  fromSql?(raw: SqlValue): unknown;
  /**
   * Tried on a stored value that `is` refuses: the same value exactly, where a foreign storage
   * class still holds it (an integral REAL in an INTEGER column); otherwise `raw` unchanged, which
   * the decoder reports. Off the common path, so that it costs nothing on well-typed rows.
   */
  fromForeign?(raw: unknown): unknown;
}

/** A field the model fills itself when it is left out. */
export type Defaulted<T> = Field<T> & { readonly default: () => T };

/** The value type a field declares. */
export type ValueOf<F> = F extends Field<infer T> ? T : never;

/** The range of a signed 64-bit integer, what an int64 field and SQLite's INTEGER hold. */
export const INT64_MIN = -(2n ** 63n);
export const INT64_MAX = 2n ** 63n - 1n;

const isInt64 = (x: unknown): x is bigint =>
  typeof x === "bigint" && x >= INT64_MIN && x <= INT64_MAX;

const TWO_63 = 2 ** 63;

/**
 * A stored integer as a bigint, also where an INTEGER column without its affinity (made by another
 * tool) holds an integral float inside the signed 64-bit range; anything else comes back as is.
 */
export const asInt64 = (raw: unknown): unknown =>
  typeof raw === "number" && Number.isInteger(raw) && raw >= -TWO_63 && raw < TWO_63
    ? BigInt(raw)
    : raw;

const int64 = (kind: "ns" | "int"): Field<bigint> => ({
  kind,
  sql: "INTEGER",
  notNull: true,
  schema: v.pipe(
    v.bigint("expected a bigint"),
    v.minValue(INT64_MIN, "outside the signed 64-bit range"),
    v.maxValue(INT64_MAX, "outside the signed 64-bit range"),
  ),
  is: isInt64,
  isCode: (x) => `typeof ${x} === "bigint" && ${x} >= ${INT64_MIN}n && ${x} <= ${INT64_MAX}n`,
  fromForeign: asInt64,
});

/** Nanoseconds since the Unix epoch: a signed 64-bit integer, always a bigint. */
export const ns: Field<bigint> = int64("ns");

/**
 * A count (bar volume): a signed 64-bit integer, always a bigint. Python's integers are unbounded
 * and SQLite keeps any int64, so a volume may exceed 2^53, where a JavaScript number would round.
 */
export const int: Field<bigint> = int64("int");

/** A price or quantity: finite, since SQLite stores NaN as NULL and ±Infinity is no price. */
export const real: Field<number> = {
  kind: "real",
  sql: "REAL",
  notNull: true,
  schema: v.pipe(v.number("expected a finite number"), v.finite("expected a finite number")),
  is: (x): x is number => typeof x === "number" && Number.isFinite(x),
  isCode: (x) => `typeof ${x} === "number" && Number.isFinite(${x})`,
  // A REAL column without its affinity (made by another tool) may hold an integer: kept only when
  // a float holds it exactly.
  fromForeign: (raw) =>
    typeof raw === "bigint" && BigInt(Number(raw)) === raw ? Number(raw) : raw,
};

/**
 * Text that is Unicode: a lone surrogate (half a UTF-16 pair, which JavaScript strings may hold)
 * has no UTF-8 form, and SQLite would store U+FFFD in its place: the value read back would not be
 * the value recorded.
 */
export const text: Field<string> = {
  kind: "text",
  sql: "TEXT",
  notNull: true,
  schema: v.pipe(
    v.string("expected a string"),
    v.check((x) => x.isWellFormed(), "not valid Unicode (a lone surrogate)"),
  ),
  is: (x): x is string => typeof x === "string" && x.isWellFormed(),
  isCode: (x) => `typeof ${x} === "string" && ${x}.isWellFormed()`,
};

/** A vocabulary stored as its member name. */
export function oneOf<const T extends readonly [string, ...string[]]>(
  options: T,
): Field<T[number]> {
  const set = new Set<unknown>(options);
  return {
    kind: "enum",
    sql: "TEXT",
    notNull: true,
    options,
    schema: v.picklist(options, `expected one of ${options.join(", ")}`),
    is: (x): x is T[number] => set.has(x),
    // A few names compare faster inline than a fresh string hashes for the Set.
    isCode: (x) => options.map((name) => `${x} === ${JSON.stringify(name)}`).join(" || "),
  };
}

const isIndicators = (x: unknown): x is Indicators => {
  if (typeof x !== "object" || x === null) return false;
  // Plain objects only: a Map or a class instance would be stored as "{}", its values lost.
  const proto = Object.getPrototypeOf(x);
  if (proto !== Object.prototype && proto !== null) return false;
  for (const key in x) if (typeof (x as Indicators)[key] !== "number") return false;
  return true;
};

/** Indicator values, stored as the JSON text Python's `json.dumps` writes (bare NaN tokens). */
export const indicators: Defaulted<Indicators> = {
  kind: "indicators",
  sql: "TEXT",
  notNull: true,
  // A custom check rather than v.record: a record schema lets arrays through as objects.
  schema: v.custom<Indicators>(isIndicators, "expected an object of numbers"),
  is: isIndicators,
  default: () => ({}),
  toSql: dumpsIndicators,
  fromSql: (raw) => {
    if (typeof raw !== "string") return raw;
    try {
      return loadsIndicators(raw);
    } catch {
      return raw; // fails `is`, so the decoder reports the column and the text
    }
  },
};

/** The same field, NULL allowed (and `null` its default). */
export function nullable<T>(field: Field<T>): Defaulted<T | null> {
  const { toSql, fromSql } = field;
  return {
    ...field,
    notNull: false,
    schema: v.nullable(field.schema),
    is: (x): x is T | null => x === null || field.is(x),
    ...(field.isCode && { isCode: (x: string) => `${x} === null || (${field.isCode?.(x)})` }),
    default: () => null,
    ...(toSql && { toSql: (x: T | null) => (x === null ? null : toSql(x)) }),
    ...(fromSql && { fromSql: (raw: SqlValue) => (raw === null ? null : fromSql(raw)) }),
  };
}

/** The same field, filled by `make` when left out. */
export function withDefault<T>(field: Field<T>, make: () => T): Defaulted<T> {
  return { ...field, default: make };
}
