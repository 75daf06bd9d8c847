import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { Recorder } from "../src/index.ts";
import { startThread } from "../src/thread.ts";
import { tempDir } from "./helpers.ts";

describe("startThread", () => {
  test("a job's answer comes back to a synchronous caller; a job that fails answers nothing", () => {
    const path = join(tempDir(), "runs.db");
    Recorder.start(path).close();
    const ok = startThread<string[]>("src/inspect/integrity-worker.ts", { path });
    expect(ok?.result()).toEqual(["ok"]);
    ok?.stop();
    // The job throws (no such file): the caller hears nothing and does the job itself.
    const failed = startThread<string[]>("src/inspect/integrity-worker.ts", {
      path: join(tempDir(), "missing", "runs.db"),
    });
    expect(failed).toBeDefined();
    expect(failed?.result()).toBeUndefined();
    failed?.stop();
  });
});
