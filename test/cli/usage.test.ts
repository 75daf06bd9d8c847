import { describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ArgsDef, CommandDef } from "citty";
import pkg from "../../package.json" with { type: "json" };
import backtest from "../../src/cli/backtest.ts";
import diff from "../../src/cli/diff.ts";
import inspect from "../../src/cli/inspect.ts";
import record from "../../src/cli/record.ts";
import recover from "../../src/cli/recover.ts";
import replay from "../../src/cli/replay.ts";
import report from "../../src/cli/report.ts";
import runs from "../../src/cli/runs.ts";
import version from "../../src/cli/version.ts";
import { EVENT_TYPES, SCHEMA_VERSION } from "../../src/index.ts";
import { tempDir } from "../helpers.ts";
import { type Result, runtape, SPAWNED } from "./run.ts";
import { lines } from "./support.ts";

const COMMANDS = {
  record,
  replay,
  inspect,
  diff,
  recover,
  backtest,
  version,
  report,
  runs,
} as Record<string, CommandDef<ArgsDef>>;

/** An error report: `runtape: <message>` on the first line, at most hints after it, no stack. */
function expectReport(result: Result, args: string[], code: number, message: string) {
  const [first, ...rest] = lines(result.stderr);
  expect([args, result.code, first]).toEqual([args, code, expect.stringContaining(message)]);
  expect(first).toStartWith("runtape: ");
  expect([args, rest.filter((l) => !l.startsWith("  hint: "))]).toEqual([args, []]);
  expect(result.stdout).toBe("");
}

