import type pg from 'pg';
import { DcsyncError, errorMessage } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { delay } from '../core/time.ts';

/**
 * The fencing token of a destination task, kept in the target database itself (dcsync.target_fence, one row per
 * stream). A task takes the row over with its assignment's epoch when it starts; every transaction that writes
 * for the stream then locks the row `FOR SHARE` on the condition that it still holds that epoch, in the same
 * transaction as its data. A successor's takeover (an UPDATE of that row) waits for those share locks, so a
 * transaction of the old task either commits before the takeover or sees the new epoch and fails: nothing the
 * old task writes after the takeover lands, however long it was paused. No session has to die for the
 * successor to start, and a lost session cannot leave two appliers.
 */
export const TARGET_FENCE_DDL = `
CREATE TABLE IF NOT EXISTS dcsync.target_fence (
  sync_id text PRIMARY KEY, epoch bigint NOT NULL, holder text, taken_at timestamptz NOT NULL DEFAULT now());`;

/** A newer assignment of this task holds the target database: this run must stop and write nothing more. */
export class FencedError extends DcsyncError {
  constructor(
    readonly syncId: string,
    readonly epoch: number,
    readonly currentEpoch: number | null,
  ) {
    super(
      currentEpoch === null
        ? `destination task of '${syncId}' (epoch ${epoch}) is fenced: the target database holds no fencing row for it any more (the sync was configured again); this run stops and writes nothing more`
        : `destination task of '${syncId}' (epoch ${epoch}) is fenced: the target database is held by epoch ${currentEpoch}, a newer assignment of this task; this run stops and writes nothing more`,
      { retriable: false },
    );
  }
}

/** Application names of the sessions that write for a destination task (the apply loop's, the loader's, the sequences'). */
const WRITER_SESSIONS = `(application_name LIKE 'dcsync-apply%' OR application_name LIKE 'dcsync-destination%')`;

/** How long a takeover waits for the old task's locks before it ends the old sessions again. */
const TAKEOVER_LOCK_TIMEOUT = '5s';

/** Reads the epoch that holds the stream (null: none yet). */
export async function currentEpoch(c: pg.ClientBase, syncId: string): Promise<number | null> {
  const r = await c.query<{ epoch: string }>(`SELECT epoch::text FROM dcsync.target_fence WHERE sync_id = $1`, [syncId]);
  return r.rows[0] ? Number(r.rows[0].epoch) : null;
}

/**
 * Makes `epoch` the holder of the stream's fence (an equal epoch is this task's own earlier attempt). The writing
 * sessions of an older holder in this database are ended first: a paused or cut-off predecessor keeps its session
 * and its locks, and its transactions would fail at the fence anyway. Throws FencedError when a newer epoch holds it.
 */
export async function takeOverFence(c: pg.ClientBase, o: { syncId: string; epoch: number; holder: string; log: Logger; signal: AbortSignal }): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const held = await currentEpoch(c, o.syncId);
    if (held !== null && held > o.epoch) throw new FencedError(o.syncId, o.epoch, held);
    await endOlderWriters(c, o.log);
    try {
      await c.query(`SET lock_timeout = '${TAKEOVER_LOCK_TIMEOUT}'`);
      const r = await c.query(
        `INSERT INTO dcsync.target_fence (sync_id, epoch, holder) VALUES ($1, $2, $3)
         ON CONFLICT (sync_id) DO UPDATE SET epoch = excluded.epoch, holder = excluded.holder, taken_at = now()
           WHERE dcsync.target_fence.epoch <= excluded.epoch
         RETURNING epoch`,
        [o.syncId, o.epoch, o.holder],
      );
      if ((r.rowCount ?? 0) === 0) throw new FencedError(o.syncId, o.epoch, await currentEpoch(c, o.syncId));
      if (held !== null && held < o.epoch) o.log.info('took the target database over from an older assignment of this task', { epoch: o.epoch, previousEpoch: held });
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== '55P03') throw err;
      o.log.warn('the fence of the target database is still locked by an older assignment: ending its sessions again', { epoch: o.epoch, attempt });
      await delay(200, o.signal);
    } finally {
      await c.query(`RESET lock_timeout`).catch(() => {});
    }
  }
}

/** Ends the other writing sessions of dcsync in this database; a role that may not end them leaves them to the lock wait. */
async function endOlderWriters(c: pg.ClientBase, log: Logger): Promise<void> {
  const r = await c.query<{ pid: number; application_name: string; state: string | null }>(
    `SELECT pid, application_name, state FROM pg_stat_activity
      WHERE datname = current_database() AND pid <> pg_backend_pid() AND ${WRITER_SESSIONS}`,
  );
  for (const s of r.rows) {
    try {
      await c.query('SELECT pg_terminate_backend($1)', [s.pid]);
      log.warn('ended a session of an older destination task', { pid: s.pid, applicationName: s.application_name, sessionState: s.state });
    } catch (err) {
      log.warn('cannot end a session of an older destination task: waiting for its locks instead', { pid: s.pid, error: errorMessage(err) });
    }
  }
}

/**
 * Locks the fence for the rest of the transaction, on the condition that `epoch` still holds it; run it in every
 * transaction that writes for the stream. Throws FencedError otherwise (the caller rolls back).
 */
export async function checkFence(c: pg.ClientBase, syncId: string, epoch: number): Promise<void> {
  const r = await c.query(`SELECT 1 FROM dcsync.target_fence WHERE sync_id = $1 AND epoch = $2 FOR SHARE`, [syncId, epoch]);
  if ((r.rowCount ?? 0) === 0) throw new FencedError(syncId, epoch, await currentEpoch(c, syncId).catch(() => null));
}
