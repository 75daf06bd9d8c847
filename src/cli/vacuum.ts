import { defineCommand } from "citty";
import { vacuum } from "../manage.ts";
import { commandMeta } from "./commands.ts";
import { openDb } from "./database.ts";
import { logger } from "./output.ts";
import { commonArgs, fileArg } from "./usage.ts";

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

export default defineCommand({
  meta: commandMeta("vacuum"),
  args: {
    db: fileArg,
    ...commonArgs,
  },
  run({ args }) {
    const db = openDb(args.db, args, { mode: "write", create: false, initialize: false });
    try {
      const { before, after } = vacuum(db);
      logger.info(`${args.db}: ${mb(before)} -> ${mb(after)}`);
      return 0;
    } finally {
      db.close();
    }
  },
});
