/**
 * `bun run bench [--quick] [--json]`: runtape's real paths against the limit of the same work,
 * measured in the same run. Each pair is sampled interleaved (A B A B …), each sample a process of
 * its own (bench/worker.ts), so load changes on a shared machine hit both sides alike; a ratio is
 * the median of the per-pair ratios, with its spread (lowest–highest).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildBinary } from "../scripts/build.ts";
import { benchReport } from "./report.ts";
import type { Sample } from "./worker.ts";

const quick = process.argv.includes("--quick");
const json = process.argv.includes("--json");
const scale = quick ? 0.1 : 1;
const PAIRS = quick ? 3 : 5;
const N = Math.round(1_000_000 * scale);
const BIG = Math.round(10_000_000 * scale);
const SMALL = Math.round(100_000 * scale);
/** Events per transaction of the limit baseline: the recorder's cap on a flush. */
const LIMIT_BATCH = 16_384;
// On disk, not tmpfs: the bytes written to storage are one of the figures.
const dir = mkdtempSync(join(tmpdir(), "runtape-bench-"));
const log = (line: string) => process.stderr.write(`${line}\n`);

async function worker(...args: (string | number)[]): Promise<Sample> {
  return workerWith({}, ...args);
}

/** A {@link worker} with `env` added to the bench's environment. */
async function workerWith(
  env: Record<string, string>,
  ...args: (string | number)[]
): Promise<Sample> {
  const proc = Bun.spawn(
    [process.execPath, join(import.meta.dir, "worker.ts"), ...args.map(String)],
    { stdout: "pipe", stderr: "inherit", env: { ...process.env, ...env } },
  );
  const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  if (code !== 0) throw new Error(`bench worker ${args.join(" ")} exited ${code}`);
  return JSON.parse(out) as Sample;
}

