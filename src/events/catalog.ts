import { newUuid, nowNs } from "./clock.ts";
import {
  EventCatalog,
  type EventSpec,
  type FieldEntry,
  type RequestAction,
  SIDES,
} from "./event-catalog.ts";
import {
  indicators,
  int,
  ns,
  nullable,
  oneOf,
  real,
  text,
  type ValueOf,
  withDefault,
} from "./fields.ts";

/** The periods a bar may span (`bar_period`), shortest first. */
export const BAR_PERIODS = ["SECOND", "MINUTE", "HOUR", "DAY"] as const;
/** How long a bar of each period spans, in nanoseconds. */
export const BAR_PERIOD_NS: Readonly<Record<BarPeriod, bigint>> = {
  SECOND: 1_000_000_000n,
  MINUTE: 60_000_000_000n,
  HOUR: 3_600_000_000_000n,
  DAY: 86_400_000_000_000n,
};

/** The kinds of order (`order_type`). */
export const ORDER_TYPES = ["LIMIT", "MARKET", "STOP", "STOP_LIMIT"] as const;
/** What an order does to the position (`action` of a submission). */
export const ACTIONS = [
  "ENTRY",
  "ENTRY_LONG",
  "ENTRY_SHORT",
  "EXIT",
  "EXIT_LONG",
  "EXIT_SHORT",
  "ADD",
  "REDUCE",
  "REVERSE",
] as const;
/** Why the broker refused (`rejection_reason`). */
export const REJECTION_REASONS = ["UNKNOWN"] as const;

/** One of {@link BAR_PERIODS}. */
export type BarPeriod = (typeof BAR_PERIODS)[number];
/** One of {@link ORDER_TYPES}. */
export type OrderType = (typeof ORDER_TYPES)[number];
/** One of {@link SIDES}. */
export type Side = (typeof SIDES)[number];
/** One of {@link ACTIONS}. */
export type Action = (typeof ACTIONS)[number];
/** One of {@link REJECTION_REASONS}. */
export type RejectionReason = (typeof REJECTION_REASONS)[number];

const times = { ts_event_ns: ns, ts_created_ns: withDefault(ns, nowNs) };
const bar = {
  ...times,
  symbol: text,
  bar_period: oneOf(BAR_PERIODS),
  open: real,
  high: real,
  low: real,
  close: real,
  volume: nullable(int),
};
const response = { ...times, ts_broker_ns: ns, associated_order_id: text };
const accepted = { ...response, broker_order_id: nullable(text) };
const rejected = {
  ...response,
  rejection_reason: oneOf(REJECTION_REASONS),
  rejection_message: text,
};
const orderId = withDefault(text, newUuid);

const market = { since: 1, role: { kind: "market" }, symbol: "symbol", symbolIndex: true } as const;
const request = (action: RequestAction) =>
  ({
    since: 1,
    role: { kind: "request", action },
    symbol: "symbol",
    orderId: "system_order_id",
  }) as const;
const verdict = <A extends string>(answers: A, verdict: "accepted" | "rejected") =>
  ({
    since: 1,
    role: { kind: "response", answers, verdict },
    orderId: "associated_order_id",
  }) as const;

/**
 * The one declaration of the event model: every event type, its table, its columns in the order of
 * the spec, since which layout version it is stored, and its role. Types, valibot schemas, the DDL
 * and the migrations, the layout check, the recorder, the replay, the trading summary and the
 * NDJSON codec are all derived from it, so a new event type is one new entry here, with `since`
 * one above the current layout version (see the README's development section).
 */
