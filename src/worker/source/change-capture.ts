import { ReplicationError } from '../../core/errors.ts';
import type { Lsn } from '../../core/lsn.ts';
import type { RowChange, TableId } from '../../model/change.ts';
import type { PgOutputMessage } from '../../source/postgres/protocol/index.ts';
import { fnv1a } from '../../transport/topics.ts';
import { changeKey, encodeChangeBatch, type Barrier, type ChangeStreamRecord } from '../../transport/records.ts';
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
  /** Per partition, the transaction's newest entry while it still waits in the outbox (so it can be flagged as the end). */
  last: Map<number, ChangeStreamRecord | null>;
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
  /** A partition's entries go out as one Kafka record once this many wait (and at every flush). */
  maxBatchEntries?: number;
  /** Largest barrier group of key-changing updates. */
  maxBarrierChanges?: number;
}

/**
 * Maps one database's pgoutput stream onto the changes topic: rows to partitions by (table, key), per-row order
 * kept; changes every partition must see at the same point (truncates, key moves) as barriers; heartbeats to every
 * partition. Entries wait per partition and leave as one Kafka record per partition and flush (the stream loop
 * flushes whenever it has drained what the server sent), so a busy stream makes few, large records. A transaction
 * is confirmed to the checkpoint only with the sequence number of the last record holding its entries.
 */
export class ChangeCapture {
  #tx: OpenTx | undefined;
  /** The last transaction that carried changes: its commit LSN and time (status and lag). */
  lastData: { readonly lsn: Lsn; readonly commitTimeUs: bigint } | undefined;
  readonly #out: ChangeStreamRecord[][];
  /** Transaction ends (and heartbeats) whose entries are all in the outbox, to confirm at the next flush. */
  #ends: Lsn[] = [];
  readonly #maxBatch: number;
  readonly #maxBarrier: number;
  #pending = 0;

  constructor(private readonly o: CaptureOptions) {
    this.#out = Array.from({ length: o.partitions }, () => []);
    this.#maxBatch = o.maxBatchEntries ?? 2000;
    this.#maxBarrier = o.maxBarrierChanges ?? 1000;
  }

  get inTransaction(): boolean {
    return this.#tx !== undefined;
  }

  /** Entries waiting in the outbox for the next flush. */
  get pending(): number {
    return this.#pending;
  }

  handle(m: PgOutputMessage, walEnd: Lsn): void {
    switch (m.tag) {
      case 'begin':
        this.#tx = { finalLsn: m.finalLsn, xid: m.xid, commitTimeUs: m.commitTime + PG_EPOCH_OFFSET_US, index: 0, last: new Map(), keyChanges: null };
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
        const partition = this.o.partitions === 1 ? 0 : fnv1a(changeKey(change)) % this.o.partitions;
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
        if (tx.last.size > 0) this.lastData = { lsn: tx.finalLsn, commitTimeUs: tx.commitTimeUs };
        for (const [p, last] of tx.last) {
          if (last && (last.kind === 'change' || last.kind === 'barrier')) last.endOfTx = true;
          else this.#push(p, { kind: 'commit', pos: { lsn: tx.finalLsn, index: tx.index }, xid: tx.xid, commitTimeUs: tx.commitTimeUs });
        }
        this.#tx = undefined;
        this.#ends.push(m.endLsn);
        return;
      }
      case 'message': {
        if (m.prefix === 'dcsync.ddl' && m.transactional)
          throw new ReplicationError(`a structure change (DDL) was made at the source: ${m.content.toString()}; replicating DDL is not supported yet`);
        if (m.prefix === 'dcsync.heartbeat' && !m.transactional) {
          const nowUs = BigInt(Date.now()) * 1000n;
          for (let p = 0; p < this.o.partitions; p++) this.#push(p, { kind: 'heartbeat', pos: { lsn: m.lsn, index: 0 }, xid: 0, commitTimeUs: nowUs });
          this.#ends.push(m.lsn);
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

  /** Announces, between transactions, that a table stopped replicating: the destination marks it failed at this point. */
  failTable(table: TableId, reason: string, at: Lsn): void {
    if (this.#tx) throw new ReplicationError('failTable inside a transaction');
    const pos = { lsn: at, index: 2_000_000_000 };
    for (let p = 0; p < this.o.partitions; p++)
      this.#push(p, { kind: 'barrier', pos, xid: 0, commitTimeUs: BigInt(Date.now()) * 1000n, barrier: { type: 'table-failed', table, reason }, endOfTx: true });
    this.flush();
  }

  /** Sends every waiting entry, one record per partition, and confirms the transactions they complete. */
  flush(): void {
    for (let p = 0; p < this.o.partitions; p++) this.#flushPartition(p);
    if (this.#ends.length > 0) {
      const seq = this.o.sink.lastEnqueued;
      for (const lsn of this.#ends) this.o.checkpoint.commit(seq, lsn);
      this.#ends = [];
    }
  }

  #flushPartition(p: number): void {
    const entries = this.#out[p]!;
    if (entries.length === 0) return;
    this.o.sink.enqueue(this.o.topic, p, encodeChangeBatch(this.o.database, entries));
    this.#out[p] = [];
    this.#pending -= entries.length;
    // Entries that left can no longer be flagged: the transaction's end in this partition becomes a commit entry.
    if (this.#tx?.last.has(p)) this.#tx.last.set(p, null);
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

  #emit(tx: OpenTx, partition: number, entry: ChangeStreamRecord): void {
    const waiting = this.#push(partition, entry);
    tx.last.set(partition, entry);
    if (waiting >= this.#maxBatch) this.#flushPartition(partition);
  }

  /** Adds an entry to the partition's outbox; returns how many wait there. */
  #push(partition: number, entry: ChangeStreamRecord): number {
    this.#pending++;
    return this.#out[partition]!.push(entry);
  }
}
