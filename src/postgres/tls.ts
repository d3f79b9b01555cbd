/**
 * TLS to PostgreSQL as libpq reads it from a connection URL (sslmode, sslrootcert, sslcert, sslkey), so that
 * dcsync's own connections (node-postgres) and the pg_dump it runs verify the server the same way.
 *
 * node-postgres gives these parameters its own meaning (every sslmode but disable verifies like verify-full), so
 * dcsync takes them out of the URL and builds Node's TLS options itself, with libpq's meaning:
 *   disable      no TLS
 *   require      TLS; the server is not verified, unless sslrootcert is given (then as verify-ca)
 *   verify-ca    TLS; the server's certificate must chain to sslrootcert
 *   verify-full  TLS; as verify-ca, and the certificate must name the host connected to
 * allow and prefer are refused: they fall back to plain text, which node-postgres cannot do (and should not).
 * A URL with sslrootcert but no sslmode means verify-full. Without any of them the URL asks for no TLS (node-postgres
 * still honours PGSSLMODE from the environment, and pg_dump inherits it).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import { InvalidOptionError } from '../core/errors.ts';
import { parseCaCertificates } from '../tls/keyfile.ts';

export const PG_SSL_MODES = ['disable', 'require', 'verify-ca', 'verify-full'] as const;
export type PgSslMode = (typeof PG_SSL_MODES)[number];

/** The TLS parameters of a PostgreSQL URL, checked. */
export interface PgTlsParams {
  /** Undefined: the URL says nothing about TLS. */
  readonly sslmode?: PgSslMode;
  /** CA certificates (PEM file) that verify the server. */
  readonly sslrootcert?: string;
  /** Client certificate and its key (PEM files), for servers that authenticate clients by certificate. */
  readonly sslcert?: string;
  readonly sslkey?: string;
}

/** Lowest TLS version dcsync accepts from PostgreSQL (PostgreSQL 15's own default minimum). */
export const PG_TLS_MIN_VERSION = 'TLSv1.2';

const TLS_PARAMS = ['sslmode', 'sslrootcert', 'sslcert', 'sslkey'] as const;

function isSslMode(s: string): s is PgSslMode {
  return (PG_SSL_MODES as readonly string[]).includes(s);
}

/**
 * Splits a PostgreSQL URL into the URL without its TLS parameters and those parameters. Throws InvalidOptionError
 * (naming `key`) for an sslmode dcsync cannot honour, verify-ca/verify-full without sslrootcert, or a client
 * certificate without its key.
 */
export function splitPgTls(url: string, key = 'cluster.endpoint'): { url: string; tls: PgTlsParams } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new InvalidOptionError(key, 'must be a PostgreSQL URL such as postgres://user@host:5432/postgres');
  }
  const raw: Partial<Record<(typeof TLS_PARAMS)[number], string>> = {};
  for (const p of TLS_PARAMS) {
    const v = u.searchParams.get(p);
    if (v !== null && v !== '') raw[p] = v;
    u.searchParams.delete(p);
  }
  if (raw.sslmode === 'allow' || raw.sslmode === 'prefer')
    throw new InvalidOptionError(key, `has sslmode=${raw.sslmode}, which may fall back to an unencrypted connection: use sslmode=verify-full (or require, or disable)`);
  if (raw.sslmode !== undefined && !isSslMode(raw.sslmode)) throw new InvalidOptionError(key, `has sslmode=${raw.sslmode}: must be one of ${PG_SSL_MODES.join(', ')}`);
  const sslmode: PgSslMode | undefined = raw.sslmode ?? (raw.sslrootcert ? 'verify-full' : raw.sslcert || raw.sslkey ? 'require' : undefined);
  if ((sslmode === 'verify-ca' || sslmode === 'verify-full') && !raw.sslrootcert)
    throw new InvalidOptionError(key, `has sslmode=${sslmode} but no CA to verify the server with: add sslrootcert=<CA file> or pass --cluster.cacert`);
  if (Boolean(raw.sslcert) !== Boolean(raw.sslkey)) throw new InvalidOptionError(key, 'needs both sslcert and sslkey (the client certificate and its key) or neither');
  const tls: PgTlsParams = {
    ...(sslmode !== undefined ? { sslmode } : {}),
    ...(raw.sslrootcert ? { sslrootcert: raw.sslrootcert } : {}),
    ...(raw.sslcert ? { sslcert: raw.sslcert } : {}),
    ...(raw.sslkey ? { sslkey: raw.sslkey } : {}),
  };
  return { url: u.toString(), tls };
}

