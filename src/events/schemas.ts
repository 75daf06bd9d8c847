import * as v from "valibot";
import { InvalidEventError } from "../errors.ts";
import {
  catalog,
  EVENT_TYPES,
  type Event,
  type EventOf,
  type EventType,
  fieldsOf,
} from "./catalog.ts";
import type { Defaulted, Field, ValueOf } from "./fields.ts";

type FieldsOf<K extends EventType> = (typeof catalog)[K]["fields"];
type DefaultedKeys<K extends EventType> = {
  [F in keyof FieldsOf<K>]: FieldsOf<K>[F] extends Defaulted<unknown> ? F : never;
}[keyof FieldsOf<K>];

/** What a factory takes for event type `K`: fields with a default may be left out. */
export type EventInput<K extends EventType> = {
  -readonly [F in Exclude<keyof FieldsOf<K>, DefaultedKeys<K>>]: ValueOf<FieldsOf<K>[F]>;
} & {
  -readonly [F in DefaultedKeys<K>]?: ValueOf<FieldsOf<K>[F]>;
};

type Schemas = { [K in EventType]: v.GenericSchema<unknown, EventOf<K>> };

function buildSchemas(withDefaults: boolean): Schemas {
  const out: Record<string, v.GenericSchema> = {};
  for (const type of EVENT_TYPES) {
    const entries: Record<string, v.GenericSchema> = { type: v.literal(type) };
    for (const [name, field] of fieldsOf(type)) {
      entries[name] =
        withDefaults && field.default ? v.optional(field.schema, field.default) : field.schema;
    }
    out[type] = v.strictObject(entries);
  }
  return out as unknown as Schemas;
}

/** The valibot schema of each event type: every field present and valid, no other key. */
export const eventSchemas: Schemas = buildSchemas(false);

/** As `eventSchemas`, but fields the model fills itself may be left out and get their default. */
export const eventInputSchemas: Schemas = buildSchemas(true);

/**
 * Builds an event of `type`, filling defaults (`ts_created_ns` now, new ids, nulls) like the model,
 * and checks it: a `number` timestamp or an unknown enum value throws InvalidEventError (naming the
 * field) here, where the event is written, not later in the recorder.
 */
export function makeEvent<K extends EventType>(type: K, input: EventInput<K>): EventOf<K> {
  if (!Object.hasOwn(catalog, type)) {
    throw new InvalidEventError(String(type), "type", type, "not an event type");
  }
  if (typeof input !== "object" || input === null) {
    throw new InvalidEventError(type, "input", input, "expected an object of the event's fields");
  }
  const event = makeEventTrusted(type, input);
  const error = findInvalidField(event);
  if (error !== undefined) throw error;
  return event;
}

/**
 * As {@link makeEvent}, without the check: for hot paths whose inputs are known good. A bad value
 * is then only refused by the recorder (or a later parse).
 */
export function makeEventTrusted<K extends EventType>(type: K, input: EventInput<K>): EventOf<K> {
  const event: Record<string, unknown> = { type };
  const given = input as Record<string, unknown>;
  for (const [name, field] of fieldsOf(type)) {
    const value = given[name];
    event[name] = value === undefined && field.default ? field.default() : value;
  }
  return event as EventOf<K>;
}

/**
 * The error for `value`, whose type is none of the catalog's: a value that is no object at all
 * (null, a number) is named as that, where "undefined.type: not an event type" said nothing.
 */
export function unknownTypeError(value: unknown, reason = "not an event type"): InvalidEventError {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return new InvalidEventError("", "type", value, "expected an event object");
  }
  const type = (value as { type?: unknown }).type;
  return new InvalidEventError(String(type ?? "event"), "type", type, reason);
}

/**
 * The first field of `event` that breaks its type's schema, as an InvalidEventError, or undefined.
 * A plain loop over the catalog's predicates: cheap enough for every event the recorder takes.
 */
export function findInvalidField(event: Event): InvalidEventError | undefined {
  const type = (event as { type?: unknown } | null)?.type;
  if (typeof type !== "string" || !Object.hasOwn(catalog, type)) return unknownTypeError(event);
  const record = event as unknown as Record<string, unknown>;
  for (const [name, field] of fieldsOf(type as EventType)) {
    const value = record[name];
    if (!field.is(value)) return invalid(type, name, field, value);
  }
  return undefined;
}

