/**
 * Gap detection. The source numbers every record of the snapshot and changes topics with the offset it takes in its
 * partition of A's Kafka (header `dcsync-seq`): it is the partition's only producer, idempotent and without
 * transactions, so the offsets of a partition at A are exactly 0, 1, 2, … Offsets at B differ (MirrorMaker 2
 * writes them, may write a record twice after a restart, may leave holes for its own markers), the numbers do not.
 *
 * The destination keeps, per partition, the highest number it has read before the point it resumes from, and stores
 * it with the position. In a partition that lost nothing, each record's number is at most that highest + 1 (a copy
 * repeats an earlier number); a larger one means records are gone — expired, deleted, in a topic recreated, or never
 * mirrored — and the partition stops, naming what is missing.
 */
import { ReplicationError } from '../core/errors.ts';
import { headerText, type RawHeaders } from './record-format/index.ts';

export const SEQUENCE_HEADER = 'dcsync-seq';

/**
 * The highest number read before a point of the partition: `-1n` before its first record, `null` when unknown
 * (records written before sources numbered them).
 */
export type ChainMark = bigint | null;

/** Where to read a partition again from after a restart: the next offset at B, and the chain's mark before it. */
export interface ResumePoint {
  offset: string;
  mark: ChainMark;
}

/** The first record of a partition is number 0: nothing read yet. */
export const CHAIN_START: ChainMark = -1n;

export interface ChainOrigin {
  database: string;
  topic: string;
  partition: number;
}

/** Records of a partition are gone before the destination read them; what follows cannot be applied. */
export class RecordGapError extends ReplicationError {
  constructor(
    readonly origin: ChainOrigin,
    readonly missing: { from: bigint; to: bigint },
    readonly atOffset: string,
  ) {
    const n = missing.to - missing.from + 1n;
    super(
      `records are missing from topic '${origin.topic}' partition ${origin.partition} (database '${origin.database}'): ` +
        `A's offsets ${missing.from}–${missing.to} (${n} record${n === 1n ? '' : 's'}) never reached the destination; the next record read is A's offset ${missing.to + 1n} at offset ${atOffset} of B's Kafka. ` +
        `They expired (topic retention), were deleted, or MirrorMaker 2 skipped them (topic recreated, mirroring started from the end). ` +
        `B cannot be brought up to date from Kafka: stop the sync and configure it again for a new initial copy, and give the topics a retention longer than any outage of the destination`,
      { retriable: false },
    );
  }
}

/** A record without a number after numbered ones: it cannot be placed in the chain. */
export class UnnumberedRecordError extends ReplicationError {
  constructor(origin: ChainOrigin, offset: string) {
    super(
      `a record without a sequence number (header '${SEQUENCE_HEADER}') follows numbered records in topic '${origin.topic}' partition ${origin.partition} (database '${origin.database}') at offset ${offset}: ` +
        `it was not written by this version of dcsync's source. Run the same dcsync version at both datacenters; if nothing else writes to the topic, configure the sync again`,
      { retriable: false },
    );
  }
}

export function sequenceOf(headers: RawHeaders | undefined): bigint | undefined {
  const v = headerText(headers, SEQUENCE_HEADER);
  if (v === undefined) return undefined;
  if (!/^\d{1,19}$/.test(v)) return undefined;
  return BigInt(v);
}

/** What a record's check found: the chain's mark before and after it. */
export interface ChainStep {
  before: ChainMark;
  after: ChainMark;
}

/**
 * One partition's chain as the destination reads it. `check` is called for every record in the order read;
 * `resolved` when the consumer will not hand a record at or below that offset again, so that a window read again
 * (after a pause at a barrier) is checked from the mark of the point it restarts from, not from records read ahead.
 */
export class RecordChain {
  #mark: ChainMark;
  #lastOffset: bigint;
  #resolved: { offset: bigint; mark: ChainMark };
  /** Marks after each record read since the last resolved offset, in offset order. */
  #readAhead: { offset: bigint; mark: ChainMark }[] = [];

  /** `mark` is the mark stored with the resume offset `nextOffset` (null: reading from the partition's start). */
  constructor(
    readonly origin: ChainOrigin,
    mark: ChainMark,
    nextOffset: string | null,
  ) {
    this.#mark = mark;
    const before = nextOffset === null ? -1n : BigInt(nextOffset) - 1n;
    this.#lastOffset = before;
    this.#resolved = { offset: before, mark };
  }

  get mark(): ChainMark {
    return this.#mark;
  }

  check(offset: string, seq: bigint | undefined): ChainStep {
    const at = BigInt(offset);
    if (at <= this.#lastOffset) this.#rewind();
    const before = this.#mark;
    const after = this.#next(before, seq, offset);
    this.#mark = after;
    this.#lastOffset = at;
    this.#readAhead.push({ offset: at, mark: after });
    return { before, after };
  }

  /**
   * A fetched batch begins. Records read before and not resolved are handed again from the resolved point: the
   * chain goes back to its mark there, so that a record that vanished meanwhile (retention) is not counted as read.
   */
  beginBatch(): void {
    if (this.#readAhead.length > 0) this.#rewind();
  }

  /** Everything up to `offset` is consumed: a later read starts after it. */
  resolved(offset: string): void {
    const at = BigInt(offset);
    let i = 0;
    while (i < this.#readAhead.length && this.#readAhead[i]!.offset <= at) i++;
    if (i > 0) this.#resolved = { offset: at, mark: this.#readAhead[i - 1]!.mark };
    else if (at > this.#resolved.offset) this.#resolved = { offset: at, mark: this.#resolved.mark };
    this.#readAhead.splice(0, i);
  }

  #rewind(): void {
    this.#mark = this.#resolved.mark;
    this.#lastOffset = this.#resolved.offset;
    this.#readAhead = [];
  }

  #next(mark: ChainMark, seq: bigint | undefined, offset: string): ChainMark {
    if (seq === undefined) {
      if (mark === null || mark === CHAIN_START) return null; // a source that does not number its records
      throw new UnnumberedRecordError(this.origin, offset);
    }
    if (mark === null) return seq;
    if (seq > mark + 1n) throw new RecordGapError(this.origin, { from: mark + 1n, to: seq - 1n }, offset);
    return seq > mark ? seq : mark;
  }
}
