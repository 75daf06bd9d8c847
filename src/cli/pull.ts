import { defineCommand } from "citty";
import { counted, formatCount } from "../format.ts";
import { type PulledRun, pull } from "../store/index.ts";
import { printable } from "../text.ts";
import { whereArg } from "./args.ts";
import { commandMeta } from "./commands.ts";
import { checkTargetArg } from "./database.ts";
import { out, printJson } from "./output.ts";
import { openStoreArg, pickedRuns } from "./source.ts";
import { commonArgs, repeatable } from "./usage.ts";

export default defineCommand({
  meta: commandMeta("pull"),
  args: {
    url: { type: "positional", required: true, description: "The store, postgres://…" },
    into: {
      type: "string",
      required: true,
      valueHint: "DB",
      description: "Runs database to copy into (created if missing)",
    },
    run: repeatable({
      type: "string",
      valueHint: "ID|latest",
      description: "Only this run (repeat for more; default all)",
    }),
    where: whereArg("Only"),
    json: { type: "boolean", description: "Print one JSON document instead" },
    ...commonArgs,
  },
  async run({ args, rawArgs }) {
    checkTargetArg(args.into);
    const store = await openStoreArg(args.url, args);
    try {
      const runs = await pickedRuns(store, rawArgs, args);
      // None picked: pickedRuns said so; pull would still create an empty runs database.
      if (runs?.length === 0) return 0;
      const results = await pull(store, args.into, {
        runs,
        onRun: args.json ? undefined : (r) => out(`${describePull(r)}\n`),
      });
      if (args.json) printJson({ into: args.into, runs: results }, {});
      else {
        const copied = results.filter((r) => r.outcome === "pulled");
        out(
          `${counted(copied.length, "run")} pulled into ${args.into}, ${formatCount(results.length - copied.length)} already there\n`,
        );
      }
      return 0;
    } finally {
      await store.close();
    }
  },
});

export function describePull(r: PulledRun): string {
  if (r.outcome === "present")
    return `present   ${printable(r.runId)} (already in the file, nothing copied)`;
  return `pulled    ${printable(r.runId)} (${counted(r.events, "event")} in ${r.seconds.toFixed(2)} s)`;
}
