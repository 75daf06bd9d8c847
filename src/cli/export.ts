import { defineCommand } from "citty";
import { EVENT_TYPES, fieldsOf } from "../events/catalog.ts";
import { EXPORT_FORMATS, type ExportFormat, type ExportSummary, exportRuns } from "../export.ts";
import { counted } from "../format.ts";
import { printable } from "../text.ts";
import { parseTypes, whereArg } from "./args.ts";
import { commandMeta } from "./commands.ts";
import { logger } from "./output.ts";
import { onTermination } from "./signals.ts";
import { pickedRuns } from "./source.ts";
import { commonArgs, parseChoice, repeatable, sourceArg, UsageError } from "./usage.ts";

const FORMATS = Object.keys(EXPORT_FORMATS) as ExportFormat[];

export default defineCommand({
  meta: commandMeta("export"),
  args: {
    db: sourceArg,
    format: {
      type: "string",
      valueHint: FORMATS.join("|"),
      description: "File format (required)",
    },
    out: {
      type: "string",
      valueHint: "DIR",
      description: "Directory to write, created if missing; it must be empty (required)",
    },
    run: repeatable({
      type: "string",
      valueHint: "ID|latest",
      description: "Only this run; repeat for several (default: every run)",
    }),
    where: whereArg("Only"),
    types: {
      type: "string",
      valueHint: "T,…",
      description: "Only the tables of these event types",
    },
    "indicator-columns": {
      type: "boolean",
      description: "Also one DOUBLE column per indicator name (indicator_<name>) beside the JSON",
    },
    ...commonArgs,
  },
  async run({ args, rawArgs }) {
    const format = parseChoice(args.format, "--format", FORMATS);
    if (format === undefined)
      throw new UsageError("--format is required", `one of ${FORMATS.join(", ")}`);
    if (args.out === undefined || args.out === "") {
      throw new UsageError("--out is required", "the directory to write");
    }
    const types = parseTypes(args.types, "--types");
    const withIndicators = EVENT_TYPES.filter((type) =>
      fieldsOf(type).some(([, field]) => field.kind === "indicators"),
    );
    if (args["indicator-columns"] && types?.some((t) => withIndicators.includes(t)) === false) {
      throw new UsageError(
        `--indicator-columns applies to ${withIndicators.join(", ")}, which --types leaves out`,
      );
    }
    const runs = await pickedRuns(args.db, rawArgs, args);
    // None picked: pickedRuns said so; an --out holding an empty runs table would say less.
    if (runs?.length === 0) return 0;
    const abort = new AbortController();
    let stopped: { signal: string; code: number } | undefined;
    // The export removes what it wrote before it ends, so the handler only asks it to stop.
    const release = onTermination((signal, code) => {
      stopped ??= { signal, code };
      abort.abort();
    });
    const options = {
      format,
      out: args.out,
      runs,
      types,
      indicatorColumns: args["indicator-columns"],
      signal: abort.signal,
    };
    let summary: ExportSummary;
    try {
      summary = await exportRuns(args.db, options);
    } catch (error) {
      if (stopped === undefined) throw error;
      logger.fail(`${stopped.signal}: export cancelled, nothing kept under ${printable(args.out)}`);
      return stopped.code;
    } finally {
      release();
    }
    const perEvent = summary.events === 0 ? 0 : summary.bytes / summary.events;
    logger.success(
      `exported ${counted(summary.runs, "run")}, ${counted(summary.events, "event")} into ${counted(summary.files, "file")} under ${args.out} (${(summary.bytes / 1e6).toFixed(1)} MB${summary.events === 0 ? "" : `, ${perEvent.toFixed(1)} bytes/event`})`,
    );
    return 0;
  },
});