/** Why `field` refuses `value`, in the schema's own words. */
export function refusal(field: Field<unknown>, value: unknown): string {
  if (value === undefined) return "missing";
  const result = v.safeParse(field.schema, value);
  return result.success ? "not accepted" : (result.issues[0]?.message ?? "invalid");
}

/** The InvalidEventError for a value that `field` refuses. */
export function invalid(
  type: string,
  name: string,
  field: Field<unknown>,
  value: unknown,
): InvalidEventError {
  return new InvalidEventError(type, name, value, refusal(field, value));
}

/** Parses untrusted data into an event; throws InvalidEventError naming the first bad field. */
export function parseEvent(input: unknown, options: { defaults?: boolean } = {}): Event {
  const type = (input as { type?: unknown } | null)?.type;
  if (typeof type !== "string" || !Object.hasOwn(catalog, type)) {
    throw unknownTypeError(input, "unknown event type");
  }
  const checked = checkedEvent(type as EventType, input, options.defaults === true);
  if (checked !== undefined) return checked;
  // The schema, slower, says which field and why.
  const schema = (options.defaults ? eventInputSchemas : eventSchemas)[type as EventType];
  const result = v.safeParse(schema, input);
  if (result.success) return result.output as Event;
  const issue = result.issues[0];
  const key = issue?.path?.[0]?.key;
  const field = typeof key === "string" ? key : "event";
  const value = issue?.input;
  const reason =
    issue?.kind === "schema" && issue.type === "strict_object" && issue.expected === "never"
      ? "unknown field"
      : issue?.received === "undefined"
        ? "missing"
        : (issue?.message ?? "invalid");
  throw new InvalidEventError(type, field, value, reason);
}

/**
 * The event in `input` (a plain object), built as the schema builds it (its fields in the
 * catalog's order, defaults filled with `defaults`) where the catalog's predicates accept every
 * field and no other key is there; else undefined. The predicates accept what the schemas accept
 * (a test holds them together) at a fraction of the cost: decoding an NDJSON line took ~5 µs
 * through the schema.
 */
function checkedEvent(type: EventType, input: unknown, defaults: boolean): Event | undefined {
  if (
    typeof input !== "object" ||
    input === null ||
    Object.getPrototypeOf(input) !== Object.prototype
  ) {
    return undefined;
  }
  const checks = defaults ? checkedWithDefaults : checkedAsIs;
  let check = checks.get(type);
  if (check === undefined) {
    check = compileCheck(type, defaults);
    checks.set(type, check);
  }
  return check(input as Record<string, unknown>);
}

type Check = (record: Record<string, unknown>) => Event | undefined;
const checkedAsIs = new Map<string, Check>();
const checkedWithDefaults = new Map<string, Check>();

/**
 * checkedEvent's work for one type, compiled from the catalog into straight-line code: each
 * field's rule inline where it has a short one (`isCode`), and the event made as one literal, in
 * the catalog's order (a loop calling each field's predicate and adding its value took ~1/6 of
 * decoding a mixed line).
 */
function compileCheck(type: EventType, defaults: boolean): Check {
  const fields = fieldsOf(type);
  const steps = fields.map(([name, field], i) => {
    const key = JSON.stringify(name);
    const missing =
      defaults && field.default !== undefined ? `v${i} = f[${i}].default();` : "return undefined;";
    const check = field.isCode ? field.isCode(`v${i}`) : `f[${i}].is(v${i})`;
    return `let v${i} = r[${key}];
if (hasOwn(r, ${key})) keys++;
if (v${i} === undefined) { ${missing} }
if (!(${check})) return undefined;`;
  });
  const members = fields.map(([name], i) => `${JSON.stringify(name)}: v${i}`);
  const body = `return (r) => {
let keys = 1;
${steps.join("\n")}
if (Object.keys(r).length !== keys) return undefined;
return { type: ${JSON.stringify(type)}, ${members.join(", ")} };
};`;
  return new Function("f", "hasOwn", body)(
    fields.map(([, field]) => field),
    Object.hasOwn,
  ) as Check;
}
