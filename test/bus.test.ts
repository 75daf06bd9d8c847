import { describe, expect, test } from "bun:test";
import {
  EVENT_TYPES,
  type Event,
  EventBus,
  type EventType,
  type RuntapeError,
} from "../src/index.ts";
import { bar, sampleEvents, sampleOf } from "./helpers.ts";

const received = sampleOf("BarReceived");
const processed = sampleOf("BarProcessed");
const submission = sampleOf("OrderSubmissionRequest");

/** A bar or processed bar whose symbol names it, to follow it through a cascade. */
const named = (type: "BarReceived" | "BarProcessed", name: string): Event => ({
  ...(type === "BarReceived" ? received : processed),
  symbol: name,
});
const label = (e: Event) => `${e.type}:${"symbol" in e ? e.symbol : ""}`;

/** The error `fn` throws, or undefined. */
function thrownBy(fn: () => void): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe("delivery", () => {
  test("is by exact type: each subscriber gets its own type and no other", () => {
    const bus = new EventBus();
    const got = new Map<EventType, string[]>();
    for (const type of EVENT_TYPES) {
      got.set(type, []);
      bus.subscribe(type, (e) => got.get(type)?.push(e.type));
    }
    const events = sampleEvents();
    for (const e of events) bus.publish(e);
    for (const type of EVENT_TYPES)
      expect([type, got.get(type)]).toEqual([
        type,
        events.filter((e) => e.type === type).map((e) => e.type),
      ]);
    // The case the spec names: a BarProcessed is not a BarReceived.
    const bars: Event[] = [];
    bus.subscribe("BarReceived", (e) => bars.push(e));
    bus.publish(processed);
    expect(bars).toEqual([]);
  });

  test("one subscription takes several types, each event once", () => {
    const bus = new EventBus();
    const got: Event[] = [];
    bus.subscribe(["BarReceived", "OrderSubmissionRequest", "BarReceived"], (e) => got.push(e));
    for (const e of [received, processed, submission]) bus.publish(e);
    expect(got).toEqual([received, submission]);
    expect(bus.subscriberCount("BarReceived")).toBe(1);
  });

  test("publishing with no subscriber is a no-op", () => {
    const bus = new EventBus();
    expect(() => bus.publish(received)).not.toThrow();
  });
});

describe("unsubscribe", () => {
  test("stops delivery of every type of the subscription, and only of that subscription", () => {
    const bus = new EventBus();
    const got: string[] = [];
    const handler = (e: Event) => got.push(e.type);
    const off = bus.subscribe(["BarReceived", "BarProcessed"], handler);
    bus.subscribe("BarReceived", handler);
    off();
    off(); // a second call changes nothing
    bus.publish(received);
    bus.publish(processed);
    expect(got).toEqual(["BarReceived"]);
    expect([bus.subscriberCount("BarReceived"), bus.subscriberCount("BarProcessed")]).toEqual([
      1, 0,
    ]);
  });

  test("a handler that unsubscribes itself gets none of the events queued after", () => {
    const bus = new EventBus();
    const got: string[] = [];
    const off = bus.subscribe(["BarReceived", "BarProcessed"], (e) => {
      got.push(label(e));
      if (e.type === "BarReceived") {
        bus.publish(named("BarProcessed", "queued"));
        off();
      }
    });
    bus.publish(named("BarReceived", "first"));
    bus.publish(named("BarReceived", "second"));
    expect(got).toEqual(["BarReceived:first"]);
  });

  test("(un)subscribing during delivery: the event in flight keeps the subscribers it started with", () => {
    const bus = new EventBus();
    const got: string[] = [];
    let offLate = () => {};
    bus.subscribe("BarReceived", (e) => {
      got.push(`first ${label(e)}`);
      if (e.symbol !== "x") return;
      offLate();
      bus.subscribe("BarReceived", (e2) => got.push(`new ${label(e2)}`));
      bus.publish(named("BarReceived", "y"));
    });
    offLate = bus.subscribe("BarReceived", (e) => got.push(`late ${label(e)}`));
    bus.publish(named("BarReceived", "x"));
    // The removed subscriber still had x in flight; the added one starts with the next event.
    expect(got).toEqual([
      "first BarReceived:x",
      "late BarReceived:x",
      "first BarReceived:y",
      "new BarReceived:y",
    ]);
  });
});

