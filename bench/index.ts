/**
 * `bun run bench [--quick] [--json]`: runtape's real paths against baselines measured in the same
 * run, so the ratios hold on a noisy machine. Each figure is the median of several runs; each run
 * is a process of its own (bench/worker.ts), so peak RSS is that of the measurement alone.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const quick = process.argv.includes("--quick");
const json = process.argv.includes("--json");
const scale = quick ? 0.1 : 1;
const RUNS = 3;
const N = Math.round(1_000_000 * scale);
const BIG = Math.round(10_000_000 * scale);
const SMALL = Math.round(100_000 * scale);
const ROOT = join(import.meta.dir, "..");
const dir = mkdtempSync(join(tmpdir(), "runtape-bench-"));
const log = (line: string) => process.stderr.write(`${line}\n`);

interface Sample {
  seconds: number;
  events: number;
  maxRssMb: number;
}

async function worker(...args: (string | number)[]): Promise<Sample> {
  const proc = Bun.spawn(
    [process.execPath, join(import.meta.dir, "worker.ts"), ...args.map(String)],
    {
      stdout: "pipe",
      stderr: "inherit",
    },
  );
  const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  if (code !== 0) throw new Error(`bench worker ${args.join(" ")} exited ${code}`);
  return JSON.parse(out) as Sample;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

/** The median rate and the peak RSS over `RUNS` runs of `make`. */
async function measure(
  label: string,
  make: (run: number) => Promise<Sample>,
): Promise<{ rate: number; rssMb: number; seconds: number }> {
  const samples: Sample[] = [];
  for (let run = 0; run < RUNS; run++) samples.push(await make(run));
  const result = {
    rate: median(samples.map((s) => s.events / s.seconds)),
    seconds: median(samples.map((s) => s.seconds)),
    rssMb: Math.max(...samples.map((s) => s.maxRssMb)),
  };
  log(
    `  ${label}: ${Math.round(result.rate).toLocaleString("en-US")} events/s, peak RSS ${result.rssMb.toFixed(0)} MB`,
  );
  return result;
}

const fresh = (name: string) => {
  const path = join(dir, name);
  for (const suffix of ["", "-wal", "-shm"]) rmSync(path + suffix, { force: true });
  return path;
};

async function timeCommand(args: string[]): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 10; i++) {
    const start = performance.now();
    const proc = Bun.spawn(args, { stdout: "ignore", stderr: "ignore" });
    if ((await proc.exited) !== 0) throw new Error(`${args.join(" ")} failed`);
    times.push(performance.now() - start);
  }
  return median(times);
}

