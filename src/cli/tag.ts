import { existsSync } from "node:fs";
import { defineCommand } from "citty";
import { stringifyExact } from "../json.ts";
import { changeTags, type TagChange } from "../manage.ts";
import { resolveRunId } from "../runs.ts";
import { printable } from "../text.ts";
import { onceEach, repeated, whereArg } from "./args.ts";
import { commandMeta } from "./commands.ts";
import { changeDb } from "./database.ts";
import { out } from "./output.ts";
import { pickedRuns } from "./source.ts";
import { commonArgs, fileArg, UsageError } from "./usage.ts";

export default defineCommand({
  meta: commandMeta("tag"),
  args: {
    db: fileArg,
    tags: {
      type: "positional",
      required: false,
      valueHint: "KEY=VALUE...",
      description: "Tags to set (KEY= removes one)",
    },
    run: { type: "string", valueHint: "ID|latest", description: "The run (default: latest)" },
    where: whereArg("Tag"),
    ...commonArgs,
  },
  async run({ args, rawArgs }) {
    // DB may be left out: a first argument that holds "=" is a tag, unless it names a file.
    const first = args._[0];
    const dbGiven = first !== undefined && !(first.includes("=") && !existsSync(first));
    const path = dbGiven ? first : fileArg.default;
    const pairs = args._.slice(dbGiven ? 1 : 0);
    if (pairs.length === 0) throw new UsageError("tag needs at least one key=value");
    const tags: Record<string, string> = {};
    for (const pair of pairs) {
      const at = pair.indexOf("=");
      if (at <= 0) throw new UsageError(`tags are key=value (got ${JSON.stringify(pair)})`);
      const key = pair.slice(0, at);
      // Assigned to an object, __proto__ would set its prototype: the tag would vanish unsaid.
      if (key === "__proto__") throw new UsageError('"__proto__" cannot be a tag\'s key');
      tags[key] = pair.slice(at + 1);
    }
    onceEach(
      pairs.map((pair) => pair.slice(0, pair.indexOf("="))),
      "tags",
    );
    const selecting = repeated(rawArgs, "where").length > 0;
    const picked = selecting ? await pickedRuns(path, rawArgs, args) : undefined;
    const changes = changeDb(
      path,
      args,
      (db, dryRun) => changeTags(db, picked ?? [resolveRunId(db, args.run)], tags, { dryRun }),
      (planned) => planned.some((c) => c.changed),
    );
    const text = (c: TagChange) => printable(stringifyExact(c.tags));
    // One run: its tags; a selection: a line per run, its id and its tags.
    if (picked === undefined) out(`${text(changes[0] as TagChange)}\n`);
    else for (const c of changes) out(`${printable(c.runId)}\t${text(c)}\n`);
    return 0;
  },
});
