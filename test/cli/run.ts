import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "../..");
const SOURCE = join(ROOT, "bin/runtape.ts");

/** How a test runs the CLI: the compiled single-file binary, or the source entry point under Bun. */
export type Via = "binary" | "source";
export const VIAS: readonly Via[] = ["binary", "source"];

let built: Promise<string> | undefined;

/** Builds the binary once per test process, with the project's own build script, into a temp dir. */
export function binary(): Promise<string> {
  built ??= (async () => {
    const outfile = join(mkdtempSync(join(tmpdir(), "runtape-bin-")), "runtape");
    const proc = Bun.spawn([process.execPath, join(ROOT, "scripts/build.ts"), outfile], {
      cwd: ROOT,
      stdout: "pipe",
      stderr: "pipe",
    });
    if ((await proc.exited) !== 0) {
      throw new Error(`build failed: ${await new Response(proc.stderr).text()}`);
    }
    return outfile;
  })();
  return built;
}

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  via?: Via;
  cwd?: string;
  stdin?: string | Uint8Array | Blob;
  env?: Record<string, string | undefined>;
}

/** Runs `runtape args…` to completion and returns exit code and output. */
export async function runtape(args: readonly string[], options: RunOptions = {}): Promise<Result> {
  const command =
    options.via === "source" ? [process.execPath, SOURCE, ...args] : [await binary(), ...args];
  const proc = Bun.spawn(command, {
    cwd: options.cwd ?? tmpdir(),
    stdin: options.stdin === undefined ? "ignore" : new Blob([options.stdin]),
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1", ...options.env },
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, stdout, stderr };
}
