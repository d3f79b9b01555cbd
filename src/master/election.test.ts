import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { silentLogger } from '../core/logger.ts';
import { checkElectionTimings, decide, DEFAULT_ELECTION_TIMINGS, isLeaderAt, LeaderElection, type ElectionTimings, type ElectionView } from './election.ts';
import type { LeaseHolder, LeaseRow, MasterStore } from './store.ts';

const T: ElectionTimings = { leaseMs: 8_000, renewMs: 2_000, retryMs: 500, safetyMs: 1_000 }; // fixed here: the decisions, not the defaults, are under test
const follower: ElectionView = { role: 'follower' };

function lease(over: Partial<LeaseRow> = {}): LeaseRow {
  return { holder: 'other:8629', holderInstance: 'x', endpoint: 'https://other:8629', epoch: 5, expiresAt: new Date(), remainingMs: 6_000, now: new Date(), ...over };
}

describe('election decisions', () => {
  it('becomes leader on acquisition, with a deadline counted from when the statement was sent', () => {
    const d = decide(follower, { kind: 'acquired', lease: lease({ epoch: 6 }), sentAt: 1_000 }, 1_050, T);
    assert.equal(d.change, 'elected');
    assert.deepEqual(d.view, { role: 'leader', epoch: 6, deadline: 1_000 + 8_000 - 1_000 });
    assert.equal(d.waitMs, T.renewMs);
  });

  it('as follower, waits until the holder’s lease expires, but never longer than the renew interval', () => {
    assert.equal(decide(follower, { kind: 'held', lease: lease({ remainingMs: 6_000 }), sentAt: 0 }, 0, T).waitMs, T.renewMs);
    assert.equal(decide(follower, { kind: 'held', lease: lease({ remainingMs: 300 }), sentAt: 0 }, 0, T).waitMs, 350);
    assert.equal(decide(follower, { kind: 'held', lease: lease({ remainingMs: 300 }), sentAt: 0 }, 0, T, 1).waitMs, 550);
    assert.equal(decide(follower, { kind: 'held', lease: lease({ remainingMs: 0 }), sentAt: 0 }, 0, T).waitMs, 50);
    assert.equal(decide(follower, { kind: 'held', lease: lease(), sentAt: 0 }, 0, T).change, undefined);
  });

  it('extends the deadline on renewal and renews again before it', () => {
    const leader: ElectionView = { role: 'leader', epoch: 6, deadline: 8_000 };
    const d = decide(leader, { kind: 'renewed', lease: lease({ epoch: 6 }), sentAt: 2_000 }, 2_010, T);
    assert.deepEqual(d.view, { role: 'leader', epoch: 6, deadline: 9_000 });
    assert.equal(d.waitMs, T.renewMs);
    assert.equal(d.change, undefined);
  });

  it('keeps leading through failed renewals until the deadline, retrying quickly, then steps down', () => {
    const leader: ElectionView = { role: 'leader', epoch: 6, deadline: 9_000 };
    const early = decide(leader, { kind: 'failed', sentAt: 4_000 }, 4_100, T);
    assert.deepEqual(early.view, leader);
    assert.equal(early.waitMs, T.retryMs);
    const close = decide(leader, { kind: 'failed', sentAt: 8_700 }, 8_800, T);
    assert.equal(close.waitMs, 200, 'the last retry is timed for the deadline');
    const late = decide(leader, { kind: 'failed', sentAt: 8_900 }, 9_000, T);
    assert.equal(late.change, 'deposed');
    assert.deepEqual(late.view, follower);
  });

  it('steps down at once when the renewal matches no row (another master took the lease)', () => {
    const d = decide({ role: 'leader', epoch: 6, deadline: 9_000 }, { kind: 'lost', sentAt: 3_000 }, 3_010, T);
    assert.equal(d.change, 'deposed');
    assert.deepEqual(d.view, follower);
    assert.equal(d.waitMs, 0);
  });

  it('takes the lease back at once when a renewal succeeds after the watchdog deposed it', () => {
    const d = decide(follower, { kind: 'renewed', lease: lease({ epoch: 6 }), sentAt: 3_000 }, 9_500, T);
    assert.deepEqual(d.view, follower);
    assert.equal(d.change, undefined);
    assert.equal(d.waitMs, 0);
  });

  it('never leads past the deadline: the local deadline comes before the database’s expiry', () => {
    const v: ElectionView = { role: 'leader', epoch: 1, deadline: 7_000 };
    assert.ok(isLeaderAt(v, 6_999));
    assert.ok(!isLeaderAt(v, 7_000));
    // The statement runs at or after sentAt, so the row expires at ≥ sentAt + leaseMs > deadline.
    const d = decide(follower, { kind: 'acquired', lease: lease({ epoch: 1 }), sentAt: 0 }, 0, T);
    assert.ok(d.view.role === 'leader' && d.view.deadline <= 0 + T.leaseMs - T.safetyMs);
  });

  it('refuses timings that would let a healthy leader lose its lease', () => {
    assert.throws(() => checkElectionTimings({ ...T, renewMs: 4_000 }), /renewMs/);
    assert.throws(() => checkElectionTimings({ ...T, safetyMs: 8_000 }), /safetyMs/);
    assert.throws(() => checkElectionTimings({ ...T, retryMs: 3_000 }), /retryMs/);
    assert.throws(() => checkElectionTimings({ ...T, leaseMs: 0 }), /leaseMs/);
    assert.deepEqual(checkElectionTimings(T), T);
  });
});

