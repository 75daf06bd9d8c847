import { formatCount } from "./format.ts";
import type { PushedRun } from "./store/push.ts";
import { quoted } from "./text.ts";

/**
 * What kind of failure a {@link RuntapeError} is, for programs to switch on (the message is for
 * people and may change).
 */
export type ErrorCode =
  // Arguments, options and input
  | "INVALID_OPTION"
  | "USAGE"
  | "INVALID_JSON"
  | "INVALID_EVENT"
  | "INVALID_RUN_ID"
  | "RUN_ID_TOO_LONG"
  | "RUN_ID_CLASH"
  | "TAGS_NOT_PAIRS"
  | "UNKNOWN_KEY"
  | "UNSTORABLE_VALUE"
  | "NDJSON"
  | "INPUT_MISSING"
  | "INPUT_EMPTY"
  | "EMPTY_FEED"
  | "GOLDEN_MISSING"
  // Runs databases
  | "DB_MISSING"
  | "DB_ACCESS"
  | "NOT_SQLITE"
  | "FOREIGN_DATABASE"
  | "NEWER_VERSION"
  | "CORRUPT"
  | "READ_ONLY"
  | "ROW_DECODE"
  | "ROWS_WITHOUT_SEQ"
  | "BAD_RUN_ROW"
  // Runs and their state
  | "NO_RUNS"
  | "RUN_NOT_FOUND"
  | "DUPLICATE_RUN"
  | "RUN_CONFLICT"
  | "RUN_RUNNING"
  | "RUN_ALIVE"
  | "RUN_CLOSED"
  | "NOT_CLOSED"
  | "NOT_STALE"
  | "LOST_RACE"
  | "MERGE_SELF"
  | "MERGE_CONFLICT"
  // Recording and backtests
  | "CANCELLED"
  | "STALLED"
  | "STRATEGY"
  | "UNCAUGHT"
  // The PostgreSQL store
  | "BAD_URL"
  | "NOT_POSTGRES"
  | "STORE_URL_AS_FILE"
  | "STORE_ACCESS"
  | "FOREIGN_STORE"
  | "NEWER_STORE"
  | "STORE_DIGEST"
  | "RUN_REFUSED"
  | "RUNS_NOT_PUSHED"
  // Output
  | "STDOUT"
  | "OUTPUT_NOT_EMPTY"
  | "EXPORT_WRITE"
  | "REPORT_WRITE";

/**
 * Every failure the library expects ends in a RuntapeError: its message is one line a person can
 * act on, and `code` tells programs (and the CLI's exit codes) what kind of failure it was.
 */
export class RuntapeError extends Error {
  constructor(
    message: string,
    readonly code: ErrorCode,
    options?: ErrorOptions,
  ) {
    super(message, options);
    // Each class its own name (`RunNotFoundError: …` in a stack trace or String(error)); the
    // release build keeps class names (scripts/build.ts minifies no identifiers).
    this.name = new.target.name;
  }
}

/**
 * A file system failure (an error with an errno code: ENOSPC, EISDIR, EACCES…) as one line,
 * `what: reason`, typed with `code`; any other error is returned as it is.
 */
export function fileWriteError(what: string, error: unknown, code: ErrorCode): unknown {
  const { code: errno, message } = (error ?? {}) as NodeJS.ErrnoException;
  if (error instanceof RuntapeError || typeof errno !== "string" || !/^E[A-Z]+$/.test(errno)) {
    return error;
  }
  return new RuntapeError(`${what}: ${message}`, code, { cause: error });
}

/** The database file does not exist (and the operation only reads). */
export class DatabaseMissingError extends RuntapeError {
  constructor(readonly path: string) {
    super(`no runs database at ${path}`, "DB_MISSING");
  }
}

/** The file is not a runs database: not SQLite, another application's, or a newer layout. */
export class DatabaseFormatError extends RuntapeError {
  constructor(
    readonly path: string,
    reason: string,
    code: "NOT_SQLITE" | "FOREIGN_DATABASE" | "NEWER_VERSION" | "CORRUPT" = "FOREIGN_DATABASE",
  ) {
    super(`${path}: ${reason}`, code);
  }
}

/** SQLite refused to open or write the file (permissions, a directory, a full disk). */
export class DatabaseAccessError extends RuntapeError {
  constructor(
    readonly path: string,
    reason: string,
    options?: ErrorOptions,
  ) {
    super(`${path}: ${reason}`, "DB_ACCESS", options);
  }
}