describe("runtape usage", () => {
  const run = (args: string[], cwd = tempDir()) => runtape(args, { cwd });

  test("--help lists the commands; <command> --help lists every option of the command", async () => {
    const help = await run(["--help"]);
    expect([help.code, help.stderr]).toEqual([0, ""]);
    for (const [name, command] of Object.entries(COMMANDS)) {
      expect(help.stdout).toContain(name);
      expect(help.stdout).toContain((command.meta as { description: string }).description);
      const own = await run([name, "--help"]);
      expect([name, own.code, own.stderr]).toEqual([name, 0, ""]);
      for (const [arg, def] of Object.entries(command.args ?? {})) {
        const shown = def.type === "positional" ? arg.toUpperCase() : `--${arg}`;
        expect([name, own.stdout.includes(shown)]).toEqual([name, true]);
      }
    }
    expect((await run(["-h"])).stdout).toBe(help.stdout);
  });

  test("--help says what DB and --where take, in the same words in every command that takes them", async () => {
    /** The help line of `name` that starts with `start`, its padding collapsed. */
    const helpLine = async (name: string, start: string) =>
      lines((await run([name, "--help"])).stdout)
        .map((l) => l.trim().replace(/ {2,}/g, "  "))
        .find((l) => l.startsWith(start));
    const where =
      "(or run_id, name, status, tag.NAME, metric.NAME) has this value; also KEY!=VALUE, and KEY<VALUE, <=, >, >= for numbers; repeatable";
    for (const [name, verb] of [
      ["runs", "Only"],
      ["report", "Compare"],
      ["export", "Only"],
      ["merge", "Only"],
      ["rm", "Remove"],
      ["tag", "Tag"],
      ["push", "Only"],
      ["pull", "Only"],
    ]) {
      expect([name, await helpLine(name as string, "--where")]).toEqual([
        name,
        `--where=<KEY=VALUE>  ${verb} the runs whose config path ${where}`,
      ]);
    }
    for (const name of ["inspect", "replay", "report", "runs", "export", "rm"]) {
      expect([name, await helpLine(name, "DB")]).toEqual([
        name,
        "DB  Runs database, or a postgres:// store URL (Default: ./runs.db)",
      ]);
    }
  });

  test("--version prints package.json's version; -v --verbose and version say what --version --verbose does", async () => {
    for (const flag of ["--version", "-v"]) {
      const result = await run([flag]);
      expect([result.code, result.stdout, result.stderr]).toEqual([0, `${pkg.version}\n`, ""]);
    }
    const verbose = await run(["--version", "--verbose"]);
    expect(lines(verbose.stdout)[0]).toBe(`runtape ${pkg.version}`);
    expect((await run(["-v", "--verbose"])).stdout).toBe(verbose.stdout);
    expect((await run(["version"])).stdout).toBe(verbose.stdout);
  });

  test("usage errors exit 2 with one line (and a hint) and create nothing", async () => {
    const cases: [string[], string][] = [
      [[], "no command given"],
      [["frobnicate"], 'unknown command "frobnicate"'],
      [["--bogus", "record"], "unknown option --bogus"],
      [["record", "--bogus"], "unknown option --bogus"],
      [["record", "-v"], "unknown option -v"], // -v is --version, and only alone
      [["record", "--bogus=1"], "unknown option --bogus"],
      [["inspect", "a.db", "b.db"], 'unexpected argument "b.db"'],
      [["diff", "a.db"], "Missing required positional argument"],
      [["replay", "--limit"], "option --limit needs a value"],
      [["replay", "--limit", "--types", "FillEvent"], "option --limit needs a value"],
      [["replay", "--limit", "-1"], "--limit takes a whole number"],
      [["replay", "--limit", "1.5"], "--limit takes a whole number"],
      [
        ["replay", "--from", "yesterday"],
        "--from takes nanoseconds since the epoch or an ISO-8601",
      ],
      [["replay", "--from", "2024-02-30"], "--from takes nanoseconds"],
      [["replay", "--to", "2024-03-04T25:00Z"], "--to takes nanoseconds"],
      [["replay", "--to", "9223372036854775808"], "--to is out of range"],
      [["replay", "--types", "Nope"], '--types: unknown event type "Nope"'],
      [["replay", "--types", ""], "--types needs at least one event type"],
      [
        ["replay", "--exclude-types", "FillEvent,Nope"],
        '--exclude-types: unknown event type "Nope"',
      ],
      [["replay", "--symbols", ","], "--symbols needs at least one symbol"],
      [["replay", "--format", "xml"], '--format takes one of ndjson, pretty (got "xml")'],
      [["replay", "--format=xml"], '--format takes one of ndjson, pretty (got "xml")'],
      [["inspect", "--json", "--int64", "big"], '--int64 takes one of number, string (got "big")'],
      [["replay", "--speed", "0"], "--speed takes a positive number"],
      [["replay", "--speed", "0x10"], '--speed takes a positive number (got "0x10")'],
      [["replay", "--threads", "3"], '--threads takes one of 1, 2 (got "3")'],
      [["replay", "--threads", "1", "--speed", "2"], "--threads applies to NDJSON on stdout"],
      [["replay", "--threads", "2", "--into", "b.db"], "--threads applies to NDJSON on stdout"],
      [["record", "--bars", "0"], "--bars takes a whole number"],
      [["record", "--seed", "x"], "--seed takes a whole number"],
      [
        ["record", "--period", "WEEK"],
        '--period takes one of SECOND, MINUTE, HOUR, DAY (got "WEEK")',
      ],
      [["record", "--journal", "memory"], '--journal takes one of wal, rollback (got "memory")'],
      [["record", "--symbols", ""], "--symbols needs at least one symbol"],
      [["replay", "-limit", "1"], "unknown option -limit"], // citty would read -l -i -m -i -t
      [["record", "-run-id", "abc"], "unknown option -run-id"],
      [["record", "--thread=banana"], 'option --thread takes no value (got "banana")'],
      [["inspect", "--json=yes"], 'option --json takes no value (got "yes")'],
      [["record", "x.db", "--bars", "2", "extra"], 'unexpected argument "extra"'],
      [["record", "x.db", "--bars", "2", "--", "extra"], 'unexpected argument "extra"'],
      [["backtest", "--strategy", "s.ts", "extra"], 'unexpected argument "extra"'],
      [["record", "--run", "a", "--run-id", "b"], "--run and --run-id name the same thing"],
      [["record", "--quiet", "--verbose"], "--quiet and --verbose ask for opposite things"],
      [["record", "out.ndjson"], "out.ndjson is named as NDJSON, but runs are recorded into"],
      [["tag", "a.db", "__proto__=x"], '"__proto__" cannot be a tag\'s key'],
      [
        ["backtest", "--strategy", "s.ts", "--param", "__proto__=1"],
        '"__proto__" cannot be a parameter',
      ],
      [["replay", "a.db", "--into", "copy.jsonl"], "copy.jsonl is named as NDJSON"],
      [["record", "--input", ""], "--input needs a file, or - for stdin"],
      [["export", "a.db", "--format", "csv", "--out", ""], "--out is required"],
      [["report", "a.db", "-o", ""], "--output needs a file name"],
      [["record", "--config", "[1]"], "--config must be a JSON object"],
      [["record", "--metadata", "{"], "--metadata is not valid JSON"],
      [
        [
          "export",
          "a.db",
          "--format",
          "csv",
          "--out",
          "o",
          "--indicator-columns",
          "--types",
          "FillEvent",
        ],
        "--indicator-columns applies to BarProcessed, which --types leaves out",
      ],
      [
        ["diff", "a.db", "b.db", "--exclude-types", EVENT_TYPES.join(",")],
        "--exclude-types leaves no event type to compare",
      ],
      [
        ["record", "--config", '{"a":{"b":[1e400]}}'],
        "--config holds a number no double holds: 1e400",
      ],
      [
        ["record", "--metadata", '{"a":-1e999}'],
        "--metadata holds a number no double holds: -1e999",
      ],
      [["record", "--input", "-", "--seed", "3"], "--seed applies to the demo, not to --input"],
      [["diff", "a.db", "b.db", "--tolerance", "x"], "--tolerance takes a number"],
      // Number() reads these as Infinity and 16: refused in the CLI's words, not the library's.
      [
        ["diff", "a.db", "b.db", "--tolerance", "1e309"],
        '--tolerance takes a number >= 0 (got "1e309")',
      ],
      [
        ["diff", "a.db", "b.db", "--tolerance", "Infinity"],
        '--tolerance takes a number >= 0 (got "Infinity")',
      ],
      [
        ["diff", "a.db", "b.db", "--tolerance", "0x10"],
        '--tolerance takes a number >= 0 (got "0x10")',
      ],
      [
        ["runs", "--where", "fast"],
        '--where takes KEY=VALUE, KEY!=VALUE or KEY<VALUE (<=, >, >=) (got "fast")',
      ],
      [
        ["runs", "--where", ">=3"],
        '--where takes KEY=VALUE, KEY!=VALUE or KEY<VALUE (<=, >, >=) (got ">=3")',
      ],
      [["runs", "--where", "fast>x"], '--where "fast>x": > compares numbers, and "x" is none'],
      [["runs", "--where", "fast>=1", "--where", "fast>=1"], '--where: "fast>=1" is given twice'],
      [
        ["runs", "--where", "run_id=a", "--where", "run_id=b"],
        '--where: "run_id" is given twice with =',
      ],
      [["runs", "--where", "fast=1", "--where", "fast=2"], '--where: "fast" is given twice with ='],
      [
        ["merge", "o.db", "a.db", "--where", "metric.total_pnl>0"],
        "merge cannot pick runs by a metric",
      ],
      [["runs", "--json", "--csv"], "--json and --csv exclude each other"],
      [["report", "--runs", "a,b", "--metric", "luck"], '--metric: unknown metric "luck"'],
      [["report", "--run", "a", "--runs", "a,b"], "--run reports one run"],
      [["report", "--metric", "winRate"], "--metric applies to a comparison"],
      // citty keeps the last of an option given twice: the first would be dropped unsaid.
      [["rename", "--run", "a", "--run", "b", "--to", "c"], '--run is given twice: "a" and "b"'],
      [["rename", "--run=a", "--run", "b", "--to", "c"], '--run is given twice: "a" and "b"'],
      [["tag", "a.db", "--run", "a", "--run", "b", "k=v"], "--run is given twice"],
      [["replay", "--run", "a", "--run=b"], '--run is given twice: "a" and "b"'],
      [["inspect", "--run", "a", "--run", "b"], "--run is given twice"],
      [["report", "--run", "a", "--run", "b"], "--run is given twice"],
      [["diff", "a.db", "b.db", "--run", "a", "--run", "b"], "--run is given twice"],
      [["replay", "--limit", "1", "--limit", "2"], '--limit is given twice: "1" and "2"'],
      [["report", "-o", "a.html", "-o", "b.html"], '-o is given twice: "a.html" and "b.html"'],
      [["report", "-o", "a.html", "--output", "b.html"], "-o and --output are the same option"],
      [["export", "--format", "csv", "--format", "parquet"], "--format is given twice"],
      [["replay", "--format", "pretty", "--format", "ndjson"], "--format is given twice"],
      [["runs", "--sort", "x", "--sort", "-x"], '--sort is given twice: "x" and "-x"'],
      [["diff", "a.db", "b.db", "--max", "1", "--max", "2"], "--max is given twice"],
      [["rm", "--run", "a", "--run", "a"], '--run: "a" is given twice'],
      [
        ["export", "--format", "csv", "--out", "o", "--run", "a", "--run=a"],
        '--run: "a" is given twice',
      ],
      [
        ["backtest", "--strategy", "s.ts", "--param", "fastPeriod=3", "--param=fastPeriod=4"],
        '--param: "fastPeriod" is given twice',
      ],
      [["tag", "a.db", "a=1", "a=2"], 'tags: "a" is given twice'],
      [["tag", "a.db", "a=1", "a="], 'tags: "a" is given twice'],
      [["runs", "--where", "status=completed", "--where", "status=failed"], '--where: "status"'],
      [["rm", "--run", "a", "--no-yes", "--yes"], "--no-yes and --yes ask for opposite things"],
      [["rename", "--run", "a", "--to", "--help"], "option --to needs a value"],
      [
        ["replay", "--types", "OrderExpired,FillEvent", "--exclude-types", "FillEvent"],
        "--types and --exclude-types both name FillEvent",
      ],
      // --int64 where no JSON is printed would be ignored.
      [
        ["inspect", "--int64", "string"],
        "--int64 applies to JSON and NDJSON output, not to inspect without --json",
      ],
      [["inspect", "--check", "--int64=number"], "not to inspect without --json"],
      [["runs", "--int64", "string"], "not to runs without --json"],
      [["runs", "--csv", "--int64", "string"], "not to --csv"],
      [["diff", "a.db", "b.db", "--int64", "string"], "not to diff without --json"],
      [["replay", "--format", "pretty", "--int64", "string"], "not to --format pretty"],
      [["replay", "--into", "b.db", "--int64", "string"], "not to --into"],
    ];
    const dir = tempDir();
    // All at once: none of them may touch a file.
    const results = await Promise.all(cases.map(([args]) => run(args, dir)));
    cases.forEach(([args, message], i) => {
      expectReport(results[i] as Result, args, 2, message);
    });
    expect(readdirSync(dir)).toEqual([]);
  });

  test.each([
    [["inspect", "runs.db", "--json", "--json"], "--json"],
    [["inspect", "--check", "--check"], "--check"],
    [["rm", "--run", "d1", "--yes", "--yes"], "--yes"],
    [["rm", "--run", "d1", "--no-yes", "--no-yes"], "--no-yes"],
    [["record", "--quiet", "--quiet"], "--quiet"],
  ])(
    "%j: an on/off option given twice is a usage error, as any other option",
    async (args, flag) => {
      const dir = tempDir();
      const result = await run(args, dir);
      expect([result.code, result.stdout, result.stderr]).toEqual([
        2,
        "",
        `runtape: ${flag} is given twice\n`,
      ]);
      expect(readdirSync(dir)).toEqual([]);
    },
  );

  test("failures exit 1 (diff 2) with one line, no stack trace, and create or change no file", async () => {
    const dir = tempDir();
    const text = "not a database at all\n".repeat(100);
    writeFileSync(join(dir, "notes.txt"), text);
    mkdirSync(join(dir, "sub"));
    expect(Bun.spawnSync(["mkfifo", join(dir, "pipe")]).exitCode).toBe(0);
    const recorded = await run(["record", "a.db", "--bars", "3"], dir);
    const runId = recorded.stdout.trim();
    // SQLite's -wal and -shm beside a database that was read are no new files.
    const files = () =>
      readdirSync(dir)
        .filter((f) => !/-(wal|shm)$/.test(f))
        .sort();
    const before = files();
    const cases: [string[], string][] = [
      [["replay", "missing.db"], "no runs database at missing.db"],
      [["inspect", "missing.db"], "no runs database at missing.db"],
      [["inspect"], "no runs database at ./runs.db"],
      [["diff", "a.db", "missing.db"], "no runs database at missing.db"],
      [["recover", "missing.db"], "no runs database at missing.db"],
      [["report", "missing.db"], "no runs database at missing.db"],
      [["runs", "missing.db"], "no runs database at missing.db"],
      [["report", "a.db", "--run", "nope"], 'no run with id "nope"'],
      [["report", "a.db", "--runs", "nope"], 'no run with id "nope"'],
      [["replay", "missing.db", "--into", "out.db"], "no runs database at missing.db"],
      [["inspect", "notes.txt"], "notes.txt: not an SQLite database"],
      [["replay", "notes.txt"], "notes.txt: not an SQLite database"],
      [["record", "notes.txt", "--bars", "3"], "notes.txt: not an SQLite database"],
      [["inspect", "sub"], "sub: is a directory"],
      [["inspect", "pipe"], "pipe: is a device, a pipe or a socket, not a database file"],
      [["record", "pipe", "--bars", "3"], "pipe: is a device, a pipe or a socket"],
      [["record", "/dev/null", "--bars", "3"], "/dev/null: is a device, a pipe or a socket"],
      [["replay", "a.db", "--run", "nope"], 'no run with id "nope"'],
      [["inspect", "a.db", "--run", "nope"], 'no run with id "nope"'],
      [["diff", "a.db", "a.db", "--run-b", "nope"], 'no run with id "nope"'],
      [["replay", "a.db", "--into", "a.db"], `a run with id "${runId}" already exists`],
      [
        ["record", "a.db", "--run-id", runId, "--bars", "3"],
        `a run with id "${runId}" already exists`,
      ],
    ];
    for (const [args, message] of cases) {
      const result = await run(args, dir);
      expectReport(result, args, args[0] === "diff" ? 2 : 1, message);
      expect([args, lines(result.stderr)]).toEqual([args, [expect.any(String)]]);
    }
    expect(files()).toEqual(before);
    expect(readFileSync(join(dir, "notes.txt"), "utf8")).toBe(text);
  });

  test("a RUNTAPE_STORE that is no store URL is named as the culprit", async () => {
    const result = await runtape(["push", "a.db"], {
      cwd: tempDir(),
      env: { RUNTAPE_STORE: "garbage" },
    });
    expectReport(result, ["push"], 2, 'RUNTAPE_STORE is not a store URL (got "garbage")');
  });

  test("--verbose adds the stack trace to the error", async () => {
    const result = await run(["replay", "missing.db", "--verbose"]);
    expect(result.code).toBe(1);
    expect(lines(result.stderr)[0]).toBe("runtape: no runs database at missing.db");
    expect(result.stderr).toMatch(/\n +at /);
    const usage = await run(["--verbose"]);
    expect([usage.code, lines(usage.stderr)[0]]).toEqual([2, "runtape: no command given"]);
    // A usage error's stack is runtape's, not the user's business: --verbose adds nothing to it.
    const opposite = await run(["record", "--quiet", "--verbose"]);
    expect([opposite.code, lines(opposite.stderr)]).toEqual([
      2,
      ["runtape: --quiet and --verbose ask for opposite things: give one"],
    ]);
  });
});

