import { defineCommand } from "citty";
import { counted, formatCount } from "../format.ts";
import { CONFLICT_POLICIES, mergeRuns } from "../merge.ts";
import { printable } from "../text.ts";
import { describeWhere, parseConditions, repeated, repeatedIfGiven, whereArg } from "./args.ts";
import { commandMeta } from "./commands.ts";
import { checkDbArg, checkTargetArg } from "./database.ts";
import { logger, out } from "./output.ts";
import { commonArgs, parseChoice, repeatable, UsageError } from "./usage.ts";

export default defineCommand({
  meta: commandMeta("merge"),
  args: {
    out: { type: "positional", required: true, description: "Runs database to merge into" },
    inputs: {
      type: "positional",
      required: true,
      valueHint: "IN...",
      description: "Runs databases to merge from, one or more",
    },
    run: repeatable({
      type: "string",
      valueHint: "ID|latest",
      description:
        "Only this run (latest: the sources' newest); repeat for several (default: every run)",
    }),
    where: whereArg("Only"),
    "on-conflict": {
      type: "string",
      valueHint: CONFLICT_POLICIES.join("|"),
      description:
        "A different run under an existing id: fail (default, nothing changes), skip it, or rename it",
    },
    "include-running": {
      type: "boolean",
      description: "Merge runs still running, as they stand now (refused by default)",
    },
    ...commonArgs,
  },
  run({ args, rawArgs }) {
    const inputs = (args._ as string[]).slice(1);
    if (inputs.length === 0)
      throw new UsageError("merge needs at least one runs database to merge from");
    checkTargetArg(args.out);
    for (const input of inputs) {
      checkDbArg(input, "`runtape pull URL --into FILE` copies a store's runs into a file");
    }
    const whereTexts = repeated(rawArgs, "where");
    const where = parseConditions(whereTexts);
    const merged = mergeRuns(args.out, inputs, {
      runs: repeatedIfGiven(rawArgs, "run"),
      where,
      onConflict: parseChoice(args["on-conflict"], "--on-conflict", CONFLICT_POLICIES),
      includeRunning: args["include-running"],
      // Each line as its run is merged: a run that fails later leaves those before it said.
      onRun: (m) => {
        const from = m.runId === m.sourceRunId ? "" : `\t(was ${printable(m.sourceRunId)})`;
        // Escaped: a TAB or a line break in an id or a path would add a column or forge a line.
        out(`${m.action}\t${printable(m.runId)}\t${printable(m.source)}\t${m.events}${from}\n`);
      },
    });
    if (merged.length === 0) {
      logger.info(
        whereTexts.length > 0
          ? `nothing to merge: no run meets ${describeWhere(whereTexts)}`
          : "nothing to merge: the sources hold no runs",
      );
      return 0;
    }
    const copied = merged.filter((m) => m.action === "copied" || m.action === "renamed");
    const events = copied.reduce((sum, m) => sum + m.events, 0);
    const kept = merged.filter((m) => m.action === "kept").length;
    const identical = merged.length - copied.length - kept;
    // Runs --on-conflict skip passed over differ from the target's: not "already there".
    const differing =
      kept > 0 ? `, ${formatCount(kept)} differing left as the target holds them` : "";
    logger.success(
      `merged ${counted(copied.length, "run")} (${counted(events, "event")}) into ${args.out}; ${formatCount(identical)} already there${differing}`,
    );
    return 0;
  },
});