/** A sort key of a sweep that is neither a metric nor a config path of the runs it sorts. */
export class UnknownSortKeyError extends RuntapeError {
  constructor(
    readonly key: string,
    /** The config paths the runs have, which it could sort by. */
    readonly params: readonly string[],
  ) {
    super(
      `cannot sort by ${JSON.stringify(key)}: not a metric, a run field, a tag or a config path of these runs`,
      "UNKNOWN_KEY",
    );
  }
}

/** A filter key of a sweep that no run has: a config path or tag (`tag.<name>`) of none of them. */
export class UnknownFilterKeyError extends RuntapeError {
  constructor(
    readonly key: string,
    /** The config paths the runs have, which it could filter on. */
    readonly params: readonly string[],
    /** The tags the runs have, which it could filter on as `tag.<name>`. */
    readonly tags: readonly string[],
  ) {
    super(
      key.startsWith("metric.")
        ? `cannot filter on ${JSON.stringify(key)}: no such metric`
        : `cannot filter on ${JSON.stringify(key)}: no run has this ${key.startsWith("tag.") ? "tag" : "config path"}`,
      "UNKNOWN_KEY",
    );
  }
}

/**
 * Options that would make a call do nothing, or leave out nothing, unsaid: `options` as the call
 * names them (`types`, `excludeTypes`), `reason` as it follows their names (`: no event has …`,
 * ` both name FillEvent: …`).
 */
export class IneffectiveOptionError extends RuntapeError {
  constructor(
    readonly what: string,
    readonly options: readonly string[],
    readonly reason: string,
  ) {
    super(
      `${what} option${options.length === 1 ? "" : "s"} ${options.join(" and ")}${reason}`,
      "INVALID_OPTION",
    );
  }
}

/** A name that is no metric, where a metric is asked for (what a comparison ranks its runs by). */
export class UnknownMetricError extends RuntapeError {
  constructor(readonly metric: string) {
    super(`unknown metric ${JSON.stringify(metric)}`, "UNKNOWN_KEY");
  }
}

/**
 * A `where` condition that would pick nothing unsaid, such as a comparison of numbers (`<`, `<=`,
 * `>`, `>=`) whose value is no number. `condition` as written (`key>value`), `reason` why.
 */
export class InvalidConditionError extends RuntapeError {
  constructor(
    readonly condition: string,
    readonly reason: string,
  ) {
    super(`where ${JSON.stringify(condition)}: ${reason}`, "INVALID_OPTION");
  }
}

/** The file or store holds no run of that id. */
export class RunNotFoundError extends RuntapeError {
  constructor(readonly runId: string) {
    super(`no run with id ${JSON.stringify(runId)}`, "RUN_NOT_FOUND");
  }
}

/** A run's row in the runs table breaks the model: what every reader of the run relies on. */
export class RunRowError extends RuntapeError {
  constructor(
    readonly path: string,
    readonly runId: string,
    readonly column: string,
    value: unknown,
    reason: string,
  ) {
    super(
      `run ${JSON.stringify(runId)} in ${path}, ${column}: ${reason} (got ${describeValue(value)}): \`runtape inspect --check\` lists what is wrong, \`runtape rm\` removes the run`,
      "BAD_RUN_ROW",
    );
  }
}

/** A run id that breaks the rules (see `runIdProblem` in runs.ts). */
export class InvalidRunIdError extends RuntapeError {
  constructor(
    readonly runId: string,
    reason: string,
  ) {
    super(`invalid run id ${describeValue(runId)}: ${reason}`, "INVALID_RUN_ID");
  }
}

/** An id the file already holds, given to a new run or as the new name of a renamed one. */
export class DuplicateRunError extends RuntapeError {
  constructor(readonly runId: string) {
    super(`a run with id ${JSON.stringify(runId)} already exists`, "DUPLICATE_RUN");
  }
}

/**
 * A store URL runtape cannot use (bad input: a usage error in the CLI): `BAD_URL` when it does not
 * parse or contradicts itself, `NOT_POSTGRES` when its scheme names another kind of server. The
 * message never holds the password.
 */
export class StoreUrlError extends RuntapeError {
  constructor(reason: string, code: "BAD_URL" | "NOT_POSTGRES" = "BAD_URL") {
    super(reason, code);
  }
}

/**
 * The store could not be reached or used: host unreachable, login refused, database missing,
 * connection lost. `store` is the URL without its password.
 */
export class StoreAccessError extends RuntapeError {
  constructor(
    readonly store: string,
    /** The failure without the store's name. */
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(`${store}: ${reason}`, "STORE_ACCESS", options);
  }
}

/** The database behind a store URL holds another application's tables or a newer layout. */
export class StoreFormatError extends RuntapeError {
  constructor(
    readonly store: string,
    reason: string,
    code: "FOREIGN_STORE" | "NEWER_STORE" = "FOREIGN_STORE",
  ) {
    super(`${store}: ${reason}`, code);
  }
}

