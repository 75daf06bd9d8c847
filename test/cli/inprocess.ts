import { spyOn } from "bun:test";
import { main } from "../../src/cli/main.ts";
import { captureOutput } from "../../src/cli/output.ts";
import type { Result } from "./run.ts";

/**
 * Runs `runtape args…` in this process through `main(argv)`, with stdout and stderr captured: the
 * fast way to test what the CLI does where no separate process matters (signals, exit, terminals do).
 * Relative paths resolve against `cwd`.
 */
export async function cli(args: readonly string[], cwd?: string): Promise<Result> {
  let stdout = "";
  let stderr = "";
  const here = process.cwd();
  const write = spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
    stderr += typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk);
    return true;
  });
  captureOutput((text) => {
    stdout += text;
  });
  try {
    if (cwd !== undefined) process.chdir(cwd);
    const code = await main(args);
    return { code, stdout, stderr };
  } finally {
    process.chdir(here);
    captureOutput(undefined);
    write.mockRestore();
  }
}
