/**
 * The leader's cross-datacenter loop, every intervalMs (and at once when poked):
 * - incoming syncs that run: ask the source for its view (databases, source tasks and their progress) and keep
 *   it; a source that no longer has the sync (aborted there, or replaced) fails the sync with a message saying
 *   what to do. An unreachable source is recorded and asked again, nothing else changes.
 * - incoming syncs being stopped: ask the source to stop; once it reports the run ended and cleaned up, the
 *   sync becomes `inactive`.
 * - at the source: drop the slots and publications of ended runs (source-cleanup.ts).
 */
import type pg from 'pg';
import { errorMessage } from '../core/errors.ts';
import { connect } from '../postgres/connection.ts';
import { setApplicationsReadOnly } from '../postgres/read-only.ts';
import type { Logger } from '../core/logger.ts';
import { Waker } from '../core/waker.ts';
import type { LeaderElection } from './election.ts';
import { PeerClient, peerTargetOf } from './peer-client.ts';
import { cleanupStream } from './source-cleanup.ts';
import { FencedError } from './store.ts';
import type { OutgoingSyncView } from '../control/v1/sync.ts';
import { isActive, type SyncRecord, type SyncStore } from './sync-store.ts';

export interface SyncLoopOptions {
  readonly syncs: SyncStore;
  readonly election: LeaderElection;
  readonly clusterUrl: string;
  readonly stateDatabase: string;
  readonly intervalMs: number;
  /** A slot of an ended run still in use after this long has its walsender terminated. */
  readonly terminateAfterMs: number;
  readonly log: Logger;
}

export class SyncLoop {
  readonly #o: SyncLoopOptions;
  readonly #log: Logger;
  readonly #waker = new Waker();
  /** Last peer error per sync, to log changes only. */
  readonly #lastPeerError = new Map<string, string | null>();

  constructor(o: SyncLoopOptions) {
    this.#o = o;
    this.#log = o.log.child({ component: 'master.sync' });
  }