/**
 * A run id that the destination already holds with other content: never merged, never
 * overwritten. `remedy` says what the user can do instead, as the command at hand allows.
 */
export class RunConflictError extends RuntapeError {
  constructor(
    readonly runId: string,
    readonly destination: string,
    remedy: string,
  ) {
    super(
      `run ${JSON.stringify(runId)} is already in ${destination} with different content (refused; ${remedy})`,
      "RUN_CONFLICT",
    );
  }
}

/**
 * A stored run whose rows no longer give the digest it was pushed with: they were changed in the
 * store. `consequence` says what that meant for the command at hand.
 */
export class StoreDigestError extends RuntapeError {
  constructor(
    readonly runId: string,
    readonly store: string,
    consequence: string,
  ) {
    super(
      `run ${JSON.stringify(runId)} in ${store} does not match the digest it was pushed with (${consequence})`,
      "STORE_DIGEST",
    );
  }
}

/** A value of a run that the store cannot hold (PostgreSQL text cannot hold U+0000). */
export class UnstorableValueError extends RuntapeError {
  constructor(
    readonly runId: string,
    readonly table: string,
    readonly column: string,
    readonly value: unknown,
    reason: string,
  ) {
    super(
      `run ${JSON.stringify(runId)} cannot go to the store: ${table}.${column}: ${reason} (got ${describeValue(value)})`,
      "UNSTORABLE_VALUE",
    );
  }
}

/** The store refused a run's rows: a constraint or a type of its own that they do not meet. */
export class RunRefusedError extends RuntapeError {
  constructor(
    readonly runId: string,
    readonly store: string,
    reason: string,
    options?: ErrorOptions,
  ) {
    super(`${store} refused run ${JSON.stringify(runId)}: ${reason}`, "RUN_REFUSED", options);
  }
}

/** A run a push did not send, and went on past: the store cannot take it as it is. */
export type RunNotPushed = RunConflictError | UnstorableValueError | RunRefusedError;

/** Refused runs a push's error names; the rest it counts (each is in `refused`). */
const NAMED_REFUSALS = 3;

/**
 * A push that left runs out: the others were pushed. One run left out gives its error's message;
 * several, the first few and how many more: a thousand conflicts made one line of 120 KB.
 */
export class RunsNotPushedError extends RuntapeError {
  constructor(
    readonly refused: readonly RunNotPushed[],
    /** The runs that were pushed, or were in the store already. */
    readonly pushed: readonly PushedRun[],
  ) {
    const [first] = refused;
    super(
      refused.length === 1 && first !== undefined
        ? first.message
        : `${formatCount(refused.length)} runs not pushed: ${refused
            .slice(0, NAMED_REFUSALS)
            .map((e) => e.message)
            .join(
              "; ",
            )}${refused.length > NAMED_REFUSALS ? `; and ${formatCount(refused.length - NAMED_REFUSALS)} more` : ""}`,
      "RUNS_NOT_PUSHED",
    );
  }
}

/** A store URL (shown without its password) where a runs database file is wanted. */
export class StoreUrlAsFileError extends RuntapeError {
  constructor(readonly url: string) {
    super(`${url} is a store URL, not a runs database file`, "STORE_URL_AS_FILE");
  }
}

/** An event that does not fit the schema: names the event type, the field and the value. */
export class InvalidEventError extends RuntapeError {
  constructor(
    /** "" for a value that is no event object at all (null, a number): its field is "type". */
    readonly eventType: string,
    readonly field: string,
    readonly value: unknown,
    reason: string,
    /** The value as the input spelled it, where that says more (a number a double rounds). */
    source?: string,
  ) {
    super(
      // No type: the value is no event at all (null, a number), with no type to name.
      `${eventType === "" ? "" : `${eventType}.${field}: `}${reason} (got ${source ?? describeValue(value)})`,
      "INVALID_EVENT",
    );
  }
}

/** A run's signal was aborted: the run was closed `cancelled` with what it had recorded. */
export class RunCancelledError extends RuntapeError {
  constructor(readonly summary: { runId: string; events: number }) {
    super(`run ${summary.runId} cancelled with ${summary.events} events`, "CANCELLED");
  }
}

/** A stored row that does not decode into its event type. */
export class RowDecodeError extends RuntapeError {
  constructor(
    readonly table: string,
    readonly rowId: bigint | number,
    readonly column: string,
    readonly value: unknown,
    reason: string,
  ) {
    super(
      `${table} row ${rowId}, ${column}: ${reason} (got ${describeValue(value)})`,
      "ROW_DECODE",
    );
  }
}

