/**
 * Leader election among the masters of one datacenter, through the lease row in its PostgreSQL (store.ts).
 *
 * - A follower tries to take the lease when it is free, expired or held under its own id (an earlier process of
 *   this master), always with epoch + 1; otherwise it waits until the holder's lease would expire (on the
 *   database's clock), at most renewMs, and looks again.
 * - The leader renews every renewMs (1.5 s) for leaseMs (6 s). It stays leader only until its local deadline:
 *   the moment it sent its last successful renewal plus leaseMs minus safetyMs, measured on this process's
 *   monotonic clock. The database's expiry is counted from when the statement ran, which is after the send, so
 *   the leader always steps down before any other master can take the lease, even when PostgreSQL stops
 *   answering (a watchdog timer fires at the deadline; no query result is needed).
 * - A failed renewal is retried every retryMs until the deadline. A renewal that matches no row (another
 *   holder, another epoch) ends the leadership at once.
 * - Graceful stop releases the lease so a follower takes over without waiting for expiry.
 *
 * The epoch of the leadership is the fencing token: every write of the leader goes through store.fenced(epoch).
 *
 * The decisions are the pure function `decide()` (tested in election.test.ts); LeaderElection runs the I/O.
 */
import { errorMessage } from '../core/errors.ts';
import { Lifecycle } from '../core/lifecycle.ts';
import type { Logger } from '../core/logger.ts';
import { delay } from '../core/time.ts';
import type { LeaseHolder, LeaseRow, MasterStore } from './store.ts';

/**
 * - `follower`: another master leads, or nobody does yet; this one keeps trying to take the lease.
 * - `leader`: holds the lease; runs the scheduler; its writes carry its epoch.
 * - `stopped`: the election ended (shutdown); the lease was released if it was held.
 */
export type ElectionState = 'follower' | 'leader' | 'stopped';

const TRANSITIONS: Readonly<Record<ElectionState, readonly ElectionState[]>> = {
  follower: ['leader', 'stopped'],
  leader: ['follower', 'stopped'],
  stopped: [],
};

export interface ElectionTimings {
  /** How long a lease lasts without renewal; default 6 s. */
  readonly leaseMs: number;
  /** How often the leader renews, and the longest a follower waits between two looks; default 1.5 s. */
  readonly renewMs: number;
  /** Retry interval after a failed query; default 500 ms. */
  readonly retryMs: number;
  /** The leader steps down this long before its lease could expire; default 1 s. */
  readonly safetyMs: number;
}

// A 6 s lease keeps a failover (expiry plus the next look) well inside the 10 s the operators are promised.
export const DEFAULT_ELECTION_TIMINGS: ElectionTimings = { leaseMs: 6_000, renewMs: 1_500, retryMs: 500, safetyMs: 1_000 };

/** Throws RangeError for timings that could let two leaders overlap or a healthy leader lose its lease. */
export function checkElectionTimings(t: ElectionTimings): ElectionTimings {
  for (const [k, v] of Object.entries(t)) if (!(Number.isFinite(v) && v > 0)) throw new RangeError(`election ${k} must be a positive number of milliseconds`);
  if (t.safetyMs >= t.leaseMs) throw new RangeError('election safetyMs must be shorter than leaseMs');
  if (t.renewMs * 2 > t.leaseMs - t.safetyMs) throw new RangeError('election renewMs must leave room for at least two renewals within leaseMs - safetyMs');
  if (t.retryMs > t.renewMs) throw new RangeError('election retryMs must not be longer than renewMs');
  return t;
}

/** What the election knows about itself: follower, or leader with epoch and local deadline (monotonic ms). */
export type ElectionView = { readonly role: 'follower' } | { readonly role: 'leader'; readonly epoch: number; readonly deadline: number };

/** The outcome of one attempt, as the loop saw it. `sentAt`: monotonic ms when the statement was sent. */
export type ElectionEvent =
  | { readonly kind: 'acquired'; readonly lease: LeaseRow; readonly sentAt: number }
  | { readonly kind: 'held'; readonly lease: LeaseRow; readonly sentAt: number }
  | { readonly kind: 'renewed'; readonly lease: LeaseRow; readonly sentAt: number }
  | { readonly kind: 'lost'; readonly sentAt: number }
  | { readonly kind: 'failed'; readonly sentAt: number };