/** A lease row in memory with the store's semantics, for the loop (the SQL is covered by the integration test). */
class MemoryLease {
  holder: string | null = null;
  instance: string | null = null;
  endpoint: string | null = null;
  epoch = 0;
  expiresAt = 0;
  failing = false;
  constructor(readonly clock: () => number) {}
  row(): LeaseRow {
    const now = this.clock();
    return { holder: this.holder, holderInstance: this.instance, endpoint: this.endpoint, epoch: this.epoch, expiresAt: new Date(this.expiresAt), remainingMs: Math.max(0, this.expiresAt - now), now: new Date(now) };
  }
  store(): MasterStore {
    const check = (): void => {
      if (this.failing) throw new Error('connection refused');
    };
    const fake = {
      tryAcquire: async (me: LeaseHolder, leaseMs: number) => {
        check();
        if (this.holder !== null && this.expiresAt > this.clock() && this.holder !== me.id) return undefined;
        Object.assign(this, { holder: me.id, instance: me.instance, endpoint: me.endpoint, epoch: this.epoch + 1, expiresAt: this.clock() + leaseMs });
        return this.row();
      },
      renew: async (instance: string, epoch: number, leaseMs: number) => {
        check();
        if (this.instance !== instance || this.epoch !== epoch) return undefined;
        this.expiresAt = this.clock() + leaseMs;
        return this.row();
      },
      readLease: async () => {
        check();
        return this.row();
      },
      release: async (instance: string, epoch: number) => {
        check();
        if (this.instance !== instance || this.epoch !== epoch) return false;
        Object.assign(this, { holder: null, instance: null, endpoint: null, expiresAt: 0 });
        return true;
      },
    };
    return fake as unknown as MasterStore;
  }
}

const FAST = { leaseMs: 400, renewMs: 100, retryMs: 25, safetyMs: 50 };

describe('LeaderElection loop', () => {
  it('elects exactly one of three, fails over when the leader stops, and releases the lease on stop', async () => {
    const mem = new MemoryLease(() => Date.now());
    const states: string[][] = [[], [], []];
    const elections = [0, 1, 2].map(
      (i) => new LeaderElection({ store: mem.store(), me: { id: `m${i}`, instance: `i${i}`, endpoint: `https://m${i}:8629` }, timings: FAST, log: silentLogger }),
    );
    elections.forEach((e, i) => e.lifecycle.on('state', (s: string) => states[i]!.push(s)));
    const stops = elections.map(() => new AbortController());
    const runs = elections.map((e, i) => e.run(stops[i]!.signal));
    try {
      await waitUntil(() => elections.filter((e) => e.state === 'leader').length === 1);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(elections.filter((e) => e.state === 'leader').length, 1, 'still exactly one leader after several renewals');
      const first = elections.findIndex((e) => e.state === 'leader');
      assert.equal(elections[first]!.leaderEpoch, mem.epoch);
      for (const e of elections) await waitUntil(() => e.knownLeader?.id === `m${first}`);

      // Graceful stop of the leader: it releases the lease, another takes it with the next epoch.
      const epoch = mem.epoch;
      stops[first]!.abort();
      await runs[first];
      assert.equal(elections[first]!.state, 'stopped');
      await waitUntil(() => elections.some((e, i) => i !== first && e.state === 'leader'));
      assert.equal(mem.epoch, epoch + 1);
      assert.deepEqual(states[first], ['leader', 'stopped']);
    } finally {
      stops.forEach((s) => s.abort());
      await Promise.all(runs);
    }
  });

  it('steps down by its own deadline while the database does not answer', async () => {
    const mem = new MemoryLease(() => Date.now());
    const e = new LeaderElection({ store: mem.store(), me: { id: 'm0', instance: 'i0', endpoint: 'https://m0:8629' }, timings: FAST, log: silentLogger });
    const stop = new AbortController();
    const run = e.run(stop.signal);
    try {
      await waitUntil(() => e.state === 'leader');
      mem.failing = true;
      const lostAt = Date.now();
      await waitUntil(() => e.state === 'follower');
      assert.ok(Date.now() - lostAt <= FAST.leaseMs, 'deposed before the lease could expire');
      assert.ok(mem.expiresAt > Date.now() - 5, 'while the row still looked held');
      assert.equal(e.leaderEpoch, undefined);
      mem.failing = false;
      await waitUntil(() => e.state === 'leader');
      assert.equal(e.leaderEpoch, 2, 'takes it again with a new epoch');
    } finally {
      stop.abort();
      await run;
    }
  });
});

async function waitUntil(cond: () => boolean, timeoutMs = 5_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
