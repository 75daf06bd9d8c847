import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { type Event, EventBus, Recorder, RuntapeError, replay } from "../src/index.ts";
import { bar, tempDir } from "./helpers.ts";

const journalOf = (path: string) => {
  const db = new Database(path, { readonly: true });
  try {
    return (db.query("PRAGMA journal_mode").get() as { journal_mode: string }).journal_mode;
  } finally {
    db.close();
  }
};

/** Records `n` bars as run `runId`, looking at the file while the recorder holds it open. */
function record(path: string, runId: string, events: Event[], journal?: "wal" | "rollback") {
  const recorder = Recorder.start(path, { runId, journal, batchSize: 64 });
  const bus = new EventBus();
  recorder.attach(bus);
  for (const event of events) bus.publish(event);
  const during = { journal: journalOf(path), wal: existsSync(`${path}-wal`) };
  recorder.close();
  return during;
}

describe("the recorder's journal", () => {
  test("rollback: no write-ahead log, the run replays exactly; a later default recorder brings WAL back", () => {
    const path = join(tempDir(), "runs.db");
    const batch = Array.from({ length: 500 }, (_, i) => bar(i));
    const live = Array.from({ length: 300 }, (_, i) => bar(i, "MSFT"));
    expect(record(path, "batch", batch, "rollback")).toEqual({ journal: "delete", wal: false });
    expect(record(path, "live", live)).toEqual({ journal: "wal", wal: true });
    expect(journalOf(path)).toBe("wal");
    expect([...replay(path, { run: "batch" })]).toEqual(batch);
    expect([...replay(path, { run: "live" })]).toEqual(live);
  });

  test("an unknown journal is refused before the file is touched", () => {
    const path = join(tempDir(), "runs.db");
    const start = () => Recorder.start(path, { journal: "memory" as "wal" });
    expect(start).toThrow(RuntapeError);
    expect(start).toThrow('recorder option journal: expected "wal" or "rollback"');
    expect(existsSync(path)).toBe(false);
  });
});