try {
  log(
    `runtape bench${quick ? " (quick)" : ""}: ${N.toLocaleString("en-US")} events per run, median of ${RUNS}`,
  );
  log("1-2. recording (on-disk WAL database)");
  const recordBars = await measure("recorder, bars", () =>
    worker("record", "bars", N, fresh("rec-bars.db"), "run"),
  );
  const insertBars = await measure("plain insert, bars", () =>
    worker("insert", "bars", N, fresh("ins-bars.db"), "run"),
  );
  const recordMixed = await measure("recorder, mixed", () =>
    worker("record", "mixed", N, fresh("rec-mixed.db"), "run"),
  );
  const insertMixed = await measure("plain insert, mixed", () =>
    worker("insert", "mixed", N, fresh("ins-mixed.db"), "run"),
  );

  log("3. replay of the recorded bars run");
  const replayed = await measure("replay to typed events on a bus", () =>
    worker("replay", join(dir, "rec-bars.db"), "run"),
  );
  const iterated = await measure("plain iterate", () =>
    worker("iterate", join(dir, "rec-bars.db"), "run"),
  );

  log(`4. flat memory: replay of a ${BIG.toLocaleString("en-US")}-event run`);
  await worker("insert", "bars", BIG, fresh("big.db"), "big");
  const big = await worker("replay", join(dir, "big.db"), "big");
  log(
    `  ${Math.round(big.events / big.seconds).toLocaleString("en-US")} events/s, peak RSS ${big.maxRssMb.toFixed(0)} MB`,
  );

  log(
    `5. one ${SMALL.toLocaleString("en-US")}-event run beside nine of ${N.toLocaleString("en-US")}, and alone`,
  );
  const crowded = fresh("crowded.db");
  for (let k = 1; k <= 9; k++) await worker("insert", "bars", N, crowded, `other-${k}`);
  await worker("insert", "bars", SMALL, crowded, "target");
  await worker("insert", "bars", SMALL, fresh("alone.db"), "target");
  const amongOthers = await measure("replay among nine others", () =>
    worker("replay", crowded, "target"),
  );
  const alone = await measure("replay alone", () =>
    worker("replay", join(dir, "alone.db"), "target"),
  );

  log("6. the compiled binary");
  const bin = join(dir, "runtape");
  const build = Bun.spawnSync([process.execPath, join(ROOT, "scripts/build.ts"), bin], {
    stderr: "inherit",
  });
  if (build.exitCode !== 0) throw new Error("build failed");
  const helpMs = await timeCommand([bin, "--help"]);
  const listMs = await timeCommand([bin, "inspect", crowded]);
  const detailMs = await timeCommand([bin, "inspect", crowded, "--run", "target"]);
  log(
    `  --help ${helpMs.toFixed(1)} ms, inspect ${listMs.toFixed(1)} ms, inspect --run ${detailMs.toFixed(1)} ms`,
  );

  const figures = {
    quick,
    events_per_run: N,
    record_bars_per_s: Math.round(recordBars.rate),
    insert_bars_per_s: Math.round(insertBars.rate),
    record_bars_ratio: recordBars.rate / insertBars.rate,
    record_mixed_per_s: Math.round(recordMixed.rate),
    insert_mixed_per_s: Math.round(insertMixed.rate),
    record_mixed_ratio: recordMixed.rate / insertMixed.rate,
    record_peak_rss_mb: Math.max(recordBars.rssMb, recordMixed.rssMb),
    replay_per_s: Math.round(replayed.rate),
    iterate_per_s: Math.round(iterated.rate),
    replay_ratio: replayed.rate / iterated.rate,
    replay_rss_mb_small: replayed.rssMb,
    replay_rss_mb_big: big.maxRssMb,
    big_run_events: BIG,
    replay_among_others_s: amongOthers.seconds,
    replay_alone_s: alone.seconds,
    others_cost_ratio: amongOthers.seconds / alone.seconds,
    help_ms: helpMs,
    inspect_list_ms: listMs,
    inspect_run_ms: detailMs,
  };

  if (json) {
    console.log(JSON.stringify(figures, null, 2));
  } else {
    const f = (x: number, digits = 2) => x.toFixed(digits);
    const rows: [string, string, string, string][] = [
      [
        "record bars (events/s)",
        figures.record_bars_per_s.toLocaleString("en-US"),
        figures.insert_bars_per_s.toLocaleString("en-US"),
        `${f(figures.record_bars_ratio)} (≥ 0.70)`,
      ],
      [
        "record mixed (events/s)",
        figures.record_mixed_per_s.toLocaleString("en-US"),
        figures.insert_mixed_per_s.toLocaleString("en-US"),
        `${f(figures.record_mixed_ratio)} (≥ 0.70)`,
      ],
      [
        "replay (events/s)",
        figures.replay_per_s.toLocaleString("en-US"),
        figures.iterate_per_s.toLocaleString("en-US"),
        `${f(figures.replay_ratio)} (≥ 0.50)`,
      ],
      ["peak RSS recording (MB)", f(figures.record_peak_rss_mb, 0), "", "< 150"],
      [
        `peak RSS replay ${N.toLocaleString("en-US")} / ${BIG.toLocaleString("en-US")} (MB)`,
        `${f(replayed.rssMb, 0)} / ${f(big.maxRssMb, 0)}`,
        "",
        "< 200, flat",
      ],
      [
        "replay 1 run beside 9 (s)",
        f(amongOthers.seconds, 3),
        f(alone.seconds, 3),
        f(figures.others_cost_ratio),
      ],
      ["runtape --help (ms)", f(helpMs, 1), "", "< 15"],
      ["runtape inspect (ms)", f(listMs, 1), "", "< 100"],
      ["runtape inspect --run (ms)", f(detailMs, 1), "", "< 100"],
    ];
    const header: [string, string, string, string] = [
      "figure",
      "runtape",
      "baseline",
      "ratio / target",
    ];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
    for (const row of [header, ...rows])
      console.log(row.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  "));
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
