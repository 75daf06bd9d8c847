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
 * `within` names the option that holds these (rerun's `feed`): `<what> option feed.<key>: …`.
 */
export function checkOptions(
  schema: v.GenericSchema,
  options: unknown,
  what: string,
  within?: string,
): void {
  const result = v.safeParse(schema, options);
  if (result.success) {
    checkKeys(schema, options, what, within);
    return;
  }
  const issue = result.issues[0];
  const key = issue?.path?.[0]?.key;
  const where =
    key !== undefined
      ? `${what} option ${nested(within, String(key))}`
      : within !== undefined
        ? `${what} option ${within}`
        : `${what} options`;
  throw new RuntapeError(`${where}: ${issue?.message ?? "invalid"}`, "INVALID_OPTION");
}

const nested = (within: string | undefined, key: string) =>
  within === undefined ? key : `${within}.${key}`;

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
function checkKeys(
  schema: v.GenericSchema,
  options: unknown,
  what: string,
  within: string | undefined,
): void {
  const entries = (schema as { entries?: Record<string, unknown> }).entries;
  if (entries === undefined || typeof options !== "object" || options === null) return;
  for (const [key, value] of Object.entries(options)) {
    if (Object.hasOwn(entries, key) || value === undefined) continue;
    // The likely slip: the case of a letter, or a plural's s (`type` for `types`); else one
    // letter dropped, added, changed or swapped (`rn` for `run`).
    const loose = (k: string) => k.toLowerCase().replace(/s$/, "");
    const names = Object.keys(entries);
    const near =
      names.find((k) => loose(k) === loose(key)) ??
      names.find((k) => oneEditApart(k.toLowerCase(), key.toLowerCase()));
    const hint = near === undefined ? "" : ` (did you mean ${nested(within, near)}?)`;
    throw new RuntapeError(
      `${what} option ${nested(within, key)}: no such option${hint}`,
      "INVALID_OPTION",
    );
  }
}

/** Whether one letter added, dropped, changed, or two neighbours swapped make `a` of `b`. */
function oneEditApart(a: string, b: string): boolean {
  if (Math.abs(a.length - b.length) > 1 || a === b) return false;
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  if (a.length === b.length) {
    if (a.slice(i + 1) === b.slice(i + 1)) return true; // changed
    return a[i] === b[i + 1] && a[i + 1] === b[i] && a.slice(i + 2) === b.slice(i + 2); // swapped
  }
  // Added or dropped: the longer without its letter at i is the shorter.
  return a.length > b.length ? a.slice(i + 1) === b.slice(i) : a.slice(i) === b.slice(i + 1);
}
