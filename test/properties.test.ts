import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import {
  decodeEvent,
  EVENT_TYPES,
  type Event,
  type EventType,
  encodeEvent,
  type Field,
  fieldsOf,
  NdjsonError,
  openRunsDb,
  Recorder,
  RuntapeError,
  readNdjson,
  replay,
} from "../src/index.ts";
import { parseJsonObject, stringifyExact, withMembers } from "../src/json.ts";
import { runtape } from "./cli/run.ts";
import { tempDir } from "./helpers.ts";

const INT64 = { min: -(2n ** 63n), max: 2n ** 63n - 1n };
// Text as SQLite stores it: well-formed Unicode (a lone surrogate is not UTF-8).
const text = fc.string({ unit: "grapheme", maxLength: 12 });
// SQLite keeps an integral REAL as an integer on disk, so -0 comes back as 0: the one float it cannot keep.
const price = fc
  .double({ noNaN: true, noDefaultInfinity: true })
  .map((x) => (Object.is(x, -0) ? 0 : x));

/** Values for one field, from its kind in the catalog: the generator follows the declaration. */
function arbitraryOf(field: Field<unknown>): fc.Arbitrary<unknown> {
  const base: fc.Arbitrary<unknown> = (() => {
    switch (field.kind) {
      case "ns":
      case "int":
        return fc.bigInt(INT64);
      case "real":
        return price;
      case "enum":
        return fc.constantFrom(...(field.options ?? []));
      case "indicators":
        return fc.dictionary(text, fc.double(), { maxKeys: 4 });
      default:
        return text;
    }
  })();
  return field.notNull ? base : fc.option(base, { nil: null });
}

/** Any valid event of any type. */
const anyEvent: fc.Arbitrary<Event> = fc.oneof(
  ...EVENT_TYPES.map((type: EventType) =>
    fc
      .record(Object.fromEntries(fieldsOf(type).map(([name, f]) => [name, arbitraryOf(f)])))
      .map((fields) => ({ type, ...fields }) as unknown as Event),
  ),
);

/** A runs database of `n` random events, and its bytes. */
function randomDatabase(n: number, seed: number): { dir: string; bytes: Buffer } {
  const dir = tempDir();
  const source = join(dir, "source.db");
  const recorder = Recorder.start(source, { runId: "r" });
  for (const e of fc.sample(anyEvent, { numRuns: n, seed })) recorder.record(e);
  recorder.close();
  return { dir, bytes: readFileSync(source) };
}

/** Byte edits anywhere in a file of `length` bytes. */
const edits = (length: number, minLength: number, maxLength: number) =>
  fc.array(fc.tuple(fc.nat(length - 1), fc.nat(255)), { minLength, maxLength });

/** Writes `bytes` with `changes` applied to `path`. */
function writeMutated(path: string, bytes: Uint8Array, changes: [number, number][]): void {
  const mutated = Buffer.from(bytes);
  for (const [at, value] of changes) mutated[at] = value;
  writeFileSync(path, mutated);
}

