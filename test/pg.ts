/**
 * Throwaway PostgreSQL clusters for the store tests: initdb into a temporary directory, a server
 * that listens only on a unix socket in that directory (several suites may run at once: no port is
 * shared), trust for the test role and a password for one more, removed at the end.
 */
import { afterAll, beforeAll, describe } from "bun:test";
import {
  chownSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";

/** The directory of the newest installed PostgreSQL's binaries (`PG_BIN` overrides), if any. */
export function findPgBin(): string | undefined {
  const candidates = process.env.PG_BIN ? [process.env.PG_BIN] : [];
  const root = "/usr/lib/postgresql";
  if (existsSync(root)) {
    const versions = readdirSync(root).sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((v) => join(root, v, "bin")));
  }
  return candidates.find((dir) => existsSync(join(dir, "initdb")));
}

const PG_BIN = findPgBin();

/** The role that needs a password, and its password. */
export const SECRET_ROLE = "secret_role";
export const SECRET_PASSWORD = "s3cr3t-P4ss word!";

export interface PgCluster {
  /** The socket directory, which also holds the data directory. */
  readonly dir: string;
  /** A URL of the trusted test role to `database` (default `runtape`). */
  url(database?: string): string;
  /** A URL of the password-protected role (owner of its own database) with `password` (default the right one). */
  secretUrl(password?: string, database?: string): string;
  /** Creates the database `name` (of the trusted role) and returns its {@link url}. */
  createDatabase(name: string): Promise<string>;
  /** The server's process id. */
  pid(): number;
  /** Starts the server again after {@link kill}. */
  start(): void;
  /** Stops the server at once, as a crash would (`pg_ctl stop -m immediate`). */
  kill(): void;
  /** Stops the server and removes the directory. */
  remove(): void;
}

/** Runs a PostgreSQL binary as an unprivileged user: the server refuses to run as root. */
function pg(bin: string, args: string[]): void {
  const exe = join(PG_BIN as string, bin);
  const cmd =
    process.getuid?.() === 0 ? ["runuser", "-u", "postgres", "--", exe, ...args] : [exe, ...args];
  const result = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) {
    throw new Error(`${bin} ${args.join(" ")} failed: ${result.stderr.toString().trim()}`);
  }
}

/** A new cluster with the databases `runtape` and the roles the tests use, started. */
export async function startCluster(): Promise<PgCluster> {
  const dir = mkdtempSync("/tmp/runtape-pg-");
  if (process.getuid?.() === 0) chownSync(dir, uidOf("postgres") as number, -1);
  const data = join(dir, "data");
  // Also removed when the test process exits: a timed-out hook or a failed start leaves no server.
  const remove = () => {
    live.delete(remove);
    try {
      pg("pg_ctl", ["-D", data, "-m", "immediate", "stop"]);
    } catch {
      // already stopped
    }
    rmSync(dir, { recursive: true, force: true });
  };
  live.add(remove);
  pg("initdb", [
    "--no-sync",
    "--auth=trust",
    "--username=runtape",
    "--encoding=UTF8",
    "--locale=C",
    "-D",
    data,
  ]);
  writeFileSync(
    join(data, "pg_hba.conf"),
    `local all ${SECRET_ROLE} scram-sha-256\nlocal all all trust\n`,
  );
  const start = () =>
    pg("pg_ctl", [
      "-D",
      data,
      "-w",
      "-l",
      join(dir, "server.log"),
      "-o",
      `-c listen_addresses='' -c unix_socket_directories='${dir}' -c fsync=off -c full_page_writes=off -c max_connections=40`,
      "start",
    ]);
  start();
  const url = (database = "runtape") => `postgres://runtape@localhost/${database}?host=${dir}`;
  const admin = new Bun.SQL({ path: dir, username: "runtape", database: "postgres", max: 1 });
  try {
    await admin.unsafe("CREATE DATABASE runtape");
    await admin.unsafe(`CREATE ROLE ${SECRET_ROLE} LOGIN PASSWORD '${SECRET_PASSWORD}'`);
    await admin.unsafe(`CREATE DATABASE ${SECRET_ROLE} OWNER ${SECRET_ROLE}`);
  } finally {
    await admin.close();
  }
  return {
    dir,
    url,
    secretUrl: (password = SECRET_PASSWORD, database = SECRET_ROLE) =>
      `postgres://${SECRET_ROLE}:${encodeURIComponent(password)}@localhost/${database}?host=${dir}`,
    async createDatabase(name: string) {
      const sql = new Bun.SQL({ path: dir, username: "runtape", database: "postgres", max: 1 });
      try {
        await sql.unsafe(`CREATE DATABASE ${name}`);
      } finally {
        await sql.close();
      }
      return url(name);
    },
    pid: () => Number(readFileSync(join(data, "postmaster.pid"), "utf8").split("\n")[0]),
    start,
    kill: () => pg("pg_ctl", ["-D", data, "-m", "immediate", "stop"]),
    remove,
  };
}

const live = new Set<() => void>();
process.on("exit", () => {
  for (const remove of live) remove();
});

/** The uid of `user`, if the system has one. */
function uidOf(user: string): number | undefined {
  const line = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${user}:`));
  return line === undefined ? undefined : Number(line.split(":")[2]);
}

/** Why the store tests cannot run here, or undefined when they can. */
export const NO_PG_REASON =
  PG_BIN === undefined
    ? "skipped: no PostgreSQL binaries (install postgresql or set PG_BIN)"
    : process.getuid?.() === 0 && uidOf("postgres") === undefined
      ? "skipped: running as root and no postgres user to run the server as"
      : undefined;

/**
 * A describe block with one cluster for all its tests (started before the first, removed after the
 * last); skipped with the reason where PostgreSQL is not installed.
 */
export function describeWithPg(name: string, fn: (cluster: () => PgCluster) => void): void {
  if (NO_PG_REASON !== undefined) {
    describe.skip(`${name} (${NO_PG_REASON})`, () => fn(() => undefined as unknown as PgCluster));
    return;
  }
  describe(name, () => {
    let cluster: PgCluster | undefined;
    // initdb and a server start take a while on a loaded machine.
    beforeAll(async () => {
      cluster = await startCluster();
    }, 60_000);
    afterAll(() => cluster?.remove(), 60_000);
    fn(() => cluster as PgCluster);
  });
}
