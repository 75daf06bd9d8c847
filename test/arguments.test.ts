/**
 * Arguments of the wrong type from JavaScript, where TypeScript does not stand guard: each is one
 * line naming what is wrong (RuntapeError, INVALID_OPTION), never a TypeError from inside.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import {
  checkStore,
  EVENT_TYPES,
  type Event,
  EventBus,
  inspectStoredRun,
  listSourceSummaries,
  pull,
  RuntapeError,
  replayOnto,
  runDemo,
} from "../src/index.ts";
import { compareRuns, listSweep, openSource, pickRuns, reportRun } from "../src/report.ts";
import { recordSweep, tempDir } from "./helpers.ts";

/** `code: message` of what `call` threw or rejected with, or the value it did not throw. */
/** `prefix` where `got` starts with it, else `got` itself: a failure shows what came instead. */
const startOf = (got: unknown, prefix: string) =>
  typeof got === "string" && got.startsWith(prefix) ? prefix : got;

async function refusal(call: () => unknown): Promise<unknown> {
  try {
    const result = await call();
    return { returned: result };
  } catch (error) {
    return error instanceof RuntapeError ? `${error.code}: ${error.message}` : error;
  }
}

function sweepFile(): string {
  const path = join(tempDir(), "runs.db");
  recordSweep(path, [
    { id: "a", strategy: { fastPeriod: 4 } },
    { id: "b", strategy: { fastPeriod: 6 } },
  ]);
  return path;
}

describe("sweeps and reports", () => {
  test("options of the wrong shape are refused, naming the option", async () => {
    const source = await openSource(sweepFile());
    try {
      const cases: [unknown, string][] = [
        [{ where: "a=b" }, "option where: expected an array of conditions"],
        [{ where: [{ key: 5, value: "1" }] }, "option where: expected a key"],
        [{ where: [{ key: "seed", value: 1 }] }, "option where: expected the value as text"],
        [{ where: [{ key: "seed", value: "1", op: "~" }] }, "option where: expected one of"],
        [{ where: ["a=b"] }, "option where: expected a condition"],
        [{ runIds: "a" }, "option runIds: expected an array of run ids"],
        [{ runIds: [5] }, "option runIds: expected run ids"],
        [{ sort: 5 }, "option sort: expected a metric or config path"],
        [{ onProgress: "x" }, "option onProgress: "],
      ];
      for (const [options, message] of cases) {
        for (const [name, call] of [
          ["listSweep", () => listSweep(source, options as never)],
          ["pickRuns", () => pickRuns(source, options as never)],
        ] as const) {
          const got = await refusal(call);
          const prefix = `INVALID_OPTION: ${name} ${message}`;
          expect([options, startOf(got, prefix)]).toEqual([options, prefix]);
        }
      }
      // Options may be left out, as listSweep's may.
      expect((await pickRuns(source)).map((r) => r.run_id)).toEqual(["b", "a"]);
    } finally {
      await source.close();
    }
  });

  test("a path or store URL is opened for the call; anything else is refused in one line", async () => {
    const path = sweepFile();
    const source = await openSource(path);
    try {
      expect(await reportRun(path, "a")).toEqual(await reportRun(source, "a"));
      expect((await listSweep(path)).entries).toEqual((await listSweep(source)).entries);
      expect(await pickRuns(path, { runIds: ["latest"] })).toEqual(
        await pickRuns(source, { runIds: ["b"] }),
      );
      expect(await listSourceSummaries(path)).toEqual(await listSourceSummaries(source));
      expect(await compareRuns(path)).toContain("<html");
      // The metric is compareRuns' own option, not one the sweep under it refuses.
      expect(await compareRuns(path, { metric: "sharpeLike" })).toContain("<html");
    } finally {
      await source.close();
    }
    for (const [name, call] of [
      ["reportRun", (x: never) => reportRun(x, "a")],
      ["compareRuns", (x: never) => compareRuns(x)],
      ["listSweep", (x: never) => listSweep(x)],
      ["pickRuns", (x: never) => pickRuns(x)],
      ["listSourceSummaries", (x: never) => listSourceSummaries(x)],
    ] as const) {
      for (const bad of [undefined, 5, {}]) {
        expect(await refusal(() => call(bad as never))).toStartWith(
          `INVALID_OPTION: ${name}: expected a runs database path, a store URL or an open RunSource`,
        );
      }
    }
  });
});

