import { defineCommand } from "citty";
import { stringifyExact } from "../json.ts";
import { type VersionInfo, versionInfo } from "../version.ts";
import { commandMeta } from "./commands.ts";
import { out } from "./output.ts";
import { commonArgs } from "./usage.ts";

/** The version and build facts as lines of `name  value`. */
export function formatVersion(info: VersionInfo): string {
  const source = "- (running from source)";
  const rows: [string, string][] = [
    ["runtape", info.version],
    ["commit", info.commit ?? source],
    ["built", info.built ?? source],
    ["target", info.target ?? source],
    ["bun", info.bun],
    ["layout", `${info.layout} (reads ${info.reads.join(", ")})`],
  ];
  return rows.map(([name, value]) => `${name.padEnd(8)}${value}\n`).join("");
}

export default defineCommand({
  meta: commandMeta("version"),
  args: {
    json: { type: "boolean", description: "As one JSON document" },
    ...commonArgs,
  },
  run({ args }) {
    const info = versionInfo();
    out(args.json ? `${stringifyExact(info, 2)}\n` : formatVersion(info));
  },
});
