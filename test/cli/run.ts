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

/** The command line that runs `runtape args…` by `via`. */
export async function command(args: readonly string[], via: Via = "binary"): Promise<string[]> {
  return via === "source" ? [process.execPath, SOURCE, ...args] : [await binary(), ...args];
}

/** The environment of a run: the test's own, NO_COLOR set, then `env` (undefined unsets a variable). */
const environment = (env: RunOptions["env"]) => ({ ...process.env, NO_COLOR: "1", ...env });

/** Runs `runtape args…` to completion and returns exit code and output. */
export async function runtape(args: readonly string[], options: RunOptions = {}): Promise<Result> {
  const proc = Bun.spawn(await command(args, options.via), {
    cwd: options.cwd ?? tmpdir(),
    stdin: options.stdin === undefined ? "ignore" : new Blob([options.stdin]),
    stdout: "pipe",
    stderr: "pipe",
    env: environment(options.env),
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, stdout, stderr };
}

/** Starts `runtape args…` with stdin, stdout and stderr piped, for a test that talks to it while it runs. */
export async function spawnRuntape(
  args: readonly string[],
  options: Omit<RunOptions, "stdin"> = {},
) {
  return Bun.spawn(await command(args, options.via), {
    cwd: options.cwd ?? tmpdir(),
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
    env: environment(options.env),
  });
}
