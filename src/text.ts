/**
 * Text from the data (run ids, names, symbols, any string field) shown to people: control
 * characters (ESC, CR, LF, other C0, DEL, C1), line and paragraph separators and direction
 * overrides could forge lines, retitle or clear the terminal, or reorder what is read; invisible
 * ones (zero-width space, word joiner, byte order mark) make two different texts look the same.
 */

/** Characters that show as nothing, and have no use in a name (zero-width joiners do). */
export const INVISIBLE = /[\u200b\u2060\ufeff]/u;
const UNPRINTABLE =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters meant
  /[\u0000-\u001f\u007f-\u009f\u200b\u2028\u2029\u202a-\u202e\u2060\u2066-\u2069\ufeff]/gu;
const NAMED: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t", "\u001b": "\\e" };

/** Whether `text` holds a character that {@link printable} would escape. */
export function hasUnprintable(text: string): boolean {
  return text.search(UNPRINTABLE) !== -1;
}

/**
 * `text` safe to print for a person: every such character becomes a visible escape (`\e`, `\n`,
 * `\x07`, `\u202e`); all other text is unchanged.
 */
export function printable(text: string): string {
  return text.replace(
    UNPRINTABLE,
    (c) =>
      NAMED[c] ??
      (c.charCodeAt(0) <= 0xff
        ? `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`
        : `\\u${c.charCodeAt(0).toString(16)}`),
  );
}

/**
 * `text` quoted for a message as JSON quotes it, but with {@link printable}'s escapes (`"a\x07"`,
 * not `"a\u0007"`) and lone surrogates as `\ud83d`; cut after `max` code points (never inside a
 * surrogate pair) with `…`.
 */
export function quoted(text: string, max = Number.POSITIVE_INFINITY): string {
  const points = [...text];
  const kept = points.length > max ? `${points.slice(0, max).join("")}…` : text;
  const escaped = printable(kept.replace(/["\\]/g, (c) => `\\${c}`));
  return `"${escaped.replace(/\p{Surrogate}/gu, (c) => `\\u${c.charCodeAt(0).toString(16)}`)}"`;
}

/** `text` as one word of a POSIX shell command line: as it is when that is safe, else quoted. */
export function shellWord(text: string): string {
  return /^[\w./:@%+=,-]+$/.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`;
}

/**
 * `name=value` for a line that lists an event's fields: the value quoted where it has spaces (with
 * JSON's escapes, so a line break cannot start a line of its own) and escaped always: data never
 * drives the terminal, nor reads as another field.
 */
export function fieldText(name: string, value: string): string {
  return `${name}=${printable(/\s/.test(value) ? JSON.stringify(value) : value)}`;
}
