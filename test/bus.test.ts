import { describe, expect, test } from "bun:test";
import { EVENT_TYPES, type Event, EventBus } from "../src/index.ts";
import { bar, sampleEvents } from "./helpers.ts";

const [barReceived, barProcessed, submission] = sampleEvents() as [Event, Event, Event];

describe("event bus", () => {
  test("delivers exact types only", () => {
    const bus = new EventBus();
    const got: string[] = [];
    bus.subscribe("BarReceived", (e) => got.push(e.type));
    bus.publish(barProcessed);
    bus.publish(barReceived);
    expect(got).toEqual(["BarReceived"]);
  });

  test("one subscription may take several types; unsubscribe stops delivery", () => {
    const bus = new EventBus();
    const got: string[] = [];
    const off = bus.subscribe(["BarReceived", "OrderSubmissionRequest"], (e) => got.push(e.type));
    bus.publish(barReceived);
    bus.publish(barProcessed);
    bus.publish(submission);
    off();
    bus.publish(barReceived);
    expect(got).toEqual(["BarReceived", "OrderSubmissionRequest"]);
    expect(bus.subscriberCount("BarReceived")).toBe(0);
  });

  test("events published by handlers wait until the current event reached everyone (FIFO)", () => {
    const bus = new EventBus();
    const seen: Record<string, string[]> = { first: [], second: [] };
    const log = (who: "first" | "second") => (e: Event) =>
      seen[who]?.push(`${e.type}:${(e as { symbol?: string }).symbol ?? ""}`);
    bus.subscribe(EVENT_TYPES, log("first"));
    bus.subscribe("BarReceived", (e) => {
      bus.publish({ ...barProcessed, symbol: e.symbol } as Event);
      bus.publish({ ...submission, symbol: e.symbol } as Event);
    });
    bus.subscribe("BarProcessed", (e) =>
      bus.publish({ ...submission, symbol: `${e.symbol}!` } as Event),
    );
    bus.subscribe(EVENT_TYPES, log("second"));
    bus.publish(bar(0, "X"));
    const expected = [
      "BarReceived:X",
      "BarProcessed:X",
      "OrderSubmissionRequest:X",
      "OrderSubmissionRequest:X!",
    ];
    expect(seen.first).toEqual(expected);
    expect(seen.second).toEqual(expected);
  });

  test("a throwing handler does not stop delivery; its error reaches its own handler", () => {
    const errors: [unknown, Event][] = [];
    const busErrors: unknown[] = [];
    const bus = new EventBus({ onError: (e) => busErrors.push(e) });
    const got: number[] = [];
    bus.subscribe(
      "BarReceived",
      () => {
        throw new Error("mine");
      },
      { onError: (error, event) => errors.push([error, event]) },
    );
    bus.subscribe("BarReceived", () => {
      throw new Error("to the bus");
    });
    bus.subscribe("BarReceived", () => got.push(1));
    bus.publish(barReceived);
    expect(got).toEqual([1]);
    expect(errors.map(([e, ev]) => [(e as Error).message, ev])).toEqual([["mine", barReceived]]);
    expect(busErrors.map((e) => (e as Error).message)).toEqual(["to the bus"]);
  });

  test("without any error handler, errors are thrown once the queue has drained", () => {
    const bus = new EventBus();
    const got: string[] = [];
    bus.subscribe("BarReceived", () => {
      bus.publish(submission);
      throw new Error("one");
    });
    bus.subscribe("OrderSubmissionRequest", () => {
      got.push("delivered");
      throw new Error("two");
    });
    let thrown: unknown;
    try {
      bus.publish(barReceived);
    } catch (error) {
      thrown = error;
    }
    expect(got).toEqual(["delivered"]);
    expect(thrown).toBeInstanceOf(AggregateError);
    expect((thrown as AggregateError).errors.map((e: Error) => e.message)).toEqual(["one", "two"]);
    // The bus is usable afterwards.
    bus.subscribe("BarProcessed", () => got.push("again"));
    bus.publish(barProcessed);
    expect(got).toEqual(["delivered", "again"]);
  });

  test("unsubscribing during delivery is safe", () => {
    const bus = new EventBus();
    const got: string[] = [];
    const offB = bus.subscribe("BarReceived", () => got.push("b"));
    bus.subscribe("BarReceived", () => {
      got.push("a");
      offB();
    });
    bus.publish(barReceived);
    bus.publish(barReceived);
    expect(got).toEqual(["b", "a", "a"]);
  });
});