export const catalog = {
  BarReceived: { table: "bars", fields: bar, ...market },
  BarProcessed: {
    table: "bars_processed",
    fields: { ...bar, indicators },
    ...market,
    role: {
      kind: "market",
      follows: { type: "BarReceived", on: ["symbol", "bar_period", "ts_event_ns"] },
    },
  },
  OrderSubmissionRequest: {
    table: "order_submissions",
    ...request("submit"),
    fields: {
      ...times,
      system_order_id: orderId,
      symbol: text,
      order_type: oneOf(ORDER_TYPES),
      side: oneOf(SIDES),
      quantity: real,
      limit_price: nullable(real),
      stop_price: nullable(real),
      action: nullable(oneOf(ACTIONS)),
      signal: nullable(text),
    },
  },
  OrderCancellationRequest: {
    table: "order_cancellations",
    ...request("cancel"),
    fields: { ...times, system_order_id: orderId, symbol: text },
  },
  OrderModificationRequest: {
    table: "order_modifications",
    ...request("modify"),
    fields: {
      ...times,
      system_order_id: orderId,
      symbol: text,
      quantity: nullable(real),
      limit_price: nullable(real),
      stop_price: nullable(real),
    },
  },
  OrderAccepted: {
    table: "orders_accepted",
    fields: accepted,
    ...verdict("OrderSubmissionRequest", "accepted"),
  },
  OrderRejected: {
    table: "orders_rejected",
    fields: rejected,
    ...verdict("OrderSubmissionRequest", "rejected"),
  },
  CancellationAccepted: {
    table: "cancellations_accepted",
    fields: accepted,
    ...verdict("OrderCancellationRequest", "accepted"),
  },
  CancellationRejected: {
    table: "cancellations_rejected",
    fields: rejected,
    ...verdict("OrderCancellationRequest", "rejected"),
  },
  ModificationAccepted: {
    table: "modifications_accepted",
    fields: accepted,
    ...verdict("OrderModificationRequest", "accepted"),
  },
  ModificationRejected: {
    table: "modifications_rejected",
    fields: rejected,
    ...verdict("OrderModificationRequest", "rejected"),
  },
  FillEvent: {
    table: "fills",
    since: 1,
    role: { kind: "fill" },
    symbol: "symbol",
    orderId: "associated_order_id",
    symbolIndex: true,
    fields: {
      ...response,
      broker_order_id: nullable(text),
      symbol: text,
      fill_id: withDefault(text, newUuid),
      broker_fill_id: nullable(text),
      side: oneOf(SIDES),
      quantity_filled: real,
      fill_price: real,
      commission: real,
      exchange: withDefault(text, () => "SIMULATED"),
    },
  },
  OrderExpired: {
    table: "expirations",
    since: 1,
    role: { kind: "expiry" },
    symbol: "symbol",
    orderId: "associated_order_id",
    fields: { ...response, broker_order_id: nullable(text), symbol: text },
  },
} as const satisfies Record<string, EventSpec>;

/** The catalog's lookups (storage history, roles); what a RunsDb uses unless opened with another. */
export const defaultCatalog: EventCatalog<EventType> = new EventCatalog(catalog);

/** The name of an event type, e.g. `"BarReceived"`. */
export type EventType = keyof typeof catalog;

type FieldsOf<K extends EventType> = (typeof catalog)[K]["fields"];

/**
 * The event of type `K`: its `type` tag and one property per column, `null` where absent.
 * A union of types gives the union of their events.
 */
export type EventOf<K extends EventType> = K extends EventType
  ? { type: K } & { -readonly [F in keyof FieldsOf<K>]: ValueOf<FieldsOf<K>[F]> }
  : never;

/** Any event of the catalog, discriminated by `type`. */
export type Event = EventOf<EventType>;

/** All event types in catalog order. */
export const EVENT_TYPES = Object.keys(catalog) as EventType[];

/** The fields of `type` as one list, for codecs that walk the columns. */
export function fieldsOf(type: EventType): readonly FieldEntry[] {
  return defaultCatalog.fields(type);
}

/** The event type stored in `table`, if any. */
export function typeOfTable(table: string): EventType | undefined {
  return defaultCatalog.typeOfTable(table);
}

/** Whether `name` is an event type name of the catalog. */
export function isEventType(name: unknown): name is EventType {
  return typeof name === "string" && Object.hasOwn(catalog, name);
}

/** A bar of market data as the feed delivered it. */
export type BarReceived = EventOf<"BarReceived">;
/** A bar with the values of the strategy's indicators. */
export type BarProcessed = EventOf<"BarProcessed">;
/** The strategy asks the broker to place an order. */
export type OrderSubmissionRequest = EventOf<"OrderSubmissionRequest">;
/** The strategy asks the broker to cancel an order. */
export type OrderCancellationRequest = EventOf<"OrderCancellationRequest">;
/** The strategy asks the broker to change an order; null fields stay as they were. */
export type OrderModificationRequest = EventOf<"OrderModificationRequest">;
/** The broker took an order. */
export type OrderAccepted = EventOf<"OrderAccepted">;
/** The broker refused an order. */
export type OrderRejected = EventOf<"OrderRejected">;
/** The broker cancelled an order. */
export type CancellationAccepted = EventOf<"CancellationAccepted">;
/** The broker refused to cancel an order. */
export type CancellationRejected = EventOf<"CancellationRejected">;
/** The broker changed an order. */
export type ModificationAccepted = EventOf<"ModificationAccepted">;
/** The broker refused to change an order. */
export type ModificationRejected = EventOf<"ModificationRejected">;
/** An order filled, in whole or in part. */
export type FillEvent = EventOf<"FillEvent">;
/** An order ended unfilled when its time ran out. */
export type OrderExpired = EventOf<"OrderExpired">;