describe("the store's functions", () => {
  test("a runs database, or anything but a store URL or PgStore, is refused before anything is reached", async () => {
    const path = sweepFile();
    const source = await openSource(path);
    try {
      for (const [name, call] of [
        ["checkStore", (x: never) => checkStore(x)],
        ["inspectStoredRun", (x: never) => inspectStoredRun(x, "a")],
      ] as const) {
        expect(await refusal(() => call(source as never))).toBe(
          `INVALID_OPTION: ${name}: expected a store URL or an open PgStore (got the runs database ${path})`,
        );
        expect(await refusal(() => call(path as never))).toStartWith(
          `INVALID_OPTION: ${name}: expected a store URL or an open PgStore (got "`,
        );
      }
    } finally {
      await source.close();
    }
    // No server on port 1: the options are refused before a connection is tried.
    const url = "postgres://runtape@127.0.0.1:1/runtape";
    const into = join(tempDir(), "pulled.db");
    expect(await refusal(() => pull(url, into, { runs: "a" } as never))).toBe(
      "INVALID_OPTION: pull option runs: expected an array of run ids",
    );
    expect(await refusal(() => pull(5 as never, into))).toBe(
      "INVALID_OPTION: pull: expected a store URL or an open PgStore (got 5)",
    );
  });
});

describe("replayOnto", () => {
  test("a bus without publish, a signal that is none, a negative or NaN speed: refused in one line", async () => {
    const path = sweepFile();
    const cases: [() => unknown, string][] = [
      [
        () => replayOnto({} as never, path),
        "replay: expected an EventBus to publish onto (got {})",
      ],
      [
        () => replayOnto(new EventBus(), path, { signal: "x" as never }),
        "replay option signal: expected an AbortSignal",
      ],
      [() => replayOnto(new EventBus(), path, { speed: -1 }), "replay option speed: expected"],
      [
        () => replayOnto(new EventBus(), path, { speed: Number.NaN }),
        "replay option speed: expected",
      ],
      [
        () => replayOnto(new EventBus(), path, { speed: "2" as never }),
        "replay option speed: expected",
      ],
    ];
    for (const [call, message] of cases) {
      expect(await refusal(call)).toStartWith(`INVALID_OPTION: ${message}`);
    }
    // 0 is no pacing, as documented: as fast as possible.
    const seen: Event[] = [];
    const bus = new EventBus();
    bus.subscribe(EVENT_TYPES, (e) => seen.push(e));
    expect((await replayOnto(bus, path, { speed: 0, limit: 3 })).events).toBe(3);
    expect(seen.length).toBe(3);
  });
});

describe("runDemo", () => {
  test("a demo of nothing, or of options of the wrong type, is refused, naming the option", () => {
    const cases: [unknown, string][] = [
      [{ bars: -5 }, "demo option bars: expected a whole number ≥ 1"],
      [{ bars: 0 }, "demo option bars: expected a whole number ≥ 1"],
      [{ bars: Number.NaN }, "demo option bars: expected a whole number ≥ 1"],
      [{ bars: 2.5 }, "demo option bars: expected a whole number ≥ 1"],
      [{ symbols: "AAPL" }, "demo option symbols: expected an array of symbols"],
      [{ symbols: [] }, "demo option symbols: expected at least one symbol"],
      [{ seed: "x" }, "demo option seed: expected a whole number ≥ 0"],
      [{ barPeriod: "WEEK" }, "demo option barPeriod: expected one of SECOND, MINUTE, HOUR, DAY"],
      [{ start: 5 }, "demo option start: expected a bigint"],
      [{ strategy: { fastPeriod: "5" } }, "demo option strategy: "],
    ];
    for (const [options, message] of cases) {
      let got: unknown;
      const bus = new EventBus();
      let published = 0;
      bus.subscribe(EVENT_TYPES, () => {
        published++;
      });
      try {
        runDemo(bus, options as never);
      } catch (error) {
        got = error instanceof RuntapeError ? `${error.code}: ${error.message}` : error;
      }
      const prefix = `INVALID_OPTION: ${message}`;
      expect([options, startOf(got, prefix), published]).toEqual([options, prefix, 0]);
    }
    expect(runDemo(new EventBus(), { bars: 3, symbols: ["AAPL"], seed: 2 }).bars).toBe(3);
  });
});
