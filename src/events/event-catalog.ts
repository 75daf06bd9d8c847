import type { Field } from "./fields.ts";

/** The Python recorder's layout: a `runs` table and one table per event type. */
export const PYTHON_SCHEMA_VERSION = 1;
/** runtape's additive extension of it: per-run sequence numbers (`seq`) and `runtape_runs`. */
export const EXTENSION_SCHEMA_VERSION = 2;

/** What a request asks of the broker; its responses say whether the broker did it. */
export type RequestAction = "submit" | "cancel" | "modify";

/**
 * What an event means to the readers that interpret a run (replay's symbol filter, the trading
 * summary, P&L): they look for roles, never for field names.
 * - `market`: market data (bars); one that `follows` another (a processed bar its received bar)
 *   arises from the event of that type with the same values in the `on` fields.
 * - `request`: asks the broker to `action` the order its `orderId` field names.
 * - `response`: the broker's `verdict` on a request of type `answers`; its `orderId` field holds
 *   the request's order id.
 * - `fill`: a (partial) execution of the order in its `orderId` field, with the fields of
 *   {@link PnlFill} (side, quantity_filled, fill_price, commission).
 * - `expiry`: the order in its `orderId` field expired.
 */
export type EventRole =
  | {
      readonly kind: "market";
      readonly follows?: { readonly type: string; readonly on: readonly string[] };
    }
  | { readonly kind: "request"; readonly action: RequestAction }
  | {
      readonly kind: "response";
      readonly answers: string;
      readonly verdict: "accepted" | "rejected";
    }
  | { readonly kind: "fill" }
  | { readonly kind: "expiry" };

/** The kinds of {@link EventRole}. */
export type RoleKind = EventRole["kind"];

/**
 * Whether a role is a decision: a strategy's or its broker's doing, which a backtest makes anew
 * and `backtest --compare` compares. A new kind of role must say which it is.
 */
const DECIDES: Readonly<Record<RoleKind, boolean>> = {
  market: false,
  request: true,
  response: true,
  fill: true,
  expiry: true,
};

/** How one event type is stored and what it means. */
export interface EventSpec {
  readonly table: string;
  /**
   * The layout version (`user_version`) that introduced the type: 1 for the Python recorder's.
   * A file of an older version lacks its table, which readers read as empty and a writer creates.
   * A column added to an existing type later says so itself: see {@link addedIn}.
   */
  readonly since: number;
  /** Columns in insert order (after `id` and `run_id`). */
  readonly fields: Readonly<Record<string, Field<unknown>>>;
  /**
   * No role: neither market data nor a decision, which the trading readers, `backtest --compare`
   * and a backtest's feed pass over (replay still replays it).
   */
  readonly role?: EventRole;
  /** The field that carries the symbol, if the type has one. */
  readonly symbol?: string;
  /**
   * The field that names the order: a request's own id, the id that a response, fill or expiry
   * points back to. Indexed, with `(run_id, ts_event_ns)`, as the Python layout does.
   */
  readonly orderId?: string;
  /** An index on `(run_id, <symbol>, ts_event_ns)`, as the bar tables and fills have. */
  readonly symbolIndex?: true;
}

/** One column: its name and field. */
export type FieldEntry = readonly [string, Field<unknown>];

/** A field whose column exists only from layout `version` on; older files read it as NULL. */
export function addedIn<T>(version: number, field: Field<T>): Field<T> {
  if (field.notNull) {
    // An added column is NULL in every row written before it, and ADD COLUMN cannot be NOT NULL
    // without a default.
    throw new TypeError(`a column added in version ${version} must be nullable`);
  }
  return { ...field, since: version };
}

const TIMES = ["ts_event_ns", "ts_created_ns"] as const;
/** An order's or a fill's side; a fill role's `side` field has both. */
export const SIDES = ["BUY", "SELL"] as const;
// What else a fill role promises besides its symbol and order (the fields of PnlFill).
const FILL_NUMBERS = ["quantity_filled", "fill_price", "commission"] as const;

