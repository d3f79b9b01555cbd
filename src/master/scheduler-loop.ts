/**
 * The leader's scheduling loop: every intervalMs (and at once when poked, e.g. after a worker registered) it runs
 * one round (store.runSchedulingRound: reconcile tasks with syncs, reassign tasks of dead workers), fenced by the
 * leader's epoch. On a follower it only waits. A round that fails is logged and tried again next time.
 */
import { errorMessage } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { Waker } from '../core/waker.ts';
import type { LeaderElection } from './election.ts';
import { FencedError, type MasterStore } from './store.ts';

export interface SchedulerLoopOptions {
  readonly store: MasterStore;
  readonly election: LeaderElection;
  /** Between rounds; default 2 s. */
  readonly intervalMs: number;
  readonly workerTimeoutMs: number;
  readonly log: Logger;
}

export class SchedulerLoop {
  readonly #o: SchedulerLoopOptions;
  readonly #log: Logger;
  readonly #waker = new Waker();
  #rounds = 0;

  constructor(o: SchedulerLoopOptions) {
    this.#o = o;
    this.#log = o.log.child({ component: 'master.scheduler' });
  }

  /** Rounds run since start (tests, metrics). */
  get rounds(): number {
    return this.#rounds;
  }

  /** Runs a round soon instead of at the next interval. */
  poke(): void {
    this.#waker.poke();
  }

  /** Runs until the signal aborts. Never throws. */
  async run(signal: AbortSignal): Promise<void> {
    const onState = (): void => this.#waker.interrupt();
    this.#o.election.lifecycle.on('state', onState);
    try {
      while (!signal.aborted) {
        const epoch = this.#o.election.leaderEpoch;
        if (epoch !== undefined) await this.#round(epoch);
        await this.#waker.sleep(this.#o.intervalMs, signal);
      }
    } finally {
      this.#o.election.lifecycle.off('state', onState);
    }
  }

  async #round(epoch: number): Promise<void> {
    this.#waker.take();
    try {
      const { plan, applied } = await this.#o.store.runSchedulingRound(epoch, { workerTimeoutMs: this.#o.workerTimeoutMs });
      this.#rounds++;
      for (const c of plan.creates) this.#log.info('task created', { taskId: c.id, syncId: c.syncId, kind: c.kind, database: c.database, workerId: c.workerId, epoch: c.epoch });
      for (const u of plan.updates) {
        this.#log.info('task moved', { taskId: u.taskId, reason: u.reason, fromWorkerId: u.fromWorkerId, workerId: u.workerId, epoch: u.epoch, state: u.state });
      }
      if (plan.creates.length + plan.updates.length > applied) this.#log.debug('some changes met concurrent updates; next round', { planned: plan.creates.length + plan.updates.length, applied });
    } catch (err) {
      if (err instanceof FencedError) this.#log.warn('scheduling round fenced off: no longer the leader', { epoch, currentEpoch: err.currentEpoch });
      else this.#log.warn('scheduling round failed', { epoch, error: errorMessage(err) });
    }
  }
}
