import type { EncodedChange, RowChange } from '../../model/change.ts';
import { comparePositions, isCovered, type Position } from '../../model/position.ts';
import type { ChangeStreamRecord } from '../../transport/record-format/index.ts';
import type { BarrierGate } from './barrier-gate.ts';
import { type Item, type OffsetControl, resolveTo, resumeAt } from './offsets.ts';
import type { PartitionTarget } from './partition-session.ts';

export interface BatchControl extends OffsetControl {
  pause(): void;
}

export interface PartitionApplierOptions {
  partition: number;
  partitions: number;
  /** Source transactions applied atomically (transactional mode, one partition). */
  transactional: boolean;
  target: PartitionTarget;
  gate: BarrierGate;
  wanted(c: RowChange | EncodedChange, pos: ChangeStreamRecord['pos']): boolean;
  /** Resumes partitions parked at a barrier that this partition applied. */
  resume(partitions: number[]): void;
  /**
   * A check barrier is committed and no partition applied anything past it yet: the target holds exactly what the
   * source had at the check's cut. Called before any parked partition resumes.
   */
  atCheckCut?(checkId: string, pos: Position): Promise<void>;
  /** Waits a little when a window brought nothing new of an open transaction. */
  idle(): Promise<void>;
  /** Changes gathered before they are applied (transactional mode), and before a commit (parallel mode). */
  limits?: { applyAt: number; commitAtEnd: number; commitAt: number };
}

const LIMITS = { applyAt: 5000, commitAtEnd: 20_000, commitAt: 50_000 };

/**
 * Applies the entries of one partition's fetched window: skips what the target holds, gathers changes and commits
 * them with the partition's position (parallel mode: at the window's end, or when many wait; transactional mode:
 * only where a source transaction ends), and meets the other partitions at barriers.
 */
export class PartitionApplier {
  constructor(private readonly o: PartitionApplierOptions) {}

  async run(items: Iterable<Item>, ctl: BatchControl): Promise<void> {
    const w = new Window(this.o, ctl);
    for (const item of items) if ((await w.entry(item)) === 'parked') return;
    await w.finish();
  }
}

/** One window's assembly of target transactions. */
class Window {
  #batch: (RowChange | EncodedChange)[] = [];
  #last: Item | undefined;
  /** The newest item that ends a source transaction, when nothing followed it (transactional mode). */
  #lastEnd: Item | undefined;
  #count = 0;
  /**
   * The highest position this window took, applied or not yet: a record re-produced by a restarted source or
   * duplicated by MirrorMaker 2 can follow its original within one window, before any commit moved the target's
   * position past it, and must be skipped all the same.
   */
  #taken: Position | undefined;
  readonly #limits: NonNullable<PartitionApplierOptions['limits']>;

  constructor(
    private readonly o: PartitionApplierOptions,
    private readonly ctl: BatchControl,
  ) {
    this.#limits = o.limits ?? LIMITS;
  }

  get #single(): boolean {
    return this.o.partitions === 1;
  }

  async entry(item: Item): Promise<'next' | 'parked'> {
    const { rec } = item;
    if (rec.kind === 'barrier') return this.#barrier(item, rec);
    const t = this.o.target;
    this.#last = item;
    if (this.#covered(rec.pos)) return 'next';
    this.#taken = rec.pos;
    if (rec.kind === 'change' && this.o.wanted(rec.change, rec.pos)) this.#batch.push(rec.change);
    const ends = rec.kind === 'commit' || rec.kind === 'heartbeat' || (rec.kind === 'change' && rec.endOfTx);
    const n = this.#batch.length;
    if (this.o.transactional) {
      if (n >= this.#limits.applyAt) await this.#applyPending();
      t.hold(rec.pos);
      this.#lastEnd = ends ? item : undefined;
    } else if ((n >= this.#limits.commitAtEnd && ends) || n >= this.#limits.commitAt) await this.#flush(item); // parallel mode may split a huge transaction: bounded memory
    return 'next';
  }

  /** At or below what the target holds, or below what this window took already. */
  #covered(pos: Position): boolean {
    const t = this.o.target;
    return isCovered(pos, t.inflight ?? t.applied) || isCovered(pos, this.#taken);
  }

  async #barrier(item: Item, rec: Extract<Item['rec'], { kind: 'barrier' }>): Promise<'next' | 'parked'> {
    const { target: t, gate } = this.o;
    if (gate.isApplied(rec.pos) || isCovered(rec.pos, this.#taken)) {
      this.#last = item;
      return 'next';
    }
    if (this.#single) {
      // One partition: the barrier is just the next step of the open transaction.
      this.#last = item;
      if (this.#covered(rec.pos)) return 'next';
      this.#taken = rec.pos;
      await t.begin();
      await this.#applyPending();
      await t.barrier(rec.barrier, rec.pos, rec.commitTimeUs);
      gate.markApplied(rec.pos);
      t.hold(rec.pos);
      this.#lastEnd = rec.endOfTx ? item : undefined;
      if (rec.barrier.type === 'check') {
        // A check marker stands between source transactions: commit here, so the target holds exactly the cut.
        await this.#flush(item);
        await this.o.atCheckCut?.(rec.barrier.checkId, rec.pos);
      }
      return 'next';
    }
    if (this.#last && this.#hasNews(this.#last)) await this.#flush(this.#last);
    if (!gate.arrive(rec.pos, this.o.partition)) {
      this.ctl.pause();
      return 'parked';
    }
    this.#taken = rec.pos;
    await t.barrier(rec.barrier, rec.pos, rec.commitTimeUs);
    await t.commit(rec.pos, rec.commitTimeUs, 0, resumeAt(item));
    if (rec.barrier.type === 'check') await this.o.atCheckCut?.(rec.barrier.checkId, rec.pos);
    const parked = gate.markApplied(rec.pos);
    resolveTo(this.ctl, item);
    if (parked.length > 0) this.o.resume(parked);
    this.#last = undefined;
    this.#lastEnd = undefined;
    return 'next';
  }

  async finish(): Promise<void> {
    const last = this.#last;
    if (!last) return;
    const t = this.o.target;
    if (this.o.transactional) {
      await this.#applyPending();
      // A target transaction ends only where a source transaction ends; the rest stays open for the next window.
      if (this.#lastEnd === last) await this.#flush(last);
      else {
        // Consumed, in the consumer's memory only (a restart resumes at the offset the target stores at the commit):
        // the next fetch brings the rest of the open transaction, not this window again.
        resolveTo(this.ctl, last);
        if (t.open && this.#count === 0) await this.o.idle(); // the rest of an open transaction is still on its way
      }
      return;
    }
    if (this.#hasNews(last)) await this.#flush(last);
    // Entries that were all at or below the applied position: move the offset on, or they come again forever.
    else resolveTo(this.ctl, last);
  }

  /** Whether committing up to `item` changes the target: changes wait, or its position is past the applied one. */
  #hasNews(item: Item): boolean {
    const applied = this.o.target.applied;
    return this.#batch.length > 0 || !applied || comparePositions(item.rec.pos, applied) > 0;
  }

  async #applyPending(): Promise<void> {
    if (this.#batch.length === 0) return;
    await this.o.target.begin();
    await this.o.target.apply(this.#batch);
    this.#count += this.#batch.length;
    this.#batch = [];
  }

  async #flush(upTo: Item): Promise<void> {
    const t = this.o.target;
    await t.begin();
    await this.#applyPending();
    await t.commit(upTo.rec.pos, upTo.rec.commitTimeUs, this.#count, resumeAt(upTo));
    resolveTo(this.ctl, upTo);
    this.#count = 0;
  }
}
