/**
 * Causal order for runs without sequence numbers (the Python recorder's). Their tables are merged
 * on `ts_created_ns`, which threads publishing at once do not keep in step with the order the
 * recorder received the events: a request could be merged after the answer to it. The gate holds
 * back a table's head until what caused it has been replayed, read from the catalog's roles:
 * - a response waits for the request it answers (the j-th answer of an order waits for the j-th
 *   request of that order and kind);
 * - a fill or an expiry waits for its order's acceptance;
 * - a market event that `follows` another (a processed bar) waits for it.
 * Only while the cause is still to come in the replay: one that is filtered out, or missing from
 * the file (a killed run's uncommitted rows), holds nothing back. Every question goes to SQLite
 * through the Python layout's order id and symbol indexes, so memory stays flat.
 */
import type { Statement } from "bun:sqlite";
import type { RunsDb } from "./db.ts";
import type { SqlValue } from "./events/fields.ts";

/** What the gate needs of one table's stream in the merge. */
export interface GatedStream {
  readonly stream: {
    readonly type: string;
    /** The row about to be replayed; undefined once the table is done. */
    readonly head: Record<string, SqlValue> | undefined;
  };
  /** The stream's WHERE clause and parameters: the rows it replays, in `id` order. */
  readonly where: string;
  readonly params: readonly SqlValue[];
}

/** A stream in the merge. */
type Merged = GatedStream["stream"];

const DONE = 2n ** 63n - 1n;

/** The row ids of `stream` replayed so far are those below this. */
const cursor = (g: GatedStream): bigint => (g.stream.head?.id as bigint | undefined) ?? DONE;

/** A cause not yet replayed: its stream and row id. */
interface Wait {
  readonly stream: GatedStream;
  readonly id: bigint;
}

/** Counts rows of a stream with given link values, below or from a row id. */
interface Probe {
  readonly stream: GatedStream;
  readonly count: Statement;
  readonly next: Statement;
}

type Check = (head: Record<string, SqlValue>) => Wait[] | undefined;

/** Holds back heads whose causes are still to come; see the module's comment. */
export class CausalGate {
  readonly #checks = new Map<Merged, Check>();
  readonly #waits = new Map<Merged, Wait[]>();
  readonly #statements: Statement[] = [];

  constructor(db: RunsDb, streams: readonly GatedStream[]) {
    const cat = db.catalog;
    const byType = new Map(streams.map((g) => [g.stream.type, g]));
    const probe = (stream: GatedStream, on: readonly (readonly [string, string])[]): Probe => {
      const table = cat.table(stream.stream.type);
      const link = on.map(([column]) => ` AND ${column} = ?`).join("");
      const where = `FROM ${table} WHERE ${stream.where}${link}`;
      const prepare = (sql: string) => {
        const statement = db.sqlite.prepare(sql);
        this.#statements.push(statement);
        return statement;
      };
      return {
        stream,
        count: prepare(`SELECT COUNT(*) AS n ${where} AND id < ?`),
        next: prepare(`SELECT id ${where} AND id >= ? ORDER BY id LIMIT 1`),
      };
    };
    const values = (
      p: Probe,
      head: Record<string, SqlValue>,
      on: readonly (readonly [string, string])[],
    ) => [...p.stream.params, ...on.map(([, field]) => head[field] as SqlValue)];
    const below = (
      p: Probe,
      head: Record<string, SqlValue>,
      on: readonly (readonly [string, string])[],
      id: bigint,
    ) => (p.count.get(...values(p, head, on), id) as { n: bigint }).n;
    const pending = (
      p: Probe,
      head: Record<string, SqlValue>,
      on: readonly (readonly [string, string])[],
    ): Wait | undefined => {
      const row = p.next.get(...values(p, head, on), cursor(p.stream)) as { id: bigint } | null;
      return row === null ? undefined : { stream: p.stream, id: row.id };
    };

    const accepted = cat.types.filter((t) => {
      const role = cat.role(t);
      if (role?.kind !== "response" || role.verdict !== "accepted") return false;
      const answered = cat.role(role.answers);
      return answered?.kind === "request" && answered.action === "submit";
    });
    for (const stream of streams) {
      const type = stream.stream.type;
      const role = cat.role(type);
      const orderId = cat.orderIdField(type);
      if (role?.kind === "response" && orderId !== undefined) {
        const request = byType.get(role.answers);
        const requestId = cat.orderIdField(role.answers);
        if (request === undefined || requestId === undefined) continue;
        const requests = probe(request, [[requestId, orderId]]);
        // Every answer to the same request kind, this table's own included.
        const answers = streams
          .filter((g) => {
            const r = cat.role(g.stream.type);
            return r?.kind === "response" && r.answers === role.answers;
          })
          .map((g) => probe(g, [[cat.orderIdField(g.stream.type) as string, orderId]]));
        const on = [[requestId, orderId]] as const;
        this.#checks.set(stream.stream, (head) => {
          const wait = pending(requests, head, on);
          if (wait === undefined) return undefined;
          const asked = below(requests, head, on, cursor(request));
          let answered = 0n;
          for (const a of answers) {
            const link = [[cat.orderIdField(a.stream.stream.type) as string, orderId]] as const;
            // Rows of this table before its head have been replayed: the head is not yet.
            answered += below(
              a,
              head,
              link,
              a.stream === stream ? (head.id as bigint) : cursor(a.stream),
            );
          }
          return asked > answered ? undefined : [wait];
        });
      } else if ((role?.kind === "fill" || role?.kind === "expiry") && orderId !== undefined) {
        const acceptances = accepted.flatMap((t) => {
          const s = byType.get(t);
          const field = cat.orderIdField(t);
          return s === undefined || field === undefined
            ? []
            : [[probe(s, [[field, orderId]]), [[field, orderId]] as const] as const];
        });
        this.#checks.set(stream.stream, (head) => {
          const waits: Wait[] = [];
          for (const [p, on] of acceptances) {
            if (below(p, head, on, cursor(p.stream)) > 0n) return undefined;
            const wait = pending(p, head, on);
            if (wait) waits.push(wait);
          }
          return waits.length > 0 ? waits : undefined;
        });
      } else if (role?.kind === "market" && role.follows !== undefined) {
        const cause = byType.get(role.follows.type);
        if (cause === undefined) continue;
        const on = role.follows.on.map((f) => [f, f] as const);
        const p = probe(cause, on);
        this.#checks.set(stream.stream, (head) => {
          if (below(p, head, on, cursor(cause)) > 0n) return undefined;
          const wait = pending(p, head, on);
          return wait && [wait];
        });
      }
    }
  }

  /**
   * Whether `stream`'s head may be replayed now. A head held back stays so, without asking
   * SQLite again, until one of the rows it waits for has been replayed.
   */
  ready(stream: Merged): boolean {
    const head = stream.head;
    const check = this.#checks.get(stream);
    if (head === undefined || check === undefined) return true;
    const waits = this.#waits.get(stream);
    if (waits?.every((w) => cursor(w.stream) <= w.id)) return false;
    const now = check(head);
    if (now === undefined) this.#waits.delete(stream);
    else this.#waits.set(stream, now);
    return now === undefined;
  }

  /** Forgets what `stream`'s previous head waited for: call when the stream moves on. */
  moved(stream: Merged): void {
    this.#waits.delete(stream);
  }

  finalize(): void {
    for (const statement of this.#statements) statement.finalize();
  }
}
