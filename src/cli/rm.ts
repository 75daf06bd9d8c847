import { defineCommand } from "citty";
import { removeRuns } from "../manage.ts";
import { printable } from "../text.ts";
import { commonArgs, repeated, UsageError } from "./args.ts";
import { openDb } from "./database.ts";
import { logger, out, table } from "./output.ts";

export default defineCommand({
  meta: {
    name: "rm",
    description: "Remove runs and their events (lists them only, unless --yes)",
  },
  args: {
    db: { type: "positional", required: false, default: "./runs.db", description: "Runs database" },
    run: { type: "string", valueHint: "ID", description: "A run to remove (repeat for more)" },
    yes: { type: "boolean", description: "Remove them (without it: a dry run that lists them)" },
    ...commonArgs,
  },
  run({ args, rawArgs }) {
    const runIds = repeated(rawArgs, "run");
    if (runIds.length === 0) throw new UsageError("rm needs at least one --run ID");
    const db = openDb(args.db, args, { mode: "write", create: false, initialize: false });
    try {
      const removed = removeRuns(db, runIds, { dryRun: !args.yes });
      out(
        `${table(
          ["RUN", "NAME", "STATUS", "EVENTS"],
          removed.map((r) => [
            printable(r.runId),
            printable(r.name),
            r.status,
            r.events.toLocaleString("en-US"),
          ]),
        )}\n`,
      );
      logger.info(
        args.yes
          ? `removed ${removed.length} run(s) from ${args.db}`
          : `dry run: nothing removed; run again with --yes to remove ${removed.length} run(s)`,
      );
      return 0;
    } finally {
      db.close();
    }
  },
});