export interface ElectionDecision {
  readonly view: ElectionView;
  /** How long to wait before the next attempt. */
  readonly waitMs: number;
  readonly change?: 'elected' | 'deposed';
  readonly reason?: string;
}

/**
 * The election's state machine: from the current view, what happened, and the monotonic time now, the next
 * view, the wait before the next attempt, and whether leadership began or ended. `jitter` (0..1) spreads the
 * followers' attempts a little so they do not all hit the row at the same instant.
 */
export function decide(view: ElectionView, event: ElectionEvent, now: number, t: ElectionTimings, jitter = 0): ElectionDecision {
  const followerWait = (remainingMs: number): number => Math.max(50, Math.min(t.renewMs, remainingMs + 50 + Math.round(jitter * 200)));
  switch (event.kind) {
    case 'acquired':
      return { view: { role: 'leader', epoch: event.lease.epoch, deadline: event.sentAt + t.leaseMs - t.safetyMs }, waitMs: t.renewMs, change: 'elected' };
    case 'renewed': {
      // Deposed by the deadline while the renewal was on its way: take the lease again (with a new epoch) at once.
      if (view.role !== 'leader') return { view, waitMs: 0 };
      const deadline = Math.max(view.deadline, event.sentAt + t.leaseMs - t.safetyMs);
      return { view: { ...view, deadline }, waitMs: Math.max(0, Math.min(t.renewMs, deadline - now - t.retryMs)) };
    }
    case 'held':
      if (view.role === 'leader') return { view: { role: 'follower' }, waitMs: followerWait(event.lease.remainingMs), change: 'deposed', reason: `the lease is held by ${event.lease.holder ?? 'nobody'}` };
      return { view, waitMs: followerWait(event.lease.remainingMs) };
    case 'lost':
      if (view.role === 'leader') return { view: { role: 'follower' }, waitMs: 0, change: 'deposed', reason: 'the lease was taken over' };
      return { view, waitMs: t.retryMs };
    case 'failed':
      if (view.role === 'leader') {
        if (now >= view.deadline) return { view: { role: 'follower' }, waitMs: t.retryMs, change: 'deposed', reason: 'the lease could not be renewed in time' };
        return { view, waitMs: Math.max(0, Math.min(t.retryMs, view.deadline - now)) };
      }
      return { view, waitMs: t.retryMs };
  }
}

/** Whether a leader view is still valid at `now` (monotonic ms). */
export function isLeaderAt(view: ElectionView, now: number): view is { role: 'leader'; epoch: number; deadline: number } {
  return view.role === 'leader' && now < view.deadline;
}

export interface KnownLeader {
  readonly id: string;
  readonly endpoint: string;
  readonly epoch: number;
  readonly expiresAt: Date | null;
}

export interface LeaderElectionOptions {
  readonly store: MasterStore;
  readonly me: LeaseHolder;
  readonly timings?: ElectionTimings;
  readonly log: Logger;
  /** Monotonic milliseconds; default performance.now(). */
  readonly now?: () => number;
}

export class LeaderElection {
  readonly lifecycle: Lifecycle<ElectionState>;
  readonly #o: LeaderElectionOptions;
  readonly #t: ElectionTimings;
  readonly #now: () => number;
  readonly #log: Logger;
  #view: ElectionView = { role: 'follower' };
  #known: KnownLeader | undefined;
  #watchdog: NodeJS.Timeout | undefined;

