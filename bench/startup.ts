/**
 * `bun bench/startup.ts [--quick]`: start-up of the compiled binary built five ways (plain,
 * minified, bytecode, both, each split into chunks; and both as one bundle) against a compiled
 * hello world (the fastest a Bun binary starts), timed interleaved round by round so a busy
 * machine slows all alike. Each variant's output must equal the plain build's, or its figures do
 * not count.
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildBinary } from "../scripts/build.ts";

const ROUNDS = process.argv.includes("--quick") ? 10 : 60;
const dir = mkdtempSync(join(tmpdir(), "runtape-startup-"));
const log = (line: string) => process.stderr.write(`${line}\n`);

const VARIANTS = {
  plain: { minify: false, bytecode: false },
  minify: { minify: true, bytecode: false },
  bytecode: { minify: false, bytecode: true },
  "bytecode+minify": { minify: true, bytecode: true },
  "one bundle": { minify: true, bytecode: true, splitting: false },
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

function timed(cmd: string[]): number {
  const start = performance.now();
  const { exitCode } = Bun.spawnSync(cmd, { cwd: dir, stdout: "ignore", stderr: "ignore" });
  if (exitCode !== 0) throw new Error(`${cmd.join(" ")} exited ${exitCode}`);
  return performance.now() - start;
}

const output = (cmd: string[]) =>
  Bun.spawnSync(cmd, { cwd: dir, env: { ...process.env, NO_COLOR: "1" } }).stdout.toString();

try {
  log(`building ${Object.keys(VARIANTS).length} variants and a hello world into ${dir}`);
  const bins: Record<string, string> = {};
  for (const [name, options] of Object.entries(VARIANTS)) {
    bins[name] = join(dir, name);
    await buildBinary({ outfile: bins[name], ...options });
  }
  const hello = join(dir, "hello");
  // console.log: process.stdout is a Node stream made on first use, ~10 ms of a 15 ms start.
  await Bun.write(`${hello}.ts`, 'console.log("hello");\n');
  const built = await Bun.build({
    entrypoints: [`${hello}.ts`],
    minify: true,
    bytecode: true,
    format: "esm",
    // As the binary is built (scripts/build.ts): nothing read from the working directory.
    compile: {
      outfile: hello,
      autoloadDotenv: false,
      autoloadBunfig: false,
      autoloadPackageJson: false,
      autoloadTsconfig: false,
    },
  });
  if (!built.success) throw new AggregateError(built.logs, "hello world build failed");
  timed([bins.plain as string, "record", "small.db", "--bars", "50"]);

  const commands = { "--help": ["--help"], inspect: ["inspect", "small.db"] };
  const checks = [
    ...Object.values(commands),
    ["inspect", "small.db", "--json"],
    ["replay", "small.db"],
  ];
  const same = Object.fromEntries(
    Object.entries(bins).map(([name, bin]) => [
      name,
      checks.every((args) => output([bin, ...args]) === output([bins.plain as string, ...args])),
    ]),
  );

  const times = new Map<string, number[]>();
  const runs: [string, string[]][] = [["hello world", [hello]]];
  for (const [name, bin] of Object.entries(bins)) {
    for (const [label, args] of Object.entries(commands))
      runs.push([`${name} ${label}`, [bin, ...args]]);
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const [key, cmd] of runs) times.set(key, [...(times.get(key) ?? []), timed(cmd)]);
  }
  const ms = (key: string) => median(times.get(key) ?? []);
  const fastest = (key: string) => Math.min(...(times.get(key) ?? []));
  const base = ms("hello world");
  console.log(
    `median of ${ROUNDS} interleaved rounds; baseline: a compiled hello world, ${base.toFixed(1)} ms`,
  );
  console.log(`fastest hello world ${fastest("hello world").toFixed(1)} ms`);
  console.log(
    "variant          size      --help (ms)  fastest  ×hello  inspect (ms)  fastest  same output",
  );
  for (const [name, bin] of Object.entries(bins)) {
    const size = `${(statSync(bin).size / 1024 / 1024).toFixed(1)} MB`;
    const help = ms(`${name} --help`);
    console.log(
      [
        name.padEnd(15),
        size.padEnd(9),
        help.toFixed(1).padStart(11),
        fastest(`${name} --help`).toFixed(1).padStart(8),
        (help / base).toFixed(2).padStart(7),
        ms(`${name} inspect`).toFixed(1).padStart(13),
        fastest(`${name} inspect`).toFixed(1).padStart(8),
        same[name] ? "  yes" : "  NO",
      ].join(" "),
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
