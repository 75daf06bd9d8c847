/**
 * Store URLs: `postgres://user:password@host:port/database?sslmode=…`, completed from the PG*
 * environment variables and `.pgpass` as libpq does, and shown everywhere without the password.
 */
import { readFileSync } from "node:fs";
import { homedir, userInfo } from "node:os";
import { join } from "node:path";
import { StoreUrlError } from "../errors.ts";

/** Where a store is and how to log in; `label` is safe to print. */
export interface StoreTarget {
  /** The URL as runtape shows it: every field but the password. */
  readonly label: string;
  readonly hostname: string;
  readonly port: number;
  /** The directory of a unix socket, when `host` names one (`?host=/run/postgresql`). */
  readonly socketDir: string | undefined;
  readonly username: string;
  readonly password: string | undefined;
  readonly database: string;
  readonly sslmode: SslMode | undefined;
}

const SSL_MODES = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] as const;
type SslMode = (typeof SSL_MODES)[number];

const NO_HOST = "no-host.invalid";

/** Query parameters a store URL may carry (libpq's names). */
const PARAMETERS = new Set(["host", "port", "sslmode", "user", "password", "dbname"]);

/** Whether `text` is a URL (`scheme://…`) rather than a file path. */
export function isStoreUrl(text: string): boolean {
  return /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(text);
}

/**
 * The store to use when none is named: `RUNTAPE_STORE`, else a bare `postgres://` that the PG*
 * variables complete when any is set; undefined when nothing names one.
 */
export function defaultStoreUrl(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.RUNTAPE_STORE) return env.RUNTAPE_STORE;
  return env.PGHOST || env.PGDATABASE || env.PGSERVICE ? "postgres://" : undefined;
}

