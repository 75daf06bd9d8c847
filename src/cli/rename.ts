import { defineCommand } from "citty";
import { renameRun } from "../manage.ts";
import { resolveRunId } from "../runs.ts";
import { printable } from "../text.ts";
import { parseRunId } from "./args.ts";
import { commandMeta } from "./commands.ts";
import { changeDb } from "./database.ts";
import { logger } from "./output.ts";
import { commonArgs, fileArg, UsageError } from "./usage.ts";

export default defineCommand({
  meta: commandMeta("rename"),
  args: {
    db: fileArg,
    run: { type: "string", valueHint: "ID|latest", description: "The run to rename" },
    to: { type: "string", valueHint: "ID", description: "Its new id" },
    ...commonArgs,
  },
  run({ args }) {
    if (args.run === undefined || args.to === undefined) {
      throw new UsageError("rename needs --run OLD and --to NEW");
    }
    const to = parseRunId(args.to, "--to") as string;
    const from = changeDb(
      args.db,
      args,
      (db, dryRun) => {
        const from = resolveRunId(db, args.run);
        renameRun(db, from, to, { dryRun });
        return from;
      },
      () => true,
    );
    logger.info(`renamed run ${printable(JSON.stringify(from))} to ${JSON.stringify(to)}`);
    return 0;
  },
});
