import type { RunsDb } from "../db.ts";
import { PnlAccumulator, type PnlFill } from "../pnl.ts";
import { hasSequence } from "../runs.ts";
import { SEQ_COLUMN } from "../schema.ts";
import { COUNTERS, emptyTrading, type SymbolTrading } from "../trading.ts";
import { storedTypes } from "./queries.ts";

/** The event types every stored row of which {@link tradingOf} reads: its symbols include theirs. */
export function tradingTypes(db: RunsDb): string[] {
  const types = storedTypes(db);
  return types.filter((t) => {
    const kind = db.catalog.role(t)?.kind;
    return (kind === "request" || kind === "fill") && db.catalog.symbolField(t) !== undefined;
  });
}

/**
 * Trading per symbol, sorted by symbol: requests, rejections, fills and average-cost P&L, as
 * {@link TradingTally} gives them from the events, answered from SQL so that inspect reads only
 * the columns it needs.
 * The catalog's roles say which types are requests, rejections and fills. Responses carry no
 * symbol: a rejection takes that of its request (its order id field holds the request's). The
 * rejections are read first, so that memory follows their number, and the requests then claim them in one pass over the run's rows: no lookup by order id,
 * whose index spans every run (and a replayed or re-seeded run repeats its order ids).
 * A rejection whose request is missing from the run is counted nowhere.
 */
export function tradingOf(db: RunsDb, runId: string): SymbolTrading[] {
  const bySymbol = new Map<string, SymbolTrading>();
  const entry = (symbol: string) => {
    let e = bySymbol.get(symbol);
    if (e === undefined) {
      e = emptyTrading(symbol);
      bySymbol.set(symbol, e);
    }
    return e;
  };
  const cat = db.catalog;
  const types = storedTypes(db);
  for (const request of types) {
    const role = cat.role(request);
    const symbol = cat.symbolField(request);
    if (role?.kind !== "request" || symbol === undefined) continue;
    const [counter, rejectionCounter] = COUNTERS[role.action];
    const rejected = new Map<string, number>();
    for (const response of types) {
      const answer = cat.role(response);
      if (answer?.kind !== "response" || answer.answers !== request) continue;
      if (answer.verdict !== "rejected") continue;
      for (const { id } of db.sqlite
        .query(
          `SELECT ${cat.orderIdField(response)} AS id FROM ${cat.table(response)} WHERE run_id = ?`,
        )
        .iterate(runId) as IterableIterator<{ id: string }>) {
        rejected.set(id, (rejected.get(id) ?? 0) + 1);
      }
    }
    for (const row of db.sqlite
      .query(
        `SELECT ${cat.orderIdField(request)} AS id, ${symbol} AS symbol FROM ${cat.table(request)} WHERE run_id = ?`,
      )
      .iterate(runId) as IterableIterator<{ id: string; symbol: string }>) {
      const e = entry(row.symbol);
      e[counter]++;
      const n = rejected.get(row.id);
      if (n !== undefined) {
        e[rejectionCounter] += n;
        rejected.delete(row.id); // a second request for the same order must not count them again
      }
    }
  }
  const pnl = new Map<string, PnlAccumulator>();
  // Publication order matters for P&L: seq where runtape recorded it, else insertion order.
  // `+id` keeps SQLite from walking the whole table in rowid order instead of the run's index.
  const order = hasSequence(db, runId) ? SEQ_COLUMN : "+id";
  for (const fills of types) {
    const symbol = cat.symbolField(fills);
    if (cat.role(fills)?.kind !== "fill" || symbol === undefined) continue;
    for (const fill of db.sqlite
      .query(
        `SELECT ${symbol} AS symbol, side, quantity_filled, fill_price, commission FROM ${cat.table(fills)} WHERE run_id = ? ORDER BY ${order}`,
      )
      .iterate(runId) as IterableIterator<PnlFill & { symbol: string }>) {
      entry(fill.symbol).fills++;
      let acc = pnl.get(fill.symbol);
      if (acc === undefined) {
        acc = new PnlAccumulator();
        pnl.set(fill.symbol, acc);
      }
      acc.add(fill);
    }
  }
  return [...bySymbol.values()]
    .sort((a, b) => (a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : 0))
    .map((e) => ({ ...e, ...(pnl.get(e.symbol) ?? new PnlAccumulator()).result }));
}
