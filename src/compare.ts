/**
 * A run's decisions against its parent's: the requests, responses and fills in order (the market
 * data left out), and the trading figures per symbol that changed.
 */
import { openRunsDb } from "./db.ts";
import { type DiffResult, diffRuns, formatDiff, type RunRef } from "./diff.ts";
import { defaultCatalog, type Event, type EventType } from "./events/catalog.ts";
import { type SymbolTrading, tradingOf } from "./inspect/trading.ts";
import { resolveRunId } from "./runs.ts";

/** The market data of a run (the catalog's market role): what a re-run is fed, not what it decides. */
export const MARKET_TYPES: readonly EventType[] = defaultCatalog.withRole("market");

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
  ["orders", "orders"],
  ["fills", "fills"],
  ["tradedQuantity", "traded"],
  ["commission", "commission"],
  ["realizedPnl", "realised P&L"],
  ["netPnl", "net P&L"],
  ["position", "position"],
] as const satisfies readonly (readonly [keyof SymbolTrading, string])[];

/** Compares the decisions of `run` with those of `parent` (SQLite runs databases). */
export function compareDecisions(parent: RunRef, run: RunRef): Comparison {
  const decisions = diffRuns(parent, run, { excludeTypes: MARKET_TYPES });
  const [before, after] = [tradingIn(parent), tradingIn(run)];
  const symbols = [...new Set([...before.keys(), ...after.keys()])].sort();
  const trading = symbols
    .map((symbol) => ({
      symbol,
      parent: before.get(symbol) ?? null,
      run: after.get(symbol) ?? null,
    }))
    .filter((c) => FIGURES.some(([key]) => c.parent?.[key] !== c.run?.[key]));
  return { decisions, trading };
}

function tradingIn(ref: RunRef): Map<string, SymbolTrading> {
  const db = typeof ref.db === "string" ? openRunsDb(ref.db) : ref.db;
  try {
    return new Map(tradingOf(db, resolveRunId(db, ref.run)).map((t) => [t.symbol, t]));
  } finally {
    if (db !== ref.db) db.close();
  }
}

function describeDecision(event: Event): string {
  const fields = event as unknown as Record<string, unknown>;
  const parts = [event.type, `ts_event_ns=${event.ts_event_ns}`];
  for (const name of [
    "symbol",
    "side",
    "order_type",
    "quantity",
    "system_order_id",
    "associated_order_id",
  ]) {
    if (fields[name] !== undefined && fields[name] !== null) parts.push(`${name}=${fields[name]}`);
  }
  return parts.join(" ");
}

const figure = (value: number | undefined) =>
  value === undefined ? "-" : Number.isInteger(value) ? String(value) : value.toFixed(2);

/** The comparison as text: the first divergent decision, then the figures that changed. */
export function formatComparison(comparison: Comparison): string {
  const { decisions, trading } = comparison;
  const lines = (
    decisions.match
      ? formatDiff(decisions).replace("runs match", "decisions match")
      : formatDiff(decisions, { a: "parent", b: "new run" }).replace(/event #/, "decision #")
  ).split("\n");
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
        ([key, label]) => `${label} ${figure(parent?.[key])} -> ${figure(run?.[key])}`,
      );
      lines.push(`  ${symbol}: ${changed.join(", ")}`);
    }
  }
  return `${lines.join("\n")}\n`;
}
