/**
 * Where a check meets the destination. When every partition of a database's apply loop reached a check's marker
 * and it is committed, the apply loop (CheckCutHolder) opens a REPEATABLE READ transaction on a session of its own
 * and exports its snapshot: exactly the target at the marker, since no partition applied past it yet. The snapshot's
 * name goes into `dcsync.check_points`; B's master imports it (importCheckSnapshot) and hashes in it at leisure,
 * while the apply goes on. The exporting transaction is held only until the master says it imported the snapshot
 * (or `holdMs` passes).
 */
import type pg from 'pg';
import { DcsyncError, errorMessage } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { formatLsn } from '../core/lsn.ts';
import { AbortedError, delay } from '../core/time.ts';
import type { Position } from '../model/position.ts';
import { connect } from '../postgres/connection.ts';

export const CHECK_POINTS_DDL = `CREATE SCHEMA IF NOT EXISTS dcsync;
CREATE TABLE IF NOT EXISTS dcsync.check_points (
  check_id text PRIMARY KEY,
  lsn pg_lsn NOT NULL,
  snapshot text NOT NULL,
  reached_at timestamptz NOT NULL DEFAULT now(),
  imported boolean NOT NULL DEFAULT false
)`;

const POLL_MS = 100;

/** Takes and holds the destination's snapshots of check cuts for one database's apply loop. */
export class CheckCutHolder {
  readonly #held = new Set<Promise<void>>();
  readonly #stop = new AbortController();

  constructor(private readonly o: { url: string; database: string; log: Logger; holdMs?: number }) {}

  /**
   * Called while the partitions stand at the marker: exports the snapshot before returning (so no partition moves
   * on first), then publishes and holds it in the background. A failure costs the check, never the apply: it is
   * logged, and the master's wait for the check point runs out with a message.
   */
  async cut(checkId: string, pos: Position): Promise<void> {
    let holder: pg.Client | undefined;
    try {
      holder = await connect({ url: this.o.url, database: this.o.database, applicationName: 'dcsync-check-cut' });
      await holder.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const r = await holder.query<{ s: string }>('SELECT pg_export_snapshot() AS s');
      const snapshot = r.rows[0]!.s;
      const hold = this.#publishAndHold(holder, checkId, pos, snapshot);
      this.#held.add(hold);
      void hold.finally(() => this.#held.delete(hold));
    } catch (err) {
      this.o.log.warn('check cut: exporting the snapshot failed; the check will not find its point', { checkId, error: errorMessage(err) });
      await holder?.end().catch(() => {});
    }
  }

  async #publishAndHold(holder: pg.Client, checkId: string, pos: Position, snapshot: string): Promise<void> {
    let writer: pg.Client | undefined;
    try {
      writer = await connect({ url: this.o.url, database: this.o.database, applicationName: 'dcsync-check-point' });
      // B's master made the table before the cut; made here too when the master's role is not the one applying.
      await writer.query(CHECK_POINTS_DDL);
      await writer.query('INSERT INTO dcsync.check_points (check_id, lsn, snapshot) VALUES ($1, $2, $3) ON CONFLICT (check_id) DO UPDATE SET lsn = EXCLUDED.lsn, snapshot = EXCLUDED.snapshot, imported = false, reached_at = now()', [
        checkId,
        formatLsn(pos.lsn),
        snapshot,
      ]);
      this.o.log.info('check point reached at the destination', { checkId, lsn: formatLsn(pos.lsn) });
      const until = Date.now() + (this.o.holdMs ?? 600_000);
      while (Date.now() < until) {
        await delay(POLL_MS, this.#stop.signal);
        const r = await writer.query<{ imported: boolean }>('SELECT imported FROM dcsync.check_points WHERE check_id = $1', [checkId]);
        if (r.rows[0]?.imported !== false) return;
      }
      this.o.log.warn('check point: nobody imported the snapshot in time; releasing it', { checkId });
    } catch (err) {
      if (!(err instanceof AbortedError)) this.o.log.warn('check point: publishing the snapshot failed', { checkId, error: errorMessage(err) });
    } finally {
      await writer?.end().catch(() => {});
      await holder.query('ROLLBACK').catch(() => {});
      await holder.end().catch(() => {});
    }
  }

  /** Releases every held snapshot (the apply loop ends). */
  async close(): Promise<void> {
    this.#stop.abort();
    await Promise.all([...this.#held]);
  }
}

/** Made by B's master in each checked database before the cut, so the apply loop can record its point. */
export async function ensureCheckPoints(c: pg.ClientBase): Promise<void> {
  await c.query(CHECK_POINTS_DDL);
  // Points of old checks serve nobody.
  await c.query(`DELETE FROM dcsync.check_points WHERE reached_at < now() - interval '1 day'`);
}

/**
 * Waits until the destination reached check `checkId` and imports its snapshot into `session` (in a REPEATABLE READ
 * transaction it begins), then tells the holder to let go. `onWait` hears how long it has waited.
 */
export async function importCheckSnapshot(
  session: pg.Client,
  watcher: pg.ClientBase,
  checkId: string,
  o: { timeoutMs: number; signal?: AbortSignal; onWait?: (waitedMs: number) => void },
): Promise<{ lsn: string }> {
  const started = Date.now();
  for (;;) {
    const r = await watcher.query<{ lsn: string; snapshot: string; imported: boolean }>('SELECT lsn::text AS lsn, snapshot, imported FROM dcsync.check_points WHERE check_id = $1', [checkId]);
    const p = r.rows[0];
    if (p && !p.imported) {
      await session.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      try {
        await session.query(`SET TRANSACTION SNAPSHOT '${p.snapshot.replace(/'/g, "''")}'`);
      } catch (err) {
        await session.query('ROLLBACK').catch(() => {});
        throw new CheckPointLostError(`the destination reached the check at ${p.lsn}, but its snapshot is gone (${errorMessage(err)}): the destination task restarted; run the check again`);
      }
      await watcher.query('UPDATE dcsync.check_points SET imported = true WHERE check_id = $1', [checkId]);
      return { lsn: p.lsn };
    }
    if (p?.imported) throw new CheckPointLostError(`the snapshot of check ${checkId} was taken already`);
    const waited = Date.now() - started;
    if (waited > o.timeoutMs) throw new CheckPointLostError(`the destination did not reach the check's marker within ${Math.round(o.timeoutMs / 1000)}s: is the sync running, and how far behind is it ('dcsync get status')?`);
    o.onWait?.(waited);
    await delay(200, o.signal);
  }
}

/** The destination's side of a check cannot be had: the point was not reached in time, or its snapshot is gone. */
export class CheckPointLostError extends DcsyncError {}
