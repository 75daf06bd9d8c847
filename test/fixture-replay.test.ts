// Replay of the Python recorder's fixtures against their JSONL of the events in true order.
// Skipped, saying why, where ../shared/fixtures is absent (a user's clone).
import { Database } from "bun:sqlite";
import { describe, expect } from "bun:test";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import {
  causalViolations,
  FIXTURE_FILES,
  figures,
  kWayMerge,
  outOfPlace,
  type Published,
  readPublished,
  truePositions,
} from "../scripts/measure-order.ts";
import {
  computePnl,
  defaultCatalog,
  EVENT_TYPES,
  type Event,
  EventBus,
  fieldsOf,
  inspectRun,
  openRunsDb,
  type PnlFill,
  PYTHON_SCHEMA_VERSION,
  Recorder,
  replay,
  replayOnto,
} from "../src/index.ts";
import {
  fixtureCopy,
  fixtureEvents,
  fixtureTest,
  HAS_FIXTURE,
  HAS_THREADED,
  tempDir,
} from "./helpers.ts";

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
    expect(runs).toHaveLength(2);
    for (const runId of runs) {
      const truth = runOf(runId);
      const replayed = fixtureEvents(runId);
      expect(replayed).toHaveLength(truth.length);
      expect(outOfPlace(truePositions(replayed, truth))).toEqual({ misplaced: 0, toMove: 0 });
      expect(replayed.flatMap((e, i) => differences(e, truth[i] as Published, i))).toEqual([]);
    }
    // The comparison sees every type of the Python layout, NULLs and NaN indicators.
    const types = new Set(published.map((p) => p.type));
    expect([...types].sort()).toEqual(defaultCatalog.typesAt(PYTHON_SCHEMA_VERSION).sort());
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
      expect([...replay(copy, { run: runId })]).toEqual(fixtureEvents(runId) as Event[]);
    }
  });
});

describe("replay of the threaded fixture (several publishing threads, extreme values, a killed run)", () => {
  const published = HAS_THREADED ? readPublished(FIXTURE_FILES.threaded.jsonl) : [];
  const runs = [...new Set(published.map((p) => p.run_id))];
  const runOf = (runId: string) => published.filter((p) => p.run_id === runId);

  fixtureTest(
    "every run holds exactly the published values, table by table in id order",
    () => {
      expect(runs).toHaveLength(3);
      for (const runId of runs) {
        const replayed = fixtureEvents(runId, "threaded");
        const truth = runOf(runId);
        expect(replayed).toHaveLength(truth.length);
        // Each table in its own order: the k-th replayed event of a type is its k-th published.
        for (const type of EVENT_TYPES) {
          const mine = replayed.filter((e) => e.type === type);
          const theirs = truth.filter((p) => p.type === type);
          expect(mine.flatMap((e, i) => differences(e, theirs[i] as Published, i))).toEqual([]);
        }
      }
      // The comparison sees the extreme values: volumes past 2^53, int64's maximum, huge floats.
      const volumes = published.map((p) => p.fields.volume);
      expect(volumes).toContain(2n ** 62n + 7n);
      expect(volumes).toContain(2n ** 63n - 1n);
      expect(volumes).toContain(2n ** 53n + 3n);
      expect(published.some((p) => p.fields.high === Number.MAX_VALUE)).toBe(true);
    },
    "threaded",
  );

  fixtureTest(
    "no event before its cause; no more to move than the ts_created_ns merge",
    () => {
      for (const runId of runs) {
        const truth = runOf(runId);
        const replayed = fixtureEvents(runId, "threaded").map((e) => ({
          type: e.type,
          fields: e as unknown as Record<string, unknown>,
        }));
        const mine = figures(replayed, truth);
        const naive = figures(
          kWayMerge(truth, (p) => [p.fields.ts_created_ns as bigint]),
          truth,
        );
        expect([runId, mine.violations]).toEqual([
          runId,
          {
            responseBeforeRequest: 0,
            fillBeforeAccepted: 0,
            processedBeforeReceived: 0,
            expiryBeforeAccepted: 0,
          },
        ]);
        expect(mine.toMove).toBeLessThanOrEqual(naive.toMove);
      }
      // The true order itself has responses before their requests: the bus hands events on
      // outside its lock. Replay cannot show them so.
      expect(causalViolations(runOf(runs[0] as string)).responseBeforeRequest).toBeGreaterThan(0);
    },
    "threaded",
  );

  fixtureTest(
    "trading and P&L per symbol: those of the published fills, in order",
    () => {
      const db = openRunsDb(fixtureCopy("threaded"));
      for (const runId of runs) {
        const fills = runOf(runId).filter((p) => p.type === "FillEvent");
        const symbols = [...new Set(fills.map((p) => p.fields.symbol as string))].sort();
        const trading = inspectRun(db, runId).trading.filter((t) => t.fills > 0);
        expect(trading.map((t) => t.symbol)).toEqual(symbols);
        for (const t of trading) {
          const mine = fills
            .filter((p) => p.fields.symbol === t.symbol)
            .map((p) => p.fields as unknown as PnlFill);
          const { position, realizedPnl, commission, tradedQuantity } = computePnl(mine);
          expect([t.symbol, t.position, t.realizedPnl, t.commission, t.tradedQuantity]).toEqual([
            t.symbol,
            position,
            realizedPnl,
            commission,
            tradedQuantity,
          ]);
        }
      }
      db.close();
    },
    "threaded",
  );
});
