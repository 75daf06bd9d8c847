import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers.ts";

const STDIN = join(import.meta.dir, "../../src/cli/stdin.ts");
/** Linux's default pipe capacity: what a producer may have written that nobody has read yet. */
const PIPE_BYTES = 65_536;

/**
 * A producer writes into a pipe as fast as it takes bytes (counting what it accepted) while a
 * consumer takes `chunks` chunks slowly, then exits. Returns both counts.
 */
async function race(consumer: string, chunks: number): Promise<{ written: number; read: number }> {
  const dir = tempDir();
  writeFileSync(
    join(dir, "producer.ts"),
    `import { writeSync } from "node:fs";
const line = Buffer.from("x".repeat(299) + "\\n");
let written = 0;
try { for (;;) written += writeSync(1, line); } catch {}
writeSync(2, String(written));`,
  );
  writeFileSync(
    join(dir, "consumer.ts"),
    `${consumer}
let read = 0, taken = 0;
for await (const chunk of chunksOf()) {
  read += chunk.length;
  if (++taken === ${chunks}) break;
  await Bun.sleep(20);
}
await Bun.sleep(50);
process.stdout.write(String(read));
process.exit(0);`,
  );
  const bun = process.execPath;
  const proc = Bun.spawn(["bash", "-c", `"${bun}" producer.ts | "${bun}" consumer.ts`], {
    cwd: dir,
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { written: Number(err.trim()), read: Number(out.trim()) };
}

test("record --input - reads stdin only as it parses: what left the pipe is never queued unparsed", async () => {
  const { written, read } = await race(
    `import { readStdin } from ${JSON.stringify(STDIN)};\nconst chunksOf = readStdin;`,
    6,
  );
  expect(read).toBeGreaterThan(5 * 4096);
  // All the producer got rid of was either read (and so parsed and handed to the recorder) or is
  // still in the pipe; none sits in a read-ahead queue that a kill -9 would lose on top.
  expect(written - read).toBeLessThanOrEqual(PIPE_BYTES);
});
