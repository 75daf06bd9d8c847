import { describeValue, RuntapeError } from "./errors.ts";
import {
  EVENT_TYPES,
  type Event,
  type EventOf,
  type EventType,
  isEventType,
} from "./events/catalog.ts";

/** Receives what a handler threw, with the event it was handling. */
export type ErrorHandler = (error: unknown, event: Event) => void;

/** Options of one subscription. */
export interface SubscribeOptions {
  /** Where this subscriber's errors go; the bus's handler otherwise. */
  onError?: ErrorHandler;
}

/** Throws INVALID_OPTION where `value` is not a function (or, if `optional`, undefined). */
function checkFunction(value: unknown, what: string, optional = false): void {
  if (typeof value === "function" || (optional && value === undefined)) return;
  throw new RuntapeError(
    `${what} must be a function (got ${describeValue(value)})`,
    "INVALID_OPTION",
  );
}

interface Subscriber {
  readonly handler: (event: Event) => void;
  readonly onError: ErrorHandler | undefined;
}

/**
 * A synchronous, exact-type event bus with run-to-completion delivery: an event published from
 * inside a handler is queued and delivered after the current event has reached every subscriber,
 * so all subscribers see one global publication order (the order the recorder stores).
 *
 * A handler that throws does not stop delivery. Its error goes to the subscription's `onError`,
 * else the bus's; with neither, the errors are thrown (as one, or an AggregateError) from the
 * outermost `publish` once the queue has drained. So is an error thrown by an error handler.
 */
export class EventBus {
  // Arrays are replaced, never mutated, so (un)subscribing during delivery is safe.
  readonly #subscribers = new Map<EventType, readonly Subscriber[]>();
  /** Subscribers of every event: they also get events of types the catalog does not know. */
  #unknownTypes: readonly Subscriber[] = [];
  readonly #queue: Event[] = [];
  readonly #onError: ErrorHandler | undefined;
  #delivering = false;
  #unhandled: unknown[] = [];

  constructor(options: { onError?: ErrorHandler } = {}) {
    checkFunction(options?.onError, "EventBus: onError", true);
    this.#onError = options.onError;
  }

  /**
   * Delivers every event of the given exact types to `handler`. Returns the unsubscribe function.
   * Throws RuntapeError (INVALID_OPTION) for a type the catalog does not know (a subscription to
   * it would take such events from `subscribeAll`'s subscribers, the recorder's among them, where
   * they are refused and counted), no type at all, or a handler that is not a function.
   */
  subscribe<K extends EventType>(
    types: K | readonly K[],
    handler: (event: EventOf<K>) => void,
    options: SubscribeOptions = {},
  ): () => void {
    const list =
      typeof types === "string" ? [types] : Array.isArray(types) ? [...new Set(types)] : [];
    const unknown = list.find((type) => !isEventType(type));
    if (list.length === 0 || unknown !== undefined) {
      const got = unknown === undefined ? describeValue(types) : describeValue(unknown);
      throw new RuntapeError(`subscribe: expected event types (got ${got})`, "INVALID_OPTION");
    }
    checkFunction(handler, "subscribe: handler");
    checkFunction(options?.onError, "subscribe: onError", true);
    const subscriber: Subscriber = {
      handler: handler as unknown as (event: Event) => void,
      onError: options.onError,
    };
    for (const type of list) {
      this.#subscribers.set(type, [...(this.#subscribers.get(type) ?? []), subscriber]);
    }
    return () => {
      for (const type of list) {
        const rest = (this.#subscribers.get(type) ?? []).filter((s) => s !== subscriber);
        if (rest.length > 0) this.#subscribers.set(type, rest);
        else this.#subscribers.delete(type);
      }
    };
  }

  /**
   * Delivers every event to `handler`, including events whose type the catalog does not know
   * (which no typed subscription receives): a recorder must see them to refuse and count them.
   */
  subscribeAll(handler: (event: Event) => void, options: SubscribeOptions = {}): () => void {
    checkFunction(handler, "subscribeAll: handler");
    const subscriber: Subscriber = { handler, onError: options.onError };
    const unsubscribe = this.subscribe(EVENT_TYPES, handler, options);
    this.#unknownTypes = [...this.#unknownTypes, subscriber];
    return () => {
      unsubscribe();
      this.#unknownTypes = this.#unknownTypes.filter((s) => s !== subscriber);
    };
  }

  /** Publishes `event`: delivered now, or after the event being delivered if called from a handler. */
  publish(event: Event): void {
    if (this.#delivering) {
      this.#queue.push(event);
      return;
    }
    this.#delivering = true;
    try {
      this.#deliver(event);
      for (let i = 0; i < this.#queue.length; i++) this.#deliver(this.#queue[i] as Event);
    } finally {
      // Truncating an array costs even when it is empty: most publishes queue nothing.
      if (this.#queue.length > 0) this.#queue.length = 0;
      this.#delivering = false;
    }
    if (this.#unhandled.length > 0) {
      const errors = this.#unhandled;
      this.#unhandled = [];
      throw errors.length === 1 ? errors[0] : new AggregateError(errors, "event handlers threw");
    }
  }

  /** How many subscriptions receive `type`. */
  subscriberCount(type: EventType): number {
    return this.#subscribers.get(type)?.length ?? 0;
  }

  // An error handler that throws (say, to make refused events fatal) must not cut delivery short
  // either: the other subscribers and the queued events would be lost without a word.
  #report(error: unknown, event: Event, onError: ErrorHandler | undefined): void {
    if (onError === undefined) {
      this.#unhandled.push(error);
      return;
    }
    try {
      onError(error, event);
    } catch (thrown) {
      this.#unhandled.push(thrown);
    }
  }

  #deliver(event: Event): void {
    // The map first: a known type with subscribers (the common case) needs no catalog lookup.
    // `?.`: a null published reaches the subscribers of every event, which refuse it.
    const subscribers =
      this.#subscribers.get(event?.type) ??
      (isEventType(event?.type) ? undefined : this.#unknownTypes);
    if (subscribers === undefined) return;
    for (let i = 0; i < subscribers.length; i++) {
      const subscriber = subscribers[i] as Subscriber;
      try {
        subscriber.handler(event);
      } catch (error) {
        this.#report(error, event, subscriber.onError ?? this.#onError);
      }
    }
  }
}