/**
 * An event catalog with its lookups: the storage history (which types and columns a file of a
 * given layout version holds) and the roles. runtape's own is `defaultCatalog` (catalog.ts); a
 * catalog built from a larger declaration (a test's extra type) works with every storage function
 * that takes a RunsDb opened with it.
 */
export class EventCatalog<T extends string = string> {
  /** Event types in declaration order: the order in which one moment's events arise. */
  readonly types: readonly T[];
  /** The layout version this catalog writes: the newest type, column or extension. */
  readonly version: number;
  readonly #specs: Readonly<Record<T, EventSpec>>;
  readonly #fields = new Map<string, readonly FieldEntry[]>();
  readonly #byTable = new Map<string, T>();

  /** Checks the declaration: throws TypeError naming what does not hold together. */
  constructor(specs: Readonly<Record<T, EventSpec>>) {
    const spec = (type: T, field: string) => specs[type].fields[field] !== undefined;
    this.#specs = specs;
    this.types = Object.keys(specs) as T[];
    let version = EXTENSION_SCHEMA_VERSION;
    for (const type of this.types) {
      const spec = specs[type];
      const fields = Object.entries(spec.fields) as FieldEntry[];
      this.#fields.set(type, fields);
      const fail = (why: string) => {
        throw new TypeError(`catalog: ${type}: ${why}`);
      };
      if (!Number.isInteger(spec.since) || spec.since < PYTHON_SCHEMA_VERSION)
        fail(`since must be a layout version ≥ ${PYTHON_SCHEMA_VERSION}`);
      if (this.#byTable.has(spec.table)) fail(`table ${spec.table} is taken`);
      this.#byTable.set(spec.table, type);
      for (const t of TIMES) if (spec.fields[t]?.kind !== "ns") fail(`needs an ns field ${t}`);
      for (const key of ["symbol", "orderId"] as const) {
        const name = spec[key];
        if (name === undefined) continue;
        if (spec.fields[name] === undefined) fail(`${key} names no field (${name})`);
        if (this.sinceOf(type, name) !== spec.since) fail(`${key} field ${name} must be original`);
      }
      if (spec.symbolIndex && spec.symbol === undefined) fail("symbolIndex without a symbol field");
      const role = spec.role?.kind;
      if (role !== undefined && role !== "market" && spec.orderId === undefined)
        fail(`a ${role} needs an orderId field`);
      if (role === "fill") {
        // The P&L and the round trips read these fields of every fill, whatever its type.
        if (spec.symbol === undefined) fail("a fill needs a symbol field");
        const side = spec.fields.side;
        if (side?.kind !== "enum" || !SIDES.every((s) => side.options?.includes(s)))
          fail(`a fill needs a side field of ${SIDES.join(" and ")}`);
        for (const name of FILL_NUMBERS)
          if (spec.fields[name]?.kind !== "real") fail(`a fill needs a real field ${name}`);
      }
      for (const [name] of fields) version = Math.max(version, this.sinceOf(type, name));
    }
    for (const type of this.types) {
      const role = specs[type].role;
      if (role?.kind === "response" && specs[role.answers as T]?.role?.kind !== "request")
        throw new TypeError(`catalog: ${type}: answers ${role.answers}, which is no request`);
      const follows = role?.kind === "market" ? role.follows : undefined;
      if (follows === undefined) continue;
      const followed = specs[follows.type as T];
      const missing = follows.on.find((f) => !spec(type, f) || !followed?.fields[f]);
      if (followed === undefined || missing !== undefined)
        throw new TypeError(`catalog: ${type}: follows ${follows.type} on fields neither has`);
    }
    this.version = version;
  }

  /** The declaration of `type`, as the catalog was built from it. */
  spec(type: T): EventSpec {
    return this.#specs[type];
  }

  /** The SQLite table that stores events of `type`. */
  table(type: T): string {
    return this.#specs[type].table;
  }

  /** The event type stored in `table`, if any. */
  typeOfTable(table: string): T | undefined {
    return this.#byTable.get(table);
  }

  /** The fields of `type` in insert order. */
  fields(type: T): readonly FieldEntry[] {
    return this.#fields.get(type) as readonly FieldEntry[];
  }

  /** The layout version since which `type` (or its column `field`) is stored. */
  sinceOf(type: T, field?: string): number {
    const spec = this.#specs[type];
    const added = field === undefined ? undefined : spec.fields[field]?.since;
    return Math.max(spec.since, added ?? 0);
  }

  /** The types whose tables a file of layout `version` holds; older files lack the others. */
  typesAt(version: number): T[] {
    return this.types.filter((t) => this.#specs[t].since <= version);
  }

  /** The fields of `type` that a file of layout `version` stores; the others read as NULL. */
  fieldsAt(type: T, version: number): readonly FieldEntry[] {
    return this.fields(type).filter(([name]) => this.sinceOf(type, name) <= version);
  }

  /** What events of `type` are to a run (market data, a request, …); undefined for no role. */
  role(type: T): EventRole | undefined {
    return this.#specs[type].role;
  }

  /** The types of role `kind`, in declaration order. */
  withRole(kind: RoleKind): T[] {
    return this.types.filter((t) => this.#specs[t].role?.kind === kind);
  }

  /**
   * The decisions, in declaration order: the types whose role is a strategy's or its broker's
   * doing (requests, the broker's answers, fills, expiries). Market data and types without a role
   * are not.
   */
  decisions(): T[] {
    return this.types.filter((t) => {
      const kind = this.#specs[t].role?.kind;
      return kind !== undefined && DECIDES[kind];
    });
  }

  /** The field that carries the symbol of `type`, if any. */
  symbolField(type: T): string | undefined {
    return this.#specs[type].symbol;
  }

  /** The field of `type` that names the order (see {@link EventSpec.orderId}), if any. */
  orderIdField(type: T): string | undefined {
    return this.#specs[type].orderId;
  }

  /** The symbol `event` carries, if its type has a symbol field. */
  symbolOf(event: { readonly type: T }): string | undefined {
    return fieldOf(event, this.#specs[event.type].symbol);
  }

  /** The order id `event` names, if its type has an order id field. */
  orderIdOf(event: { readonly type: T }): string | undefined {
    return fieldOf(event, this.#specs[event.type].orderId);
  }

  /**
   * How a row of `type` belongs to a symbol, in a file of layout `version`: through its own
   * symbol field; or, for a type that names an order, through the requests (of the types in
   * `requests`) that name the same order, each with its order id and symbol field, so that an
   * order's whole lifecycle goes with its symbol. Undefined: the type belongs to no symbol.
   */
  symbolLink(type: T, version = this.version): SymbolLink | undefined {
    const symbol = this.symbolField(type);
    if (symbol !== undefined) return { field: symbol };
    const orderId = this.orderIdField(type);
    const requests = this.typesAt(version).flatMap((t) => {
      const r = this.#specs[t];
      return r.role?.kind === "request" && r.symbol !== undefined && r.orderId !== undefined
        ? [{ table: r.table, orderId: r.orderId, symbol: r.symbol }]
        : [];
    });
    return orderId === undefined || requests.length === 0 ? undefined : { orderId, requests };
  }
}

/** See {@link EventCatalog.symbolLink}. */
export type SymbolLink =
  | { readonly field: string }
  | {
      readonly orderId: string;
      readonly requests: readonly { table: string; orderId: string; symbol: string }[];
    };

// The catalog's checks make a declared symbol or order id field hold a string.
const fieldOf = (event: object, field: string | undefined) =>
  field === undefined ? undefined : ((event as Record<string, unknown>)[field] as string);
