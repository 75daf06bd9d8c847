import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { closeSync, existsSync, openSync, readFileSync, readSync, rmSync } from "node:fs";
import { join } from "node:path";
import pkg from "../package.json" with { type: "json" };
import { binaryName, executableFormat, PLATFORMS, type Platform } from "../scripts/release.ts";
import { SCHEMA_VERSION } from "../src/index.ts";
import { binary } from "./cli/run.ts";
import { tempDir } from "./helpers.ts";

const ROOT = join(import.meta.dir, "..");
// The release is heavy (100 MB a binary): build only the platforms that run here (arm64 under
// qemu). `bun run release` checks the executable format of each of the seven as it builds them.
const RUNNABLE: Platform[] = ["linux-x64", "linux-x64-baseline"];
const BUILT: Platform[] = [...RUNNABLE, "linux-arm64"];
const ON_LINUX_X64 = process.platform === "linux" && process.arch === "x64";
const NOT_HERE = "skipped: the release binaries are checked on a linux-x64 machine";

// qemu-user runs the arm64 binary; its dynamic loader and libc come from libc6-arm64-cross.
const QEMU = Bun.which("qemu-aarch64");
const ARM64_ROOT = "/usr/aarch64-linux-gnu";
const HAS_QEMU = QEMU !== null && existsSync(join(ARM64_ROOT, "lib/ld-linux-aarch64.so.1"));
const NO_QEMU =
  "skipped: needs qemu-aarch64 (qemu-user) and libc6-arm64-cross: apt-get install qemu-user libc6-arm64-cross";

let out = "";
beforeAll(async () => {
  if (!ON_LINUX_X64) return;
  out = tempDir();
  const proc = Bun.spawn(
    [process.execPath, "scripts/release.ts", "--targets", BUILT.join(","), "--out", out],
    { cwd: ROOT, stdout: "ignore", stderr: "pipe" },
  );
  const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`release failed: ${stderr}`);
}, 300_000); // a bound against a hang only: 100 MB builds on a busy machine
// Three 100 MB files per run of the suite: not left in the temp folder.
afterAll(() => {
  if (out !== "") rmSync(out, { recursive: true, force: true });
});

async function exec(cmd: string[], cwd: string) {
  const proc = Bun.spawn(cmd, {
    cwd,
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1" },
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, stdout, stderr };
}

/** The first 4 KB of a file: all that executableFormat reads. */
function head4k(path: string): Uint8Array {
  const fd = openSync(path, "r");
  try {
    const bytes = new Uint8Array(4096);
    return bytes.subarray(0, readSync(fd, bytes, 0, 4096, 0));
  } finally {
    closeSync(fd);
  }
}

/** The commit the release was built from, as `git rev-parse HEAD` has it; null outside git. */
function head(): string | null {
  const git = Bun.spawnSync(["git", "rev-parse", "HEAD"], { cwd: ROOT });
  return git.exitCode === 0 ? git.stdout.toString().trim() : null;
}

/**
 * Runs `cmd` (a release binary, maybe under qemu) from an empty folder: its version facts, and a
 * demo record that the dev build finds equal to its own (diff ignores only the wall clock).
 */
async function checkRelease(cmd: string[], platform: Platform, bars: number): Promise<string> {
  const dir = tempDir();
  const run = (...args: string[]) => exec([...cmd, ...args], dir);
  const info = JSON.parse((await run("version", "--json")).stdout);
  expect(info).toMatchObject({
    version: pkg.version,
    target: PLATFORMS[platform].target,
    bun: Bun.version,
    layout: SCHEMA_VERSION,
  });
  expect(Date.parse(info.built)).not.toBeNaN();
  const commit = head();
  if (commit === null) expect(info.commit).toBeNull();
  else expect(info.commit).toStartWith(commit);

  const recorded = await run("record", "--bars", String(bars), "--run-id", "r");
  expect([recorded.code, recorded.stdout]).toEqual([0, "r\n"]);
  const dev = await binary();
  const devRecorded = await exec(
    [dev, "record", "dev.db", "--bars", String(bars), "--run-id", "r"],
    dir,
  );
  expect(devRecorded.code).toBe(0);
  expect(await exec([dev, "diff", "runs.db", "dev.db"], dir)).toMatchObject({ code: 0 });
  return dir;
}

describe.skipIf(!ON_LINUX_X64)(`release${ON_LINUX_X64 ? "" : ` (${NOT_HERE})`}`, () => {
  test("SHA256SUMS lists every binary, and sha256sum -c verifies them", async () => {
    const sums = readFileSync(join(out, "SHA256SUMS"), "utf8");
    expect(
      sums
        .split("\n")
        .filter(Boolean)
        .map((l) => l.split("  ")[1]),
    ).toEqual(BUILT.map(binaryName));
    const check = await exec(["sha256sum", "-c", "SHA256SUMS"], out);
    expect(check.code).toBe(0);
    expect(check.stdout).toBe(BUILT.map((p) => `${binaryName(p)}: OK\n`).join(""));
    const notes = readFileSync(join(out, "RELEASE.md"), "utf8");
    for (const p of BUILT) expect(notes).toContain(binaryName(p));
    expect(notes).toContain(`Bun ${Bun.version}`);
  });

  test("every binary has the executable format of its platform", () => {
    const formats = BUILT.map((p) => [p, executableFormat(head4k(join(out, binaryName(p))))]);
    expect(formats).toEqual(BUILT.map((p) => [p, PLATFORMS[p].format]));
    expect(executableFormat(readFileSync(join(ROOT, "schema.sql")))).toBeNull();
  });

  test.each(RUNNABLE)("%s runs from an empty folder as the dev build does", async (platform) => {
    const bin = join(out, binaryName(platform));
    const dir = await checkRelease([bin], platform, 60);
    const dev = await binary();
    expect(await exec([bin, "--version"], dir)).toEqual({
      code: 0,
      stdout: `${pkg.version}\n`,
      stderr: "",
    });
    expect((await exec([bin, "--version", "--verbose"], dir)).stdout).toContain(
      `target  ${PLATFORMS[platform].target}\n`,
    );
    for (const args of [["replay"], ["inspect"], ["inspect", "--run", "r", "--json"]]) {
      const [mine, theirs] = [await exec([bin, ...args], dir), await exec([dev, ...args], dir)];
      expect([args, mine.code, mine.stdout]).toEqual([args, 0, theirs.stdout]);
      expect(mine.stdout.length).toBeGreaterThan(0);
    }
  });

  test.skipIf(!HAS_QEMU)(
    `linux-arm64 runs under qemu-user as the dev build does${HAS_QEMU ? "" : ` (${NO_QEMU})`}`,
    async () => {
      const cmd = [QEMU ?? "qemu-aarch64", "-L", ARM64_ROOT, join(out, binaryName("linux-arm64"))];
      // Every emulated start takes seconds: the version facts and a record are enough.
      await checkRelease(cmd, "linux-arm64", 20);
    },
    120_000, // a bound against a hang only: every command starts an emulated Bun
  );
});
