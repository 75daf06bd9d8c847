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
    description: "Print only data, warnings and errors (no progress, no summaries)",
  },
} as const satisfies ArgsDef;

/** The database argument of the commands that work on a runs database file only. */
export const fileArg = {
  type: "positional",
  required: false,
  default: "./runs.db",
  description: "Runs database",
} as const satisfies ArgsDef[string];

/** The database argument of the commands that read a file or a store alike. */
export const sourceArg = {
  ...fileArg,
  description: "Runs database, or a postgres:// store URL",
} as const satisfies ArgsDef[string];

/** The database argument and the run option of the commands that read one run. */
export const runArgs = {
  db: sourceArg,
  run: { type: "string", valueHint: "ID|latest", description: "The run (default: latest)" },
} as const satisfies ArgsDef;

/** An option's name as a flag spells it: `excludeTypes` → `exclude-types`. */
export const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

type ArgDef = ArgsDef[string];

const REPEATABLE = new WeakSet<ArgDef>();

/**
 * Declares a string option that may be given more than once, each value read with `repeated`
 * (args.ts). Any other option given twice is a usage error: citty would keep the last unsaid.
 */
export function repeatable<const T extends ArgDef>(arg: T): T {
  REPEATABLE.add(arg);
  return arg;
}

/** What asks for help. */
export const HELP = new Set(["--help", "-h"]);

/** An option a command declares, by one of its names (`--no-NAME` of a boolean negated). */
interface Option {
  /** Its key in the declaration: the same for its aliases and their negations. */
  key: string;
  arg: ArgDef;
  negated: boolean;
}

type Token =
  | { kind: "positional"; text: string }
  | { kind: "help" }
  | { kind: "unknown"; text: string; hint?: string }
  | { kind: "option"; given: string; option: Option; value?: string; inline: boolean };

/**
 * The raw arguments as citty reads them: options with their values, positional arguments (all
 * after `--`), `-h`/`--help` where an option may stand, and options the command does not declare.
 */
function* tokens(rawArgs: readonly string[], def: ArgsDef): Generator<Token> {
  const options = new Map<string, Option>();
  for (const [key, arg] of Object.entries(def)) {
    if (arg.type === "positional") continue;
    const aliases = "alias" in arg ? [arg.alias ?? []].flat() : [];
    for (const n of [key, kebab(key), ...aliases]) {
      options.set(n, { key, arg, negated: false });
      if (arg.type === "boolean") options.set(`no-${n}`, { key, arg, negated: true });
    }
  }
  for (let i = 0; i < rawArgs.length; i++) {
    const arg = rawArgs[i] as string;
    if (arg === "--") {
      for (const text of rawArgs.slice(i + 1)) yield { kind: "positional", text };
      return;
    }
    if (arg === "-" || !arg.startsWith("-")) {
      yield { kind: "positional", text: arg };
      continue;
    }
    if (HELP.has(arg)) {
      yield { kind: "help" };
      continue;
    }
    const long = arg.startsWith("--");
    const [name = "", inline] = arg.slice(long ? 2 : 1).split(/=(.*)/s, 2);
    const option = options.get(name);
    // After one dash citty reads letters as short flags: -limit would be -l -i -m -i -t, dropped.
    if (option === undefined || (!long && name.length > 1)) {
      const hint = option === undefined ? undefined : `did you mean --${name}?`;
      yield { kind: "unknown", text: arg.split("=")[0] as string, hint };
      continue;
    }
    const given = `${long ? "--" : "-"}${name}`;
    let value = inline;
    // The next argument is a string option's value, as citty takes it, unless it is an option
    // itself: only a long one, since a value may well start with one dash (-5, -total_pnl).
    if (option.arg.type !== "boolean" && inline === undefined) {
      const next = rawArgs[i + 1];
      if (next !== undefined && !(next.startsWith("--") && next.length > 2)) {
        value = next;
        i++;
      } else if (next === "--help") {
        // `--to --help` is a value left out, as `--to --run` is: refused, not shown help.
        i++;
      }
    }
    yield { kind: "option", given, option, value, inline: inline !== undefined };
  }
}

/**
 * Whether the command line asks for the command's help: `-h` or `--help` where an option may
 * stand, not as an option's value (`rename --to -h` names the run "-h") nor after `--`.
 */
export function asksForHelp(rawArgs: readonly string[], def: ArgsDef): boolean {
  for (const token of tokens(rawArgs, def)) if (token.kind === "help") return true;
  return false;
}

/**
 * Checks raw arguments against a command's declaration, which citty does not: unknown options,
 * options missing their value, options given twice, a boolean given both ways (`--yes --no-yes`),
 * and surplus positional arguments are usage errors.
 */
export function checkArgs(rawArgs: readonly string[], def: ArgsDef): void {
  const seen = new Map<string, { given: string; value?: string; negated: boolean }>();
  const positionals: string[] = [];
  for (const token of tokens(rawArgs, def)) {
    if (token.kind === "positional") {
      positionals.push(token.text);
      continue;
    }
    if (token.kind === "help") continue;
    if (token.kind === "unknown") throw new UsageError(`unknown option ${token.text}`, token.hint);
    const { given, option, value } = token;
    const { key, arg, negated } = option;
    if (arg.type === "boolean" && token.inline) {
      throw new UsageError(`option ${given} takes no value (got ${JSON.stringify(value)})`);
    }
    if (arg.type !== "boolean" && value === undefined) {
      throw new UsageError(`option ${given} needs a value`);
    }
    // An enum's choices are refused in the words of parseChoice, not citty's.
    if (arg.type === "enum") parseChoice(value, `--${kebab(key)}`, arg.options ?? []);
    const before = seen.get(key);
    seen.set(key, { given, value, negated });
    if (before === undefined || REPEATABLE.has(arg)) continue;
    if (arg.type === "boolean" && before.negated !== negated) {
      throw new UsageError(`${before.given} and ${given} ask for opposite things: give one`);
    }
    // An on/off option has no values to show: `--json --json` is given twice all the same.
    const values =
      arg.type === "boolean"
        ? ""
        : `: ${JSON.stringify(before.value)} and ${JSON.stringify(value)}`;
    throw new UsageError(
      before.given === given
        ? `${given} is given twice${values}`
        : `${before.given} and ${given} are the same option, given twice${values}`,
    );
  }
  const declared = Object.values(def).filter((a) => a.type === "positional");
  // A last positional whose value hint ends in "..." takes any number of arguments.
  const variadic = declared.some((a) => a.valueHint?.endsWith("...") === true);
  if (positionals.length > declared.length && !variadic) {
    throw new UsageError(`unexpected argument ${JSON.stringify(positionals[declared.length])}`);
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
