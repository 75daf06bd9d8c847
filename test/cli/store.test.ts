import { Database } from "bun:sqlite";
import { expect, test } from "bun:test";
import {
  closeSync,
  copyFileSync,
  existsSync,
  openSync,
  readFileSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { SQL } from "bun";
import { EventBus, type PgStore, Recorder, runDemo } from "../../src/index.ts";
import { PgStore as Store } from "../../src/store/index.ts";
import { bulkRun, tempDir } from "../helpers.ts";
import { describeWithPg, type PgCluster, SECRET_PASSWORD } from "../pg.ts";
import { cli } from "./inprocess.ts";
import { runtape, spawnRuntape } from "./run.ts";
import { lines, storedRuns } from "./support.ts";

/** Records a demo run `runId` into `path` in this process. */
function demo(path: string, runId: string, seed: number, bars = 40): void {
  const bus = new EventBus();
  const recorder = Recorder.start(path, { runId, batchSize: 500 });
  recorder.attach(bus);
  runDemo(bus, { bars, symbols: ["AAA", "BBB"], seed });
  recorder.close();
}

const fileHash = (path: string) => Bun.hash(readFileSync(path)).toString(16);

/** Breaks the root page of `table` in the file at `path`, as a bad disk would: SQLite finds it malformed. */
function corruptTable(path: string, table: string): void {
  const file = new Database(path, { readonly: true });
  const { page_size } = file.query("PRAGMA page_size").get() as { page_size: number };
  const { rootpage } = file
    .query("SELECT rootpage FROM sqlite_master WHERE name = ?")
    .get(table) as { rootpage: number };
  file.close();
  const fd = openSync(path, "r+");
  try {
    writeSync(fd, Buffer.alloc(4, 0xff), 0, 4, (rootpage - 1) * page_size);
  } finally {
    closeSync(fd);
  }
}

async function withStore<T>(cluster: PgCluster, fn: (store: PgStore) => Promise<T>): Promise<T> {
  const store = await Store.open(cluster.url());
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** Waits until the server runs a COPY into the store (a push is sending rows); false if none came. */
async function copyUnderway(cluster: PgCluster, timeoutMs = 20_000): Promise<boolean> {
  const watcher = new SQL({ path: cluster.dir, username: "runtape", database: "postgres", max: 1 });
  try {
    for (const started = Date.now(); Date.now() - started < timeoutMs; ) {
      const [row] =
        await watcher`SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE 'COPY bars%' AND state = 'active'`;
      if (row.n > 0) return true;
      await Bun.sleep(5);
    }
    return false;
  } finally {
    await watcher.close();
  }
}

/** These tests wait on a server and on other processes: a loaded machine needs room. */
const SLOW = 60_000;

/**
 * After a push that died: nothing of the run in the store (once the server has ended the dead
 * client's transaction), then the next push sends all of it, and the one after sends nothing.
 */
async function expectPushedOnceAfterwards(cluster: PgCluster, db: string, runId: string) {
  await withStore(cluster, async (store) => {
    for (let i = 0; i < 500; i++) {
      const [row] =
        await store.sql`SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE 'COPY bars%' AND state <> 'idle'`;
      if (row.n === 0) break;
      await Bun.sleep(10);
    }
    expect((await store.listRuns()).map((r) => r.run_id)).not.toContain(runId);
    const [rows] = await store.sql`SELECT count(*)::int AS n FROM bars WHERE run_id = ${runId}`;
    expect(rows.n).toBe(0);
  });
  const retry = await cli(["push", db, "--to", cluster.url(), "--run", runId]);
  expect(retry.code).toBe(0);
  expect(retry.stdout).toMatch(new RegExp(`^pushed +${runId} \\(40,000 events`));
  const again = await cli(["push", db, "--to", cluster.url(), "--run", runId]);
  expect(again.stdout).toContain("present");
  await withStore(cluster, async (store) => {
    expect((await store.countEvents(runId)).BarReceived).toBe(40_000n);
  });
}

describeWithPg("store CLI", (cluster) => {
  test(
    "three runs recorded in three processes, eight processes pushing at once (all with one shared run), again, pulled: every run once, identical NDJSON from everywhere",
    async () => {
      const dir = tempDir();
      const url = cluster().url();
      const base = join(dir, "base.db");
      demo(base, "shared", 99);
      const files = [1, 2, 3, 4, 5, 6, 7, 8].map((i) => {
        const path = join(dir, `pusher-${i}.db`);
        copyFileSync(base, path);
        return path;
      });
      // Three runs recorded by three processes; the other five files get theirs in this one.
      const origins = files.slice(0, 3);
      const ids = ["accept-1", "accept-2", "accept-3"];
      const recorded = await Promise.all(
        origins.map((db, i) =>
          runtape(["record", db, "--run-id", ids[i] as string, "--bars", "30", "--seed", `${i}`], {
            via: "source",
          }),
        ),
      );
      expect(recorded.map((r) => r.code)).toEqual([0, 0, 0]);
      for (const [i, path] of files.slice(3).entries()) demo(path, `pusher-${i + 4}`, i, 20);
      const results = await Promise.all(
        files.map((db) => runtape(["push", db, "--to", url, "--json"], { via: "source" })),
      );
      expect(results.map((r) => [r.code, r.stderr])).toEqual(files.map(() => [0, ""]));
      const outcomes = results.flatMap(
        (r) => JSON.parse(r.stdout).runs as { run_id: string; outcome: string }[],
      );
      const shared = outcomes.filter((o) => o.run_id === "shared").map((o) => o.outcome);
      expect(shared.sort()).toEqual([...Array(7).fill("present"), "pushed"]);
      const expectedIds = [...ids, "pusher-4", "pusher-5", "pusher-6", "pusher-7", "pusher-8"];
      expect(outcomes.filter((o) => o.run_id !== "shared")).toEqual(
        expectedIds.map((id) => expect.objectContaining({ run_id: id, outcome: "pushed" })),
      );
      await withStore(cluster(), async (store) => {
        const stored = (await store.listRuns()).map((r) => r.run_id);
        expect(stored.filter((id) => [...expectedIds, "shared"].includes(id)).sort()).toEqual(
          [...expectedIds, "shared"].sort(),
        );
        const [dupes] =
          await store.sql`SELECT count(*)::int AS n FROM (SELECT run_id, id FROM bars GROUP BY run_id, id HAVING count(*) > 1) d`;
        expect(dupes.n).toBe(0);
      });
      for (const db of origins) {
        const again = await cli(["push", db, "--to", url]);
        expect(again.code).toBe(0);
        expect(lines(again.stdout)).toHaveLength(3);
        expect(lines(again.stdout).at(-1)).toContain("0 runs pushed");
      }
      const pulled = join(dir, "pulled.db");
      const pull = await cli([
        "pull",
        url,
        "--into",
        pulled,
        ...ids.flatMap((id) => ["--run", id]),
      ]);
      expect(pull.code).toBe(0);
      expect(lines(pull.stdout).at(-1)).toBe(`3 runs pulled into ${pulled}, 0 already there`);
      for (const [i, id] of ids.entries()) {
        const fromOrigin = await cli(["replay", origins[i] as string, "--run", id]);
        const fromUrl = await cli(["replay", url, "--run", id]);
        const fromPulled = await cli(["replay", pulled, "--run", id]);
        expect(fromOrigin.code).toBe(0);
        expect(lines(fromOrigin.stdout).length).toBeGreaterThan(100);
        expect(fromUrl.stdout).toBe(fromOrigin.stdout);
        expect(fromPulled.stdout).toBe(fromOrigin.stdout);
        const detail = await cli(["inspect", origins[i] as string, "--run", id]);
        expect((await cli(["inspect", url, "--run", id])).stdout).toBe(detail.stdout);
        expect((await cli(["diff", url, origins[i] as string, "--run-a", id])).stdout).toMatch(
          /^runs match/,
        );
      }
      const listed = JSON.parse((await cli(["inspect", url, "--json"])).stdout) as {
        run_id: string;
        events: string | number;
      }[];
      for (const [i, id] of ids.entries()) {
        const local = JSON.parse((await cli(["inspect", origins[i] as string, "--json"])).stdout);
        const entry = (local as { run_id: string; events: unknown }[]).find((r) => r.run_id === id);
        expect(listed.find((r) => r.run_id === id)?.events).toEqual(entry?.events as never);
      }
      const check = await cli(["inspect", url, "--check"]);
      expect([check.code, check.stdout.trim()]).toEqual([0, `${url}: no problems found`]);
    },
    SLOW,
  );

  test(
    "the server killed mid-push: one line, exit 1, file untouched, nothing visible; the next push completes it once",
    async () => {
      const db = join(tempDir(), "big.db");
      bulkRun(db, "big", 40_000);
      const before = fileHash(db);
      const url = cluster().url();
      const pushing = cli(["push", db, "--to", url, "--run", "big"]);
      expect(await copyUnderway(cluster())).toBe(true);
      cluster().kill();
      const failed = await pushing;
      cluster().start();
      expect(failed.code).toBe(1);
      expect(lines(failed.stderr)).toHaveLength(1);
      expect(failed.stderr).toMatch(/^runtape: postgres:\/\/runtape@.*: /);
      expect(fileHash(db)).toBe(before);
      await expectPushedOnceAfterwards(cluster(), db, "big");
    },
    SLOW,
  );

  test(
    "the pusher killed with SIGKILL mid-push: nothing visible, the next push completes it once",
    async () => {
      const db = join(tempDir(), "big.db");
      bulkRun(db, "killed", 40_000);
      const url = cluster().url();
      const proc = await spawnRuntape(["push", db, "--to", url], { via: "source" });
      expect(await copyUnderway(cluster())).toBe(true);
      proc.kill("SIGKILL");
      expect(await proc.exited).not.toBe(0);
      await expectPushedOnceAfterwards(cluster(), db, "killed");
    },
    SLOW,
  );

  test("push says which runs it left out and why: still running, or failed without --all", async () => {
    const db = join(tempDir(), "mixed.db");
    for (const [i, id] of ["done", "broke", "open"].entries()) demo(db, id, i, 5);
    const file = new Database(db);
    file.run("UPDATE runs SET status = 'failed' WHERE run_id = 'broke'");
    file.run("UPDATE runs SET status = 'running', ts_end = NULL WHERE run_id = 'open'");
    file.close();
    const url = cluster().url("postgres"); // a database of its own: ids like "done" are common
    const first = await cli(["push", db, "--to", url]);
    expect([first.code, lines(first.stdout).at(-1)]).toEqual([
      0,
      expect.stringMatching(
        /^1 run pushed to .* \([\d,]+ events\), 0 already there; left out: 1 run still running, 1 failed or cancelled run \(--all sends them\)$/,
      ),
    ]);
    const all = await cli(["push", db, "--to", url, "--all"]);
    expect(lines(all.stdout).at(-1)).toMatch(
      /1 run pushed .*, 1 already there; left out: 1 run still running$/,
    );
  });

  test("push, pull and rm URL take --where: runs picked as runs --where does: a failed run by its status", async () => {
    const db = join(tempDir(), "picked.db");
    for (const [i, id] of ["kept-ok", "picked-broke"].entries()) demo(db, id, i, 5);
    const file = new Database(db);
    file.run("UPDATE runs SET status = 'failed' WHERE run_id = 'picked-broke'");
    file.close();
    const url = await cluster().createDatabase("picked"); // rm --where sees every run it holds
    // As push without --where: a failed run goes with --all only.
    const held = await cli(["push", db, "--to", url, "--where", "status=failed"]);
    expect([held.code, lines(held.stdout)]).toEqual([
      0,
      [
        expect.stringMatching(
          /^0 runs pushed .*; left out: 1 failed or cancelled run \(--all sends them\)$/,
        ),
      ],
    ]);
    const pushed = await cli(["push", db, "--to", url, "--all", "--where", "status=failed"]);
    expect([pushed.code, pushed.stdout]).toEqual([0, expect.stringContaining("picked-broke")]);
    expect(pushed.stdout).not.toContain("kept-ok");
    expect((await cli(["push", db, "--to", url, "--all", "--run", "kept-ok"])).code).toBe(2);
    expect((await cli(["push", db, "--to", url])).code).toBe(0); // kept-ok, completed, too
    const nothing = join(tempDir(), "nothing.db");
    const none = await cli(["pull", url, "--where", "status=cancelled", "--into", nothing]);
    expect([none.code, none.stdout, lines(none.stderr)]).toEqual([
      0,
      "",
      [expect.stringContaining("no run meets --where status=cancelled")],
    ]);
    expect(existsSync(nothing)).toBe(false);
    const offline = join(tempDir(), "offline.db");
    const pulled = await cli(["pull", url, "--where", "status=completed", "--into", offline]);
    expect([pulled.code, storedRuns(offline).map((r) => r.run_id)]).toEqual([0, ["kept-ok"]]);
    const removed = await cli(["rm", url, "--where", "status=failed", "--yes"]);
    expect([removed.code, lines(removed.stdout).map((l) => l.split(/ +/)[0])]).toEqual([
      0,
      ["RUN", "picked-broke"],
    ]);
    const left = await cli(["runs", url, "--json"]);
    expect(left.stdout).not.toContain("picked-broke");
  });

  test("push --where narrows what push sends anyway: completed runs, oldest first, the rest said left out", async () => {
    const db = join(tempDir(), "narrowed.db");
    const ids = ["w-old", "w-broke", "w-open", "w-new", "w-skipped"];
    for (const [i, id] of ids.entries()) demo(db, id, i, 5);
    const file = new Database(db);
    file.run("UPDATE runs SET status = 'failed' WHERE run_id = 'w-broke'");
    file.run("UPDATE runs SET status = 'running', ts_end = NULL WHERE run_id = 'w-open'");
    file.close();
    const url = await cluster().createDatabase("narrowed");
    const where = ["--where", "run_id!=w-skipped"];
    const first = await cli(["push", db, "--to", url, ...where]);
    expect([
      first.code,
      lines(first.stdout).map((l) => l.split(/ +/).slice(0, 2).join(" ")),
    ]).toEqual([0, ["pushed w-old", "pushed w-new", expect.any(String)]]);
    expect(lines(first.stdout).at(-1)).toMatch(
      /^2 runs pushed to .*, 0 already there; left out: 1 run still running, 1 failed or cancelled run \(--all sends them\)$/,
    );
    const all = await cli(["push", db, "--to", url, "--all", ...where]);
    expect([all.code, lines(all.stdout).map((l) => l.split(/ +/).slice(0, 2).join(" "))]).toEqual([
      0,
      ["present w-old", "pushed w-broke", "present w-new", expect.any(String)],
    ]);
    expect(lines(all.stdout).at(-1)).toMatch(
      /1 run pushed .*, 2 already there; left out: 1 run still running$/,
    );
    // --run names runs to send exactly as it did: a running one among them is refused.
    const named = await cli(["push", db, "--to", url, "--run", "w-open", ...where]);
    expect([named.code, named.stderr]).toEqual([1, expect.stringContaining("still running")]);
    const store = await Store.open(url);
    try {
      expect((await store.listRuns()).map((r) => r.run_id).sort()).toEqual([
        "w-broke",
        "w-new",
        "w-old",
      ]);
    } finally {
      await store.close();
    }
  });

  test("push --run latest sends the newest run of the file; rm --run latest names the store's", async () => {
    const db = join(tempDir(), "two.db");
    for (const [i, id] of ["older-of-two", "newer-of-two"].entries()) demo(db, id, i, 5);
    const url = cluster().url();
    const pushed = await cli(["push", db, "--to", url, "--run", "latest"]);
    expect([pushed.code, pushed.stdout]).toEqual([0, expect.stringContaining("newer-of-two")]);
    expect(pushed.stdout).not.toContain("older-of-two");
    const dry = await cli(["rm", url, "--run", "latest", "--run", "newer-of-two"]);
    expect([dry.code, lines(dry.stdout).map((l) => l.split(/ +/)[0])]).toEqual([
      0,
      ["RUN", "newer-of-two"],
    ]);
  });

  test(
    "record --push sends the run when it completes; the run id alone stays on stdout",
    async () => {
      const dir = tempDir();
      const db = join(dir, "rec.db");
      const result = await cli([
        "record",
        db,
        "--bars",
        "10",
        "--run-id",
        "rec-push",
        "--push",
        cluster().url(),
      ]);
      expect(result.code).toBe(0);
      expect(result.stdout).toBe("rec-push\n");
      expect(result.stderr).toMatch(/pushed +rec-push/);
      const replayed = await cli(["replay", cluster().url(), "--run", "rec-push"]);
      expect(replayed.stdout).toBe((await cli(["replay", db, "--run", "rec-push"])).stdout);
      const bad = await cli([
        "record",
        join(dir, "none.db"),
        "--bars",
        "5",
        "--push",
        "postgres://u:pw@h:0/x",
      ]);
      expect(bad.code).toBe(2);
      expect(existsSync(join(dir, "none.db"))).toBe(false);
    },
    SLOW,
  );

  test(
    "bad URLs, wrong passwords and missing stores: one line, the right exit code, never the password (not even with --verbose)",
    async () => {
      const db = join(tempDir(), "runs.db");
      demo(db, "creds", 1, 5);
      const wrong = `wrong-${SECRET_PASSWORD}`;
      const secret = encodeURIComponent(wrong);
      const cases: [string[], number, RegExp][] = [
        [["inspect", `postgres://u:${secret}@h:99999/db`], 2, /malformed store URL/],
        [["inspect", `mysql://u:${secret}@h/db`], 2, /not a PostgreSQL URL/],
        [["push", db, "--to", `mysql://u:${secret}@h/db`], 2, /not a PostgreSQL URL/],
        [
          ["inspect", `postgres://u:${secret}@h/db?host=/a&host=/b`],
          2,
          /parameter "host" given twice/,
        ],
        [["pull", `postgres://u:${secret}@h/db?password=x`, "--into", db], 2, /two passwords/],
        [
          ["push", db, "--to", cluster().secretUrl(wrong), "--verbose"],
          1,
          /password authentication failed/,
        ],
        [["replay", cluster().secretUrl(wrong), "--verbose"], 1, /password authentication failed/],
        [["inspect", cluster().url("missing_db")], 1, /database "missing_db" does not exist/],
        [["push", db, "--to", `postgres://x:${secret}@127.0.0.1:1/db`], 1, /cannot connect/],
        [
          ["replay", cluster().url(), "--into", join(tempDir(), "x.db")],
          2,
          /--into copies from a runs database file/,
        ],
        // A URL where a file is written: refused before any path handling could echo it.
        [["record", `postgres://u:${secret}@h/db`, "--bars", "3"], 2, /is a store URL, not a runs/],
        [["pull", cluster().url(), "--into", `postgres://u:${secret}@h/x`], 2, /is a store URL/],
        [["recover", `postgres://u:${secret}@h/db`], 2, /is a store URL/],
      ];
      for (const [args, code, message] of cases) {
        const r = await cli(args);
        expect([args[0], r.code]).toEqual([args[0], code]);
        expect(r.stderr).toMatch(message);
        if (!args.includes("--verbose"))
          expect(lines(r.stderr).filter((l) => !l.startsWith("  hint:"))).toHaveLength(1);
        expect(r.stderr + r.stdout).not.toContain(wrong);
        expect(r.stderr + r.stdout).not.toContain(secret);
      }
      // A page names its source in its footer: the URL without its password (pages get shared).
      expect((await cli(["push", db, "--to", cluster().secretUrl()])).code).toBe(0);
      const page = join(tempDir(), "creds.html");
      const report = await cli(["report", cluster().secretUrl(), "--run", "creds", "-o", page]);
      expect(report.code).toBe(0);
      const html = readFileSync(page, "utf8");
      expect(html).toContain("Written by runtape");
      expect(html).not.toContain(SECRET_PASSWORD);
      expect(html).not.toContain(encodeURIComponent(SECRET_PASSWORD));
      const saved = { ...process.env };
      for (const name of ["RUNTAPE_STORE", "PGHOST", "PGDATABASE", "PGSERVICE"])
        delete process.env[name];
      try {
        const noStore = await cli(["push", db]);
        expect([noStore.code, lines(noStore.stderr)[0]]).toEqual([2, "runtape: no store given"]);
      } finally {
        Object.assign(process.env, saved);
      }
    },
    SLOW,
  );
  test(
    "a store table without one of its columns: every command refuses the store in one line",
    async () => {
      const url = await cluster().createDatabase("lacking_cli");
      const db = join(tempDir(), "runs.db");
      demo(db, "l1", 1, 5);
      expect((await cli(["push", db, "--to", url])).code).toBe(0);
      demo(db, "l2", 2, 5);
      const label = (await Store.open(url).then((s) => s.close().then(() => s.label))) as string;
      const raw = new SQL({ path: cluster().dir, username: "runtape", database: "lacking_cli" });
      try {
        await raw`ALTER TABLE runs RENAME COLUMN name TO nm`;
        for (const args of [
          ["inspect", url],
          ["replay", url],
          ["push", db, "--to", url],
        ]) {
          const r = await cli(args);
          expect([args[0], r.code, r.stderr]).toEqual([
            args[0],
            1,
            `runtape: ${label}: not a runtape store (runs has no column name)\n`,
          ]);
        }
        expect(
          (await raw`SELECT run_id FROM runs`).map((r: { run_id: string }) => r.run_id),
        ).toEqual(["l1"]);
      } finally {
        await raw.close();
      }
    },
    SLOW,
  );
  test(
    "a store column of another type (real, numeric for double precision): every command refuses the store in one line naming it and both types",
    async () => {
      const url = await cluster().createDatabase("retyped_cli");
      const db = join(tempDir(), "runs.db");
      demo(db, "t1", 1, 5);
      expect((await cli(["push", db, "--to", url])).code).toBe(0);
      demo(db, "t2", 2, 5);
      const label = (await Store.open(url).then((s) => s.close().then(() => s.label))) as string;
      const raw = new SQL({ path: cluster().dir, username: "runtape", database: "retyped_cli" });
      try {
        await raw`ALTER TABLE bars ALTER COLUMN open TYPE real`;
        await raw`ALTER TABLE bars ALTER COLUMN high TYPE numeric`;
        const expectRefused = async (refusal: string) => {
          for (const args of [
            ["push", db, "--to", url],
            ["inspect", url],
            ["replay", url, "--run", "t1"],
          ]) {
            const r = await cli(args);
            expect([args[0], r.code, r.stderr]).toEqual([
              args[0],
              1,
              `runtape: ${label}: not a runtape store (${refusal})\n`,
            ]);
          }
        };
        await expectRefused("bars.open has type real, runtape's has double precision");
        await raw`ALTER TABLE bars ALTER COLUMN open TYPE double precision`;
        await expectRefused("bars.high has type numeric, runtape's has double precision");
        expect(
          (await raw`SELECT run_id FROM runs`).map((r: { run_id: string }) => r.run_id),
        ).toEqual(["t1"]);
      } finally {
        await raw.close();
      }
    },
    SLOW,
  );
  test(
    "a conflicting run and a run changed in the store: each command says what it did and what helps",
    async () => {
      // A database of its own: the run changed here would fail other tests' checks of the store.
      const url = await cluster().createDatabase("conflicts_cli");
      const label = (await Store.open(url).then((s) => s.close().then(() => s.label))) as string;
      const pushed = join(tempDir(), "pushed.db");
      demo(pushed, "clash-1", 1, 5);
      demo(pushed, "changed-1", 2, 5);
      expect((await cli(["push", pushed, "--to", url])).code).toBe(0);
      const other = join(tempDir(), "other dir.db");
      demo(other, "clash-1", 3, 5);
      const pull = await cli(["pull", url, "--run", "clash-1", "--into", other]);
      expect([pull.code, pull.stderr]).toEqual([
        1,
        `runtape: run "clash-1" is already in ${other} with different content (refused; \`runtape rm '${other}' --run clash-1 --yes\` removes the file's copy, or pull into another file)\n`,
      ]);
      // What the hint says works.
      expect((await cli(["rm", other, "--run", "clash-1", "--yes"])).code).toBe(0);
      expect((await cli(["pull", url, "--run", "clash-1", "--into", other])).code).toBe(0);
      demo(other, "changed-1", 4, 5);
      const push = await cli(["push", other, "--to", url, "--run", "changed-1"]);
      expect([push.code, push.stderr]).toEqual([
        1,
        `runtape: run "changed-1" is already in ${label} with different content (refused; --replace overwrites it)\n`,
      ]);
      const raw = new SQL({ path: cluster().dir, username: "runtape", database: "conflicts_cli" });
      await raw`UPDATE bars SET volume = volume + 1 WHERE run_id = ${"changed-1"} AND id = 1`;
      await raw.close();
      const digest = `runtape: run "changed-1" in ${label} does not match the digest it was pushed with`;
      const inspect = await cli(["inspect", url, "--run", "changed-1"]);
      expect([inspect.code, inspect.stderr]).toEqual([
        1,
        `${digest} (its rows were changed in the store after the push)\n`,
      ]);
      const into = join(tempDir(), "into.db");
      const pulled = await cli(["pull", url, "--run", "changed-1", "--into", into]);
      expect([pulled.code, pulled.stderr]).toEqual([1, `${digest} (nothing pulled)\n`]);
    },
    SLOW,
  );
  test(
    "a corrupt page of the file: push and pull name the file, never the store",
    async () => {
      const url = await cluster().createDatabase("corrupt_cli");
      const dir = tempDir();
      const db = join(dir, "src.db");
      demo(db, "c1", 1, 5);
      demo(db, "c2", 2, 5);
      expect((await cli(["push", db, "--to", url, "--run", "c1"])).code).toBe(0);
      const into = join(dir, "into.db");
      copyFileSync(db, into);
      corruptTable(db, "bars");
      corruptTable(into, "bars");
      const corrupt = ": the database is corrupt (database disk image is malformed)\n";
      // c1 is read for its digest (the store holds it), c2 inside the store's transaction.
      for (const run of ["c1", "c2"]) {
        const pushed = await cli(["push", db, "--to", url, "--run", run]);
        expect([run, pushed.code, pushed.stderr]).toEqual([run, 1, `runtape: ${db}${corrupt}`]);
      }
      // The file pulled into holds c1: it is read for its digest.
      const pulled = await cli(["pull", url, "--run", "c1", "--into", into]);
      expect([pulled.code, pulled.stderr]).toEqual([1, `runtape: ${into}${corrupt}`]);
    },
    SLOW,
  );
  test(
    "many runs refused: a line each on stdout, the error names the first three and counts the rest",
    async () => {
      const url = await cluster().createDatabase("many_refused");
      const label = (await Store.open(url).then((s) => s.close().then(() => s.label))) as string;
      const dir = tempDir();
      const ids = ["c0", "c1", "c2", "c3", "c4"];
      for (const id of ids) demo(join(dir, "a.db"), id, 1, 5);
      for (const id of ids) demo(join(dir, "b.db"), id, 2, 5);
      expect((await cli(["push", join(dir, "a.db"), "--to", url])).code).toBe(0);
      const refused = await cli(["push", join(dir, "b.db"), "--to", url]);
      const why = (id: string) =>
        `run "${id}" is already in ${label} with different content (refused; --replace overwrites it)`;
      expect([refused.code, lines(refused.stdout), refused.stderr]).toEqual([
        1,
        [
          ...ids.map((id) => `refused   ${id}: ${why(id)}`),
          `0 runs pushed to ${label} (0 events), 0 already there, 5 not pushed`,
        ],
        `runtape: 5 runs not pushed: ${ids.slice(0, 3).map(why).join("; ")}; and 2 more\n`,
      ]);
    },
    SLOW,
  );
  test(
    "runs the store cannot take (U+0000 in text, a row its own check refuses) are left out: the runs after them are pushed, the error names each, exit 1",
    async () => {
      const url = await cluster().createDatabase("refused_cli");
      const label = (await Store.open(url).then((s) => s.close().then(() => s.label))) as string;
      const dir = tempDir();
      const db = join(dir, "runs.db");
      const bar = (symbol: string, high: number) =>
        `${JSON.stringify({ type: "BarReceived", ts_event_ns: 1, ts_created_ns: 1, symbol, bar_period: "MINUTE", open: 1, high, low: 1, close: 1 })}\n`;
      writeFileSync(join(dir, "nul.ndjson"), bar("A\u0000B", 1));
      writeFileSync(join(dir, "huge.ndjson"), bar("A", 1e12));
      const nul = `run "nul-run" cannot go to the store: bars.symbol: PostgreSQL text cannot hold U+0000 (got "A\\x00B")`;
      // SQLite keeps it, so the run is recorded; no later push could send it, so none is promised.
      const recorded = await cli([
        "record",
        db,
        "--input",
        join(dir, "nul.ndjson"),
        "--run-id",
        "nul-run",
        "--push",
        url,
      ]);
      expect([recorded.code, lines(recorded.stderr).at(-1)]).toEqual([
        1,
        `runtape: ${nul} (run nul-run is recorded in ${db})`,
      ]);
      demo(db, "after-nul", 1, 5);
      const first = await cli(["push", db, "--to", url]);
      expect([first.code, lines(first.stdout), first.stderr]).toEqual([
        1,
        [
          expect.stringMatching(/^pushed +after-nul /),
          `refused   nul-run: ${nul}`,
          expect.stringMatching(/^1 run pushed to .*, 0 already there, 1 not pushed$/),
        ],
        `runtape: ${nul}\n`,
      ]);
      const raw = new SQL({ path: cluster().dir, username: "runtape", database: "refused_cli" });
      try {
        await raw`ALTER TABLE bars ADD CONSTRAINT bars_bounded CHECK (high < 1e9)`;
      } finally {
        await raw.close();
      }
      expect(
        (await cli(["record", db, "--input", join(dir, "huge.ndjson"), "--run-id", "huge"])).code,
      ).toBe(0);
      demo(db, "after-huge", 2, 5);
      const second = await cli(["push", db, "--to", url, "--json"]);
      expect([second.code, second.stderr]).toEqual([
        1,
        `runtape: 2 runs not pushed: ${nul}; ${label} refused run "huge": new row for relation "bars" violates check constraint "bars_bounded"\n`,
      ]);
      const report = JSON.parse(second.stdout);
      expect(
        report.runs.map((r: { run_id: string; outcome: string }) => [r.run_id, r.outcome]),
      ).toEqual([
        ["after-nul", "present"],
        ["after-huge", "pushed"],
      ]);
      expect(
        report.refused.map((r: { run_id: string; code: string }) => [r.run_id, r.code]),
      ).toEqual([
        ["nul-run", "UNSTORABLE_VALUE"],
        ["huge", "RUN_REFUSED"],
      ]);
      const store = await Store.open(url);
      try {
        const stored = (await store.listRuns()).map((r) => r.run_id);
        expect(stored.sort()).toEqual(["after-huge", "after-nul"]);
      } finally {
        await store.close();
      }
      // The file still reads as it was recorded.
      const replayed = await cli(["replay", db, "--run", "nul-run"]);
      expect([replayed.code, replayed.stdout]).toEqual([0, expect.stringContaining('"A\\u0000B"')]);
    },
    SLOW,
  );
  test("rm of a store URL: a dry run lists, --yes removes the runs in one transaction, others stay", async () => {
    const db = join(tempDir(), "rm.db");
    demo(db, "rm-keep", 1);
    demo(db, "rm-gone", 2);
    const url = cluster().url();
    expect(
      (await cli(["push", db, "--to", url, "--run", "rm-keep", "--run", "rm-gone"])).code,
    ).toBe(0);
    const kept = (await cli(["replay", url, "--run", "rm-keep"])).stdout;
    const dry = await cli(["rm", url, "--run", "rm-gone"]);
    expect([dry.code, dry.stdout.split("\n")[1]?.split(/ +/)[0]]).toEqual([0, "rm-gone"]);
    expect((await cli(["inspect", url, "--run", "rm-gone"])).code).toBe(0);
    const refused = await cli(["rm", url, "--run", "rm-gone", "--run", "nope", "--yes"]);
    expect([refused.code, refused.stderr]).toEqual([1, 'runtape: no run with id "nope"\n']);
    expect((await cli(["inspect", url, "--run", "rm-gone"])).code).toBe(0);
    const done = await cli(["rm", url, "--run", "rm-gone", "--yes"]);
    expect([done.code, done.stderr]).toEqual([0, expect.stringContaining("removed 1 run from")]);
    expect((await cli(["inspect", url, "--run", "rm-gone"])).code).toBe(1);
    expect((await cli(["replay", url, "--run", "rm-keep"])).stdout).toBe(kept);
    expect((await cli(["inspect", url, "--check"])).code).toBe(0);
    // Pushed again, it is new to the store: nothing of it was left behind.
    const again = await cli(["push", db, "--to", url, "--run", "rm-gone"]);
    expect([again.code, again.stdout]).toEqual([0, expect.stringContaining("pushed")]);
  });
});
