/**
 * A run's decisions against its parent's: the requests, responses, fills and expiries in order
 * (market data and the types without a role left out), and the trading figures per symbol that
 * changed. Both runs are read as event streams, from a runs database or a store.
 */
import { type DiffResult, diffStreams, formatDiff, type RunRef } from "./diff.ts";
import { defaultCatalog, type Event, type EventType } from "./events/catalog.ts";
import { formatCount, formatNumber } from "./format.ts";
import { openSource, type RunSource, SqliteSource } from "./store/index.ts";
import { fieldText } from "./text.ts";
import { type SymbolTrading, TradingTally } from "./trading.ts";

/** The market data of a run (the catalog's market role): what a re-run is fed, not what it decides. */
export const MARKET_TYPES: readonly EventType[] = defaultCatalog.withRole("market");

/** A run's decisions (the catalog's requests, responses, fills, expiries): what compare compares. */
export const DECISION_TYPES: readonly EventType[] = defaultCatalog.decisions();

/** A symbol whose trading figures differ between the parent and the run (null: no trading). */
export interface TradingChange {
  symbol: string;
  parent: SymbolTrading | null;
  run: SymbolTrading | null;
}

/** What {@link compareDecisions} found. */
export interface Comparison {
  decisions: DiffResult;
  /** Symbols whose figures changed, by symbol. */
  trading: TradingChange[];
}

const FIGURES = [
  ["orders", "orders", formatCount],
  ["fills", "fills", formatCount],
  ["tradedQuantity", "traded", formatCount],
  ["commission", "commission", formatNumber],
  ["realizedPnl", "realised P&L", formatNumber],
  ["netPnl", "net P&L", formatNumber],
  ["position", "position", formatCount],
] as const satisfies readonly (readonly [keyof SymbolTrading, string, (x: number) => string])[];

/**
 * A run to compare: a {@link RunRef}, whose `db` may here also be a store URL. The same shape by
 * a second name, so the two cannot drift apart.
 */
export type SourceRef = RunRef;

/** Compares the decisions of `run` with those of `parent`, one pass over each run's decisions. */
export async function compareDecisions(parent: SourceRef, run: SourceRef): Promise<Comparison> {
  const [before, after] = [new TradingTally(), new TradingTally()];
  const decisions = await withSources(parent, run, (a, b) =>
    diffStreams(tallied(a, parent.run, before), tallied(b, run.run, after)),
  );
  const symbols = [...new Set([...before.result(), ...after.result()].map((t) => t.symbol))].sort();
  const traded = (tally: TradingTally, symbol: string) =>
    tally.result().find((t) => t.symbol === symbol) ?? null;
  const trading = symbols
    .map((symbol) => ({ symbol, parent: traded(before, symbol), run: traded(after, symbol) }))
    .filter((c) => FIGURES.some(([key]) => c.parent?.[key] !== c.run?.[key]));
  return { decisions, trading };
}

/** A run's decisions, each also counted in `tally` as it passes. */
async function* tallied(source: RunSource, run: string | undefined, tally: TradingTally) {
  for await (const event of source.events({ run, types: DECISION_TYPES })) {
    tally.add(event);
    yield event;
  }
}

/** Runs `fn` on the sources of two refs, closing those it opened (a handle stays open). */
async function withSources<T>(
  a: SourceRef,
  b: SourceRef,
  fn: (a: RunSource, b: RunSource) => Promise<T>,
): Promise<T> {
  const opened: RunSource[] = [];
  const open = async (ref: SourceRef) => {
    if (typeof ref.db !== "string") return new SqliteSource(ref.db);
    const source = await openSource(ref.db);
    opened.push(source);
    return source;
  };
  try {
    return await fn(await open(a), await open(b));
  } finally {
    for (const source of opened) await source.close();
  }
}

function describeDecision(event: Event): string {
  const fields = event as unknown as Record<string, unknown>;
  const parts = [event.type, `ts_event_ns=${event.ts_event_ns}`];
  // What the decision was about and what it said; its other times and indicators are noise here.
  for (const [name, field] of defaultCatalog.fields(event.type)) {
    const value = fields[name];
    if (field.kind !== "ns" && field.kind !== "indicators" && value !== undefined && value !== null)
      parts.push(fieldText(name, String(value)));
  }
  return parts.join(" ");
}

/** One side's figure as inspect prints it, or "-" where that side has no trades of the symbol. */
const figure = (value: number | undefined, format: (x: number) => string) =>
  value === undefined ? "-" : format(value);

/** The comparison as text: the first divergent decision, then the figures that changed. */
export function formatComparison(comparison: Comparison): string {
  const { decisions, trading } = comparison;
  const lines = formatDiff(decisions, { a: "parent", b: "new run" }, { noun: "decision" }).split(
    "\n",
  );
  const first = decisions.first;
  if (first !== null && first.fields.length === 0) {
    // Different types (or one run ended): what each side decided there, under the first line.
    const sides = [
      `  parent: ${first.a === null ? "(no more decisions)" : describeDecision(first.a)}`,
      `  new run: ${first.b === null ? "(no more decisions)" : describeDecision(first.b)}`,
    ];
    lines.splice(1, 0, ...sides);
  }
  if (trading.length === 0) {
    lines.push("trading figures unchanged");
  } else {
    lines.push("trading figures (parent -> new run):");
    for (const { symbol, parent, run } of trading) {
      const changed = FIGURES.filter(([key]) => parent?.[key] !== run?.[key]).map(
        ([key, label, format]) =>
          `${label} ${figure(parent?.[key], format)} -> ${figure(run?.[key], format)}`,
      );
      lines.push(`  ${symbol}: ${changed.join(", ")}`);
    }
  }
  return `${lines.join("\n")}\n`;
}
