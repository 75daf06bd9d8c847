import { defineCommand } from "citty";
import { counted, isoNs } from "../format.ts";
import { recoverRuns, unjudgeableRuns } from "../inspect.ts";
import { printable } from "../text.ts";
import { commandMeta } from "./commands.ts";
import { changeDb } from "./database.ts";
import { logger, out } from "./output.ts";
import { commonArgs, fileArg } from "./usage.ts";

export default defineCommand({
  meta: commandMeta("recover"),
  args: {
    db: fileArg,
    run: {
      type: "string",
      valueHint: "ID",
      description:
        "Only this run (an error if it is not stale; one runtape did not record is closed: you say its process has ended)",
    },
    ...commonArgs,
  },
  run({ args }) {
    const { recovered, unjudged } = changeDb(
      args.db,
      args,
      (db, dryRun) => ({
        recovered: recoverRuns(db, { runId: args.run, dryRun }),
        unjudged: args.run === undefined ? unjudgeableRuns(db) : [],
      }),
      (planned) => planned.recovered.length > 0,
    );
    for (const r of recovered) {
      out(`${printable(r.runId)}\tfailed\t${r.events} events\tended ${isoNs(r.tsEnd)}\n`);
    }
    logger.info(
      recovered.length === 0
        ? "no stale runs"
        : `closed ${counted(recovered.length, "stale run")} as failed`,
    );
    // Passed over in silence, such a run would stay `running` with no word of how to end it.
    if (unjudged.length > 0) {
      const them = unjudged.length === 1 ? "it" : "them";
      logger.info(
        `${counted(unjudged.length, "running run")} not judged (runtape did not record ${them}): ${unjudged.map((id) => printable(JSON.stringify(id))).join(", ")}; name one with --run to close it`,
      );
    }
    return 0;
  },
});