  constructor(o: LeaderElectionOptions) {
    this.#o = o;
    this.#t = checkElectionTimings(o.timings ?? DEFAULT_ELECTION_TIMINGS);
    this.#now = o.now ?? (() => performance.now());
    this.#log = o.log.child({ component: 'master.election', masterId: o.me.id });
    this.lifecycle = new Lifecycle<ElectionState>('follower', TRANSITIONS, this.#log);
  }

  get state(): ElectionState {
    return this.lifecycle.state;
  }

  get timings(): ElectionTimings {
    return this.#t;
  }

  /** The epoch of the current leadership, or undefined when this master does not lead (or its deadline passed). */
  get leaderEpoch(): number | undefined {
    return this.lifecycle.is('leader') && isLeaderAt(this.#view, this.#now()) ? this.#view.epoch : undefined;
  }

  /** The leader as last read from the lease row (this master included); undefined when the lease is free or expired. */
  get knownLeader(): KnownLeader | undefined {
    return this.#known;
  }

  /** Runs until the signal aborts; then releases the lease if held and ends in `stopped`. Never throws. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const before = this.#view;
      const sentAt = this.#now();
      let event: ElectionEvent;
      try {
        if (before.role === 'leader') {
          const lease = await this.#o.store.renew(this.#o.me.instance, before.epoch, this.#t.leaseMs);
          event = lease ? { kind: 'renewed', lease, sentAt } : { kind: 'lost', sentAt };
        } else {
          const acquired = await this.#o.store.tryAcquire(this.#o.me, this.#t.leaseMs);
          event = acquired ? { kind: 'acquired', lease: acquired, sentAt } : { kind: 'held', lease: await this.#o.store.readLease(), sentAt };
        }
      } catch (err) {
        if (signal.aborted) break;
        this.#log.warn('lease query failed', { error: errorMessage(err), role: before.role });
        event = { kind: 'failed', sentAt };
      }
      if (signal.aborted && event.kind === 'acquired') {
        // Taken while shutting down: give it back below.
        this.#view = { role: 'leader', epoch: event.lease.epoch, deadline: sentAt + this.#t.leaseMs - this.#t.safetyMs };
        break;
      }
      // The watchdog may have deposed us while the query ran: decide from the current view.
      const d = decide(this.#view, event, this.#now(), this.#t, Math.random());
      this.#apply(d, event);
      try {
        await delay(d.waitMs, signal);
      } catch {
        break;
      }
    }
    await this.#shutdown();
  }

  #apply(d: ElectionDecision, event: ElectionEvent): void {
    if ('lease' in event) this.#learn(event.lease);
    this.#view = d.view;
    if (d.view.role === 'leader') this.#arm(d.view.deadline);
    else this.#disarm();
    if (d.change === 'elected') {
      this.#log.info('leadership acquired', { epoch: d.view.role === 'leader' ? d.view.epoch : undefined });
      this.lifecycle.to('leader');
    } else if (d.change === 'deposed') {
      this.#log.warn('leadership lost', { reason: d.reason });
      this.#known = undefined;
      this.lifecycle.to('follower');
    }
  }

  #learn(lease: LeaseRow): void {
    this.#known =
      lease.holder !== null && lease.endpoint !== null && lease.remainingMs > 0
        ? { id: lease.holder, endpoint: lease.endpoint, epoch: lease.epoch, expiresAt: lease.expiresAt }
        : undefined;
  }

  /** Steps down at the deadline even if PostgreSQL never answers the renewal. */
  #arm(deadline: number): void {
    this.#disarm();
    this.#watchdog = setTimeout(() => {
      this.#watchdog = undefined;
      if (this.#view.role !== 'leader' || this.lifecycle.is('stopped')) return;
      this.#view = { role: 'follower' };
      this.#known = undefined;
      this.#log.warn('leadership lost', { reason: 'the lease could not be renewed in time' });
      this.lifecycle.to('follower');
    }, Math.max(0, deadline - this.#now()));
  }

  #disarm(): void {
    clearTimeout(this.#watchdog);
    this.#watchdog = undefined;
  }

  async #shutdown(): Promise<void> {
    this.#disarm();
    const view = this.#view;
    this.#view = { role: 'follower' };
    if (view.role === 'leader') {
      try {
        const released = await this.#o.store.release(this.#o.me.instance, view.epoch);
        this.#log.info('lease released', { epoch: view.epoch, released });
      } catch (err) {
        this.#log.warn('lease not released; it expires by itself', { error: errorMessage(err) });
      }
    }
    this.#known = undefined;
    if (!this.lifecycle.is('stopped')) this.lifecycle.to('stopped');
  }
}