// The exit codes and streams as a shell sees them, through both entry points. Concurrent: each
// waits on processes of its own, in a folder of its own.
describe.each(SPAWNED)("runtape usage via %s", (via) => {
  const run = (args: string[]) => runtape(args, { via, cwd: tempDir() });

  test.concurrent("--version --verbose and version --json add the build's facts (none from source)", async () => {
    const json = await run(["version", "--json"]);
    const info = JSON.parse(json.stdout);
    expect(info).toMatchObject({ version: pkg.version, bun: Bun.version, layout: SCHEMA_VERSION });
    // The Python recorder's layout (1) and every one since, up to the one written.
    expect(info.reads[0]).toBe(1);
    expect(info.reads.at(-1)).toBe(SCHEMA_VERSION);
    expect(info.reads.every((v: number, i: number) => v === i + 1)).toBe(true);
    const built = [info.commit, info.built, info.target].map((fact) => fact !== null);
    expect(built).toEqual(via === "binary" ? [true, true, true] : [false, false, false]);
    const text = await run(["--version", "--verbose"]);
    expect([text.code, text.stderr]).toEqual([0, ""]);
    expect(lines(text.stdout)).toEqual([
      `runtape ${pkg.version}`,
      `commit  ${info.commit ?? "- (running from source)"}`,
      `built   ${info.built ?? "- (running from source)"}`,
      `target  ${info.target ?? "- (running from source)"}`,
      `bun     ${Bun.version}`,
      `layout  ${SCHEMA_VERSION} (reads ${info.reads.join(", ")})`,
    ]);
  });

  test.concurrent("help on stdout (exit 0), a usage error (exit 2) and a failure (exit 1) as one line on stderr", async () => {
    const dir = tempDir();
    const [help, usage, failure] = await Promise.all([
      runtape(["--help"], { via, cwd: dir }),
      runtape(["replay", "--limit", "-1"], { via, cwd: dir }),
      runtape(["inspect", "missing.db"], { via, cwd: dir }),
    ]);
    expect([help.code, help.stderr]).toEqual([0, ""]);
    expect(help.stdout).toContain("record");
    expectReport(usage, ["replay"], 2, "--limit takes a whole number");
    expectReport(failure, ["inspect"], 1, "no runs database at missing.db");
    expect(readdirSync(dir)).toEqual([]);
    // --verbose frames name the functions, in the binary too (its identifiers are not minified;
    // code splitting may suffix a number where two chunks would share a name).
    const verbose = await runtape(["inspect", "missing.db", "--verbose"], { via, cwd: dir });
    expect(verbose.stderr).toMatch(/\n +at openRunsDb\d* /);
  });
});
