import { defineCommand } from "citty";
import { vacuum } from "../manage.ts";
import { commonArgs } from "./args.ts";
import { openDb } from "./database.ts";
import { logger } from "./output.ts";

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

export default defineCommand({
  meta: { name: "vacuum", description: "Give the space of removed runs back to the disk" },
  args: {
    db: { type: "positional", required: false, default: "./runs.db", description: "Runs database" },
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
