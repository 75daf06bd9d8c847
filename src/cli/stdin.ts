import { read } from "node:fs";

const CHUNK_BYTES = 1 << 16;

/** One read(2) of fd 0 off the main thread; 0 at end of input. */
const readOnce = (buffer: Uint8Array) =>
  new Promise<number>((resolve, reject) => {
    read(0, buffer, 0, buffer.length, null, (error, bytes) =>
      error ? reject(error) : resolve(bytes),
    );
  });

/**
 * stdin as chunks, each read only when the previous one is taken. A stream reads ahead into its
 * queue: lines that left the producer's pipe would wait there unparsed, beyond the recorder's bound
 * on what a kill -9 may lose (1,000 events or 100 ms). Read on demand, the only lines in flight are
 * those in the pipe itself.
 */
export async function* readStdin(): AsyncGenerator<Uint8Array> {
  for (;;) {
    const buffer = new Uint8Array(CHUNK_BYTES);
    let bytes: number;
    try {
      bytes = await readOnce(buffer);
    } catch (error) {
      // stdin inherited in non-blocking mode: wait for data instead of failing.
      if ((error as { code?: string }).code !== "EAGAIN") throw error;
      await Bun.sleep(1);
      continue;
    }
    if (bytes === 0) return;
    yield buffer.subarray(0, bytes);
  }
}
