/**
 * Options a caller hands the library, checked at the boundary: a wrong one is a typed error that
 * names it, not a TypeError from deep inside or a silently different result.
 */
import * as v from "valibot";
import { RuntapeError } from "./errors.ts";
import { isEventType } from "./events/catalog.ts";

/**
 * Throws RuntapeError (INVALID_OPTION) at the first issue of `options` against `schema`:
 * `<what> option <key>: <why>`, or `<what> options: …` when they are not an object at all.
 */
export function checkOptions(schema: v.GenericSchema, options: unknown, what: string): void {
  const result = v.safeParse(schema, options);
  if (result.success) {
    checkKeys(schema, options, what);
    return;
  }
  const issue = result.issues[0];
  const key = issue?.path?.[0]?.key;
  const where = key === undefined ? `${what} options` : `${what} option ${String(key)}`;
  throw new RuntapeError(`${where}: ${issue?.message ?? "invalid"}`, "INVALID_OPTION");
}

/** A name of the default catalog's event types (files of another catalog check theirs once open). */
export const eventTypeName = v.custom<string>(
  isEventType,
  (issue) => `unknown event type ${issue.received}`,
);

/**
 * Refuses a key an object schema does not know: from JavaScript, a misspelt option (`batchsize`)
 * would otherwise be dropped unsaid and the default used. Undefined values are let through, as
 * a spread of optional settings leaves them.
 */
function checkKeys(schema: v.GenericSchema, options: unknown, what: string): void {
  const entries = (schema as { entries?: Record<string, unknown> }).entries;
  if (entries === undefined || typeof options !== "object" || options === null) return;
  for (const [key, value] of Object.entries(options)) {
    if (Object.hasOwn(entries, key) || value === undefined) continue;
    // The likely slip: the case of a letter, or a plural's s (`type` for `types`).
    const loose = (k: string) => k.toLowerCase().replace(/s$/, "");
    const near = Object.keys(entries).find((k) => loose(k) === loose(key));
    throw new RuntapeError(
      `${what} option ${key}: no such option${near === undefined ? "" : ` (did you mean ${near}?)`}`,
      "INVALID_OPTION",
    );
  }
}
