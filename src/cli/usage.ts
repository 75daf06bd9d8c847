/**
 * What a command line must be before any command runs: the usage error and the checks of raw
 * arguments against a command's declaration. Apart from the rest of args.ts, which needs the event
 * catalog, so that `runtape --help` loads nothing it does not print.
 */
import type { ArgsDef } from "citty";
import { RuntapeError } from "../errors.ts";

/** A command line the CLI cannot act on: exit code 2. */
export class UsageError extends RuntapeError {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message, "USAGE");
  }
}

/** Options every command takes. */
export const commonArgs = {
  verbose: { type: "boolean", description: "Show stack traces of errors and how files are opened" },
  quiet: {
    type: "boolean",
    description: "Print only errors and warnings (no progress, no summaries)",
  },
} as const satisfies ArgsDef;

/** The database argument and the run option of the commands that read one run. */
export const runArgs = {
  db: { type: "positional", required: false, default: "./runs.db", description: "Runs database" },
  run: { type: "string", valueHint: "ID|latest", description: "The run (default: latest)" },
} as const satisfies ArgsDef;

const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/**
 * Checks raw arguments against a command's declaration, which citty does not: unknown options,
 * options missing their value, and surplus positional arguments are usage errors.
 */
export function checkArgs(rawArgs: readonly string[], def: ArgsDef): void {
  const flags = new Map<string, "boolean" | "string">();
  // An enum's choices, by every name of its flag: refused in the words of parseChoice, not citty's.
  const choices = new Map<string, { flag: string; options: readonly string[] }>();
  let positionals = 0;
  for (const [name, arg] of Object.entries(def)) {
    if (arg.type === "positional") {
      positionals++;
      continue;
    }
    const kind = arg.type === "boolean" ? "boolean" : "string";
    const aliases = "alias" in arg ? [arg.alias ?? []].flat() : [];
    for (const n of [name, kebab(name), ...aliases]) {
      flags.set(n, kind);
      if (kind === "boolean") flags.set(`no-${n}`, kind);
      if (arg.type === "enum")
        choices.set(n, { flag: `--${kebab(name)}`, options: arg.options ?? [] });
    }
  }
  const given: string[] = [];
  for (let i = 0; i < rawArgs.length; i++) {
    const arg = rawArgs[i] as string;
    if (arg === "--") {
      given.push(...rawArgs.slice(i + 1));
      break;
    }
    if (arg === "-" || !arg.startsWith("-")) {
      given.push(arg);
      continue;
    }
    const long = arg.startsWith("--");
    const [name = "", inline] = arg.slice(long ? 2 : 1).split(/=(.*)/s, 2);
    const kind = flags.get(name);
    // After one dash citty reads letters as short flags: -limit would be -l -i -m -i -t, dropped.
    if (kind === undefined || (!long && name.length > 1)) {
      const hint = kind === undefined ? undefined : `did you mean --${name}?`;
      throw new UsageError(`unknown option ${arg.split("=")[0]}`, hint);
    }
    if (kind === "boolean" && inline !== undefined) {
      throw new UsageError(`option --${name} takes no value (got ${JSON.stringify(inline)})`);
    }
    if (kind === "string" && inline === undefined) {
      const next = rawArgs[i + 1];
      if (next === undefined || (next.startsWith("--") && next.length > 2)) {
        throw new UsageError(`option --${name} needs a value`);
      }
      i++;
    }
    const choice = choices.get(name);
    if (choice !== undefined) parseChoice(inline ?? rawArgs[i], choice.flag, choice.options);
  }
  // A last positional whose value hint ends in "..." takes any number of arguments.
  const variadic = Object.values(def).some(
    (a) => a.type === "positional" && a.valueHint?.endsWith("...") === true,
  );
  if (given.length > positionals && !variadic) {
    throw new UsageError(`unexpected argument ${JSON.stringify(given[positionals])}`);
  }
}

/** One of a fixed set of words. */
export function parseChoice<const T extends string>(
  value: string | undefined,
  flag: string,
  choices: readonly T[],
): T | undefined {
  if (value === undefined) return undefined;
  if (!(choices as readonly string[]).includes(value)) {
    throw new UsageError(
      `${flag} takes one of ${choices.join(", ")} (got ${JSON.stringify(value)})`,
    );
  }
  return value as T;
}
