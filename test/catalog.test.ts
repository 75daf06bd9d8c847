// The catalog's history and roles, proved with a catalog that has types and a column runtape does
// not ship: its schema and migrations, a run recorded and replayed with it, and files written
// before it (by the shipped catalog, by the Python recorder) opened with it.
import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { newUuid, nowNs } from "../src/events/clock.ts";
import { ns, nullable, oneOf, real, text, withDefault } from "../src/events/fields.ts";
import {
  addedIn,
  catalog,
  checkDatabase,
  compareDecisions,
  DatabaseFormatError,
  defaultCatalog,
  EVENT_TYPES,
  type Event,
  EventBus,
  EventCatalog,
  inspectRun,
  openRunsDb,
  Recorder,
  replay,
  runDemo,
  SCHEMA_VERSION,
} from "../src/index.ts";
import { checkFeedTypes } from "../src/rerun.ts";
import { renderMigration, renderSchema, requiredTables } from "../src/schema.ts";
import {
  fixtureCopy,
  fixtureEvents,
  fixtureTest,
  pythonLayoutSql,
  runContentHash,
  T0,
  tempDir,
} from "./helpers.ts";

const times = { ts_event_ns: ns, ts_created_ns: withDefault(ns, nowNs) };

/** The layout version after the shipped catalog's. */
const NEXT = defaultCatalog.version + 1;

/**
 * The shipped catalog plus, in layout version NEXT, two types (named as no shipped type is) and a
 * column on fills.
 */
const extended = new EventCatalog({
  ...catalog,
  FillEvent: {
    ...catalog.FillEvent,
    fields: { ...catalog.FillEvent.fields, liquidity: addedIn(NEXT, nullable(text)) },
  },
  ExtraPosition: {
    table: "extra_positions",
    since: NEXT,
    fields: { ...times, symbol: text, quantity: real, snapshot_id: withDefault(text, newUuid) },
    symbol: "symbol",
    symbolIndex: true,
  },
  // Neither a symbol nor an order: what made a symbol-filtered replay throw `no such column`.
  ExtraAccount: { table: "extra_accounts", since: NEXT, fields: { ...times, equity: real } },
});

/** Any event, of a type the shipped model does not know. */
type AnyEvent = { type: string } & Record<string, unknown>;

const snapshot = (i: number, symbol: string): AnyEvent => ({
  type: "ExtraPosition",
  ts_event_ns: T0 + BigInt(i),
  ts_created_ns: T0 + 100n + BigInt(i),
  symbol,
  quantity: i * 1.5,
  snapshot_id: `s${i}`,
});
const account = (i: number): AnyEvent => ({
  type: "ExtraAccount",
  ts_event_ns: T0 + BigInt(i),
  ts_created_ns: T0 + 200n + BigInt(i),
  equity: 1e6 + i,
});

/** Tables with their columns (name, type, NOT NULL) and indexes, as SQLite reports them. */
function layout(path: string): Record<string, string[]> {
  const db = new Database(path, { readonly: true });
  const out: Record<string, string[]> = {};
  const tables = db
    .query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    .all() as { name: string }[];
  for (const { name } of tables) {
    const columns = db.query(`PRAGMA table_info(${name})`).all() as {
      name: string;
      type: string;
      notnull: number;
    }[];
    const indexes = db
      .query(
        `SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL ORDER BY name`,
      )
      .all(name) as { name: string }[];
    out[name] = [
      ...columns.map((c) => `${c.name} ${c.type}${c.notnull ? " NOT NULL" : ""}`),
      ...indexes.map((i) => `index ${i.name}`),
    ];
  }
  out.user_version = [
    String((db.query("PRAGMA user_version").get() as { user_version: number }).user_version),
  ];
  db.close();
  return out;
}

/** A demo run recorded with the shipped catalog; returns its path and the events published. */
function shippedRun(): { path: string; events: Event[] } {
  const path = join(tempDir(), "shipped.db");
  const bus = new EventBus();
  const events: Event[] = [];
  bus.subscribe(EVENT_TYPES, (e) => events.push(e));
  const recorder = Recorder.start(path, { runId: "old" });
  recorder.attach(bus);
  runDemo(bus, { bars: 120, symbols: ["AAA", "BBB"] });
  recorder.close();
  return { path, events };
}

/** What the extended catalog reads for an event stored before it: the added column as NULL. */
const asExtended = (e: Event) => (e.type === "FillEvent" ? { ...e, liquidity: null } : e);