describe("run to completion", () => {
  test("events published by handlers wait until the current event reached everyone (FIFO)", () => {
    const bus = new EventBus();
    const first: string[] = [];
    const last: string[] = [];
    bus.subscribe(EVENT_TYPES, (e) => first.push(label(e)));
    bus.subscribe("BarReceived", (e) => {
      bus.publish(named("BarProcessed", e.symbol));
      bus.publish({ ...submission, symbol: e.symbol });
    });
    bus.subscribe("BarProcessed", (e) => bus.publish({ ...submission, symbol: `${e.symbol}!` }));
    bus.subscribe(EVENT_TYPES, (e) => last.push(label(e)));
    bus.publish(bar(0, "X"));
    const expected = [
      "BarReceived:X",
      "BarProcessed:X",
      "OrderSubmissionRequest:X",
      "OrderSubmissionRequest:X!",
    ];
    expect(first).toEqual(expected);
    expect(last).toEqual(expected);
  });

  test("every subscriber sees one global order: a cascade against a queue model", () => {
    type Rule = readonly [readonly EventType[], (e: Event) => Event[]];
    const depth = (e: Event) => ("symbol" in e ? e.symbol.split(".").length : 0);
    const name = (e: Event) => ("symbol" in e ? e.symbol : "");
    // Handlers that publish, in subscription order, interleaved with observers.
    const rules: Rule[] = [
      [
        ["BarReceived"],
        (e) =>
          depth(e) < 5
            ? [named("BarReceived", `${name(e)}.a`), named("BarProcessed", `${name(e)}.p`)]
            : [],
      ],
      [["BarProcessed"], (e) => (depth(e) < 5 ? [named("BarReceived", `${name(e)}.b`)] : [])],
      [
        ["BarReceived", "BarProcessed"],
        (e) => (depth(e) === 2 ? [{ ...submission, symbol: name(e) }] : []),
      ],
    ];
    // The model: one FIFO queue; each event goes to every rule, in order, before the next event.
    const model: string[] = [];
    const queue = [named("BarReceived", "r")];
    for (let e = queue.shift(); e !== undefined; e = queue.shift()) {
      model.push(label(e));
      for (const [types, rule] of rules) if (types.includes(e.type)) queue.push(...rule(e));
    }

    const bus = new EventBus();
    const observers: string[][] = [[], [], []];
    const observe = (log: string[] | undefined) =>
      bus.subscribe(EVENT_TYPES, (e) => log?.push(label(e)));
    observe(observers[0]);
    rules.forEach(([types, rule], i) => {
      bus.subscribe(types, (e) => {
        for (const child of rule(e)) bus.publish(child);
      });
      if (i === 0) observe(observers[1]);
    });
    observe(observers[2]);
    bus.publish(named("BarReceived", "r"));

    expect(model.length).toBeGreaterThan(20);
    for (const log of observers) expect(log).toEqual(model);
  });
});

