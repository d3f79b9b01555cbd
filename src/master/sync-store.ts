/**
 * The sync lifecycle's state (master_syncs with its run, secret and peer view; master_cleanups), next to the
 * task and worker state of store.ts. Every write is the leader's and runs fenced by its lease epoch.
 *
 * A run is one configured life of a sync. Its slots, publications, topics and progress rows are named
 * `<sync>_<run>` (streamName), so a sync configured again after a stop starts from scratch and never reads what
 * an earlier run left behind. When a run ends at the source (stop, abort, or replaced by a new run), its stream
 * goes to master_cleanups and the source's leader drops its slots and publications (source-cleanup.ts).
 */
import { HttpError } from '../control/errors.ts';
import type { SyncRole } from '../control/v1/cluster.ts';
import type { PgPool, Queryable } from '../postgres/pool.ts';
import type { SyncStatus } from '../control/v1/sync.ts';
import { TASK_COLUMNS, taskRow, type MasterStore, type TaskRow } from './store.ts';
import { streamName } from '../control/v1/sync.ts';

export const ACTIVE_STATUSES: readonly SyncStatus[] = ['initializing', 'initial-sync', 'running'];

export interface SyncRecord {
  readonly id: string;
  readonly role: SyncRole;
  readonly run: string | null;
  readonly status: SyncStatus;
  readonly config: Readonly<Record<string, unknown>>;
  /** The client keyfile (PEM) of an incoming sync. Never leaves the master except in the TLS handshake. */
  readonly secret: string | null;
  readonly peer: Readonly<Record<string, unknown>> | null;
  readonly peerCheckedAt: Date | null;
  readonly peerError: string | null;
  readonly error: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface CleanupRecord {
  readonly stream: string;
  readonly syncId: string;
  readonly reason: string;
  readonly ageMs: number;
  readonly lastError: string | null;
}

type Raw = Record<string, unknown>;

const SYNC_COLUMNS = 'id, role, run, status, config, secret, peer, peer_checked_at, peer_error, error, created_at, updated_at';

function obj(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function syncRecord(r: Raw): SyncRecord {
  const d = (v: unknown): Date | null => (v === null || v === undefined ? null : v instanceof Date ? v : new Date(String(v)));
  return {
    id: String(r['id']),
    role: r['role'] as SyncRole,
    run: (r['run'] as string | null) ?? null,
    status: r['status'] as SyncStatus,
    config: obj(r['config']),
    secret: (r['secret'] as string | null) ?? null,
    peer: r['peer'] === null || r['peer'] === undefined ? null : obj(r['peer']),
    peerCheckedAt: d(r['peer_checked_at']),
    peerError: (r['peer_error'] as string | null) ?? null,
    error: (r['error'] as string | null) ?? null,
    createdAt: d(r['created_at'])!,
    updatedAt: d(r['updated_at'])!,
  };
}

export function isActive(status: SyncStatus): boolean {
  return ACTIVE_STATUSES.includes(status);
}

/** The client certificate a destination's master presented on a peer route. */
export interface PeerIdentity {
  readonly subject: string;
  readonly fingerprint256: string;
}

/**
 * An outgoing sync belongs to the destination whose client certificate configured it (its fingerprint is
 * stored with it) until it is inactive again: another certificate of the same client-auth CA cannot read,
 * replace or stop it. A sync stored before fingerprints were kept is bound by the certificate's subject.
 */
export function checkPeerBinding(cur: SyncRecord, by: PeerIdentity): void {
  if (cur.role !== 'outgoing' || cur.status === 'inactive') return;
  const fingerprint = cur.config['peerFingerprint'];
  const subject = String(cur.config['peer'] ?? '');
  if (typeof fingerprint === 'string' ? fingerprint === by.fingerprint256 : subject === by.subject) return;
  throw new HttpError(
    403,
    'forbidden',
    `outgoing sync '${cur.id}' belongs to the destination that configured it (client certificate CN=${subject}${typeof fingerprint === 'string' ? `, SHA-256 ${fingerprint}` : ''}); ` +
      "another certificate cannot change, stop or read it. To hand it to another destination, run 'dcsync abort outgoing sync' against this datacenter's masters first",
  );
}

export type ResetOutcome = { readonly kind: 'ok'; readonly task: TaskRow } | { readonly kind: 'not-found' } | { readonly kind: 'not-failed'; readonly task: TaskRow };

export class SyncStore {
  constructor(
    private readonly pool: PgPool,
    private readonly store: MasterStore,
  ) {}

  async get(id: string, q: Queryable = this.pool): Promise<SyncRecord | undefined> {
    const r = await q.query(`SELECT ${SYNC_COLUMNS} FROM dcsync.master_syncs WHERE id = $1`, [id]);
    return r.rows[0] ? syncRecord(r.rows[0]) : undefined;
  }

  async list(q: Queryable = this.pool): Promise<SyncRecord[]> {
    const r = await q.query(`SELECT ${SYNC_COLUMNS} FROM dcsync.master_syncs ORDER BY id`);
    return r.rows.map(syncRecord);
  }

  /** This cluster's databases (templates excluded): the source databases of an outgoing sync. */
  async localDatabases(): Promise<string[]> {
    const r = await this.pool.query<{ datname: string }>('SELECT datname FROM pg_database WHERE NOT datistemplate AND datallowconn ORDER BY datname');
    return r.rows.map((x) => x.datname);
  }

  async tasksOf(syncId: string, q: Queryable = this.pool): Promise<TaskRow[]> {
    const r = await q.query(`SELECT ${TASK_COLUMNS} FROM dcsync.master_tasks WHERE sync_id = $1 ORDER BY database, kind`, [syncId]);
    return r.rows.map(taskRow);
  }

  /** Stores a newly configured incoming sync (status `initializing`), replacing an ended one of the same id. */
  async putIncoming(epoch: number, s: { id: string; run: string; config: Record<string, unknown>; secret: string; peer: Record<string, unknown> }): Promise<SyncRecord> {
    return this.store.fenced(epoch, async (q) => {
      const cur = await this.get(s.id, q);
      if (cur && cur.role !== 'incoming') throw new HttpError(409, 'conflict', `sync '${s.id}' is an outgoing sync of this datacenter (it is the source); use another id`);
      if (cur && (isActive(cur.status) || cur.status === 'cancelling') && cur.run !== s.run) {
        throw new HttpError(409, 'conflict', `sync '${s.id}' is ${cur.status}; stop it first`);
      }
      const r = await q.query(
        `INSERT INTO dcsync.master_syncs (id, role, run, status, config, secret, peer, peer_checked_at, peer_error, error)
         VALUES ($1, 'incoming', $2, 'initializing', $3::jsonb, $4, $5::jsonb, now(), NULL, NULL)
         ON CONFLICT (id) DO UPDATE SET role = 'incoming', run = EXCLUDED.run, status = 'initializing', config = EXCLUDED.config, secret = EXCLUDED.secret,
           peer = EXCLUDED.peer, peer_checked_at = now(), peer_error = NULL, error = NULL, updated_at = now()
         RETURNING ${SYNC_COLUMNS}`,
        [s.id, s.run, JSON.stringify(s.config), s.secret, JSON.stringify(s.peer)],
      );
      return syncRecord(r.rows[0]!);
    });
  }

  /**
   * Starts (or confirms) an outgoing sync at the source. The same run again changes nothing but the
   * destination's endpoints; a new run while one is active replaces it: the old run's stream goes to clean-up
   * and every task gets a new epoch, so the workers restart them on the new run.
   */
  async putOutgoing(epoch: number, s: { id: string; run: string; config: Record<string, unknown> }, by: PeerIdentity): Promise<{ sync: SyncRecord; replaced: string | null }> {
    return this.store.fenced(epoch, async (q) => {
      const r0 = await q.query(`SELECT ${SYNC_COLUMNS} FROM dcsync.master_syncs WHERE id = $1 FOR UPDATE`, [s.id]);
      const cur = r0.rows[0] ? syncRecord(r0.rows[0]) : undefined;
      if (cur && cur.role !== 'outgoing') throw new HttpError(409, 'conflict', `sync '${s.id}' is an incoming sync of this datacenter (it is a destination); the source must use another id`);
      if (cur) checkPeerBinding(cur, by);
      s = { ...s, config: { ...s.config, peer: by.subject, peerFingerprint: by.fingerprint256 } };
      let replaced: string | null = null;
      if (cur && isActive(cur.status)) {
        if (cur.run === s.run) {
          const r = await q.query(`UPDATE dcsync.master_syncs SET config = $2::jsonb, updated_at = now() WHERE id = $1 RETURNING ${SYNC_COLUMNS}`, [s.id, JSON.stringify(s.config)]);
          return { sync: syncRecord(r.rows[0]!), replaced };
        }
        replaced = streamName(cur.id, cur.run);
        await this.#addCleanup(q, replaced, cur.id, `replaced by run ${s.run}`);
        await q.query(
          `UPDATE dcsync.master_tasks SET epoch = epoch + 1, state = CASE WHEN worker_id IS NULL THEN 'pending' ELSE 'assigned' END, error = NULL, progress = '{}', updated_at = now()
            WHERE sync_id = $1 AND state <> 'cancelled'`,
          [s.id],
        );
      }
      const r = await q.query(
        `INSERT INTO dcsync.master_syncs (id, role, run, status, config, error) VALUES ($1, 'outgoing', $2, 'initializing', $3::jsonb, NULL)
         ON CONFLICT (id) DO UPDATE SET role = 'outgoing', run = EXCLUDED.run, status = 'initializing', config = EXCLUDED.config, error = NULL, updated_at = now()
         RETURNING ${SYNC_COLUMNS}`,
        [s.id, s.run, JSON.stringify(s.config)],
      );
      return { sync: syncRecord(r.rows[0]!), replaced };
    });
  }

  /**
   * Ends an outgoing sync (stop from the destination, or abort at the source): status `cancelling`, its run's
   * stream to clean-up. With `run`, only that run is stopped (a stale request for an older run changes nothing).
   * With `by` (a destination's request), only the destination the sync is bound to may stop it.
   */
  async stopOutgoing(epoch: number, id: string, run: string | undefined, reason: string, by?: PeerIdentity): Promise<SyncRecord | undefined> {
    return this.store.fenced(epoch, async (q) => {
      const r0 = await q.query(`SELECT ${SYNC_COLUMNS} FROM dcsync.master_syncs WHERE id = $1 FOR UPDATE`, [id]);
      const cur = r0.rows[0] ? syncRecord(r0.rows[0]) : undefined;
      if (!cur || cur.role !== 'outgoing') return undefined;
      if (by) checkPeerBinding(cur, by);
      if (run !== undefined && cur.run !== run) return cur;
      if (cur.status === 'inactive' || cur.status === 'cancelling') return cur;
      await this.#addCleanup(q, streamName(cur.id, cur.run), cur.id, reason);
      const r = await q.query(`UPDATE dcsync.master_syncs SET status = 'cancelling', updated_at = now() WHERE id = $1 RETURNING ${SYNC_COLUMNS}`, [id]);
      return syncRecord(r.rows[0]!);
    });
  }

  /** Sets the status (and error) of a sync; false when it does not exist. */
  async setStatus(epoch: number, id: string, status: SyncStatus, error: string | null = null): Promise<boolean> {
    return this.store.fenced(epoch, async (q) => {
      const r = await q.query(`UPDATE dcsync.master_syncs SET status = $2, error = $3, updated_at = now() WHERE id = $1`, [id, status, error]);
      return (r.rowCount ?? 0) > 0;
    });
  }

  /** What the other datacenter said (or why it could not be asked); `databases` updates an incoming sync's task list. */
  async recordPeer(epoch: number, id: string, p: { view?: Record<string, unknown>; error: string | null; databases?: readonly string[] }): Promise<void> {
    await this.store.fenced(epoch, async (q) => {
      if (p.view === undefined) {
        await q.query(`UPDATE dcsync.master_syncs SET peer_error = $2 WHERE id = $1`, [id, p.error]);
        return;
      }
      await q.query(
        `UPDATE dcsync.master_syncs SET peer = $2::jsonb, peer_checked_at = now(), peer_error = $3,
           config = CASE WHEN $4::jsonb IS NULL THEN config ELSE jsonb_set(config, '{databases}', $4::jsonb) END
         WHERE id = $1`,
        [id, JSON.stringify(p.view), p.error, p.databases === undefined ? null : JSON.stringify(p.databases)],
      );
    });
  }

  async cleanups(q: Queryable = this.pool): Promise<CleanupRecord[]> {
    const r = await q.query(
      `SELECT stream, sync_id, reason, last_error, (EXTRACT(EPOCH FROM (now() - created_at)) * 1000)::float8 AS age_ms FROM dcsync.master_cleanups ORDER BY created_at`,
    );
    return r.rows.map((x: Raw) => ({ stream: String(x['stream']), syncId: String(x['sync_id']), reason: String(x['reason']), lastError: (x['last_error'] as string | null) ?? null, ageMs: Number(x['age_ms']) }));
  }

  async cleanupFailed(stream: string, error: string): Promise<void> {
    await this.pool.query(`UPDATE dcsync.master_cleanups SET last_error = $2 WHERE stream = $1`, [stream, error.slice(0, 2000)]);
  }

  /** The stream's slots and publications are gone; an outgoing sync left `cancelling` with nothing to clean becomes `inactive`. */
  async cleanupDone(epoch: number, c: CleanupRecord): Promise<void> {
    await this.store.fenced(epoch, async (q) => {
      await q.query(`DELETE FROM dcsync.master_cleanups WHERE stream = $1`, [c.stream]);
      await q.query(
        `UPDATE dcsync.master_syncs SET status = 'inactive', updated_at = now()
          WHERE id = $1 AND role = 'outgoing' AND status = 'cancelling' AND NOT EXISTS (SELECT 1 FROM dcsync.master_cleanups WHERE sync_id = $1)`,
        [c.syncId],
      );
    });
  }

  /** Hands a failed task back to the scheduler: no worker, a new epoch (the old run is fenced), state `pending`. */
  async resetTask(epoch: number, taskId: string): Promise<ResetOutcome> {
    return this.store.fenced(epoch, async (q) => {
      const r = await q.query(
        `UPDATE dcsync.master_tasks SET state = 'pending', worker_id = NULL, epoch = epoch + 1, error = NULL, updated_at = now()
          WHERE id = $1 AND state = 'failed' RETURNING ${TASK_COLUMNS}`,
        [taskId],
      );
      if (r.rows[0]) return { kind: 'ok', task: taskRow(r.rows[0]) };
      const cur = await q.query(`SELECT ${TASK_COLUMNS} FROM dcsync.master_tasks WHERE id = $1`, [taskId]);
      return cur.rows[0] ? { kind: 'not-failed', task: taskRow(cur.rows[0]) } : { kind: 'not-found' };
    });
  }

  /** Certificate warnings recorded by the masters and the live workers of this datacenter. */
  async warnings(): Promise<string[]> {
    const r = await this.pool.query<{ who: string; w: unknown }>(
      `SELECT 'master ' || id AS who, warnings AS w FROM dcsync.master_masters WHERE last_seen > now() - interval '30 seconds'
       UNION ALL SELECT 'worker ' || id, warnings FROM dcsync.master_workers WHERE last_heartbeat > now() - interval '30 seconds'`,
    );
    const out: string[] = [];
    for (const row of r.rows) if (Array.isArray(row.w)) for (const w of row.w) if (typeof w === 'string') out.push(`${row.who}: ${w}`);
    return out;
  }

  async #addCleanup(q: Queryable, stream: string, syncId: string, reason: string): Promise<void> {
    await q.query(`INSERT INTO dcsync.master_cleanups (stream, sync_id, reason) VALUES ($1, $2, $3) ON CONFLICT (stream) DO NOTHING`, [stream, syncId, reason]);
  }
}
