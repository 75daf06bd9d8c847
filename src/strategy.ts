/**
 * Strategies as modules: a file whose default export is a factory `(ctx) => void | Promise<void>`.
 * The factory subscribes to what it needs on `ctx.bus` and publishes its decisions there; it needs
 * nothing but the context, so a strategy file imports nothing from runtape (type imports are
 * erased) and runs under the single-file binary as under the library.
 */
import { statSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { EventBus } from "./bus.ts";
import { describeValue, firstLineOf, RuntapeError, StrategyError } from "./errors.ts";
import type { Event, EventOf, EventType } from "./events/catalog.ts";
import { fieldsOf, isEventType } from "./events/catalog.ts";
import { newUuid } from "./events/clock.ts";
import { type EventInput, findInvalidField, makeEvent } from "./events/schemas.ts";
import type { Random } from "./sim/random.ts";

/**
 * Parameters of a strategy: `--param k=v` (decimal numbers parsed, integers beyond 2^53 as exact
 * bigints) or the caller's.
 */
export type StrategyParams = Readonly<Record<string, string | number | bigint | boolean>>;

/** What a strategy gets. */
export interface StrategyContext {
  /** The run's bus: subscribe to the feed and the broker's answers, publish requests. */
  readonly bus: EventBus;
  /**
   * Builds an event as `makeEvent` does (defaults filled); ids left out (`system_order_id`,
   * `fill_id`) come from the run's seeded stream, so a re-run repeats them exactly.
   */
  makeEvent<K extends EventType>(type: K, fields: EventInput<K>): EventOf<K>;
  readonly params: StrategyParams;
  /** The replayed clock: `ts_event_ns` of the event being delivered (0n before the first). */
  now(): bigint;
  /** A log line; silent unless the run was asked to show them (`--log`). */
  log(message: string): void;
}

/** A strategy: the default export of a strategy module. */
export type Strategy = (ctx: StrategyContext) => void | Promise<void>;

/** A strategy module, loaded. */
export interface LoadedStrategy {
  strategy: Strategy;
  /** The path as given: what messages name. */
  file: string;
  /** SHA-256 of the file's content: the run's lineage names the exact code. */
  sha256: string;
}

/**
 * Loads the strategy module at `file` (TypeScript or JavaScript, resolved from the working
 * directory). Throws StrategyError if it is missing, throws while loading, or has no factory.
 */
export async function loadStrategy(file: string): Promise<LoadedStrategy> {
  const path = resolve(file);
  if (statSync(path, { throwIfNoEntry: false })?.isDirectory()) {
    throw new StrategyError(file, "is a directory, not a module");
  }
  const sha256 = await fileSha256(path);
  if (sha256 === null) throw new StrategyError(file, "no such file");
  let module: { default?: unknown };
  try {
    // The hash in the URL: a file changed since it was last imported is imported anew.
    module = await import(`${pathToFileURL(path).href}?sha256=${sha256}`);
  } catch (error) {
    throw new StrategyError(file, `failed to load: ${firstLineOf(error)}`, undefined, {
      cause: error,
    });
  }
  if (typeof module.default !== "function") {
    throw new StrategyError(
      file,
      `the default export must be a factory (ctx) => void, not ${describeValue(module.default)}`,
    );
  }
  return { strategy: module.default as Strategy, file, sha256 };
}

/** SHA-256 of a file's content in hex; null when there is no such file. */
async function fileSha256(path: string): Promise<string | null> {
  const file = Bun.file(path);
  if (!(await file.exists())) return null;
  return new Bun.CryptoHasher("sha256").update(await file.bytes()).digest("hex");
}

/** How a strategy's context is made for one run. */
export interface ContextOptions {
  /** The stream ids are drawn from; seeded by the run. */
  random: Random;
  params?: StrategyParams;
  log?: (message: string) => void;
  /** Names the strategy in the error raised when one of its handlers throws. */
  file?: string;
  /**
   * Receives the StrategyError (naming the file and event) of a handler whose promise rejects:
   * the bus delivers on without waiting for it. Without it, the rejection goes unhandled.
   */
  onRejected?: (error: StrategyError) => void;
}

/**
 * The context of a strategy on `bus`. Its clock follows the events delivered from now on, and its
 * bus reports a throwing handler of the strategy (or, to `onRejected`, one whose promise rejects)
 * as a StrategyError naming the file and event. Returns the context and `detach`, which takes the
 * strategy (and the clock) off the bus.
 */
export function strategyContext(
  bus: EventBus,
  options: ContextOptions,
): { ctx: StrategyContext; detach: () => void } {
  let now = 0n;
  const detachClock = bus.subscribeAll((event) => {
    now = event.ts_event_ns;
  });
  const file = options.file ?? "(function)";
  const failure = (error: unknown, event: Event) =>
    new StrategyError(file, firstLineOf(error), symbolOf(event), { cause: error });
  const onError = (error: unknown, event: Event) => {
    throw failure(error, event);
  };
  const { onRejected } = options;
  // Not a function: left as it is for the bus to refuse.
  const settled = (handler: (event: Event) => unknown) =>
    onRejected === undefined || typeof handler !== "function"
      ? handler
      : (event: Event) => {
          const result = handler(event);
          if (result instanceof Promise) {
            result.catch((error: unknown) => onRejected(failure(error, event)));
          }
        };
  const subscriptions: (() => void)[] = [detachClock];
  let detached = false;
  // The strategy's own subscriptions: their errors name the strategy, and detach ends them all.
  const strategyBus = new Proxy(bus, {
    get(target, property) {
      if (property === "subscribe") {
        return (types: EventType, handler: (event: Event) => void, subscribe = {}) => {
          const unsubscribe = target.subscribe(types, settled(handler), {
            onError,
            ...subscribe,
          });
          subscriptions.push(unsubscribe);
          return unsubscribe;
        };
      }
      if (property === "subscribeAll") {
        return (handler: (event: Event) => void, subscribe = {}) => {
          const unsubscribe = target.subscribeAll(settled(handler), { onError, ...subscribe });
          subscriptions.push(unsubscribe);
          return unsubscribe;
        };
      }
      if (property === "publish") {
        // Checked here, so that the error names the strategy and the event it was handling: the
        // recorder's and the broker's refusals would come back from the bus as "handlers threw".
        return (event: Event) => {
          // From a timer left running, say: nothing would record it, and nothing would say so.
          if (detached) {
            throw new StrategyError(
              file,
              `published ${String(event?.type)} after its run had ended: it is not recorded`,
            );
          }
          const invalid = findInvalidField(event);
          if (invalid !== undefined) {
            throw new RuntapeError(`published an invalid event: ${invalid.message}`, invalid.code, {
              cause: invalid,
            });
          }
          target.publish(event);
        };
      }
      const value = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  const { random } = options;
  const ctx: StrategyContext = {
    bus: strategyBus,
    makeEvent: (type, fields) => {
      const given = fields as Record<string, unknown>;
      const ids: Record<string, string> = {};
      // An unknown type gets makeEvent's one-line refusal.
      for (const [name, field] of isEventType(type) ? fieldsOf(type) : []) {
        if (field.default === newUuid && given[name] === undefined) ids[name] = random.uuid();
      }
      return makeEvent(type, { ...fields, ...ids });
    },
    params: options.params ?? {},
    now: () => now,
    log: options.log ?? (() => {}),
  };
  const detach = () => {
    detached = true;
    for (const unsubscribe of subscriptions) unsubscribe();
  };
  return { ctx, detach };
}

const symbolOf = (event: Event) => ({
  type: event.type,
  ts_event_ns: event.ts_event_ns,
  ...("symbol" in event ? { symbol: event.symbol } : {}),
});
