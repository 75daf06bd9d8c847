import pkg from "../package.json" with { type: "json" };
import { PYTHON_SCHEMA_VERSION } from "./events/event-catalog.ts";
import { SCHEMA_VERSION } from "./schema.ts";

/** What scripts/build.ts bakes into a compiled binary. */
export interface BuildInfo {
  /** The commit built from, `-dirty` when the checkout had changes; null outside git. */
  commit: string | null;
  /** When the binary was built, ISO-8601 UTC. */
  built: string;
  /** The `bun build --compile` target, e.g. `bun-linux-x64-baseline`. */
  target: string;
}

// Replaced by the build's `define`; absent when runtape runs from source.
declare const RUNTAPE_BUILD: BuildInfo | undefined;

/** The facts `runtape version --json` reports. */
export interface VersionInfo {
  version: string;
  /** Null when running from source rather than a compiled binary. */
  commit: string | null;
  built: string | null;
  target: string | null;
  /** The Bun runtime this process runs on (in a binary: the one compiled into it). */
  bun: string;
  /** The runs-database layout version runtape writes. */
  layout: number;
  /** The layout versions it reads. */
  reads: number[];
}

/** This runtape's version and, in a compiled binary, where it was built from. */
export function versionInfo(): VersionInfo {
  const build = typeof RUNTAPE_BUILD === "undefined" ? undefined : RUNTAPE_BUILD;
  return {
    version: pkg.version,
    commit: build?.commit ?? null,
    built: build?.built ?? null,
    target: build?.target ?? null,
    bun: Bun.version,
    layout: SCHEMA_VERSION,
    // Every layout from the Python recorder's to this one's: older files are migrated on write.
    reads: Array.from(
      { length: SCHEMA_VERSION - PYTHON_SCHEMA_VERSION + 1 },
      (_, i) => PYTHON_SCHEMA_VERSION + i,
    ),
  };
}