describe("the catalog's history", () => {
  test("the extended catalog is the layout version after the shipped one's", () => {
    expect(SCHEMA_VERSION).toBe(defaultCatalog.version);
    expect(extended.version).toBe(NEXT);
    expect(extended.typesAt(1)).toEqual(defaultCatalog.typesAt(1));
    expect(extended.typesAt(defaultCatalog.version)).toEqual([...defaultCatalog.types]);
    expect(extended.typesAt(NEXT)).toEqual([
      ...defaultCatalog.types,
      "ExtraPosition",
      "ExtraAccount",
    ]);
    expect(extended.fieldsAt("FillEvent", defaultCatalog.version).map(([n]) => n)).toEqual(
      defaultCatalog.fields("FillEvent").map(([n]) => n),
    );
    expect(requiredTables(defaultCatalog.version, extended)).not.toContain("extra_positions");
    expect(requiredTables(NEXT, extended)).toContain("extra_positions");
    expect(requiredTables(1, extended)).not.toContain("runtape_runs");
  });

  test("a file migrated from the shipped version or from version 1 has the layout of a new one", () => {
    const dir = tempDir();
    const make = (name: string, ...ddl: string[]) => {
      const db = new Database(join(dir, name));
      db.exec(`BEGIN; ${ddl.join("\n")} COMMIT;`); // one sync, not one per statement
      db.close();
      return layout(join(dir, name));
    };
    const fresh = make("fresh.db", renderSchema(extended));
    expect(fresh.extra_positions).toContain("index idx_extra_positions_run_symbol_ts");
    expect(fresh.fills).toContain("liquidity TEXT");
    expect(fresh.user_version).toEqual([String(NEXT)]);
    const shipped = renderMigration(defaultCatalog.version, extended);
    expect(make("shipped.db", renderSchema(), shipped)).toEqual(fresh);
    // Version 1: the shipped layout without runtape's extension.
    expect(pythonLayoutSql()).not.toContain("seq");
    expect(make("v1.db", pythonLayoutSql(), renderMigration(1, extended))).toEqual(fresh);
  });

  test("records and replays the extra types, and filters them by symbol through their roles", () => {
    const path = join(tempDir(), "extended.db");
    const db = openRunsDb(path, { mode: "write", catalog: extended });
    expect(db.version).toBe(NEXT);
    const recorder = Recorder.start(db, { runId: "ext" });
    const fill = { ...(shippedRun().events.find((e) => e.type === "FillEvent") as Event) };
    const events: AnyEvent[] = [
      snapshot(1, "AAA"),
      account(2),
      { ...fill, liquidity: "MAKER" },
      snapshot(3, "BBB"),
      { ...fill, liquidity: null },
    ];
    for (const e of events) recorder.record(e as unknown as Event);
    recorder.close();
    expect([...replay(db, { run: "ext" })]).toEqual(events as unknown as Event[]);
    expect([...replay(db, { run: "ext", symbols: ["BBB"] })]).toEqual(
      events.filter((e) => e.symbol === "BBB") as unknown as Event[],
    );
    const detail = inspectRun(db, "ext");
    expect(detail.events).toBe(5n);
    expect((detail.counts as Record<string, bigint>).ExtraPosition).toBe(2n);
    expect(checkDatabase(db)).toEqual([]);
    db.close();
    // runtape as shipped refuses the newer file, untouched.
    expect(() => openRunsDb(path)).toThrow(DatabaseFormatError);
    expect(() => openRunsDb(path)).toThrow(
      `newer runtape (layout version ${NEXT}; this one knows up to ${SCHEMA_VERSION})`,
    );
  });

  test("types without a role are no decisions: compare passes them over, a feed refuses them as no market data", async () => {
    const decided = ["request", "response", "fill", "expiry"];
    expect(defaultCatalog.decisions()).toEqual(
      defaultCatalog.types.filter((t) => decided.includes(defaultCatalog.role(t)?.kind ?? "")),
    );
    expect(extended.decisions()).toEqual(defaultCatalog.decisions());

    const db = openRunsDb(join(tempDir(), "decisions.db"), { mode: "write", catalog: extended });
    const { events } = shippedRun();
    const extra = [snapshot(1, "AAA"), account(2)];
    for (const [runId, before] of [
      ["plain", []],
      ["snapshots", extra],
    ] as const) {
      const recorder = Recorder.start(db, { runId });
      for (const e of [...before, ...events.map(asExtended)]) recorder.record(e as Event);
      recorder.close();
    }
    const comparison = await compareDecisions({ db, run: "plain" }, { db, run: "snapshots" });
    expect([comparison.decisions.match, comparison.trading]).toEqual([true, []]);
    db.close();

    const refused = (types: string[]) => {
      try {
        checkFeedTypes(types, extended);
      } catch (error) {
        return [(error as { code: string }).code, (error as Error).message];
      }
    };
    expect(refused(["BarReceived", "ExtraAccount"])).toEqual([
      "INVALID_OPTION",
      "a backtest replays market data, not ExtraAccount: the catalog gives that type no market role",
    ]);
    expect(refused(["BarReceived", "OrderExpired"])).toEqual([
      "INVALID_OPTION",
      "a backtest replays market data, not OrderExpired: its strategy and broker make those anew",
    ]);
    expect(refused(["BarReceived", "BarProcessed"])).toBeUndefined();
  });

  test("opens a file the shipped catalog wrote: as it is, and migrated when it writes", () => {
    const { path, events } = shippedRun();
    const before = runContentHash(path, "old");
    const reader = openRunsDb(path, { catalog: extended });
    expect(reader.version).toBe(SCHEMA_VERSION);
    expect([...replay(reader, { run: "old" })]).toEqual(events.map(asExtended) as Event[]);
    expect([...replay(reader, { run: "old", symbols: ["AAA"] })].length).toBeGreaterThan(0);
    expect((inspectRun(reader, "old").counts as Record<string, bigint>).ExtraPosition).toBe(0n);
    reader.close();

    const writer = openRunsDb(path, { mode: "write", catalog: extended });
    expect(writer.version).toBe(NEXT);
    const recorder = Recorder.start(writer, { runId: "new" });
    recorder.record(snapshot(1, "AAA") as unknown as Event);
    recorder.close();
    expect([...replay(writer, { run: "old" })]).toEqual(events.map(asExtended) as Event[]);
    expect([...replay(writer, { run: "new" })]).toEqual([snapshot(1, "AAA")] as unknown as Event[]);
    expect(checkDatabase(writer)).toEqual([]);
    writer.close();
    expect(runContentHash(path, "old")).toBe(before);
  });

  fixtureTest("opens a Python v1 file: as it is, and migrated when it writes", () => {
    const path = fixtureCopy();
    const runs = new Database(path, { readonly: true })
      .query("SELECT run_id FROM runs ORDER BY run_id")
      .values()
      .map(([id]) => id as string);
    const shipped = runs.map((run) => fixtureEvents(run));
    const hashes = runs.map((run) => runContentHash(path, run));
    const reader = openRunsDb(path, { catalog: extended });
    expect(reader.version).toBe(1);
    runs.forEach((run, i) => {
      expect([...replay(reader, { run })]).toEqual(
        (shipped[i] as Event[]).map(asExtended) as Event[],
      );
    });
    reader.close();
    const writer = openRunsDb(path, { mode: "write", catalog: extended });
    const recorder = Recorder.start(writer, { runId: "new" });
    recorder.record(account(1) as unknown as Event);
    recorder.close();
    runs.forEach((run, i) => {
      expect([...replay(writer, { run })]).toEqual(
        (shipped[i] as Event[]).map(asExtended) as Event[],
      );
      expect(runContentHash(path, run)).toBe(hashes[i] as string);
    });
    expect([...replay(writer, { run: "new" })]).toEqual([account(1)] as unknown as Event[]);
    writer.close();
  });

  test.each([
    ["an added column that is NOT NULL", () => addedIn(NEXT, real), /must be nullable/],
    [
      "a response to no request",
      () =>
        new EventCatalog({
          ...catalog,
          OrderAccepted: {
            ...catalog.OrderAccepted,
            role: { ...catalog.OrderAccepted.role, answers: "FillEvent" },
          },
        }),
      /OrderAccepted: answers FillEvent, which is no request/,
    ],
    [
      "a symbol role naming no field",
      () => new EventCatalog({ X: { table: "x", since: NEXT, fields: times, symbol: "sym" } }),
      /X: symbol names no field/,
    ],
    [
      "a fill without an order id",
      () =>
        new EventCatalog({ X: { table: "x", since: NEXT, fields: times, role: { kind: "fill" } } }),
      /X: a fill needs an orderId field/,
    ],
    [
      "a fill without a fill price",
      () => {
        const { fill_price: _, ...fields } = catalog.FillEvent.fields;
        return new EventCatalog({ X: { ...catalog.FillEvent, table: "x", since: NEXT, fields } });
      },
      /X: a fill needs a real field fill_price/,
    ],
    [
      "a fill whose side is no BUY or SELL",
      () =>
        new EventCatalog({
          X: {
            ...catalog.FillEvent,
            table: "x",
            since: NEXT,
            fields: { ...catalog.FillEvent.fields, side: oneOf(["LONG", "SHORT"]) },
          },
        }),
      /X: a fill needs a side field of BUY and SELL/,
    ],
    [
      "a fill without a symbol",
      () => {
        const { symbol: _, symbolIndex: __, ...spec } = catalog.FillEvent;
        return new EventCatalog({ X: { ...spec, table: "x", since: NEXT } });
      },
      /X: a fill needs a symbol field/,
    ],
    [
      "a market event following another on a field it lacks",
      () =>
        new EventCatalog({
          ...catalog,
          X: {
            table: "x",
            since: NEXT,
            fields: times,
            role: { kind: "market", follows: { type: "BarReceived", on: ["symbol"] } },
          },
        }),
      /X: follows BarReceived on fields neither has/,
    ],
    [
      "a table taken twice",
      () => new EventCatalog({ ...catalog, X: { table: "bars", since: NEXT, fields: times } }),
      /X: table bars is taken/,
    ],
  ])("refuses a declaration with %s", (_, build, message) => {
    expect(build).toThrow(message);
  });
});