describe("properties", () => {
  test("withMembers sets and removes members as an object spread would; a text it leaves unchanged comes back byte for byte", () => {
    const key = fc.constantFrom("a", "b", "é", "__proto__", 'q"}', "");
    fc.assert(
      fc.property(
        fc.dictionary(key, fc.jsonValue()),
        fc.dictionary(key, fc.option(fc.jsonValue(), { nil: undefined })),
        fc.constantFrom(undefined, 2, "\t"),
        (stored, members, indent) => {
          const text = JSON.stringify(stored, null, indent);
          // What the text holds (JSON.stringify writes a -0 of `stored` as 0).
          const expected = new Map(Object.entries(JSON.parse(text)));
          for (const [k, value] of Object.entries(members)) {
            if (value === undefined) expected.delete(k);
            else expected.set(k, value);
          }
          const result = withMembers(text, members, "metadata");
          expect(result === null ? {} : JSON.parse(result)).toEqual(Object.fromEntries(expected));
          if (
            Object.entries(members).every(([k, v]) => v === undefined && !Object.hasOwn(stored, k))
          )
            expect(result).toBe(expected.size === 0 ? null : text);
        },
      ),
    );
  });

  test("-0 keeps its sign in the JSON runtape writes (config, metadata, tags), as Python writes it", () => {
    expect(stringifyExact({ a: [-0, 0, 1] })).toBe('{"a":[-0.0,0,1]}');
    const set = withMembers('{"k": 1}', { a: { "": -0 } }, "metadata") as string;
    expect(set).toBe('{"k": 1, "a": {"":-0.0}}');
    expect(Object.is(JSON.parse(set).a[""], -0)).toBe(true);
    // Given as JSON text (--config, --metadata), an integer -0 is Python's int 0, and -0.0 a float.
    expect(stringifyExact(parseJsonObject('{"n": -0, "f": -0.0, "m": [-0]}', "config"))).toBe(
      '{"n":0,"f":-0.0,"m":[0]}',
    );
  });

  test("any event stream survives record → replay unchanged", () => {
    // One connection for every run: what is tested is the events' way through it.
    const db = openRunsDb(join(tempDir(), "runs.db"), { mode: "write" });
    let n = 0;
    try {
      fc.assert(
        fc.property(
          fc.array(anyEvent, { maxLength: 40 }),
          fc.integer({ min: 1, max: 16 }),
          (events, batchSize) => {
            const recorder = Recorder.start(db, { runId: `r${n++}`, batchSize });
            for (const e of events) recorder.record(e);
            recorder.close();
            expect([...replay(db, { run: `r${n - 1}` })]).toEqual(events);
          },
        ),
        { numRuns: 60 },
      );
    } finally {
      db.close();
    }
  });

  test("any event survives NDJSON → parse → serialize unchanged", async () => {
    fc.assert(
      fc.property(anyEvent, (event) => {
        const line = encodeEvent(event);
        const back = decodeEvent(line);
        expect(back).toEqual(event);
        expect(encodeEvent(back)).toBe(line);
      }),
      { numRuns: 500 },
    );
  });

  test("a mutated NDJSON file yields events or one NdjsonError, nothing else", async () => {
    const lines = fc.sample(anyEvent, { numRuns: 20, seed: 42 }).map(encodeEvent).join("\n");
    const bytes = new TextEncoder().encode(lines);
    await fc.assert(
      fc.asyncProperty(edits(bytes.length, 1, 8), async (changes) => {
        const mutated = bytes.slice();
        for (const [at, value] of changes) mutated[at] = value;
        try {
          for await (const _ of readNdjson([mutated])) {
            // reading is the test
          }
        } catch (error) {
          if (!(error instanceof NdjsonError)) throw error;
        }
      }),
      { numRuns: 300 },
    );
  });

  test("a mutated database never crashes the library: events, or a typed error", () => {
    const { dir, bytes } = randomDatabase(300, 7);
    let i = 0;
    fc.assert(
      fc.property(edits(bytes.length, 1, 16), (changes) => {
        const path = join(dir, `m${i++}.db`);
        writeMutated(path, bytes, changes);
        try {
          for (const _ of replay(path)) {
            // reading is the test
          }
        } catch (error) {
          if (!(error instanceof RuntapeError)) throw error;
        }
      }),
      { numRuns: 100 },
    );
  });

  test("the CLI answers a mutated database with data or one clean error line", async () => {
    const { dir, bytes } = randomDatabase(200, 9);
    const cases = fc.sample(edits(bytes.length, 4, 32), { numRuns: 12, seed: 3 });
    for (const [k, changes] of cases.entries()) {
      const path = join(dir, `m${k}.db`);
      writeMutated(path, bytes, changes);
      for (const args of [
        ["replay", path],
        ["inspect", path, "--run", "latest"],
      ]) {
        const result = await runtape(args);
        expect([args, result.code === 0 || result.code === 1]).toEqual([args, true]);
        expect(result.stderr).not.toContain("    at ");
        if (result.code === 1) expect(result.stderr.trim().split("\n")).toHaveLength(1);
      }
    }
  });
});
