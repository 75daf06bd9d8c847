// Replay of the Python recorder's fixture against its JSONL of published events. Skipped, saying
// why, where ../shared/fixtures is absent (a user's clone).
import { Database } from "bun:sqlite";
import { describe, expect } from "bun:test";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import {
  outOfPlace,
  type Published,
  readPublished,
  truePositions,
} from "../scripts/measure-order.ts";
import {
  EVENT_TYPES,
  type Event,
  EventBus,
  fieldsOf,
  Recorder,
  replay,
  replayOnto,
} from "../src/index.ts";
import { fixtureCopy, fixtureTest, HAS_FIXTURE, tempDir } from "./helpers.ts";

const NON_FINITE: Record<string, number> = {
  NaN: Number.NaN,
  Infinity: Number.POSITIVE_INFINITY,
  "-Infinity": Number.NEGATIVE_INFINITY,
};
const number = (x: unknown) => (typeof x === "string" && x in NON_FINITE ? NON_FINITE[x] : x);

/** Where `actual` differs from the published event, field by field (floats bit for bit). */
function differences(actual: Event, published: Published, index: number): string[] {
  if (actual.type !== published.type) return [`#${index}: ${actual.type} for ${published.type}`];
  const record = actual as unknown as Record<string, unknown>;
  const out: string[] = [];
  for (const [name, field] of fieldsOf(actual.type)) {
    const want = published.fields[name];
    const got = record[name];
    const same =
      field.kind === "indicators"
        ? Object.entries(want as Record<string, unknown>).every(([k, v]) =>
            Object.is((got as Record<string, number>)[k], number(v)),
          ) && Object.keys(got as object).join() === Object.keys(want as object).join()
        : Object.is(got, field.kind === "real" ? number(want) : want);
    if (!same) out.push(`#${index} ${actual.type}.${name}: ${String(got)} for ${String(want)}`);
  }
  return out;
}

describe("replay of the Python recorder's fixture", () => {
  const published = HAS_FIXTURE ? readPublished() : [];
  const runs = [...new Set(published.map((p) => p.run_id))];
  const runOf = (runId: string) => published.filter((p) => p.run_id === runId);

  fixtureTest("both runs equal the published events field by field, none out of place", () => {
    const path = fixtureCopy();
    expect(runs).toHaveLength(2);
    for (const runId of runs) {
      const truth = runOf(runId);
      const replayed = [...replay(path, { run: runId })];
      expect(replayed).toHaveLength(truth.length);
      expect(outOfPlace(truePositions(replayed, truth))).toEqual({ misplaced: 0, toMove: 0 });
      expect(replayed.flatMap((e, i) => differences(e, truth[i] as Published, i))).toEqual([]);
    }
    // The comparison sees every type, NULLs and NaN indicators.
    expect(new Set(published.map((p) => p.type)).size).toBe(EVENT_TYPES.length);
    expect(published.some((p) => p.fields.volume === null)).toBe(true);
    expect(published.some((p) => JSON.stringify(p.fields.indicators ?? {}).includes('"NaN"'))).toBe(
      true,
    );
  });

  fixtureTest(
    "filters by symbol keep whole lifecycles, through the Python layout's indexes",
    () => {
      const path = fixtureCopy();
      for (const runId of runs) {
        const truth = runOf(runId);
        const orderSymbol = new Map<unknown, unknown>();
        for (const p of truth)
          if ("system_order_id" in p.fields)
            orderSymbol.set(p.fields.system_order_id, p.fields.symbol);
        const symbolOf = (p: Published) =>
          "symbol" in p.fields ? p.fields.symbol : orderSymbol.get(p.fields.associated_order_id);
        for (const symbol of new Set(truth.map(symbolOf))) {
          const replayed = [...replay(path, { run: runId, symbols: [symbol as string] })];
          const expected = truth.filter((p) => symbolOf(p) === symbol);
          expect([symbol, replayed.map((e) => [e.type, e.ts_created_ns])]).toEqual([
            symbol,
            expected.map((p) => [p.type, p.fields.ts_created_ns]),
          ]);
        }
      }
    },
  );

  fixtureTest("never migrates or changes the Python file", () => {
    const path = fixtureCopy();
    const before = readFileSync(path);
    const mtime = statSync(path).mtimeMs;
    for (const runId of runs) for (const _ of replay(path, { run: runId }));
    expect(readFileSync(path).equals(before)).toBe(true);
    expect(statSync(path).mtimeMs).toBe(mtime);
    const raw = new Database(path, { readonly: true });
    expect(raw.query("PRAGMA user_version").get()).toEqual({ user_version: 1 });
    const columns = raw.query("SELECT name FROM pragma_table_info('bars')").all();
    raw.close();
    expect(columns).not.toContainEqual({ name: "seq" });
  });

  fixtureTest("a copy recorded from the replay on a bus replays to the same events", async () => {
    const path = fixtureCopy();
    const copy = join(tempDir(), "copy.db");
    for (const runId of runs) {
      const bus = new EventBus();
      const recorder = Recorder.start(copy, { runId });
      recorder.attach(bus);
      const summary = await replayOnto(bus, path, { run: runId });
      recorder.close();
      expect(summary).toEqual({ runId, events: runOf(runId).length, skipped: 0 });
      // ts_created_ns included: replay passes every field through unchanged.
      expect([...replay(copy, { run: runId })]).toEqual([...replay(path, { run: runId })]);
    }
  });
});
