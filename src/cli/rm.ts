import { defineCommand } from "citty";
import { counted, formatCount } from "../format.ts";
import { type RemovedRun, removeRuns } from "../manage.ts";
import { isStoreUrl } from "../store/index.ts";
import { removeStoredRuns } from "../store/remove.ts";
import { redactUrls } from "../store/url.ts";
import { printable } from "../text.ts";
import { whereArg } from "./args.ts";
import { commandMeta } from "./commands.ts";
import { changeDb } from "./database.ts";
import { logger, out, table } from "./output.ts";
import { openStoreArg, pickedRuns } from "./source.ts";
import { commonArgs, repeatable, sourceArg, UsageError } from "./usage.ts";

export default defineCommand({
  meta: commandMeta("rm"),
  args: {
    db: sourceArg,
    run: repeatable({
      type: "string",
      valueHint: "ID|latest",
      description: "A run to remove (repeat for more)",
    }),
    where: whereArg("Remove"),
    yes: { type: "boolean", description: "Remove them (without it: a dry run that lists them)" },
    ...commonArgs,
  },
  async run({ args, rawArgs }) {
    const runIds = await pickedRuns(args.db, rawArgs, args);
    if (runIds === undefined)
      throw new UsageError("rm needs at least one --run ID or --where KEY=VALUE");
    const dryRun = !args.yes;
    let removed: RemovedRun[];
    if (isStoreUrl(args.db)) {
      const store = await openStoreArg(args.db, args);
      try {
        removed = await removeStoredRuns(store, runIds, { dryRun });
      } finally {
        await store.close();
      }
    } else {
      // A dry run only lists: it reads where the file may not be written.
      removed = changeDb(
        args.db,
        args,
        (db, checking) => removeRuns(db, runIds, { dryRun: checking }),
        () => !dryRun,
      );
    }
    if (removed.length > 0) {
      out(
        `${table(
          ["RUN", "NAME", "STATUS", "EVENTS"],
          removed.map((r) => [
            printable(r.runId),
            printable(r.name),
            r.status,
            formatCount(r.events),
          ]),
        )}\n`,
      );
    }
    logger.info(
      args.yes
        ? `removed ${counted(removed.length, "run")} from ${redactUrls(args.db)}`
        : removed.length === 0
          ? "dry run: no run to remove"
          : `dry run: nothing removed; run again with --yes to remove ${counted(removed.length, "run")}`,
    );
    return 0;
  },
});
