/**
 * The worker of src/replay-parallel.ts: encodes its slices of a run in one read snapshot of its
 * own (restricted to the caller's sequence numbers, so it reads the same rows), posting each as
 * UTF-8, never more than {@link AHEAD} slices ahead of the one being written.
 */
import { endRead, openRunsDb } from "./db.ts";
import { AHEAD, type SliceJob, type SliceResult, sliceText } from "./replay-parallel.ts";

declare const self: Worker;

/** The latest slice the caller has taken. */
let taken = -1;
let wake = () => {};

async function encodeSlices({ path, options, int64, slices }: SliceJob): Promise<void> {
  const db = openRunsDb(path);
  try {
    db.sqlite.exec("BEGIN");
    for (const [i, { k, range }] of slices.entries()) {
      while (i >= AHEAD && (slices[i - AHEAD]?.k ?? 0) > taken) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
      let result: SliceResult;
      try {
        const stats = { runId: "", events: 0, skipped: 0 };
        const bytes = new TextEncoder().encode(
          sliceText(db, { ...options, seqRange: range }, int64, stats),
        );
        result = { k, bytes, events: stats.events };
      } catch {
        result = { k, failed: true }; // the caller encodes it again and meets the error itself
      }
      if ("bytes" in result)
        self.postMessage(result, { transfer: [result.bytes.buffer as ArrayBuffer] });
      else return self.postMessage(result);
    }
  } finally {
    endRead(db);
    db.close();
  }
}

self.onmessage = ({ data }: MessageEvent<SliceJob | number>) => {
  if (typeof data === "number") {
    taken = Math.max(taken, data);
    wake();
  } else {
    void encodeSlices(data).catch(() => self.postMessage({ k: -1, failed: true }));
  }
};
