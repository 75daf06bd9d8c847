/**
 * Arguments of the wrong type from JavaScript, where TypeScript does not stand guard: each is one
 * line naming what is wrong (RuntapeError, INVALID_OPTION), never a TypeError from inside.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import {
  checkStore,
  inspectStoredRun,
  listSourceSummaries,
  pull,
  RuntapeError,
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
