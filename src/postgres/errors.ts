import { ConnectionLostError, DcsyncError } from '../core/errors.ts';

/** A PostgreSQL error or connection failure, classified: `retriable` says whether waiting and retrying can help. */
export class PostgresError extends DcsyncError {
  constructor(
    message: string,
    readonly code: string | undefined,
    opts: { retriable: boolean; cause?: unknown },
  ) {
    super(message, opts);
  }
}

interface PgErrorLike {
  code?: string;
  message?: string;
  hint?: string;
  detail?: string;
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND']);

/**
 * The one table that decides what is retried (G4): connection failures and server restarts are; authentication,
 * privileges and configuration are not — they stop with a message that names what to fix.
 */
export function classifyPgError(err: unknown, ctx: { database?: string; user?: string } = {}): DcsyncError {
  if (err instanceof DcsyncError) return err;
  const e = (err ?? {}) as PgErrorLike;
  const code = e.code;
  const msg = e.message ?? String(err);
  const where = ctx.database ? ` (database '${ctx.database}'${ctx.user ? `, role '${ctx.user}'` : ''})` : '';
  if (code && NETWORK_CODES.has(code)) return new ConnectionLostError(`PostgreSQL unreachable${where}: ${msg}`, err);
  if (/Connection terminated|connection closed|ended unexpectedly/i.test(msg) && !code) return new ConnectionLostError(`PostgreSQL connection lost${where}: ${msg}`, err);
  if (!code) return new PostgresError(msg, undefined, { retriable: false, cause: err });
  const cls = code.slice(0, 2);
  if (cls === '08' || code === '57P01' || code === '57P02' || code === '57P03' || code === '53300' || code === '40001' || code === '40P01' || code === '55006')
    return new PostgresError(`${msg}${where}`, code, { retriable: true, cause: err });
  if (cls === '28') return new PostgresError(`authentication failed${where}: ${msg}. Check the role's password and pg_hba.conf.`, code, { retriable: false, cause: err });
  if (code === '42501')
    return new PostgresError(`permission denied${where}: ${msg}${e.hint ? ` (${e.hint})` : ''}. Grant the missing privilege to the role.`, code, { retriable: false, cause: err });
  if (code === '53400')
    return new PostgresError(`${msg}${where}: raise max_replication_slots / max_wal_senders in postgresql.conf and restart PostgreSQL`, code, { retriable: false, cause: err });
  return new PostgresError(`${msg}${e.hint ? ` (hint: ${e.hint})` : ''}${where}`, code, { retriable: false, cause: err });
}