/** `url` with the password of every `scheme://user:password@` in it replaced by `***`. */
export function redactUrls(text: string): string {
  // One slash too: a URL taken for a path comes back from path handling as `scheme:/user:pw@`.
  return text.replace(/([A-Za-z][A-Za-z0-9+.-]*:\/\/?[^:/?#@\s]*):[^@\s]*@/g, "$1:***@");
}

/**
 * Parses a store URL. Fields it leaves out come from PGHOST, PGPORT, PGUSER, PGPASSWORD,
 * PGDATABASE, PGSSLMODE, then the password file (PGPASSFILE or ~/.pgpass), as libpq would.
 * Throws StoreUrlError: `BAD_URL` when it does not parse, repeats a parameter or contradicts
 * itself (a user, database or password in the query other than before it), `NOT_POSTGRES` for
 * another scheme.
 */
export function parseStoreUrl(url: string, env: NodeJS.ProcessEnv = process.env): StoreTarget {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(url)?.[1]?.toLowerCase();
  if (scheme === undefined) throw new StoreUrlError(`not a URL: ${redactUrls(url)}`);
  if (scheme !== "postgres" && scheme !== "postgresql") {
    throw new StoreUrlError(
      `${redactUrls(url)}: not a PostgreSQL URL (the store takes postgres://…)`,
      "NOT_POSTGRES",
    );
  }
  // libpq leaves the host out (`postgres://user@/db?host=/run/postgresql`), WHATWG URLs may not:
  // a placeholder stands in for it and then counts as absent.
  const hostless = /^[^:]+:\/\/(?:[^/?#@]*@)?(?=[:/?#]|$)/.exec(url);
  let parsed: URL;
  try {
    parsed = new URL(hostless ? `${hostless[0]}${NO_HOST}${url.slice(hostless[0].length)}` : url);
  } catch {
    throw new StoreUrlError(`malformed store URL: ${redactUrls(url)}`);
  }
  const givenHost = parsed.hostname === NO_HOST ? "" : parsed.hostname;
  const decode = (text: string, what: string) => {
    try {
      return decodeURIComponent(text);
    } catch {
      throw new StoreUrlError(`malformed store URL: bad escape in the ${what}`);
    }
  };
  const query = parsed.searchParams;
  for (const key of query.keys()) {
    if (!PARAMETERS.has(key)) {
      throw new StoreUrlError(
        `unknown parameter ${JSON.stringify(key)} in the store URL (known: ${[...PARAMETERS].join(", ")})`,
      );
    }
    // libpq takes the last, URL parsers the first: neither can be what was meant.
    if (query.getAll(key).length > 1) {
      throw new StoreUrlError(`parameter ${JSON.stringify(key)} given twice in the store URL`);
    }
  }
  const pick = (...values: (string | null | undefined)[]) =>
    values.find((v) => v !== undefined && v !== null && v !== "") ?? undefined;
  // A query parameter that says otherwise than the URL before it: one of them is a mistake.
  const agreeing = (key: string, given: string, conflict: string) => {
    const asked = query.get(key);
    if (asked && given && asked !== given) throw new StoreUrlError(`the store URL ${conflict}`);
    return pick(asked, given);
  };
  const host =
    pick(query.get("host"), givenHost && decode(givenHost, "host"), env.PGHOST) ?? "localhost";
  const portText = pick(query.get("port"), parsed.port, env.PGPORT) ?? "5432";
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new StoreUrlError(`bad port ${JSON.stringify(portText)} in the store URL`);
  }
  const givenUser = decode(parsed.username, "user name");
  const username =
    pick(
      agreeing(
        "user",
        givenUser,
        `names two users: ${JSON.stringify(givenUser)} before the @, ${JSON.stringify(query.get("user"))} in ?user=`,
      ),
      env.PGUSER,
    ) ?? userInfo().username;
  const path = decode(parsed.pathname.replace(/^\//, ""), "database name");
  if (path.includes("/"))
    throw new StoreUrlError(`malformed store URL: a database name has no "/"`);
  const database =
    pick(
      agreeing(
        "dbname",
        path,
        `names two databases: ${JSON.stringify(path)} in its path, ${JSON.stringify(query.get("dbname"))} in ?dbname=`,
      ),
      env.PGDATABASE,
    ) ?? username;
  const sslText = pick(query.get("sslmode"), env.PGSSLMODE);
  if (sslText !== undefined && !(SSL_MODES as readonly string[]).includes(sslText)) {
    throw new StoreUrlError(
      `bad sslmode ${JSON.stringify(sslText)} in the store URL (one of ${SSL_MODES.join(", ")})`,
    );
  }
  const socketDir = host.startsWith("/") ? host : undefined;
  const password =
    pick(
      agreeing(
        "password",
        decode(parsed.password, "password"),
        "gives two passwords: one before the @, another in ?password=",
      ),
      env.PGPASSWORD,
    ) ?? passwordFromFile(env, socketDir ? "localhost" : host, port, database, username);
  const where = socketDir
    ? `localhost/${encodeURIComponent(database)}?host=${socketDir}`
    : `${host.includes(":") ? `[${host}]` : host}:${port}/${encodeURIComponent(database)}`;
  return {
    label: `postgres://${encodeURIComponent(username)}@${where}`,
    hostname: socketDir ? "localhost" : host,
    port,
    socketDir,
    username,
    password,
    database,
    sslmode: sslText as SslMode | undefined,
  };
}

/** The password the libpq password file holds for this connection, if any. */
function passwordFromFile(
  env: NodeJS.ProcessEnv,
  host: string,
  port: number,
  database: string,
  username: string,
): string | undefined {
  let text: string;
  try {
    text = readFileSync(env.PGPASSFILE || join(homedir(), ".pgpass"), "utf8");
  } catch {
    return undefined;
  }
  const wanted = [host, String(port), database, username];
  for (const line of text.split("\n")) {
    if (line.trim() === "" || line.startsWith("#")) continue;
    const parts = splitPgpassLine(line);
    if (parts.length < 5) continue;
    if (wanted.every((w, i) => parts[i] === "*" || parts[i] === w)) return parts[4];
  }
  return undefined;
}

/** The fields of a password file line: separated by colons, where `\:` and `\\` are literal. */
function splitPgpassLine(line: string): string[] {
  const parts: string[] = [];
  let field = "";
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (c === "\\" && i + 1 < line.length) field += line[++i];
    else if (c === ":" && parts.length < 4) {
      parts.push(field);
      field = "";
    } else field += c;
  }
  parts.push(field);
  return parts;
}