/** A line of NDJSON input that is not a valid event. `line` counts from 1; `file` when known. */
export class NdjsonError extends RuntapeError {
  constructor(
    readonly line: number,
    readonly reason: string,
    readonly file?: string,
  ) {
    super(`${file === undefined ? "" : `${file}, `}line ${line}: ${reason}`, "NDJSON");
  }
}

/**
 * NDJSON input that holds no event (nothing, or blank lines only): recorded, it would read as a
 * completed run of none. `input` names it in the message.
 */
export class EmptyInputError extends RuntapeError {
  constructor(readonly input = "the NDJSON input") {
    super(`${input} holds no events`, "INPUT_EMPTY");
  }
}

/**
 * The first line of what was thrown, for a one-line message: an Error's message, a string as it
 * is, anything else (a strategy may throw `{ message: 5 }`) as {@link describeValue} shows it,
 * where `String()` said "[object Object]".
 */
export function firstLineOf(thrown: unknown): string {
  const text =
    thrown instanceof Error
      ? thrown.message
      : typeof thrown === "string"
        ? thrown
        : describeValue(thrown);
  return text.split("\n")[0] ?? "";
}

/** A short, printable rendering of a bad value for an error message. */
export function describeValue(value: unknown): string {
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "number") return String(value);
  if (typeof value === "string") return quoted(value, 60);
  if (value === undefined) return "nothing";
  try {
    const s = JSON.stringify(value, (_k, x) => (typeof x === "bigint" ? `${x}n` : x));
    const points = [...s];
    return points.length > 80 ? `${points.slice(0, 80).join("")}…` : s;
  } catch {
    return typeof value;
  }
}

/**
 * A run's body failed and closing the run `failed` failed too (a full disk refuses both): the run
 * stays `running`, with every batch stored before, until `runtape recover` closes it.
 */
export class RunNotClosedError extends RuntapeError {
  constructor(
    readonly runId: string,
    readonly error: unknown,
    readonly closeError: unknown,
  ) {
    const [first, second] = [firstLineOf(error), firstLineOf(closeError)];
    const both = second === first ? first : `${first}; closing the run failed too: ${second}`;
    const recover = both.includes("runtape recover") ? "" : ": `runtape recover` closes it";
    super(`${both} (run ${runId} stays running${recover})`, "NOT_CLOSED", { cause: error });
  }
}

/**
 * A strategy module that cannot be used: missing, failing to load, without a factory as its
 * default export, or throwing while it handles an event (then `event` names it).
 */
export class StrategyError extends RuntapeError {
  constructor(
    readonly file: string,
    reason: string,
    readonly event?: { type: string; ts_event_ns: bigint; symbol?: string },
    options?: ErrorOptions,
  ) {
    const on =
      event === undefined
        ? ""
        : ` on ${event.type}${event.symbol === undefined ? "" : ` ${event.symbol}`} at ts_event_ns ${event.ts_event_ns}`;
    super(`strategy ${file}${on}: ${reason}`, "STRATEGY", options);
  }
}

/** An export's target exists and is not an empty directory: nothing in it is overwritten. */
export class OutputNotEmptyError extends RuntapeError {
  constructor(readonly path: string) {
    super(`${path} exists and is not an empty directory`, "OUTPUT_NOT_EMPTY");
  }
}

/**
 * A run to merge has the id of a different run already there: nothing was merged, or, where
 * another process wrote that run after the merge had planned, the runs before it only.
 */
export class MergeConflictError extends RuntapeError {
  constructor(
    readonly runId: string,
    readonly source: string,
    /** The file holding the run of that id it differs from: the target, or a source before it. */
    readonly other: string,
    /** Found as the run was written, not in the plan: another process wrote it since. */
    readonly meanwhile = false,
    /** Other runs of the plan that conflict too: one line says how many, not only the first. */
    readonly more = 0,
  ) {
    const others =
      more > 0 ? `, and ${more} more ${more === 1 ? "run differs" : "runs differ"}` : "";
    super(
      meanwhile
        ? `run ${JSON.stringify(runId)} in ${source} differs from the run of that id another process wrote into ${other} meanwhile; it and the runs after it were not merged`
        : `run ${JSON.stringify(runId)} in ${source} differs from the run of that id in ${other}${others}; nothing was merged`,
      "MERGE_CONFLICT",
    );
  }
}

/** A run to merge is still `running` (it may be live): nothing was merged. */
export class RunStillRunningError extends RuntapeError {
  constructor(
    readonly runId: string,
    readonly source: string,
  ) {
    super(
      `run ${JSON.stringify(runId)} in ${source} is still running (it may be live); nothing was merged`,
      "RUN_RUNNING",
    );
  }
}
