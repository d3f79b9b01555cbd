import { readFileSync } from 'node:fs';
import { InvalidOptionError } from '../core/errors.ts';
import { splitPgTls, withPgCa } from './tls.ts';

/**
 * A PostgreSQL URL with its password filled in from a file or the environment (DCSYNC_CLUSTER_PASSWORD, PGPASSWORD),
 * so that no password needs to be written on a command line. With `tls.caFile` (--cluster.cacert) the URL asks for
 * sslmode=verify-full with that CA (see pg-tls.ts); the URL's own TLS parameters are checked here, at start.
 */
export function resolvePgUrl(key: string, url: string, passwordFile: string | undefined, env: NodeJS.ProcessEnv, tls: { caFile?: string | undefined; caKey?: string } = {}): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new InvalidOptionError(key, `must be a PostgreSQL URL such as postgres://user@host:5432/postgres`);
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') throw new InvalidOptionError(key, `must start with postgres://`);
  if (!u.password) {
    const pw = passwordFile ? readFileSync(passwordFile, 'utf8').trim() : (env['DCSYNC_CLUSTER_PASSWORD'] ?? env['PGPASSWORD']);
    if (pw) u.password = encodeURIComponent(pw);
  }
  const resolved = tls.caFile ? withPgCa(u.toString(), tls.caFile, tls.caKey ?? 'cluster.cacert', key) : u.toString();
  splitPgTls(resolved, key);
  return resolved;
}
