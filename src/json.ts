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
