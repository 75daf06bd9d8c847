import { defineCommand } from "citty";
import { RunsNotPushedError } from "../errors.ts";
import { counted, formatCount } from "../format.ts";
import { listRuns, type RunRow } from "../runs.ts";
import { defaultStoreUrl, isStoreUrl, type PushedRun, push } from "../store/index.ts";
import { redactUrls } from "../store/url.ts";
import { printable } from "../text.ts";
import { repeated, whereArg } from "./args.ts";
import { commandMeta } from "./commands.ts";
import { openDb } from "./database.ts";
import { out, printJson } from "./output.ts";
import { openStoreArg, pickedRuns } from "./source.ts";
import { commonArgs, fileArg, repeatable, UsageError } from "./usage.ts";

export default defineCommand({
  meta: commandMeta("push"),
  args: {
    db: fileArg,
    to: {
      type: "string",
      valueHint: "URL",
      description: "The store, postgres://… (default: RUNTAPE_STORE, or the PG* variables)",
    },
    run: repeatable({
      type: "string",
      valueHint: "ID|latest",
      description: "Only this run (repeat for more)",
    }),
    where: whereArg("Only"),
    all: { type: "boolean", description: "Failed and cancelled runs too, not only completed ones" },
    replace: {
      type: "boolean",
      description: "Overwrite a run the store holds with different content under the same id",
    },
    json: { type: "boolean", description: "Print one JSON document instead" },
    ...commonArgs,
  },
  async run({ args, rawArgs }) {
    const url = args.to ?? defaultStoreUrl();
    if (url === undefined) {
      throw new UsageError("no store given", "pass --to postgres://… or set RUNTAPE_STORE");
    }
    if (args.to === undefined && !isStoreUrl(url)) {
      throw new UsageError(
        `RUNTAPE_STORE is not a store URL (got ${JSON.stringify(redactUrls(url))})`,
        "set it to postgres://…, or pass --to",
      );
    }
    // --run names exactly the runs to send; --where alone narrows what push would send anyway.
    const named = repeated(rawArgs, "run").length > 0;
    if (args.all && named) throw new UsageError("--all and --run exclude each other");
    const picked = await pickedRuns(args.db, rawArgs, args);
    // None picked: pickedRuns said so, and there is nothing to connect to the store for.
    if (picked?.length === 0) return 0;
    const runs = named ? picked : undefined;
    const among = named ? undefined : picked;
    const db = openDb(args.db, args);
    try {
      const store = await openStoreArg(url, args, { mode: "write" });
      try {
        let results: readonly PushedRun[];
        // Runs the store cannot take: the others were pushed, and are reported before the error.
        let notPushed: RunsNotPushedError | undefined;
        try {
          results = await push(db, store, {
            runs,
            among,
            includeUnfinished: args.all,
            replace: args.replace,
            onRun: args.json ? undefined : (r) => out(`${describePush(r)}\n`),
          });
        } catch (error) {
          if (!(error instanceof RunsNotPushedError)) throw error;
          notPushed = error;
          results = error.pushed;
        }
        const refused = (notPushed?.refused ?? []).map((e) => ({
          runId: e.runId,
          code: e.code,
          message: e.message,
        }));
        if (args.json) {
          printJson({ store: store.label, runs: results, ...(notPushed && { refused }) }, {});
        } else {
          // Without --run, runs that are not finished are left out: say so, or a push of a file
          // whose runs all failed would read as if there were nothing to send.
          const sent = new Set([...results, ...refused].map((r) => r.runId));
          const considered = among === undefined ? undefined : new Set(among);
          const left =
            runs === undefined
              ? listRuns(db).filter(
                  (r) =>
                    !sent.has(r.run_id) && (considered === undefined || considered.has(r.run_id)),
                )
              : [];
          // The error names the first few; each has its line here, as the runs pushed have.
          for (const r of refused)
            out(`${"refused".padEnd(9)} ${printable(r.runId)}: ${printable(r.message)}\n`);
          out(`${summary(results, store.label, refused.length)}${leftOut(left)}\n`);
        }
        if (notPushed !== undefined) throw notPushed;
        return 0;
      } finally {
        await store.close();
      }
    } finally {
      db.close();
    }
  },
});

/** One line per run: what happened and how fast. */
export function describePush(r: PushedRun): string {
  if (r.outcome === "present")
    return `present   ${printable(r.runId)} (already in the store, nothing sent)`;
  const rate = r.seconds > 0 ? Math.round(Number(r.events) / r.seconds) : 0;
  return `${r.outcome.padEnd(9)} ${printable(r.runId)} (${counted(r.events, "event")} in ${r.seconds.toFixed(2)} s, ${formatCount(rate)} events/s)`;
}

/** What a push without --run left out, and why; empty when nothing was. */
function leftOut(runs: readonly RunRow[]): string {
  const running = runs.filter((r) => r.status === "running").length;
  const unfinished = runs.length - running;
  const parts = [
    running > 0 ? `${counted(running, "run")} still running` : "",
    unfinished > 0 ? `${counted(unfinished, "failed or cancelled run")} (--all sends them)` : "",
  ].filter((part) => part !== "");
  return parts.length === 0 ? "" : `; left out: ${parts.join(", ")}`;
}

function summary(results: readonly PushedRun[], label: string, refused: number): string {
  const sent = results.filter((r) => r.outcome !== "present");
  const events = sent.reduce((n, r) => n + r.events, 0n);
  return `${counted(sent.length, "run")} pushed to ${label} (${counted(events, "event")}), ${formatCount(results.length - sent.length)} already there${refused > 0 ? `, ${formatCount(refused)} not pushed` : ""}`;
}
