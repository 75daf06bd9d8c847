// Builds the release: `bun run release [--targets linux-x64,…] [--out DIR]`.
// One binary per platform (the runtimes of the others come from the npm registry), each checked
// for the executable format its platform loads, then SHA256SUMS over them and RELEASE.md.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { parseArgs } from "node:util";
import pkg from "../package.json" with { type: "json" };
import { versionInfo } from "../src/version.ts";
import { buildBinary, buildInfo } from "./build.ts";

/** An executable format, as far as telling the platforms apart needs. */
export type Format =
  | "elf-x64"
  | "elf-x64-musl"
  | "elf-arm64"
  | "macho-x64"
  | "macho-arm64"
  | "pe-x64";

/** The release's platforms: file name suffix, compile target, the format it must have. */
export const PLATFORMS = {
  "linux-x64": { target: "bun-linux-x64", format: "elf-x64" },
  "linux-x64-baseline": { target: "bun-linux-x64-baseline", format: "elf-x64" },
  "linux-x64-musl": { target: "bun-linux-x64-musl", format: "elf-x64-musl" },
  "linux-arm64": { target: "bun-linux-arm64", format: "elf-arm64" },
  "darwin-x64": { target: "bun-darwin-x64", format: "macho-x64" },
  "darwin-arm64": { target: "bun-darwin-arm64", format: "macho-arm64" },
  "windows-x64": { target: "bun-windows-x64", format: "pe-x64" },
} as const satisfies Record<string, { target: Bun.Build.CompileTarget; format: Format }>;

export type Platform = keyof typeof PLATFORMS;
const isPlatform = (name: string): name is Platform => Object.hasOwn(PLATFORMS, name);

/** `runtape-<version>-<platform>[.exe]`. */
export const binaryName = (platform: Platform) =>
  `runtape-${pkg.version}-${platform}${platform.startsWith("windows") ? ".exe" : ""}`;

/**
 * The format of an executable from its first 4 KB: ELF (machine, and musl by its program
 * interpreter), Mach-O (CPU type) or PE (machine); null for anything else.
 */
export function executableFormat(bytes: Uint8Array): Format | null {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 64) return null;
  if (view.getUint32(0) === 0x7f454c46) {
    const machine = view.getUint16(18, true);
    if (machine === 0xb7) return "elf-arm64";
    if (machine !== 0x3e) return null;
    const head = new TextDecoder("latin1").decode(bytes.subarray(0, 4096));
    return head.includes("/ld-musl-") ? "elf-x64-musl" : "elf-x64";
  }
  if (view.getUint32(0, true) === 0xfeedfacf) {
    const cpu = view.getUint32(4, true);
    return cpu === 0x01000007 ? "macho-x64" : cpu === 0x0100000c ? "macho-arm64" : null;
  }
  if (view.getUint16(0) === 0x4d5a) {
    const pe = view.getUint32(0x3c, true);
    if (pe + 6 > bytes.length || view.getUint32(pe) !== 0x50450000) return null;
    return view.getUint16(pe + 4, true) === 0x8664 ? "pe-x64" : null;
  }
  return null;
}

const sha256 = (bytes: Uint8Array) => new Bun.CryptoHasher("sha256").update(bytes).digest("hex");
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

/** One built binary of the release. */
export interface Artifact {
  platform: Platform;
  file: string;
  bytes: number;
  sha256: string;
  seconds: number;
}

/** Builds `platforms` into `out` with SHA256SUMS and RELEASE.md; returns what it built. */
export async function release(
  out: string,
  platforms: readonly Platform[] = Object.keys(PLATFORMS) as Platform[],
  log: (line: string) => void = () => {},
): Promise<Artifact[]> {
  mkdirSync(out, { recursive: true });
  for (const stale of ["SHA256SUMS", "RELEASE.md", ...platforms.map(binaryName)]) {
    rmSync(join(out, stale), { force: true });
  }
  const artifacts: Artifact[] = [];
  for (const platform of platforms) {
    const { target, format } = PLATFORMS[platform];
    const file = binaryName(platform);
    const start = performance.now();
    await buildBinary({ outfile: join(out, file), target });
    const bytes = readFileSync(join(out, file));
    const found = executableFormat(bytes);
    if (found !== format)
      throw new Error(`${file}: expected ${format}, found ${found ?? "unknown"}`);
    const seconds = (performance.now() - start) / 1000;
    artifacts.push({ platform, file, bytes: bytes.length, sha256: sha256(bytes), seconds });
    log(`${file}  ${mb(bytes.length)}  ${format}  ${seconds.toFixed(1)} s`);
  }
  writeFileSync(join(out, "SHA256SUMS"), artifacts.map((a) => `${a.sha256}  ${a.file}\n`).join(""));
  writeFileSync(join(out, "RELEASE.md"), releaseNotes(artifacts));
  return artifacts;
}

function releaseNotes(artifacts: readonly Artifact[]): string {
  const { commit, built } = buildInfo("");
  const { layout, reads } = versionInfo();
  return [
    `# runtape ${pkg.version}`,
    "",
    `- commit: ${commit ?? "unknown"}`,
    `- built: ${built} with Bun ${Bun.version} (the runtime inside every binary)`,
    `- runs-database layout: version ${layout} (reads ${reads.join(", ")})`,
    "",
    "| file | platform | size |",
    "|---|---|---|",
    ...artifacts.map((a) => `| \`${a.file}\` | ${PLATFORMS[a.platform].target} | ${mb(a.bytes)} |`),
    "",
    "Verify with `sha256sum -c SHA256SUMS` (macOS: `shasum -a 256 -c SHA256SUMS`).",
    "",
  ].join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: { targets: { type: "string" }, out: { type: "string", default: "dist/release" } },
  });
  const names = values.targets?.split(",") ?? Object.keys(PLATFORMS);
  const unknown = names.find((n) => !isPlatform(n));
  if (unknown !== undefined) {
    console.error(`release: unknown target ${unknown} (${Object.keys(PLATFORMS).join(", ")})`);
    process.exit(2);
  }
  const start = performance.now();
  try {
    const built = await release(values.out, names as Platform[], (line) => console.error(line));
    const total = ((performance.now() - start) / 1000).toFixed(1);
    console.error(
      `${built.length} binaries, SHA256SUMS and RELEASE.md in ${relative(".", values.out) || "."} (${total} s)`,
    );
  } catch (error) {
    for (const e of (error as AggregateError).errors ?? [error]) console.error(`release: ${e}`);
    process.exit(1);
  }
}
