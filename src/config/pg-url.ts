import { readFileSync } from 'node:fs';
import { InvalidOptionError } from '../core/errors.ts';

/**
 * A PostgreSQL URL with its password filled in from a file or the environment (DCSYNC_CLUSTER_PASSWORD, PGPASSWORD),
 * so that no password needs to be written on a command line.
 */
export function resolvePgUrl(key: string, url: string, passwordFile: string | undefined, env: NodeJS.ProcessEnv): string {
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
  return u.toString();
}
