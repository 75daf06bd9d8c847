import { chmodSync, mkdtempSync, readFileSync, rmSync, statfsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { binary } from "./cli/run.ts";

/**
 * Where the run's temporary files go: TMPDIR when the user set it, else the memory filesystem
 * /dev/shm when it has room (the suite makes hundreds of SQLite files; on a disk their syncs
 * took half of each file's making), else /tmp.
 */
function temporaryBase(): string {
  if (process.env.TMPDIR) return tmpdir();
  try {
    const shm = statfsSync("/dev/shm");
    // Room for a full `npm test`: its release builds and packs are a few 100 MB binaries.
    if (shm.bavail * shm.bsize >= 4 * 2 ** 30) return "/dev/shm";
  } catch {
    // no /dev/shm (macOS, some containers)
  }
  return tmpdir();
}

/**
 * Whether this run is the whole suite (`bun test`, `npm test`): no file or test name filter on
 * its command line (Linux's /proc tells; elsewhere, say no). A `--parallel` worker that isolates
 * its files loads this preload once per file: it says no, or each file would build the binary.
 */
function wholeSuite(): boolean {
  try {
    const args = readFileSync("/proc/self/cmdline", "utf8").split("\0").filter(Boolean);
    if (args.includes("--isolate")) return false;
    // Flags, and the values of flags given apart (`--timeout 60000`), filter nothing.
    return args.slice(args.indexOf("test") + 1).every((a) => a.startsWith("-") || /^\d+$/.test(a));
  } catch {
    return false;
  }
}

// Every temporary file of one test process (and of the processes it spawns, which inherit TMPDIR)
// lives under one folder that is removed when it ends: a run makes hundreds of
// databases and binaries, and on a shared machine they filled the disk.
const root = mkdtempSync(join(temporaryBase(), "runtape-tests-"));
// As open as /tmp itself: some tests run commands as an unprivileged user.
chmodSync(root, 0o1777);
process.env.TMPDIR = root;
removeWhenGone(root);

/**
 * Removes `root` once this process has ended, whatever the end. A preload's afterAll cannot: under
 * `bun test --parallel` each worker runs the preload once and the hook fires after its first file,
 * and workers leave without "exit" events. So a detached shell watches this process and removes
 * the folder after it (also after a crash or a kill, which left folders behind before).
 */
function removeWhenGone(root: string): void {
  try {
    Bun.spawn(
      [
        "sh",
        "-c",
        'while kill -0 "$0" 2>/dev/null; do sleep 1; done; rm -rf "$1"',
        `${process.pid}`,
        root,
      ],
      { stdio: ["ignore", "ignore", "ignore"], detached: true },
    ).unref();
  } catch {
    process.once("exit", () => rmSync(root, { recursive: true, force: true })); // no sh
  }
}

// The whole suite runs the compiled binary's smoke tests: build it now, on the core the tests
// leave idle, rather than when the first of them needs it. (A failed build fails those tests.)
if (wholeSuite()) binary().catch(() => {});
