import pg from 'pg';
import { pgSslOptions, splitPgTls } from './tls.ts';
import { classifyPgError } from './errors.ts';

/**
 * Session settings pinned on every connection that produces or consumes values in text form, at both ends,
 * so that the text of a value means the same thing (as the native subscriber does).
 */
export const PINNED_SETTINGS: Readonly<Record<string, string>> = {
  DateStyle: 'ISO',
  IntervalStyle: 'postgres',
  extra_float_digits: '3',
  TimeZone: 'UTC',
  lc_monetary: 'C',
  bytea_output: 'hex',
  client_encoding: 'UTF8',
};

/** dcsync's own sessions write where applications are kept read-only (a destination database while it syncs: read-only.ts). */
const OWN_SESSION: Readonly<Record<string, string>> = { default_transaction_read_only: 'off' };

const OPTIONS = Object.entries({ ...PINNED_SETTINGS, ...OWN_SESSION })
  .map(([k, v]) => `-c ${k}=${v}`)
  .join(' ');

export interface ConnectOptions {
  url: string;
  /** Connect to this database instead of the URL's. */
  database?: string;
  replication?: boolean;
  applicationName?: string;
  /**
   * TLS for the connection; undefined: as the URL's sslmode, sslrootcert, sslcert and sslkey say, with libpq's
   * meaning (postgres/tls.ts), so that pg_dump and these connections verify the server alike.
   */
  ssl?: pg.ClientConfig['ssl'];
}

export function clientConfig(o: ConnectOptions): pg.ClientConfig {
  // pg lets the connection string win over `database` and `ssl`: put the database into the URL itself, and take
  // the TLS parameters out of it (pg would read them with its own meaning).
  const { url, tls } = splitPgTls(o.database !== undefined ? withDatabase(o.url, o.database) : o.url);
  const ssl = o.ssl !== undefined ? o.ssl : pgSslOptions(tls);
  return {
    connectionString: url,
    ...(o.replication ? { replication: 'database' } : {}),
    ...(ssl !== undefined ? { ssl } : {}),
    application_name: o.applicationName ?? 'dcsync',
    options: OPTIONS,
    keepAlive: true,
  } as pg.ClientConfig;
}

/** Opens a connection; failures come back classified (retriable or not, with a message that says what to do). */
export async function connect(o: ConnectOptions): Promise<pg.Client> {
  const client = new pg.Client(clientConfig(o));
  // An 'error' event without a listener would crash the process; the owner sees the failure on its next call.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => {});
    throw classifyPgError(err, { database: o.database ?? databaseOf(o.url), user: userOf(o.url) });
  }
  return client;
}

export function databaseOf(url: string): string {
  return decodeURIComponent(new URL(url).pathname.replace(/^\//, '')) || 'postgres';
}

export function userOf(url: string): string {
  return decodeURIComponent(new URL(url).username) || process.env['PGUSER'] || 'postgres';
}

/** The same URL pointing at another database of the same server. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = '/' + encodeURIComponent(database);
  return u.toString();
}

/** The URL without its password, for logs and errors. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '[unparsable url]';
  }
}
