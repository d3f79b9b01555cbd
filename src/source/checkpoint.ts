import { ZERO_LSN, type Lsn } from '../core/lsn.ts';

/**
 * Which WAL position may be confirmed to the slot. `flushed` only moves to the end LSN of a transaction once
 * every record of it, and of every earlier transaction, is durable downstream (sequence numbers from the sink);
 * `received` is what has been read. When idle and caught up, a keepalive's walEnd may be confirmed.
 */
export class Checkpoint {
  #received: Lsn;
  #flushed: Lsn;
  #pending: { seq: number; lsn: Lsn }[] = [];
  /** Index of the oldest pending entry (shift() on a long array is O(n)). */
  #head = 0;
  #acked = 0;

  constructor(start: Lsn = ZERO_LSN) {
    this.#received = start;
    this.#flushed = start;
  }

  get received(): Lsn {
    return this.#received;
  }

  get flushed(): Lsn {
    return this.#flushed;
  }

  receivedUpTo(lsn: Lsn): void {
    if (lsn > this.#received) this.#received = lsn;
  }

  /** A transaction (or heartbeat) ending at `lsn` whose last record got sequence number `seq`. */
  commit(seq: number, lsn: Lsn): void {
    this.receivedUpTo(lsn);
    if (seq <= this.#acked && this.#head === this.#pending.length) {
      if (lsn > this.#flushed) this.#flushed = lsn;
      return;
    }
    this.#pending.push({ seq, lsn });
  }

  /** The sink made everything up to `seq` durable. */
  acked(seq: number): void {
    this.#acked = Math.max(this.#acked, seq);
    while (this.#head < this.#pending.length && this.#pending[this.#head]!.seq <= this.#acked) {
      const p = this.#pending[this.#head++]!;
      if (p.lsn > this.#flushed) this.#flushed = p.lsn;
    }
    if (this.#head === this.#pending.length) {
      this.#pending = [];
      this.#head = 0;
    } else if (this.#head > 10_000) {
      this.#pending = this.#pending.slice(this.#head);
      this.#head = 0;
    }
  }

  /** Nothing in flight and no open transaction: the server's walEnd is safe to confirm. */
  idle(walEnd: Lsn, inTransaction: boolean, sinkIdle: boolean): void {
    this.receivedUpTo(walEnd);
    if (!inTransaction && sinkIdle && this.#head === this.#pending.length && walEnd > this.#flushed) this.#flushed = walEnd;
  }
}