/** Runs bench/`name` with `args`: its JSON figures (stdout) and its line (stderr). */
async function script(name: string, ...args: (string | number)[]) {
  const proc = Bun.spawn([process.execPath, join(import.meta.dir, name), ...args.map(String)], {
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  if (code !== 0) throw new Error(`bench/${name} ${args.join(" ")} exited ${code}: ${err}`);
  return { out, err };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const rate = (s: Sample) => s.events / s.seconds;
const fmt = (x: number) => Math.round(x).toLocaleString("en-US");

interface Compared {
  a: Sample[];
  b: Sample[];
  /** Median of rate(a)/rate(b) over the pairs, and the lowest and highest of them. */
  ratio: number;
  spread: [number, number];
}

/** `PAIRS` interleaved samples of `a` and `b` (a fresh database path per sample where needed). */
async function compare(
  label: string,
  a: (k: number) => Promise<Sample>,
  b: (k: number) => Promise<Sample>,
): Promise<Compared> {
  const as: Sample[] = [];
  const bs: Sample[] = [];
  const ratios: number[] = [];
  for (let k = 0; k < PAIRS; k++) {
    const sa = await a(k);
    const sb = await b(k);
    as.push(sa);
    bs.push(sb);
    ratios.push(rate(sa) / rate(sb));
  }
  const result: Compared = {
    a: as,
    b: bs,
    ratio: median(ratios),
    spread: [Math.min(...ratios), Math.max(...ratios)],
  };
  log(
    `  ${label}: ${fmt(median(as.map(rate)))} vs ${fmt(median(bs.map(rate)))} events/s, ratio ${result.ratio.toFixed(2)} (${result.spread.map((r) => r.toFixed(2)).join("–")})`,
  );
  return result;
}

const fresh = (name: string) => {
  const path = join(dir, name);
  for (const suffix of ["", "-wal", "-shm"]) rmSync(path + suffix, { force: true });
  return path;
};

/** Median wall time (ms) of a command over `times` runs, its output thrown away. */
async function timeCommand(args: string[], times = 10): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < times; i++) {
    const start = performance.now();
    const proc = Bun.spawn(args, { stdout: "ignore", stderr: "ignore" });
    const code = await proc.exited;
    // diff and --check exit 1 on a finding: a result, not a failure of the command.
    if (code > 1) throw new Error(`${args.join(" ")} exited ${code}`);
    ms.push(performance.now() - start);
  }
  return median(ms);
}

/** The figures of a pair: both medians, the ratio with its spread, and the peak RSS of the first. */
function pairFigures(c: Compared) {
  return {
    per_s: Math.round(median(c.a.map(rate))),
    limit_per_s: Math.round(median(c.b.map(rate))),
    ratio: c.ratio,
    ratio_spread: c.spread,
    peak_rss_mb: Math.max(...c.a.map((s) => s.maxRssMb)),
  };
}

/**
 * The figures of recording one kind of data: recorder against the limit baseline, and from a run
 * of its own (`published`), the time spent inside each `bus.publish`.
 */
function recording(c: Compared, published: Sample) {
  const m = (pick: (s: Sample) => number, samples = c.a) => median(samples.map(pick));
  return {
    per_s: Math.round(m(rate)),
    limit_per_s: Math.round(m(rate, c.b)),
    ratio: c.ratio,
    ratio_spread: c.spread,
    write_bytes_per_event: m((s) => (s.writeBytes ?? 0) / s.events),
    write_amplification: m((s) => (s.writeBytes ?? 0) / (s.fileBytes ?? 1)),
    limit_write_amplification: m((s) => (s.writeBytes ?? 0) / (s.fileBytes ?? 1), c.b),
    file_bytes_per_event: m((s) => (s.fileBytes ?? 0) / s.events),
    peak_rss_mb: Math.max(...c.a.map((s) => s.maxRssMb)),
    publish_mean_us: ((published.publishSeconds ?? 0) / published.events) * 1e6,
    publish_share: (published.publishSeconds ?? 0) / published.seconds,
    publish_max_ms: published.publishMaxMs ?? 0,
  };
}

try {
  log(
    `runtape bench${quick ? " (quick)" : ""}: ${fmt(N)} events per run, ${PAIRS} interleaved pairs`,
  );
  log(
    `1. recording (on-disk WAL database) against pre-built rows, multi-row inserts, ${fmt(LIMIT_BATCH)} per transaction`,
  );
  const record = async (data: string) => {
    const pairs = await compare(
      `recorder vs limit, ${data}`,
      (k) => worker("record", data, N, fresh(`rec-${data}-${k}.db`), "run"),
      (k) => worker("limit", data, N, fresh(`lim-${data}-${k}.db`), "run", LIMIT_BATCH),
    );
    // Each publish timed in a run apart: two clock reads an event would slow the compared runs.
    const published = await worker("record-publish", data, N, fresh(`pub-${data}.db`), "run");
    return recording(pairs, published);
  };
  const bars = await record("bars");
  const mixed = await record("mixed");
  for (const [name, r] of Object.entries({ bars, mixed })) {
    log(
      `  ${name}: ${r.write_bytes_per_event.toFixed(0)} bytes written per event, ${r.write_amplification.toFixed(2)}× the final file (limit ${r.limit_write_amplification.toFixed(2)}×), peak RSS ${r.peak_rss_mb.toFixed(0)} MB, publish ${r.publish_mean_us.toFixed(2)} µs mean (${(r.publish_share * 100).toFixed(0)}% of the time), longest ${r.publish_max_ms.toFixed(0)} ms`,
    );
  }
  // The same comparison in one process, alternated on the same pre-built events (record-ab.ts).
  const inProcess: Record<string, { ratio: number; ratio_spread: [number, number] }> = {};
  for (const data of ["bars", "mixed"]) {
    const { out, err } = await script("record-ab.ts", data, N, dir, PAIRS);
    inProcess[data] = JSON.parse(out);
    log(`  in one process, alternated: ${err.trim()}`);
  }
  // Batches stored in line against on a writer thread (Recorder option `thread`), a publisher
  // that does nothing else and one whose strategy works ~1.4 µs an event (record-thread.ts).
  const threaded: Record<string, { speedup: number; speedup_spread: [number, number] }> = {};
  for (const work of [0, 1000]) {
    const { out, err } = await script("record-thread.ts", "mixed", N, dir, 3, work);
    threaded[`work_${work}`] = JSON.parse(out);
    log(`  ${err.trim()}`);
  }
  // The rollback journal (Recorder option `journal`): bytes written, one run of each kind.
  const rollback: Record<string, { per_s: number; write_amplification: number }> = {};
  for (const data of ["bars", "mixed"]) {
    const s = await worker("record", data, N, fresh(`rollback-${data}.db`), "run", "", "rollback");
    rollback[data] = {
      per_s: Math.round(rate(s)),
      write_amplification: (s.writeBytes ?? 0) / (s.fileBytes ?? 1),
    };
    log(
      `  ${data}, rollback journal: ${fmt(rate(s))} events/s, ${rollback[data].write_amplification.toFixed(2)}× the final file`,
    );
  }

  // The recorder asking for a full collection per batch stored (option `collectGarbage`, which
  // `runtape record` sets), alternated with the default: its peak RSS, and its speed against the
  // default's.
  const collected: Record<
    string,
    { peak_rss_mb: number; speed: number; speed_spread: [number, number] }
  > = {};
  for (const data of ["bars", "mixed"]) {
    const pairs = await compare(
      `collectGarbage vs default, ${data}`,
      (k) => worker("record-collect", data, N, fresh(`gc-${data}-${k}.db`), "run"),
      (k) => worker("record", data, N, fresh(`nogc-${data}-${k}.db`), "run"),
    );
    const { peak_rss_mb, ratio, ratio_spread } = pairFigures(pairs);
    collected[data] = { peak_rss_mb, speed: ratio, speed_spread: ratio_spread };
    log(`  ${data}, collectGarbage: peak RSS ${peak_rss_mb.toFixed(0)} MB`);
  }

  // What no recorder can go below, measured on the same data. Under WAL each page reaches the
  // disk twice (the log, then the checkpoint): the limit writing the tables with no secondary
  // index at all shows how far above 2× that floor is. The peak RSS of the same publisher with
  // nothing recording is what the process takes before any recorder; that of the plainest
  // recorder that streams (rows pushed per table, inserted as the limit does, per batch of the
  // recorder's size) is what holding a batch takes without runtape's own work, and with a full
  // collection per batch what collectGarbage can reach without it. The publisher and
  // the collecting recorder once more with JavaScriptCore's optimizing compilers off (DFG, and so
  // FTL): what the process holds for compiling, which no library can give back, is the difference.
  const floors: Record<
    string,
    {
      tables_only_write_amplification: number;
      peak_rss_mb: number;
      streaming_peak_rss_mb: number;
      streaming_collecting_peak_rss_mb: number;
      without_optimizing_jit: { publisher_peak_rss_mb: number; collecting_peak_rss_mb: number };
    }
  > = {};
  const noOptimizingJit = { BUN_JSC_useDFGJIT: "0" };
  for (const data of ["bars", "mixed"]) {
    const path = fresh(`floor-${data}.db`);
    const bare = await worker("limit", data, N, path, "run", LIMIT_BATCH, "no-indexes");
    const publisher = await worker("publish-only", data, N);
    const streaming = await worker(
      "stream",
      data,
      N,
      fresh(`stream-${data}.db`),
      "run",
      LIMIT_BATCH,
    );
    const streamingCollecting = await worker(
      "stream-collect",
      data,
      N,
      fresh(`stream-gc-${data}.db`),
      "run",
      LIMIT_BATCH,
    );
    const plainPublisher = await workerWith(noOptimizingJit, "publish-only", data, N);
    const plainCollecting = await workerWith(
      noOptimizingJit,
      "record-collect",
      data,
      N,
      fresh(`nojit-${data}.db`),
      "run",
    );
    floors[data] = {
      tables_only_write_amplification: (bare.writeBytes ?? 0) / (bare.fileBytes ?? 1),
      peak_rss_mb: publisher.maxRssMb,
      streaming_peak_rss_mb: streaming.maxRssMb,
      streaming_collecting_peak_rss_mb: streamingCollecting.maxRssMb,
      without_optimizing_jit: {
        publisher_peak_rss_mb: plainPublisher.maxRssMb,
        collecting_peak_rss_mb: plainCollecting.maxRssMb,
      },
    };
    log(
      `  ${data}, floors: the limit into the tables alone writes ${floors[data].tables_only_write_amplification.toFixed(2)}× its file; a publisher with no recorder peaks at ${publisher.maxRssMb.toFixed(0)} MB, with the plainest streaming recorder at ${streaming.maxRssMb.toFixed(0)} MB (${streamingCollecting.maxRssMb.toFixed(0)} MB collecting per batch); without the optimizing JIT, the publisher at ${plainPublisher.maxRssMb.toFixed(0)} MB, the recorder with collectGarbage at ${plainCollecting.maxRssMb.toFixed(0)} MB`,
    );
  }

  log("2. reading");
  const barsDb = join(dir, "rec-bars-0.db");
  const mixedDb = join(dir, "rec-mixed-0.db");
  const replay = await compare(
    "replay onto a bus vs plain iterate (bars)",
    () => worker("replay", barsDb, "run"),
    () => worker("iterate", barsDb, "run"),
  );
  // Each line as a string (encodeEvent), as bytes by the line writers replay uses, and those
  // writers on what replay's NDJSON path gives them: a file's rows, integers as floats. The
  // encoder alone, timed over the run chunk by chunk; and what encoding adds to a replay (the
  // difference of two, the replay's garbage collected with the lines').
  const samples = {
    held: { strings: [], bytes: [], rows: [] },
    replayed: { strings: [], bytes: [] },
  } as {
    held: Record<"strings" | "bytes" | "rows", Sample[]>;
    replayed: Record<"strings" | "bytes", Sample[]>;
  };
  for (let k = 0; k < PAIRS; k++) {
    for (const how of ["strings", "bytes", "rows"] as const) {
      samples.held[how].push(await worker("encode", mixedDb, "run", how, "held"));
    }
    for (const how of ["strings", "bytes"] as const) {
      samples.replayed[how].push(await worker("encode", mixedDb, "run", how, "replayed"));
    }
  }
  const perS = (xs: Sample[]) => Math.round(median(xs.map(rate)));
  const encoding = {
    strings_per_s: perS(samples.held.strings),
    bytes_per_s: perS(samples.held.bytes),
    rows_per_s: perS(samples.held.rows),
    in_replay_strings_per_s: perS(samples.replayed.strings),
    in_replay_bytes_per_s: perS(samples.replayed.bytes),
  };
  log(
    `  NDJSON encoding (mixed): ${fmt(encoding.strings_per_s)} events/s as strings, ${fmt(encoding.bytes_per_s)} as bytes, ${fmt(encoding.rows_per_s)} as bytes from replay's rows; added to a replay, ${fmt(encoding.in_replay_strings_per_s)} as strings, ${fmt(encoding.in_replay_bytes_per_s)} as bytes`,
  );
  // Two recordings of the same events: equal but for ts_created_ns, which diff ignores.
  const diffed = await compare(
    "diff of two files vs both read side by side and compared in JS (mixed)",
    () => worker("diff", mixedDb, join(dir, "rec-mixed-1.db"), "run"),
    () => worker("diff-plain", mixedDb, join(dir, "rec-mixed-1.db"), "run"),
  );
  const checked = await compare(
    "check vs SQLite's integrity check and one plain iterate (mixed)",
    () => worker("check", mixedDb),
    () => worker("check-plain", mixedDb, "run"),
  );

  log(`3. flat memory: replay of a ${fmt(BIG)}-event run`);
  await worker("limit", "bars", BIG, fresh("big.db"), "big", LIMIT_BATCH);
  const big = await worker("replay", join(dir, "big.db"), "big");
  log(`  ${fmt(rate(big))} events/s, peak RSS ${big.maxRssMb.toFixed(0)} MB`);

  log(`4. one ${fmt(SMALL)}-event run beside nine of ${fmt(N)}, and alone`);
  const crowded = fresh("crowded.db");
  for (let k = 1; k <= 9; k++) await worker("limit", "bars", N, crowded, `other-${k}`, LIMIT_BATCH);
  await worker("limit", "bars", SMALL, crowded, "target", LIMIT_BATCH);
  await worker("limit", "bars", SMALL, fresh("alone.db"), "target", LIMIT_BATCH);
  const beside = await compare(
    "replay beside nine others vs alone",
    () => worker("replay", crowded, "target"),
    () => worker("replay", join(dir, "alone.db"), "target"),
  );

  log("5. the compiled binary");
  const bin = join(dir, "runtape");
  await buildBinary({ outfile: bin });
  const helpMs = await timeCommand([bin, "--help"], 20);
  // One thread (the default) against two (`--threads 2`), interleaved: the same bytes out.
  const cliReplay =
    (...extra: string[]) =>
    async (): Promise<Sample> => {
      const start = performance.now();
      const proc = Bun.spawn([bin, "replay", mixedDb, ...extra], {
        stdout: "ignore",
        stderr: "ignore",
      });
      if ((await proc.exited) !== 0) throw new Error(`runtape replay ${extra.join(" ")} failed`);
      // Not measured: a spawned process's maxRSS starts at this bench's own peak (see worker.ts).
      return { seconds: (performance.now() - start) / 1000, events: N, maxRssMb: 0 };
    };
  const threads = await compare(
    "replay > /dev/null, two threads vs one",
    cliReplay("--threads", "2"),
    cliReplay(),
  );
  const replayCliMs = median(threads.b.map((s) => s.seconds * 1000));
  const inspectRunMs = await timeCommand([bin, "inspect", mixedDb, "--run", "run"]);
  // The big run was written by the limit baseline, not the recorder: the first inspect computes
  // its summary (and stores it), the following ones read it.
  const bigDb = join(dir, "big.db");
  const inspectBigFirstMs = await timeCommand([bin, "inspect", bigDb, "--run", "big"], 1);
  const inspectBigMs = await timeCommand([bin, "inspect", bigDb, "--run", "big"]);
  const checkMs = await timeCommand([bin, "inspect", mixedDb, "--check"], PAIRS);
  const diffMs = await timeCommand([bin, "diff", mixedDb, mixedDb], PAIRS);
  const listMs = await timeCommand([bin, "inspect", crowded]);
  // The CLI's recording processes, each run in a worker as the binary runs it, for their peak
  // memory: the run's NDJSON recorded (`record --input`), and the run copied (`replay --into`).
  const ndjson = join(dir, "mixed.ndjson");
  const dump = Bun.spawn([bin, "replay", mixedDb], { stdout: Bun.file(ndjson), stderr: "ignore" });
  if ((await dump.exited) !== 0) throw new Error("runtape replay > mixed.ndjson failed");
  const cliRecord = await worker("cli", N, "record", fresh("cli.db"), "--input", ndjson, "--quiet");
  rmSync(ndjson);
  const cliCopy = await worker("cli", N, "replay", mixedDb, "--into", fresh("cli.db"), "--quiet");
  log(
    `  --help ${helpMs.toFixed(1)} ms; replay ${fmt(N)} mixed > /dev/null ${(replayCliMs / 1000).toFixed(2)} s; inspect --run ${inspectRunMs.toFixed(0)} ms (${fmt(BIG)} events: ${inspectBigMs.toFixed(0)} ms, the first ${inspectBigFirstMs.toFixed(0)} ms), --check ${(checkMs / 1000).toFixed(2)} s, diff with itself ${(diffMs / 1000).toFixed(2)} s`,
  );

  // The store's figures come from a process of their own, which runs a throwaway cluster.
  const storeProc = Bun.spawn(
    [process.execPath, join(import.meta.dir, "store.ts"), ...(quick ? ["--quick"] : [])],
    { stdout: "pipe", stderr: "inherit" },
  );
  const store = JSON.parse(await new Response(storeProc.stdout).text()) as Record<
    string,
    number
  > | null;
  if ((await storeProc.exited) !== 0) throw new Error("bench/store.ts failed");

  log("6. runtape runs over a sweep, and the report of a large run");
  const report = await benchReport(quick);

  const FILES = 10;
  log(`10. gathering: merge of ${FILES} files of ${fmt(N)} mixed events, export of ${fmt(N)}`);
  const inputs: string[] = [];
  for (let k = 1; k <= FILES; k++) {
    const input = fresh(`worker-${k}.db`);
    await worker("limit", "mixed", N, input, `sweep-${k}`, LIMIT_BATCH);
    inputs.push(input);
  }
  const merged = await compare(
    "runtape merge vs INSERT … SELECT between attached databases",
    (k) => worker("merge", fresh(`merged-${k}.db`), ...inputs),
    (k) => worker("attach-copy", fresh(`attached-${k}.db`), ...inputs),
  );
  const freshDir = (name: string) => {
    const path = join(dir, name);
    rmSync(path, { recursive: true, force: true });
    return path;
  };
  const exported = await compare(
    "runtape export --format parquet vs the same writer fed from SELECTs (mixed)",
    (k) => worker("export", "parquet", mixedDb, "run", freshDir(`export-${k}`)),
    (k) => worker("export-plain", mixedDb, "run", freshDir(`plain-${k}`)),
  );
  const csvExport = await worker("export", "csv", mixedDb, "run", freshDir("export-csv"));
  const bigExport = await worker("export", "parquet", join(dir, "big.db"), "big", freshDir("big"));
  const perEvent = (s: Sample) => (s.exportBytes ?? 0) / s.events;
  log(
    `  csv ${fmt(rate(csvExport))} events/s, ${perEvent(csvExport).toFixed(1)} bytes/event; parquet of the ${fmt(BIG)}-event run ${fmt(rate(bigExport))} events/s, peak RSS ${bigExport.maxRssMb.toFixed(0)} MB`,
  );

  const figures = {
    ...report,
    quick,
    events_per_run: N,
    pairs: PAIRS,
    record_bars: bars,
    record_mixed: mixed,
    record_in_one_process: inProcess,
    record_thread: threaded,
    record_rollback_journal: rollback,
    record_collect_garbage: collected,
    record_floors: floors,
    replay_per_s: Math.round(median(replay.a.map(rate))),
    iterate_per_s: Math.round(median(replay.b.map(rate))),
    replay_ratio: replay.ratio,
    replay_ratio_spread: replay.spread,
    replay_peak_rss_mb: Math.max(...replay.a.map((s) => s.maxRssMb)),
    ndjson_encode_per_s: encoding.strings_per_s,
    ndjson_write_per_s: encoding.bytes_per_s,
    ndjson_write_rows_per_s: encoding.rows_per_s,
    ndjson_in_replay_encode_per_s: encoding.in_replay_strings_per_s,
    ndjson_in_replay_write_per_s: encoding.in_replay_bytes_per_s,
    replay_cli_ndjson_s: replayCliMs / 1000,
    replay_cli_ndjson_two_threads_s: median(threads.a.map((s) => s.seconds)),
    replay_cli_threads_ratio: threads.ratio,
    replay_cli_threads_ratio_spread: threads.spread,
    replay_big_peak_rss_mb: big.maxRssMb,
    cli_record_input: { per_s: Math.round(rate(cliRecord)), peak_rss_mb: cliRecord.maxRssMb },
    cli_replay_into: { per_s: Math.round(rate(cliCopy)), peak_rss_mb: cliCopy.maxRssMb },
    big_run_events: BIG,
    beside_nine_ratio: beside.ratio,
    beside_nine_ratio_spread: beside.spread,
    help_ms: helpMs,
    inspect_list_ms: listMs,
    inspect_run_ms: inspectRunMs,
    inspect_run_big_ms: inspectBigMs,
    inspect_run_big_first_ms: inspectBigFirstMs,
    check_per_s: Math.round(N / (checkMs / 1000)),
    diff_per_s: Math.round(N / (diffMs / 1000)),
    diff_two_files: pairFigures(diffed),
    check_library: pairFigures(checked),
    store,
    merge: { files: FILES, ...pairFigures(merged) },
    export_parquet: {
      ...pairFigures(exported),
      bytes_per_event: median(exported.a.map(perEvent)),
    },
    export_csv: { per_s: Math.round(rate(csvExport)), bytes_per_event: perEvent(csvExport) },
    export_big: { per_s: Math.round(rate(bigExport)), peak_rss_mb: bigExport.maxRssMb },
  };

  if (json) {
    console.log(JSON.stringify(figures, null, 2));
  } else {
    const f = (x: number, digits = 2) => x.toFixed(digits);
    const range = ([lo, hi]: [number, number]) => `${f(lo)}–${f(hi)}`;
    const rows: [string, string, string, string][] = [];
    for (const [name, r] of Object.entries({ bars, mixed })) {
      rows.push(
        [
          `record ${name} (events/s)`,
          fmt(r.per_s),
          fmt(r.limit_per_s),
          `${f(r.ratio)} (${range(r.ratio_spread)}) ≥ 0.90`,
        ],
        [
          `  … in one process, alternated`,
          "",
          "",
          `${f(inProcess[name]?.ratio ?? 0)} (${range(inProcess[name]?.ratio_spread ?? [0, 0])}) ≥ 0.90`,
        ],
        [
          `  write amplification ${name}`,
          `${f(r.write_amplification)}×`,
          `${f(r.limit_write_amplification)}×`,
          "≤ 2×",
        ],
        [
          `  … with the rollback journal`,
          `${f(rollback[name]?.write_amplification ?? 0)}×`,
          "",
          "≤ 2×",
        ],
        [
          `  … the limit into the tables alone (no index)`,
          `${f(floors[name]?.tables_only_write_amplification ?? 0)}×`,
          "",
          "",
        ],
        [`  peak RSS ${name} (MB)`, f(r.peak_rss_mb, 0), "", "< 64"],
        [
          `  … with collectGarbage (MB; speed against the default)`,
          f(collected[name]?.peak_rss_mb ?? 0, 0),
          "",
          `${f(collected[name]?.speed ?? 0)} (${range(collected[name]?.speed_spread ?? [0, 0])}) < 64 MB`,
        ],
        [`  … a publisher with no recorder (MB)`, f(floors[name]?.peak_rss_mb ?? 0, 0), "", ""],
        [
          `  … without the optimizing JIT: publisher / collecting recorder (MB)`,
          `${f(floors[name]?.without_optimizing_jit.publisher_peak_rss_mb ?? 0, 0)} / ${f(floors[name]?.without_optimizing_jit.collecting_peak_rss_mb ?? 0, 0)}`,
          "",
          "",
        ],
        [
          `  … with the plainest streaming recorder; collecting per batch (MB)`,
          `${f(floors[name]?.streaming_peak_rss_mb ?? 0, 0)}; ${f(floors[name]?.streaming_collecting_peak_rss_mb ?? 0, 0)}`,
          "",
          "",
        ],
        [
          `  in bus.publish ${name} (µs/event, max ms)`,
          `${f(r.publish_mean_us)}, ${f(r.publish_max_ms, 0)}`,
          "",
          "",
        ],
      );
    }
    rows.push(
      [
        "record mixed on a writer thread / in line",
        `${f(threaded.work_0?.speedup ?? 0)} (${range(threaded.work_0?.speedup_spread ?? [0, 0])})`,
        "",
        "",
      ],
      [
        "  … with a strategy's ~1.4 µs an event",
        `${f(threaded.work_1000?.speedup ?? 0)} (${range(threaded.work_1000?.speedup_spread ?? [0, 0])})`,
        "",
        "",
      ],
      [
        "replay onto a bus (events/s)",
        fmt(figures.replay_per_s),
        fmt(figures.iterate_per_s),
        `${f(replay.ratio)} (${range(replay.spread)}) ≥ 0.80`,
      ],
      ["NDJSON encode, encodeEvent (events/s)", fmt(encoding.strings_per_s), "", "≥ 1,500,000"],
      ["  … as bytes, the line writers replay uses", fmt(encoding.bytes_per_s), "", "≥ 1,500,000"],
      ["  … the same from replay's rows", fmt(encoding.rows_per_s), "", "≥ 1,500,000"],
      [
        "  … added to a replay, as strings / as bytes",
        `${fmt(encoding.in_replay_strings_per_s)} / ${fmt(encoding.in_replay_bytes_per_s)}`,
        "",
        "",
      ],
      [
        `runtape replay ${fmt(N)} mixed > /dev/null (s)`,
        f(replayCliMs / 1000),
        `${f(figures.replay_cli_ndjson_two_threads_s)} on two threads`,
        `${f(threads.ratio)}× (${range(threads.spread)}) faster on two; ≤ 1.5 s`,
      ],
      [
        `peak RSS replay ${fmt(N)} / ${fmt(BIG)} (MB)`,
        `${f(figures.replay_peak_rss_mb, 0)} / ${f(big.maxRssMb, 0)}`,
        "",
        "flat",
      ],
      [
        `runtape record --input, ${fmt(N)} mixed (events/s, peak RSS MB)`,
        `${fmt(figures.cli_record_input.per_s)}, ${f(cliRecord.maxRssMb, 0)}`,
        "",
        "< 64 MB",
      ],
      [
        `runtape replay --into, a copy of ${fmt(N)} mixed (events/s, peak RSS MB)`,
        `${fmt(figures.cli_replay_into.per_s)}, ${f(cliCopy.maxRssMb, 0)}`,
        "",
        "< 64 MB",
      ],
      ["replay beside 9 runs vs alone", f(beside.ratio), "", range(beside.spread)],
      ["runtape --help (ms)", f(helpMs, 1), "", "< 15"],
      ["runtape inspect (ms)", f(listMs, 1), "", "< 100"],
      [`runtape inspect --run, ${fmt(N)} events (ms)`, f(inspectRunMs, 1), "", "< 30"],
      [`runtape inspect --run, ${fmt(BIG)} events (ms)`, f(inspectBigMs, 1), "", "< 30"],
      [
        `runtape inspect --run, ${fmt(BIG)} events, summary not yet stored (ms)`,
        f(inspectBigFirstMs, 1),
        "",
        "",
      ],
      ["runtape inspect --check (events/s)", fmt(figures.check_per_s), "", "≥ 1,000,000"],
      ["runtape diff (events/s)", fmt(figures.diff_per_s), "", "≥ 1,000,000"],
      [
        "  diffRuns of two files (events/s)",
        fmt(figures.diff_two_files.per_s),
        fmt(figures.diff_two_files.limit_per_s),
        `${f(diffed.ratio)} (${range(diffed.spread)})`,
      ],
      [
        "  checkDatabase (events/s)",
        fmt(figures.check_library.per_s),
        fmt(figures.check_library.limit_per_s),
        `${f(checked.ratio)} (${range(checked.spread)})`,
      ],
      ...((store === null
        ? [["store (PostgreSQL)", "skipped", "", ""]]
        : [
            [
              "push to the store (events/s)",
              store.push_per_s?.toLocaleString("en-US"),
              store.plain_copy_per_s?.toLocaleString("en-US"),
              `${f(store.push_ratio as number)} (≥ 0.80)`,
            ],
            [
              "replay from the store (events/s)",
              store.replay_store_per_s?.toLocaleString("en-US"),
              store.replay_file_per_s?.toLocaleString("en-US"),
              f(store.replay_store_ratio as number),
            ],
            [
              `${store.pushers} pushers at once (events/s, slowest s)`,
              store.pushers_total_per_s?.toLocaleString("en-US"),
              "",
              `slowest ${f(store.pushers_slowest_s as number)} s`,
            ],
          ]) as [string, string, string, string][]),
      [
        `runs: list ${report.sweep_runs} cached runs (ms)`,
        f(report.runs_list_ms, 1),
        f(report.runs_list_baseline_ms, 1),
        `${f(report.runs_list_ratio)} (< 1,000 ms)`,
      ],
      [
        `report of ${fmt(report.report_events)} events (s / MB)`,
        `${f(report.report_s)} / ${f(report.report_html_mb)}`,
        "",
        "HTML < a few MB",
      ],
      [
        `merge ${FILES} × ${fmt(N)} mixed (events/s)`,
        fmt(figures.merge.per_s),
        fmt(figures.merge.limit_per_s),
        `${f(merged.ratio)} (${range(merged.spread)})`,
      ],
      [`  peak RSS merge (MB)`, f(figures.merge.peak_rss_mb, 0), "", "flat"],
      [
        `export parquet ${fmt(N)} mixed (events/s)`,
        fmt(figures.export_parquet.per_s),
        fmt(figures.export_parquet.limit_per_s),
        `${f(exported.ratio)} (${range(exported.spread)})`,
      ],
      [
        "  bytes/event parquet / csv",
        `${f(figures.export_parquet.bytes_per_event, 1)} / ${f(figures.export_csv.bytes_per_event, 1)}`,
        "",
        "",
      ],
      ["  export csv (events/s)", fmt(figures.export_csv.per_s), "", ""],
      [
        `  peak RSS export ${fmt(N)} mixed / ${fmt(BIG)} bars (MB)`,
        `${f(figures.export_parquet.peak_rss_mb, 0)} / ${f(bigExport.maxRssMb, 0)}`,
        "",
        "flat",
      ],
    );
    const header: [string, string, string, string] = [
      "figure",
      "runtape",
      "limit",
      "ratio / target",
    ];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
    for (const row of [header, ...rows])
      console.log(row.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  "));
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