describe("errors", () => {
  const boom = (message: string) => () => {
    throw new Error(message);
  };

  test("a throwing handler does not stop delivery; its error reaches its own onError with the event", () => {
    const mine: [string, Event][] = [];
    const bus = new EventBus({ onError: () => mine.push(["bus handler used", received]) });
    const got: string[] = [];
    bus.subscribe("BarReceived", () => got.push("before"));
    bus.subscribe("BarReceived", boom("mine"), {
      onError: (error, event) => mine.push([(error as Error).message, event]),
    });
    bus.subscribe("BarReceived", () => got.push("after"));
    bus.publish(received);
    expect(got).toEqual(["before", "after"]);
    expect(mine).toEqual([["mine", received]]);
  });

  test("without its own onError, an error reaches the bus's", () => {
    const errors: [string, Event][] = [];
    const bus = new EventBus({
      onError: (error, event) => errors.push([(error as Error).message, event]),
    });
    const got: string[] = [];
    bus.subscribe("BarProcessed", boom("to the bus"));
    bus.subscribe("BarProcessed", () => got.push("delivered"));
    expect(thrownBy(() => bus.publish(processed))).toBeUndefined();
    expect(got).toEqual(["delivered"]);
    expect(errors).toEqual([["to the bus", processed]]);
  });

  test("with no error handler, errors are thrown from the outermost publish once the queue drained", () => {
    const bus = new EventBus();
    const got: string[] = [];
    bus.subscribe("BarReceived", () => {
      // The inner publish only queues: it neither delivers nor throws here.
      const inner = thrownBy(() => bus.publish(submission));
      got.push(`inner publish threw: ${inner !== undefined}`);
      throw new Error("one");
    });
    bus.subscribe("OrderSubmissionRequest", () => {
      got.push("queued event delivered");
      throw new Error("two");
    });
    const thrown = thrownBy(() => bus.publish(received));
    expect(got).toEqual(["inner publish threw: false", "queued event delivered"]);
    expect(thrown).toBeInstanceOf(AggregateError);
    expect((thrown as AggregateError).errors.map((e: Error) => e.message)).toEqual(["one", "two"]);

    // One error is thrown as itself, and the bus keeps working afterwards.
    const only = new Error("only");
    bus.subscribe("BarProcessed", () => {
      throw only;
    });
    expect(thrownBy(() => bus.publish(processed))).toBe(only);
    expect(thrownBy(() => bus.publish(submission))).toBeInstanceOf(Error);
    expect(got.at(-1)).toBe("queued event delivered");
  });

  test("an onError that throws does not cut delivery short either; its error is thrown at the end", () => {
    const bus = new EventBus();
    const got: string[] = [];
    const fatal = new Error("fatal");
    bus.subscribe(
      "BarReceived",
      () => {
        bus.publish(processed);
        throw new Error("handler");
      },
      {
        onError: () => {
          throw fatal;
        },
      },
    );
    bus.subscribe("BarReceived", () => got.push("other subscriber"));
    bus.subscribe("BarProcessed", () => got.push("queued event"));
    expect(thrownBy(() => bus.publish(received))).toBe(fatal);
    expect(got).toEqual(["other subscriber", "queued event"]);
    // Nothing stale is left to surface from an unrelated publish.
    expect(thrownBy(() => bus.publish(processed))).toBeUndefined();
  });
});

describe("EventBus refuses what it cannot deliver", () => {
  test("an unknown type, no type, or a handler that is no function: INVALID_OPTION, nothing subscribed", () => {
    const bus = new EventBus();
    const all: unknown[] = [];
    bus.subscribeAll((event) => all.push(event));
    const handler = () => {};
    for (const [call, message] of [
      [
        () => bus.subscribe("Foo" as EventType, handler),
        'subscribe: expected event types (got "Foo")',
      ],
      [
        () => bus.subscribe(["BarReceived", "Foo"] as EventType[], handler),
        'subscribe: expected event types (got "Foo")',
      ],
      [() => bus.subscribe([], handler), "subscribe: expected event types (got [])"],
      [
        () => bus.subscribe(null as unknown as EventType, handler),
        "subscribe: expected event types (got null)",
      ],
      [
        () => bus.subscribe(5 as unknown as EventType, handler),
        "subscribe: expected event types (got 5)",
      ],
      [
        () => bus.subscribe("BarReceived", null as never),
        "subscribe: handler must be a function (got null)",
      ],
      [
        () => bus.subscribe("BarReceived", handler, { onError: "x" as never }),
        'subscribe: onError must be a function (got "x")',
      ],
      [() => bus.subscribeAll(5 as never), "subscribeAll: handler must be a function (got 5)"],
      [() => new EventBus({ onError: 1 as never }), "EventBus: onError must be a function (got 1)"],
    ] as const) {
      const error = thrownBy(call) as RuntapeError;
      expect([error?.constructor.name, error?.code, error?.message]).toEqual([
        "RuntapeError",
        "INVALID_OPTION",
        message,
      ]);
    }
    // An event of an unknown type still reaches every subscriber of all events (a recorder
    // refuses and counts it): no subscription took it from them.
    const foreign = { type: "Foo" } as unknown as Event;
    bus.publish(foreign);
    expect(all).toEqual([foreign]);
    expect(EVENT_TYPES.map((type) => bus.subscriberCount(type))).toEqual(EVENT_TYPES.map(() => 1));
  });
});