function readPem(path: string, what: string, key: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new InvalidOptionError(key, `names ${what} '${path}' that cannot be read: ${(err as Error).message}`);
  }
}

/**
 * Node TLS options for node-postgres's `ssl` with libpq's meaning of the parameters (see the file comment):
 * undefined when the URL says nothing, false for disable. Reads the PEM files on every call, so a renewed
 * certificate is used by the next connection.
 */
export function pgSslOptions(tls: PgTlsParams, key = 'cluster.endpoint'): ConnectionOptions | false | undefined {
  if (tls.sslmode === undefined) return undefined;
  if (tls.sslmode === 'disable') return false;
  const client = tls.sslcert && tls.sslkey ? { cert: readPem(tls.sslcert, 'sslcert', key), key: readPem(tls.sslkey, 'sslkey', key) } : {};
  const base = { ...client, minVersion: PG_TLS_MIN_VERSION } as const;
  if (!tls.sslrootcert) return { ...base, rejectUnauthorized: false }; // require without a CA: encryption only
  const ca = readPem(tls.sslrootcert, 'sslrootcert', key);
  if (tls.sslmode === 'verify-full') return { ...base, ca, rejectUnauthorized: true };
  // verify-ca, and require with a CA (as libpq): the chain is checked, the host name is not
  return { ...base, ca, rejectUnauthorized: true, checkServerIdentity: () => undefined };
}

/** The same settings as libpq environment variables (PGSSLMODE, PGSSLROOTCERT, …), e.g. for pg_dump. */
export function libpqTlsEnv(tls: PgTlsParams): Record<string, string> {
  const env: Record<string, string> = {};
  if (tls.sslmode !== undefined) env['PGSSLMODE'] = tls.sslmode;
  if (tls.sslrootcert) env['PGSSLROOTCERT'] = tls.sslrootcert;
  if (tls.sslcert) env['PGSSLCERT'] = tls.sslcert;
  if (tls.sslkey) env['PGSSLKEY'] = tls.sslkey;
  return env;
}

/**
 * The URL with TLS verified by `caFile` (what --cluster.cacert does): sslrootcert=<absolute path> and
 * sslmode=verify-full, or verify-ca when the URL asks for that. The CA file is read and checked now, so a wrong
 * path fails at start. Conflicts with sslmode=disable in the URL.
 */
export function withPgCa(url: string, caFile: string, key = 'cluster.cacert', urlKey = 'cluster.endpoint'): string {
  let text: string;
  try {
    text = readFileSync(caFile, 'utf8');
  } catch (err) {
    throw new InvalidOptionError(key, `cannot be read: ${(err as Error).message}`);
  }
  try {
    parseCaCertificates(text, caFile);
  } catch (err) {
    throw new InvalidOptionError(key, (err as Error).message);
  }
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new InvalidOptionError(urlKey, 'must be a PostgreSQL URL such as postgres://user@host:5432/postgres');
  }
  const mode = u.searchParams.get('sslmode');
  if (mode === 'disable') throw new InvalidOptionError(key, `conflicts with sslmode=disable in '${urlKey}'`);
  u.searchParams.set('sslmode', mode === 'verify-ca' ? 'verify-ca' : 'verify-full');
  u.searchParams.set('sslrootcert', path.resolve(caFile));
  splitPgTls(u.toString(), urlKey); // the other parameters must make sense too
  return u.toString();
}
