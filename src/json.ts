import { RuntapeError } from "./errors.ts";

/**
 * JSON text in which bigints are exact integers (JSON.stringify refuses them) and non-finite
 * numbers are the strings "NaN", "Infinity", "-Infinity" (JSON.stringify turns them into null).
 */
export function stringifyExact(value: unknown, indent?: number): string {
  const marks: string[] = [];
  const text = JSON.stringify(
    value,
    (_key, v) => {
      if (typeof v === "bigint") {
        marks.push(v.toString());
        return `\u0000${marks.length - 1}\u0000`;
      }
      if (typeof v === "number" && !Number.isFinite(v)) return String(v);
      return v;
    },
    indent,
  );
  return marks.length === 0
    ? text
    : text.replace(/"\\u0000(\d+)\\u0000"/g, (_m, i) => marks[Number(i)] as string);
}

const INTEGER = /^-?\d+$/;

/**
 * Parses JSON text that must hold an object: a run's config or metadata, wherever it comes from
 * (a command line, a stored column, a copied run). Integers beyond 2^53 come back as exact
 * bigints (a seed or an id must not be rounded), so `stringifyExact` writes back the same text.
 * Throws RuntapeError (code INVALID_JSON) naming `what`.
 */
export function parseJsonObject(text: string, what: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    // The reviver's third argument (the number's source text) is in Bun, not yet in the DOM types.
    parsed = JSON.parse(text, ((_key: string, value: unknown, context?: { source?: string }) =>
      typeof value === "number" &&
      !Number.isSafeInteger(value) &&
      context?.source !== undefined &&
      INTEGER.test(context.source)
        ? BigInt(context.source)
        : value) as (key: string, value: unknown) => unknown);
  } catch (error) {
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
