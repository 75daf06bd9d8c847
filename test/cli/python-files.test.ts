/**
 * What runtape writes into a file the Python recorder wrote, and what it leaves: a file moves
 * between the two tools, so what runtape does not change must mean to Python what it did.
 */
import { describe, expect } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { openRunsDb, recoverRuns, SCHEMA_VERSION, unjudgeableRuns } from "../../src/index.ts";
import {
  fixtureCopy,
  fixtureEvents,
  fixtureTest,
  jsonLexemes,
  rawDb,
  tempDir,
} from "../helpers.ts";
import { cli } from "./inprocess.ts";
import { iso, lines, storedRuns } from "./support.ts";

const REFERENCE_RUN = "2026-11-23_20-03-12_SMA Crossover_Ausbruch & Rückkehr ✓";
const THREADED_RUN = "2024-03-04_threaded-sweep-A";

const runOf = (path: string, runId: string) => {
  const run = storedRuns(path).find((r) => r.run_id === runId);
  if (run === undefined) throw new Error(`no run ${runId} in ${path}`);
  return run;
};

describe("config and metadata keep Python's numbers", () => {
  fixtureTest("tag then untag: the metadata is what Python wrote, 10.0 still 10.0", async () => {
    const path = fixtureCopy();
    const before = runOf(path, REFERENCE_RUN);
    // The floats that hold integers: what a detour through a JavaScript number would make ints.
    expect(before.metadata).toContain('"quantity": 10.0');
    const tagged = await cli(["tag", path, "--run", REFERENCE_RUN, "owner=ana"]);
    expect([tagged.code, tagged.stdout]).toEqual([0, '{"owner":"ana"}\n']);
    const after = runOf(path, REFERENCE_RUN);
    expect(jsonLexemes(after.metadata)).toEqual({
      ...(jsonLexemes(before.metadata) as object),
      tags: { owner: "ana" },
    });
    expect((await cli(["tag", path, "--run", REFERENCE_RUN, "owner="])).code).toBe(0);
    const untagged = runOf(path, REFERENCE_RUN);
    expect(untagged.metadata).toBe(before.metadata);
    expect(untagged.config).toBe(before.config);
  });

  fixtureTest(
    "replay --into keeps the config as Python wrote it, byte for byte (\\u00d6BB stays escaped), and the metadata's text with the lineage after it",
    async () => {
      for (const [fixture, runId] of [
        ["reference", REFERENCE_RUN],
        ["threaded", THREADED_RUN],
      ] as const) {
        const path = fixtureCopy(fixture);
        const into = join(tempDir(), "copy.db");
        expect((await cli(["replay", path, "--run", runId, "--into", into])).code).toBe(0);
        const source = runOf(path, runId);
        const copy = runOf(into, runId);
        expect(source.config).toMatch(/^\{"mode": "backtest", "symbols": \[.*\\u00/);
        expect(copy.config).toBe(source.config);
        // Spaced as Python spaces its members: `, ` between them, `: ` after a key; its numbers as
        // written (1e-05 stays 1e-05).
        expect(copy.metadata).toStartWith(`${source.metadata?.slice(0, -1)}, "lineage": {`);
        const { lineage } = JSON.parse(copy.metadata ?? "{}");
        expect(lineage).toMatchObject({ source_run: runId });
      }
    },
  );
});

describe("a run the Python recorder left running (its process died)", () => {
  const KILLED = "2024-03-06_killed-midway-C";

  fixtureTest(
    "replay --into copies it with its start time, completed when the copy was made",
    async () => {
      const path = fixtureCopy("threaded");
      const into = join(tempDir(), "copy.db");
      const before = BigInt(Date.now()) * 1_000_000n;
      expect((await cli(["replay", path, "--run", KILLED, "--into", into])).code).toBe(0);
      const source = runOf(path, KILLED);
      const copy = runOf(into, KILLED);
      expect([source.status, source.ts_end]).toEqual(["running", null]);
      expect([copy.status, copy.ts_start]).toEqual(["completed", source.ts_start]);
      expect(copy.ts_end).toBeGreaterThanOrEqual(before);
    },
    "threaded",
  );

  fixtureTest(
    "recover passes it over saying how to close it; rm, rename and tag refuse it naming the remedy; recover --run closes it",
    async () => {
      const path = fixtureCopy("threaded");
      const plain = await cli(["recover", path]);
      expect([plain.code, plain.stdout, lines(plain.stderr)]).toEqual([
        0,
        "",
        [
          expect.stringContaining("no stale runs"),
          expect.stringContaining(
            `1 running run not judged (runtape did not record it): "${KILLED}"; name one with --run to close it`,
          ),
        ],
      ]);
      const remedy = `runtape did not record it, so nothing tells whether it still runs; \`runtape recover ${path} --run ${KILLED}\` closes it if its process has ended`;
      for (const [args, doing] of [
        [["rm", path, "--run", KILLED, "--yes"], "remove"],
        [["rename", path, "--run", KILLED, "--to", "renamed"], "rename"],
        [["tag", path, "--run", KILLED, "a=b"], "tag"],
      ] as const) {
        const refused = await cli(args);
        expect([doing, refused.code, refused.stderr]).toEqual([
          doing,
          1,
          `runtape: cannot ${doing} run "${KILLED}": ${remedy}\n`,
        ]);
      }
      const before = runOf(path, KILLED);
      const closed = await cli(["recover", path, "--run", KILLED]);
      expect([closed.code, lines(closed.stderr)]).toEqual([
        0,
        [expect.stringContaining("closed 1 stale run as failed")],
      ]);
      const events = fixtureEvents(KILLED, "threaded");
      // The run's end: when its last event was built (bigints: Math.max takes none).
      let lastBuilt = 0n;
      for (const e of events) if (e.ts_created_ns > lastBuilt) lastBuilt = e.ts_created_ns;
      expect(closed.stdout).toBe(
        `${KILLED}\tfailed\t${events.length} events\tended ${iso(lastBuilt)}\n`,
      );
      expect(runOf(path, KILLED)).toEqual({
        ...before,
        status: "failed",
        ts_end: lastBuilt,
      });
      expect((await cli(["rename", path, "--run", KILLED, "--to", "renamed"])).code).toBe(0);
    },
    "threaded",
  );

  fixtureTest(
    "the library: recoverRuns closes it when named, and unjudgeableRuns names it until then",
    () => {
      const db = openRunsDb(fixtureCopy("threaded"), { mode: "write" });
      try {
        expect(unjudgeableRuns(db)).toEqual([KILLED]);
        expect(recoverRuns(db)).toEqual([]);
        expect(recoverRuns(db, { runId: KILLED })).toMatchObject([{ runId: KILLED }]);
        expect(unjudgeableRuns(db)).toEqual([]);
      } finally {
        db.close();
      }
    },
    "threaded",
  );
});

describe("a command that changes nothing leaves a Python-written file as it was", () => {
  const userVersion = (path: string) => {
    const db = rawDb(path);
    try {
      return Number(
        (db.query("PRAGMA user_version").get() as { user_version: bigint }).user_version,
      );
    } finally {
      db.close();
    }
  };

  fixtureTest(
    "byte for byte, unmigrated: nothing to recover, a tag that is already so, a refusal",
    async () => {
      for (const [args, code] of [
        [["recover"], 0],
        [["tag", "--run", REFERENCE_RUN, "absent="], 0],
        [["rename", "--run", REFERENCE_RUN, "--to", REFERENCE_RUN], 1],
        [["rm", "--run", "no such run", "--yes"], 1],
        [["tag", "--run", "no such run", "a=b"], 1],
      ] as const) {
        const path = fixtureCopy();
        const before = readFileSync(path);
        const [command, ...rest] = args;
        const result = await cli([command, path, ...rest]);
        expect([args, result.code]).toEqual([args, code]);
        expect([args, readFileSync(path).equals(before), userVersion(path)]).toEqual([
          args,
          true,
          1,
        ]);
      }
    },
  );

  fixtureTest("a tag that changes the metadata still migrates it, as any write does", async () => {
    const path = fixtureCopy();
    expect((await cli(["tag", path, "--run", REFERENCE_RUN, "owner=ana"])).code).toBe(0);
    expect(userVersion(path)).toBe(SCHEMA_VERSION);
  });
});
