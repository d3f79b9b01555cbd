/**
 * Operator passwords are checked against the datacenter's PostgreSQL, as ArangoSync checks them against the
 * cluster: the user must be able to log in with that password (a real connection, so pg_hba.conf, expired
 * passwords and NOLOGIN all count) and must be a superuser or a member of the role `dcsync_admin`.
 *
 * Trying a login costs the same whether the user exists or not, which is what BasicAuthVerifier asks for. A
 * success is remembered for cacheMs (keyed by an HMAC of user and password under a per-process random key, so
 * no password is kept), so that a burst of requests does not open a connection each; a changed or revoked
 * password is therefore noticed within cacheMs.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { errorMessage } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { BasicAuthVerifier } from '../control/auth.ts';
import { connect } from '../postgres/connection.ts';
import { PostgresError } from '../postgres/errors.ts';

/** The role whose members may operate dcsync without being superusers. */
export const ADMIN_ROLE = 'dcsync_admin';

export interface PgOperatorVerifierOptions {
  /** The cluster's URL (--cluster.endpoint); its user and password are replaced by the operator's. */
  readonly clusterUrl: string;
  /** Database to log in to; default 'postgres'. */
  readonly database?: string;
  /** How long a successful check is remembered; default 10 s (0: never). */
  readonly cacheMs?: number;
  /** Give up on a login that takes longer; default 10 s. */
  readonly timeoutMs?: number;
  readonly log: Logger;
  /** Milliseconds clock for the cache (tests). */
  readonly now?: () => number;
}

const MAX_CACHED = 1024;

/** The cluster URL with another user and password (TLS parameters and host kept). */
export function operatorUrl(clusterUrl: string, username: string, password: string): string {
  const u = new URL(clusterUrl);
  u.username = encodeURIComponent(username);
  u.password = encodeURIComponent(password);
  return u.toString();
}

export function pgOperatorVerifier(o: PgOperatorVerifierOptions): BasicAuthVerifier {
  const key = randomBytes(32);
  const cache = new Map<string, number>();
  const cacheMs = o.cacheMs ?? 10_000;
  const timeoutMs = o.timeoutMs ?? 10_000;
  const now = o.now ?? (() => Date.now());
  const log = o.log.child({ component: 'master.operator-auth' });

  return async (username, password) => {
    const id = createHmac('sha256', key).update(username).update('\0').update(password).digest('base64');
    const until = cache.get(id);
    if (until !== undefined && until > now()) return true;
    cache.delete(id);

    const pending = connect({ url: operatorUrl(o.clusterUrl, username, password), database: o.database ?? 'postgres', applicationName: 'dcsync-master-auth' });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`PostgreSQL did not answer the login within ${timeoutMs} ms`)), timeoutMs);
    });
    let client;
    try {
      client = await Promise.race([pending, timeout]);
    } catch (err) {
      pending.then((c) => c.end()).catch(() => {});
      // SQLSTATE class 28: wrong password, no such role, NOLOGIN, refused by pg_hba.conf. Anything else is not
      // the caller's fault (the server is down): the control server answers 503.
      if (err instanceof PostgresError && err.code?.startsWith('28')) return false;
      throw err;
    } finally {
      clearTimeout(timer);
    }
    try {
      const r = await client.query<{ allowed: boolean }>(
        `SELECT r.rolsuper OR EXISTS (SELECT 1 FROM pg_roles a WHERE a.rolname = $1 AND pg_has_role(r.oid, a.oid, 'MEMBER')) AS allowed
           FROM pg_roles r WHERE r.rolname = current_user`,
        [ADMIN_ROLE],
      );
      const allowed = r.rows[0]?.allowed === true;
      if (!allowed) log.info('operator login refused', { reason: `neither a superuser nor a member of ${ADMIN_ROLE}` });
      if (allowed && cacheMs > 0) {
        if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value!);
        cache.set(id, now() + cacheMs);
      }
      return allowed;
    } catch (err) {
      log.warn('operator role check failed', { error: errorMessage(err) });
      throw err;
    } finally {
      await client.end().catch(() => {});
    }
  };
}
