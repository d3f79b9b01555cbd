import { ZERO_LSN, type Lsn } from '../core/lsn.ts';

/** The slot's side of the checkpoint: the replication stream, whose status updates carry these positions. */
export interface SlotPosition {
  /** Everything up to `lsn` has been read. */
  received(lsn: Lsn): void;
  /** Everything up to `lsn` is durable downstream: the server may forget it. */
  acknowledge(lsn: Lsn): void;
}

/**
 * Which WAL position may be confirmed to the slot, and the only caller of `slot.acknowledge`: the rule is that the
 * slot is told only what Kafka has durably acknowledged. `flushed` moves to the end LSN of a transaction only once
 * every record of it, and of every earlier transaction, is acknowledged by the sink (sequence numbers); when idle
 * and caught up (no open transaction, nothing unacknowledged), to a keepalive's walEnd. `received` is what has
 * been read.
 */
export class Checkpoint {
  #received: Lsn;
  #flushed: Lsn;
  #pending: { seq: number; lsn: Lsn }[] = [];
  /** Index of the oldest pending entry (shift() on a long array is O(n)). */
  #head = 0;
  #acked = 0;

  constructor(
    private readonly slot: SlotPosition,
    start: Lsn = ZERO_LSN,
  ) {
    this.#received = start;
    this.#flushed = start;
    slot.received(start);
    slot.acknowledge(start);
  }

  get received(): Lsn {
    return this.#received;
  }

  get flushed(): Lsn {
    return this.#flushed;
  }

  receivedUpTo(lsn: Lsn): void {
    if (lsn <= this.#received) return;
    this.#received = lsn;
    this.slot.received(lsn);
  }

  /** A transaction (or heartbeat) ending at `lsn` whose last record got sequence number `seq`. */
  commit(seq: number, lsn: Lsn): void {
    this.receivedUpTo(lsn);
    if (seq <= this.#acked && this.#head === this.#pending.length) {
      this.#flush(lsn);
      return;
    }
    this.#pending.push({ seq, lsn });
  }

  /** The sink made everything up to `seq` durable. */
  acked(seq: number): void {
    this.#acked = Math.max(this.#acked, seq);
    while (this.#head < this.#pending.length && this.#pending[this.#head]!.seq <= this.#acked) this.#flush(this.#pending[this.#head++]!.lsn);
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
    if (!inTransaction && sinkIdle && this.#head === this.#pending.length) this.#flush(walEnd);
  }

  /** Durable downstream up to `lsn`: confirmed to the slot. */
  #flush(lsn: Lsn): void {
    if (lsn <= this.#flushed) return;
    this.#flushed = lsn;
    this.slot.acknowledge(lsn);
  }
}
