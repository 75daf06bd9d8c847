import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "../..");
const SOURCE = join(ROOT, "bin/runtape.ts");

/**
 * How a test runs the CLI: `main(argv)` in this process (the default: fast, for everything that
 * does not need a process of its own), the compiled single-file binary, or the source entry point
 * under Bun (both spawned: stdin, signals, terminals, pipes, exit codes as the shell sees them).
 */
export type Via = "main" | "binary" | "source";
/** The spawned ways, for the smoke tests that must hold for both. */
export const SPAWNED: readonly Via[] = ["binary", "source"];

let built: Promise<string> | undefined;

/** Builds the binary once per test process, with the project's own build script, into a temp dir. */
export function binary(): Promise<string> {
  built ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), "runtape-bin-"));
    // 100 MB per test process: left behind, they filled the shared machine's disk.
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
    const outfile = join(dir, "runtape");
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
  /** A spawned run's command line starts with these (a shell that sets limits, then `exec "$@"`). */
  under?: readonly string[];
}

/** The command line that runs `runtape args…` by `via` (a spawned one: binary by default). */
export async function command(args: readonly string[], via: Via = "binary"): Promise<string[]> {
  if (via === "main") throw new Error("main(argv) runs in-process: no command line");
  return via === "source" ? [process.execPath, SOURCE, ...args] : [await binary(), ...args];
}

/**
 * A user's shell, for tests of what a person sees: only PATH, HOME and TMPDIR of the test's
 * environment, every other variable unset. The test runner's NODE_ENV=test, and CI=true or any
 * CI service's own variable, switch consola to its plain reporter ("[fail]" for the user's "✖").
 * NO_COLOR stays as a run sets it unless the test says otherwise.
 */
export const USER_ENV: Readonly<Record<string, string | undefined>> = Object.fromEntries(
  Object.keys(process.env)
    .filter((name) => !["PATH", "HOME", "TMPDIR", "NO_COLOR"].includes(name))
    .map((name) => [name, undefined]),
);

/** The environment of a run: the test's own, NO_COLOR set, then `env` (undefined unsets a variable). */
const environment = (env: RunOptions["env"]) => ({ ...process.env, NO_COLOR: "1", ...env });

// In-process runs take turns: each one owns the working directory, environment and output.
let turn: Promise<unknown> = Promise.resolve();

/**
 * `main(argv)` in this process (test/cli/inprocess.ts), in `cwd` with `env` applied: the same
 * result as a spawned run. Runs one at a time, even when started together.
 */
function inProcess(args: readonly string[], options: RunOptions): Promise<Result> {
  const run = async (): Promise<Result> => {
    const { cli } = await import("./inprocess.ts");
    const env = { NO_COLOR: "1", ...options.env };
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    try {
      for (const [k, v] of Object.entries(env)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      return await cli(args, options.cwd ?? tmpdir());
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  };
  const result = turn.then(run, run);
  turn = result.catch(() => undefined);
  return result;
}

/**
 * Runs `runtape args…` to completion and returns exit code and output: in-process unless `via`
 * says otherwise or there is `stdin` to feed (then through the binary).
 */
export async function runtape(args: readonly string[], options: RunOptions = {}): Promise<Result> {
  const via = options.via ?? (options.stdin === undefined ? "main" : "binary");
  if (via === "main") return inProcess(args, options);
  const proc = Bun.spawn([...(options.under ?? []), ...(await command(args, via))], {
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