  poke(): void {
    this.#waker.poke();
  }

  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const epoch = this.#o.election.leaderEpoch;
      if (epoch !== undefined) await this.round(epoch, signal);
      await this.#waker.sleep(this.#o.intervalMs, signal);
    }
  }

  /** One round; never throws. */
  async round(epoch: number, signal?: AbortSignal): Promise<void> {
    this.#waker.take();
    try {
      for (const s of await this.#o.syncs.list()) {
        if (s.role !== 'incoming') continue;
        if (isActive(s.status)) await this.#follow(epoch, s, signal);
        else if (s.status === 'cancelling') await this.#stop(epoch, s, signal);
      }
      for (const c of await this.#o.syncs.cleanups()) {
        try {
          const r = await cleanupStream({ clusterUrl: this.#o.clusterUrl, stateDatabase: this.#o.stateDatabase, stream: c.stream, terminateAfterMs: this.#o.terminateAfterMs, ageMs: c.ageMs, log: this.#log });
          if (r.done) {
            await this.#o.syncs.cleanupDone(epoch, c);
            this.#log.info('run cleaned up at the source: slots and publications dropped', { stream: c.stream, syncId: c.syncId, slots: r.droppedSlots, reason: c.reason });
          } else this.#log.info('clean-up waits for slots still in use', { stream: c.stream, slots: r.busySlots });
        } catch (err) {
          if (err instanceof FencedError) throw err;
          this.#log.warn('clean-up of an ended run failed; retrying', { stream: c.stream, error: errorMessage(err) });
          await this.#o.syncs.cleanupFailed(c.stream, errorMessage(err)).catch(() => {});
        }
      }
    } catch (err) {
      if (err instanceof FencedError) this.#log.warn('sync round fenced off: no longer the leader', { epoch });
      else this.#log.warn('sync round failed', { error: errorMessage(err) });
    }
  }

  #client(s: SyncRecord): PeerClient | undefined {
    const t = peerTargetOf(s.config, s.secret);
    return t ? new PeerClient(t, 8_000) : undefined;
  }

  async #follow(epoch: number, s: SyncRecord, signal?: AbortSignal): Promise<void> {
    const client = this.#client(s);
    if (!client) return;
    let view: OutgoingSyncView | undefined;
    try {
      view = await client.get(s.id, signal);
    } catch (err) {
      const message = errorMessage(err);
      if (this.#lastPeerError.get(s.id) !== message) this.#log.warn('the source datacenter cannot be reached', { syncId: s.id, error: message });
      this.#lastPeerError.set(s.id, message);
      await this.#o.syncs.recordPeer(epoch, s.id, { error: message });
      return;
    } finally {
      client.close();
    }
    if (this.#lastPeerError.get(s.id)) this.#log.info('the source datacenter answers again', { syncId: s.id });
    this.#lastPeerError.set(s.id, null);
    if (!view || view.run !== s.run || !isActive(view.status)) {
      const why = !view ? 'has no outgoing sync of this id' : view.run !== s.run ? `runs another configuration of it (run ${view.run ?? 'none'}, here ${s.run ?? 'none'})` : `reports it ${view.status}`;
      const error = `the source datacenter ${why} (aborted there?): run 'dcsync abort sync' here, then 'dcsync configure sync' again`;
      this.#log.error('sync failed: the source ended it', { syncId: s.id, error });
      await this.#o.syncs.setStatus(epoch, s.id, 'failed', error);
      return;
    }
    const known = Array.isArray(s.config['databases']) ? (s.config['databases'] as unknown[]).join('\0') : '';
    const changed = [...view.databases].sort().join('\0') !== known;
    await this.#o.syncs.recordPeer(epoch, s.id, { view: view as unknown as Record<string, unknown>, error: null, ...(changed ? { databases: [...view.databases].sort() } : {}) });
    if (changed) this.#log.info('source databases', { syncId: s.id, databases: view.databases });
  }

  async #stop(epoch: number, s: SyncRecord, signal?: AbortSignal): Promise<void> {
    const client = this.#client(s);
    if (!client) {
      await this.#o.syncs.setStatus(epoch, s.id, 'inactive');
      await this.releaseDatabases(s);
      return;
    }
    try {
      const view = await client.stop(s.id, s.run, signal);
      if (!view || view.run !== s.run || (view.status === 'inactive' && view.cleanupPending === 0)) {
        await this.#o.syncs.setStatus(epoch, s.id, 'inactive');
        this.#log.info('sync stopped: the source dropped its slots and publications', { syncId: s.id });
        await this.releaseDatabases(s);
      }
    } catch (err) {
      await this.#o.syncs.recordPeer(epoch, s.id, { error: errorMessage(err) });
      this.#log.warn('stopping at the source failed; retrying (abort sync stops this side alone)', { syncId: s.id, error: errorMessage(err) });
    } finally {
      client.close();
    }
  }

  /**
   * The incoming sync ended (stopped or aborted): applications may write to its databases at this datacenter again.
   * A database that cannot be released is logged with the statement that releases it; nothing else depends on it.
   */
  async releaseDatabases(s: SyncRecord): Promise<void> {
    const databases = Array.isArray(s.config['databases']) ? (s.config['databases'] as unknown[]).filter((x): x is string => typeof x === 'string') : [];
    if (databases.length === 0) return;
    let c: pg.Client | undefined;
    try {
      c = await connect({ url: this.#o.clusterUrl, database: this.#o.stateDatabase, applicationName: 'dcsync-master' });
      const released: string[] = [];
      for (const db of databases) {
        try {
          await setApplicationsReadOnly(c, db, false);
          released.push(db);
        } catch (err) {
          if ((err as { code?: string }).code === '3D000') continue; // never created at this datacenter
          this.#log.warn('a database stays read-only for applications', { syncId: s.id, database: db, error: errorMessage(err), fix: `ALTER DATABASE "${db}" RESET default_transaction_read_only` });
        }
      }
      this.#log.info('the sync ended: its databases take application writes again', { syncId: s.id, databases: released });
    } catch (err) {
      this.#log.warn("the sync's databases stay read-only for applications", { syncId: s.id, databases, error: errorMessage(err), fix: 'ALTER DATABASE … RESET default_transaction_read_only' });
    } finally {
      await c?.end().catch(() => {});
    }
  }
}
