// Compiles the CLI into one self-contained executable: `bun run build [OUTFILE]`.
// The binary must behave the same wherever it is started, so it loads no .env, bunfig.toml,
// package.json or tsconfig.json from the working directory.
const outfile = process.argv[2] ?? "dist/runtape";

const result = await Bun.build({
  entrypoints: [new URL("../bin/runtape.ts", import.meta.url).pathname],
  minify: true,
  bytecode: true,
  format: "esm",
  // Bun.build inlines the builder's NODE_ENV otherwise: built under `bun test` (NODE_ENV=test),
  // the binary would keep consola's plain test-runner output at every user's terminal.
  define: { "process.env.NODE_ENV": JSON.stringify("production") },
  compile: {
    outfile,
    autoloadDotenv: false,
    autoloadBunfig: false,
    autoloadPackageJson: false,
    autoloadTsconfig: false,
  },
});
if (!result.success) {
  for (const log of result.logs) console.error(log);
  process.exit(1);
}
