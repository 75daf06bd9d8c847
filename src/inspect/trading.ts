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
 * the columns it needs. The catalog's roles say which types are requests, rejections and fills.
 * Requests are counted by SQL, per symbol; rejections as {@link withRejections} counts them; fills
 * are read in publication order (seq where runtape recorded it, else insertion order) for P&L.
 */
export function tradingOf(db: RunsDb, runId: string): SymbolTrading[] {
  const bySymbol = new Map<string, SymbolTrading>();
  const cat = db.catalog;
  const types = storedTypes(db);
  for (const request of types) {
    const role = cat.role(request);
    const symbol = cat.symbolField(request);
    if (role?.kind !== "request" || symbol === undefined) continue;
    const [counter] = COUNTERS[role.action];
    const counts = db.sqlite
      .query(`SELECT ${symbol}, count(*) FROM ${cat.table(request)} WHERE run_id = ? GROUP BY 1`)
      .values(runId) as [string, bigint | number][];
    for (const [name, n] of counts) entryOf(bySymbol, name)[counter] += Number(n);
  }
  const pnl = new Map<string, PnlAccumulator>();
  const order = publicationOrder(db, runId);
  for (const fills of types) {
    const symbol = cat.symbolField(fills);
    if (cat.role(fills)?.kind !== "fill" || symbol === undefined) continue;
    for (const fill of db.sqlite
      .query(
        // `+id` keeps SQLite from walking the whole table in rowid order instead of the run's index.
        `SELECT ${symbol} AS symbol, side, quantity_filled, fill_price, commission FROM ${cat.table(fills)} WHERE run_id = ? ORDER BY ${order === "id" ? "+id" : order}`,
      )
      .iterate(runId) as IterableIterator<PnlFill & { symbol: string }>) {
      entryOf(bySymbol, fill.symbol).fills++;
      let acc = pnl.get(fill.symbol);
      if (acc === undefined) {
        acc = new PnlAccumulator();
        pnl.set(fill.symbol, acc);
      }
      acc.add(fill);
    }
  }
  const trading = [...bySymbol.values()].map((e) => ({
    ...e,
    ...(pnl.get(e.symbol) ?? new PnlAccumulator()).result,
  }));
  return withRejections(db, runId, trading);
}

/** The column that orders a run's rows as they were published: seq where runtape recorded it. */
function publicationOrder(db: RunsDb, runId: string): string {
  return hasSequence(db, runId) ? SEQ_COLUMN : "id";
}

/**
 * `trading` (rejections not counted) with the rejections of the run's requests counted in, sorted
 * by symbol. A rejection counts for the symbol of the first request (in publication order) of
 * its order id and kind, even one that comes later; one whose request the run lacks counts
 * nowhere. Answered by SQL: per kind of request that was rejected, the run's rejections joined
 * to its requests grouped by order id, so that no row reaches JavaScript and memory follows
 * neither the orders nor the rejections. A lookup by order id would not do: that index spans
 * every run, and a replayed or re-seeded run repeats its order ids.
 */
export function withRejections(
  db: RunsDb,
  runId: string,
  trading: readonly SymbolTrading[],
): SymbolTrading[] {
  const bySymbol = new Map(trading.map((t) => [t.symbol, { ...t }]));
  const cat = db.catalog;
  const types = storedTypes(db);
  const order = publicationOrder(db, runId);
  for (const request of types) {
    const role = cat.role(request);
    const symbol = cat.symbolField(request);
    if (role?.kind !== "request" || symbol === undefined) continue;
    const rejections = types.filter((response) => {
      const answer = cat.role(response);
      return (
        answer?.kind === "response" &&
        answer.answers === request &&
        answer.verdict === "rejected" &&
        db.sqlite
          .query(`SELECT 1 FROM ${cat.table(response)} WHERE run_id = ? LIMIT 1`)
          .get(runId) !== null
      );
    });
    if (rejections.length === 0) continue;
    const ids = rejections
      .map((r) => `SELECT ${cat.orderIdField(r)} AS id FROM ${cat.table(r)} WHERE run_id = ?1`)
      .join(" UNION ALL ");
    const idField = cat.orderIdField(request);
    // With one min() in a grouped query, SQLite takes the bare columns from the row holding it.
    // Only the rejected ids are grouped (a run's rejections are few of its requests: half the time
    // of grouping them all); the unary + keeps SQLite from finding them through the order-id
    // index, which spans every run.
    const firsts = `SELECT ${idField} AS id, ${symbol} AS symbol, min(${order}) FROM ${cat.table(request)} WHERE run_id = ?1 AND +${idField} IN (${ids}) GROUP BY ${idField}`;
    const counts = db.sqlite
      .query(
        `SELECT q.symbol, count(*) FROM (${ids}) AS x JOIN (${firsts}) AS q ON q.id = x.id GROUP BY q.symbol`,
      )
      .values(runId) as [string, bigint | number][];
    const [, counter] = COUNTERS[role.action];
    for (const [name, n] of counts) entryOf(bySymbol, name)[counter] += Number(n);
  }
  return [...bySymbol.values()].sort((a, b) =>
    a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : 0,
  );
}

/** The entry of `symbol` in `bySymbol`, added (all zero) if it has none. */
function entryOf(bySymbol: Map<string, SymbolTrading>, symbol: string): SymbolTrading {
  let e = bySymbol.get(symbol);
  if (e === undefined) {
    e = emptyTrading(symbol);
    bySymbol.set(symbol, e);
  }
  return e;
}
