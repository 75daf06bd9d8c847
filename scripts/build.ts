// Compiles the CLI into one self-contained executable: `bun run build [OUTFILE]`.
// The binary must behave the same wherever it is started, so it loads no .env, bunfig.toml,
// package.json or tsconfig.json from the working directory.
import type { BuildInfo } from "../src/version.ts";
import { WORKER_MODULES } from "../src/worker-module.ts";

const ROOT = new URL("..", import.meta.url).pathname;

/** How to compile: for which platform (`bun-linux-arm64`, …; default this one) and how. */
export interface BuildOptions {
  outfile: string;
  /** A `bun build --compile` target; the runtime of another platform comes from the npm registry. */
  target?: Bun.Build.CompileTarget;
  /** Default true: precompiled bytecode and minified source start about twice as fast. */
  bytecode?: boolean;
  minify?: boolean;
  /** Default true: each command's code is a chunk of its own, loaded when the command runs. */
  splitting?: boolean;
}

/** This checkout's commit, `-dirty` when tracked files differ from it; null outside git. */
function commit(): string | null {
  const git = (...args: string[]) => Bun.spawnSync(["git", ...args], { cwd: ROOT });
  const head = git("rev-parse", "HEAD");
  if (head.exitCode !== 0) return null;
  const dirty = git("status", "--porcelain", "--untracked-files=no").stdout.length > 0;
  return `${head.stdout.toString().trim()}${dirty ? "-dirty" : ""}`;
}

/** The build's facts that `runtape --version --verbose` shows; SOURCE_DATE_EPOCH pins the date. */
export function buildInfo(target: string): BuildInfo {
  const epoch = process.env.SOURCE_DATE_EPOCH;
  const date = epoch === undefined ? new Date() : new Date(Number(epoch) * 1000);
  return { commit: commit(), built: date.toISOString().replace(/\.\d+Z$/, "Z"), target };
}

/** The target name of the platform this runs on, as `bun build --compile` spells it. */
export const hostTarget = () => `bun-${process.platform}-${process.arch}`;

/** Compiles bin/runtape.ts into `outfile`; throws with the bundler's messages on failure. */
export async function buildBinary(options: BuildOptions): Promise<void> {
  const target = options.target ?? hostTarget();
  const result = await Bun.build({
    // Each worker thread is a module of its own in the binary (src/worker-module.ts).
    entrypoints: [`${ROOT}bin/runtape.ts`, ...WORKER_MODULES.map((path) => `${ROOT}${path}`)],
    // Names stay: a --verbose stack trace must say `openRunsDb`, not `M`; renaming saves little.
    minify: (options.minify ?? true) && { whitespace: true, syntax: true, identifiers: false },
    bytecode: options.bytecode ?? true,
    format: "esm",
    // One 1.5 MB bundle cost `--help` about 8 ms to load even though it ran none of it.
    splitting: options.splitting ?? true,
    define: {
      // Bun.build inlines the builder's NODE_ENV otherwise: built under `bun test` (NODE_ENV=test),
      // the binary would keep consola's plain test-runner output at every user's terminal.
      "process.env.NODE_ENV": JSON.stringify("production"),
      RUNTAPE_BUILD: JSON.stringify(buildInfo(target)),
    },
    compile: {
      outfile: options.outfile,
      ...(options.target === undefined ? {} : { target: options.target }),
      autoloadDotenv: false,
      autoloadBunfig: false,
      autoloadPackageJson: false,
      autoloadTsconfig: false,
    },
  });
  if (!result.success) throw new AggregateError(result.logs, `build of ${options.outfile} failed`);
}

if (import.meta.main) {
  try {
    await buildBinary({ outfile: process.argv[2] ?? "dist/runtape" });
  } catch (error) {
    for (const log of (error as AggregateError).errors ?? [error]) console.error(log);
    process.exit(1);
  }
}
