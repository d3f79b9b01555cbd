import { ReplicationError } from '../../core/errors.ts';
import type { Lsn } from '../../core/lsn.ts';
import type { RowChange, TableId } from '../../model/change.ts';
import type { PgOutputMessage } from '../../source/postgres/protocol/index.ts';
import { fnv1a } from '../../transport/topics.ts';
import { changeKey, encodeChangeRecord, type Barrier, type ChangeStreamRecord } from '../../transport/records.ts';
import type { ChangeSink } from '../../transport/sink.ts';
import { ChangeBuilder, isKeyChange } from './change-builder.ts';
import type { Checkpoint } from './checkpoint.ts';

/** PG epoch (2000-01-01) to Unix epoch, in microseconds. */
const PG_EPOCH_OFFSET_US = 946_684_800_000_000n;

interface OpenTx {
  finalLsn: Lsn;
  xid: number;
  commitTimeUs: bigint;
  index: number;
  /** Records held back until COMMIT so the last one per partition can carry the end-of-transaction flag; null once spilled. */
  held: { partition: number; record: ChangeStreamRecord }[] | null;
  touched: Set<number>;
  /** Consecutive key-changing updates, sent together as one barrier. */
  keyChanges: { first: number; changes: RowChange[] } | null;
}

export interface CaptureOptions {
  database: string;
  topic: string;
  partitions: number;
  sink: ChangeSink;
  checkpoint: Checkpoint;
  builder: ChangeBuilder;
  /** Transactions up to this many records are held until COMMIT; larger ones stream with bounded memory. */
  holdRecords?: number;
  /** Largest barrier group of key-changing updates. */
  maxBarrierChanges?: number;
}

/**
 * Maps one database's pgoutput stream onto the changes topic: rows to partitions by (table, key), per-row
 * order kept; changes every partition must see at the same point (truncate, key moves) as barriers; heartbeats
 * to every partition. Confirms to the checkpoint which sequence number ends which transaction.
 */
export class ChangeCapture {
  #tx: OpenTx | undefined;
  readonly #hold: number;
  readonly #maxBarrier: number;

  constructor(private readonly o: CaptureOptions) {
    this.#hold = o.holdRecords ?? 2000;
    this.#maxBarrier = o.maxBarrierChanges ?? 1000;
  }

  get inTransaction(): boolean {
    return this.#tx !== undefined;
  }

  handle(m: PgOutputMessage, walEnd: Lsn): void {
    switch (m.tag) {
      case 'begin':
        this.#tx = { finalLsn: m.finalLsn, xid: m.xid, commitTimeUs: m.commitTime + PG_EPOCH_OFFSET_US, index: 0, held: [], touched: new Set(), keyChanges: null };
        return;
      case 'relation':
        this.o.builder.onRelation(m, this.#tx?.finalLsn ?? walEnd);
        return;
      case 'insert':
      case 'update':
      case 'delete': {
        const tx = this.#requireTx(m.tag);
        const change = this.o.builder.build(m);
        if (!change) return;
        if (this.o.partitions > 1 && isKeyChange(change)) {
          if (!tx.keyChanges) tx.keyChanges = { first: tx.index, changes: [] };
          tx.keyChanges.changes.push(change);
          tx.index++;
          if (tx.keyChanges.changes.length >= this.#maxBarrier) this.#closeKeyChanges(tx);
          return;
        }
        this.#closeKeyChanges(tx);
        const partition = fnv1a(changeKey(change)) % this.o.partitions;
        this.#emit(tx, partition, { kind: 'change', pos: { lsn: tx.finalLsn, index: tx.index++ }, xid: tx.xid, commitTimeUs: tx.commitTimeUs, change, endOfTx: false });
        return;
      }
      case 'truncate': {
        const tx = this.#requireTx(m.tag);
        const tables: TableId[] = [];
        for (const id of m.relationIds) {
          const r = this.o.builder.tableOf(id);
          if (!r.internal) tables.push(r.table);
        }
        if (tables.length === 0) return;
        this.#closeKeyChanges(tx);
        this.#barrier(tx, tx.index++, { type: 'truncate', tables, cascade: m.cascade, restartIdentity: m.restartIdentity });
        return;
      }
      case 'commit': {
        const tx = this.#requireTx(m.tag);
        this.#closeKeyChanges(tx);
        if (tx.held) {
          const lastIn = new Map<number, number>();
          tx.held.forEach((h, i) => lastIn.set(h.partition, i));
          for (const [, i] of lastIn) {
            const h = tx.held[i]!;
            if (h.record.kind === 'change' || h.record.kind === 'barrier') h.record = { ...h.record, endOfTx: true };
          }
          for (const h of tx.held) this.o.sink.enqueue(this.o.topic, h.partition, encodeChangeRecord(this.o.database, h.record));
        } else {
          for (const p of tx.touched)
            this.o.sink.enqueue(this.o.topic, p, encodeChangeRecord(this.o.database, { kind: 'commit', pos: { lsn: tx.finalLsn, index: tx.index }, xid: tx.xid, commitTimeUs: tx.commitTimeUs }));
        }
        this.#tx = undefined;
        this.o.checkpoint.commit(this.#lastSeq(), m.endLsn);
        return;
      }
      case 'message': {
        if (m.prefix === 'dcsync.ddl' && m.transactional)
          throw new ReplicationError(`a structure change (DDL) was made at the source: ${m.content.toString()}; replicating DDL is not supported yet`);
        if (m.prefix === 'dcsync.heartbeat' && !m.transactional) {
          const nowUs = BigInt(Date.now()) * 1000n;
          for (let p = 0; p < this.o.partitions; p++)
            this.o.sink.enqueue(this.o.topic, p, encodeChangeRecord(this.o.database, { kind: 'heartbeat', pos: { lsn: m.lsn, index: 0 }, xid: 0, commitTimeUs: nowUs }));
          this.o.checkpoint.commit(this.#lastSeq(), m.lsn);
        }
        return;
      }
      case 'origin':
      case 'type':
        return;
      default:
        throw new ReplicationError(`unexpected pgoutput message '${m.tag}' (dcsync requests protocol 1 without streaming)`);
    }
  }

  #lastSeq(): number {
    return this.o.sink.lastEnqueued;
  }

  #requireTx(tag: string): OpenTx {
    if (!this.#tx) throw new ReplicationError(`pgoutput '${tag}' outside a transaction`);
    return this.#tx;
  }

  #closeKeyChanges(tx: OpenTx): void {
    if (!tx.keyChanges) return;
    const { first, changes } = tx.keyChanges;
    tx.keyChanges = null;
    this.#barrier(tx, first, { type: 'changes', changes });
  }

  #barrier(tx: OpenTx, index: number, barrier: Barrier): void {
    for (let p = 0; p < this.o.partitions; p++)
      this.#emit(tx, p, { kind: 'barrier', pos: { lsn: tx.finalLsn, index }, xid: tx.xid, commitTimeUs: tx.commitTimeUs, barrier, endOfTx: false });
  }

  #emit(tx: OpenTx, partition: number, record: ChangeStreamRecord): void {
    tx.touched.add(partition);
    if (tx.held) {
      tx.held.push({ partition, record });
      if (tx.held.length > this.#hold) {
        for (const h of tx.held) this.o.sink.enqueue(this.o.topic, h.partition, encodeChangeRecord(this.o.database, h.record));
        tx.held = null;
      }
      return;
    }
    this.o.sink.enqueue(this.o.topic, partition, encodeChangeRecord(this.o.database, record));
  }
}
