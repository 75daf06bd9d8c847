/**
 * A TCP proxy in front of a test cluster's unix socket that counts the statements clients send
 * and the round trips they wait for, and can hold every chunk back a while each way: a store
 * across a network, where each round trip costs what the queries themselves do not. The counts
 * are deterministic where a time is not: tests assert them, the bench times the delay.
 */
import type { Socket } from "bun";
import type { PgCluster } from "./pg.ts";

export interface PgProxy {
  /** A URL of the trusted test role to `database` (default `runtape`) through the proxy. */
  url(database?: string): string;
  /** Statements sent since the last reset: simple queries and extended-protocol Syncs. */
  statements(): number;
  /**
   * Round trips since the last reset: each time a client sends after the server last spoke.
   * Statements sent together (pipelined) are one; with a delay, a client's burst is one.
   */
  roundTrips(): number;
  reset(): void;
  stop(): void;
}

/** The startup message's protocol version (3.0); any other untyped message (SSLRequest) comes before it. */
const PROTOCOL_3 = 196_608;

/** Counts the statements in a client's stream of PostgreSQL protocol messages, chunk by chunk. */
function statementCounter(count: () => void): (chunk: Uint8Array) => void {
  let started = false;
  let buffered = new Uint8Array(0);
  return (chunk) => {
    const bytes = new Uint8Array(buffered.length + chunk.length);
    bytes.set(buffered);
    bytes.set(chunk, buffered.length);
    const view = new DataView(bytes.buffer);
    let at = 0;
    for (;;) {
      // Before the startup message, messages have no type byte: length, then a code.
      const head = started ? 1 : 0;
      if (bytes.length - at < head + 4) break;
      const length = view.getUint32(at + head);
      if (bytes.length - at < head + length) break;
      if (!started) started = view.getUint32(at + 4) === PROTOCOL_3;
      else if (bytes[at] === 0x51 /* Q */ || bytes[at] === 0x53 /* S */) count();
      at += head + length;
    }
    buffered = bytes.slice(at);
  };
}

/**
 * Writes to a socket in order, keeping what it could not take yet (a socket takes what its
 * buffer holds and returns the count) until its `drain`.
 */
function writer(socket: () => Socket<unknown> | undefined) {
  let queue: Uint8Array[] = [];
  const flush = () => {
    const target = socket();
    if (target === undefined) return;
    while (queue.length > 0) {
      const chunk = queue[0] as Uint8Array;
      const written = target.write(chunk);
      if (written < chunk.length) {
        queue[0] = chunk.subarray(Math.max(written, 0));
        return;
      }
      queue.shift();
    }
  };
  return {
    write(chunk: Uint8Array) {
      queue.push(chunk);
      if (queue.length === 1) flush();
    },
    flush,
    drop() {
      queue = [];
    },
  };
}

/** Starts a proxy to `cluster` that delays each chunk by `delayMs` in each direction (default 0). */
export function startProxy(cluster: PgCluster, { delayMs = 0 } = {}): PgProxy {
  let statements = 0;
  let roundTrips = 0;
  /** Whether the server spoke since a client last sent. */
  let answered = true;
  const later = (fn: () => void): void => {
    if (delayMs > 0) setTimeout(fn, delayMs);
    else fn();
  };
  interface Link {
    server?: Socket<undefined>;
    toServer: ReturnType<typeof writer>;
    toClient: ReturnType<typeof writer>;
    count: (chunk: Uint8Array) => void;
  }
  const listener = Bun.listen<Link>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      async open(client) {
        const link: Link = {
          toServer: writer(() => link.server),
          toClient: writer(() => client),
          count: statementCounter(() => statements++),
        };
        client.data = link;
        link.server = await Bun.connect({
          unix: `${cluster.dir}/.s.PGSQL.5432`,
          socket: {
            data: (_server, chunk) => {
              answered = true;
              const copy = new Uint8Array(chunk);
              later(() => link.toClient.write(copy));
            },
            drain: () => link.toServer.flush(),
            close: () => later(() => client.end()),
          },
        });
        link.toServer.flush();
      },
      data(client, chunk) {
        const copy = new Uint8Array(chunk);
        const link = client.data;
        link.count(copy);
        if (answered) roundTrips++;
        answered = false;
        later(() => link.toServer.write(copy));
      },
      drain(client) {
        client.data.toClient.flush();
      },
      close(client) {
        const link = client.data;
        later(() => link.server?.end());
      },
    },
  });
  return {
    url: (database = "runtape") => `postgres://runtape@127.0.0.1:${listener.port}/${database}`,
    statements: () => statements,
    roundTrips: () => roundTrips,
    reset: () => {
      statements = 0;
      roundTrips = 0;
    },
    stop: () => listener.stop(true),
  };
}
