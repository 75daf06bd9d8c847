/**
 * runtape's commands: what each is for, as `runtape --help` lists it, and its module, loaded only
 * when the command runs. The list is here rather than read from each module so that `--help`
 * loads none of them (the event catalog, SQLite, ECharts …): it was most of `--help`'s time.
 */
export const COMMANDS = {
  record: {
    description: "Record a run: NDJSON events from a file or stdin, or the built-in demo backtest",
    load: () => import("./record.ts"),
  },
  replay: {
    description: "Replay a recorded run as events on stdout, or re-record it into another database",
    load: () => import("./replay.ts"),
  },
  inspect: {
    description: "List the runs of a database, or show one run in detail",
    load: () => import("./inspect.ts"),
  },
  diff: {
    description:
      "Compare two runs event by event (runs databases, stores or NDJSON files): exit 0 same, 1 differ",
    load: () => import("./diff.ts"),
  },
  recover: {
    description: "Close runs left running by a recording process that died, as failed",
    load: () => import("./recover.ts"),
  },
  backtest: {
    description: "Run a strategy module on a recorded feed (or the demo feed) and record the run",
    load: () => import("./backtest.ts"),
  },
  version: {
    description: "Show the version, commit, build date, Bun version, target and database layout",
    load: () => import("./version.ts"),
  },
  push: {
    description: "Send finished runs of a runs database to a PostgreSQL store, each exactly once",
    load: () => import("./push.ts"),
  },
  pull: {
    description: "Copy runs from a PostgreSQL store into a runs database file",
    load: () => import("./pull.ts"),
  },
  rm: {
    description:
      "Remove runs and their events from a file or a store (lists them only, unless --yes)",
    load: () => import("./rm.ts"),
  },
  rename: {
    description: "Give a run a new id",
    load: () => import("./rename.ts"),
  },
  tag: {
    description: "Set tags (key=value) in a run's metadata; key= removes a tag",
    load: () => import("./tag.ts"),
  },
  vacuum: {
    description: "Give the space of removed runs back to the disk",
    load: () => import("./vacuum.ts"),
  },
  report: {
    description: "Write a self-contained HTML report of a run, or a page comparing runs",
    load: () => import("./report.ts"),
  },
  runs: {
    description: "A sweep as a table: each run, the config parameters that differ, its metrics",
    load: () => import("./runs.ts"),
  },
  merge: {
    description: "Copy runs from several runs databases into one (created if missing)",
    load: () => import("./merge.ts"),
  },
  export: {
    description: "Write runs as Parquet or CSV files, one per event table and run (Hive layout)",
    load: () => import("./export.ts"),
  },
} as const satisfies Record<string, { description: string; load: () => Promise<unknown> }>;

/** A command's name. */
export type CommandName = keyof typeof COMMANDS;

/** The `meta` of command `name`'s definition. */
export const commandMeta = (name: CommandName) => ({
  name,
  description: COMMANDS[name].description,
});
