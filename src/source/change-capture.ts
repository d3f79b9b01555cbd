import { ProtocolError, ReplicationError } from '../core/errors.ts';
import { lsnOfWords, type Lsn } from '../core/lsn.ts';
import type { RowChange, TableId } from '../model/change.ts';
import { MARKER_INDEX } from '../model/position.ts';
import { ColumnKind, hasValue, PgOutputDecoder, PgOutputTag, RowScan, TupleMarker, valueLength, type PgOutputMessage, type XLogData } from '../postgres/protocol/index.ts';
import { ChangeBatchWriter, EntryOrigin, type Barrier } from '../transport/record-format/index.ts';
import { KeyHash } from '../transport/partition-key.ts';
import type { ChangeSink } from '../transport/sink.ts';
import { ChangeBuilder, isKeyChange, type RelationInfo, type TableFailure } from './change-builder.ts';
import type { Checkpoint } from './checkpoint.ts';

/** In `OpenTx.last`: the partition has none of the transaction's entries / had some, but they left with a flush. */
const UNTOUCHED = -1;
const SENT = -2;

/** A pgoutput message inside a buffer, and its frame's walEnd (read only by the messages that need it). */
export type PgOutputBytes = Pick<XLogData, 'buf' | 'start' | 'end' | 'walEnd'>;

interface OpenTx {
  /** Its commit LSN, xid and commit time, as every entry of it carries them. */
  origin: EntryOrigin;
  index: number;
  /** Consecutive key-changing updates, sent together as one barrier. */
  keyChanges: { first: number; changes: RowChange[] } | null;
}

/** Prefix of the transactional logical message by which a source task stops a table at its place in the stream. */
export const TABLE_FAILED_PREFIX = 'dcsync.table-failed';

/** The content of a TABLE_FAILED_PREFIX message: which sync stops which table, and why. */
export interface TableFailedMessage {
  syncId: string;
  table: TableId;
  reason: string;
}

/**
 * Prefix of the non-transactional logical message by which `check sync` cuts the stream (check/source-cut.ts): it
 * enters the WAL after every commit to the checked tables that A's side of the check sees, and before any later one.
 */
export const CHECK_PREFIX = 'dcsync.check';

/** The content of a CHECK_PREFIX message. */
export interface CheckMarkerMessage {
  syncId: string;
  checkId: string;
}

export interface CaptureOptions {
  /** Only this sync's table-failed messages count (several syncs may read the same database). */
  syncId?: string;
  database: string;
  topic: string;
  partitions: number;
  sink: ChangeSink;
  checkpoint: Checkpoint;
  builder: ChangeBuilder;
  /** A partition's entries go out as one Kafka record once this many wait (and at every flush). */
  maxBatchEntries?: number;
  /** … or once they take this many bytes (before compression). */
  maxBatchBytes?: number;
  /** Largest barrier group of key-changing updates. */
  maxBarrierChanges?: number;
}

/**
 * Maps one database's pgoutput stream onto the changes topic: rows to partitions by (table, key), per-row order
 * kept; changes every partition must see at the same point (truncates, key moves) as barriers; heartbeats to every
 * partition. Entries wait per partition in a batch writer and leave as one Kafka record per partition and flush
 * (the stream loop flushes whenever it has drained what the server sent), so a busy stream makes few, large
 * records. A transaction is confirmed to the checkpoint only with the sequence number of the last record holding
 * its entries.
 *
 * Rows take a path without strings: the message is scanned where it lies, its key hashed from its bytes, and its
 * tuples copied into the batch (transport/record-format). Only key-changing updates, which become barriers, are decoded.
 */
export class ChangeCapture {
  #tx: OpenTx | undefined;
  /** The last transaction that carried changes: its commit LSN and time (status and lag), read when asked for. */
  lastData: { readonly lsn: Lsn; readonly commitTimeUs: bigint } | undefined;
  readonly #writers: ChangeBatchWriter[];
  /** Per partition, the flags offset of the open transaction's newest entry in its writer, or UNTOUCHED / SENT. */
  readonly #last: Int32Array;
  /**
   * The newest transaction end (or heartbeat) whose entries are all in the writers, to confirm at the next flush, as
   * two 32-bit halves (-1: none): a commit's end LSN becomes a bigint once per flush, not once per transaction.
   */
  #endHi = -1;
  #endLo = 0;
  readonly #maxBatch: number;
  readonly #maxBytes: number;
  readonly #maxBarrier: number;
  #pending = 0;
  readonly #decoder = new PgOutputDecoder();
  readonly #scan = new RowScan();
  readonly #hash = new KeyHash();

  constructor(private readonly o: CaptureOptions) {
    this.#writers = Array.from({ length: o.partitions }, () => new ChangeBatchWriter());
    this.#last = new Int32Array(o.partitions).fill(UNTOUCHED);
    this.#maxBatch = o.maxBatchEntries ?? 2000;
    this.#maxBytes = o.maxBatchBytes ?? 1024 * 1024;
    this.#maxBarrier = o.maxBarrierChanges ?? 1000;
  }

  get inTransaction(): boolean {
    return this.#tx !== undefined;
  }

  /** Entries waiting in the writers for the next flush. */
  get pending(): number {
    return this.#pending;
  }

  /**
   * One pgoutput message, `m.buf[m.start, m.end)`, as the walsender sent it, and its frame's walEnd. The buffer is not
   * kept: it may be reused once this returns.
   */
  handle(m: PgOutputBytes): void {
    const { buf, start, end } = m;
    const tag = buf[start];
    if (tag === PgOutputTag.Insert || tag === PgOutputTag.Update || tag === PgOutputTag.Delete) this.#row(buf, start, end);
    else if (tag === PgOutputTag.Begin) this.#begin(EntryOrigin.ofBegin(buf, start, end));
    else if (tag === PgOutputTag.Commit) this.#commit(buf, start, end);
    else this.#message(this.#decoder.decode(buf.subarray(start, end)), m.walEnd);
  }

  #begin(origin: EntryOrigin): void {
    this.#tx = { origin, index: 0, keyChanges: null };
    this.#last.fill(UNTOUCHED);
  }

  /** A pgoutput Commit (u8 'C', u8 flags, i64 commit LSN, i64 end LSN, i64 commit time). */
  #commit(buf: Buffer, start: number, end: number): void {
    if (end - start !== 26) throw new ProtocolError(`pgoutput Commit of ${end - start} bytes, expected 26`);
    const tx = this.#requireTx('commit');
    this.#closeKeyChanges(tx);
    let touched = false;
    for (let p = 0; p < this.o.partitions; p++) {
      const last = this.#last[p]!;
      if (last === UNTOUCHED) continue;
      touched = true;
      if (last >= 0) this.#writers[p]!.endTransactionAt(last);
      else this.#add(p, (w) => w.commit(tx.origin, tx.index));
    }
    // The origin reads its LSN and time only when the status asks.
    if (touched) this.lastData = tx.origin;
    this.#tx = undefined;
    this.#endAt(buf.readUInt32BE(start + 10), buf.readUInt32BE(start + 14));
  }

  #endAt(hi: number, lo: number): void {
    if (hi > this.#endHi || (hi === this.#endHi && lo > this.#endLo)) {
      this.#endHi = hi;
      this.#endLo = lo;
    }
  }

  #message(m: PgOutputMessage, walEnd: Lsn): void {
    switch (m.tag) {
      case 'relation': {
        const failure = this.o.builder.onRelation(m, this.#tx?.origin.lsn ?? walEnd);
        if (failure) this.#failInTransaction(this.#requireTx('relation'), failure);
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
      case 'message': {
        if (m.prefix === TABLE_FAILED_PREFIX && m.transactional) {
          const f = JSON.parse(m.content.toString()) as TableFailedMessage;
          if (f.syncId === this.o.syncId && this.o.builder.failTable(f.table)) this.#failInTransaction(this.#requireTx(m.tag), f);
          return;
        }
        if (m.prefix === 'dcsync.ddl' && m.transactional)
          throw new ReplicationError(`a structure change (DDL) was made at the source: ${m.content.toString()}; replicating DDL is not supported yet`);
        // Markers stand at their message's end LSN, below any change committing there (model/position.ts).
        if (m.prefix === 'dcsync.heartbeat' && !m.transactional) {
          const origin = EntryOrigin.of(m.lsn, 0, BigInt(Date.now()) * 1000n);
          for (let p = 0; p < this.o.partitions; p++) this.#add(p, (w) => w.heartbeat(origin));
          this.#endAt(origin.lsnHi, origin.lsnLo);
        }
        if (m.prefix === CHECK_PREFIX && !m.transactional) this.#checkMarker(m.content, m.lsn);
        return;
      }
      case 'origin':
      case 'type':
        return;
      case 'begin':
      case 'commit':
      case 'insert':
      case 'update':
      case 'delete':
        // handle() takes these by their bytes; a decoded one here would be a programming error.
        throw new ReplicationError(`pgoutput '${m.tag}' reached the message path`);
      default:
        throw new ReplicationError(`unexpected pgoutput message '${m.tag}' (dcsync requests protocol 1 without streaming)`);
    }
  }

  #row(data: Buffer, start: number, end: number): void {
    const s = this.#scan;
    s.scan(data, start, end);
    const tx = this.#requireTx(s.tag === PgOutputTag.Insert ? 'insert' : s.tag === PgOutputTag.Update ? 'update' : 'delete');
    const rel = this.o.builder.relation(s.relationId);
    if (rel.internal || !rel.source) return;
    if (s.binaryColumn >= 0)
      throw new ReplicationError(`table ${rel.table.schema}.${rel.table.name}: binary value in column ${rel.columns[s.binaryColumn]?.name}; dcsync requests text values`);
    let from: number;
    if (s.tag === PgOutputTag.Insert) from = s.newMarker;
    else if (s.tag === PgOutputTag.Delete) from = s.oldMarker;
    else if (s.oldMarker < 0) from = s.newMarker;
    else if (rel.change.fullIdentity) from = s.oldMarker;
    else if (keyDiffers(s, data, rel.change.keyIdx)) {
      // The rare path: decoded whole, as before. In parallel mode it is ordered against both keys' partitions.
      const change = this.o.builder.build(this.#decoder.decode(data.subarray(start, end)) as Extract<PgOutputMessage, { tag: 'update' }>);
      if (change && this.o.partitions > 1 && !rel.wholeTable && isKeyChange(change)) {
        if (!tx.keyChanges) tx.keyChanges = { first: tx.index, changes: [] };
        tx.keyChanges.changes.push(change);
        tx.index++;
        if (tx.keyChanges.changes.length >= this.#maxBarrier) this.#closeKeyChanges(tx);
        return;
      }
      from = s.oldMarker;
    } else {
      // Same key: the old tuple is needed only to fill unchanged TOAST values from a full old row.
      from = s.oldKind === TupleMarker.Old && s.newHasUnchanged ? s.oldMarker : s.newMarker;
    }
    this.#closeKeyChanges(tx);
    const p = this.o.partitions === 1 ? 0 : this.#partition(rel, data) % this.o.partitions;
    const w = this.#writers[p]!;
    this.#last[p] = w.row(tx.origin, tx.index++, rel.change, s.tag, data, from, end);
    this.#pending++;
    if (w.entries >= this.#maxBatch || w.bytes >= this.#maxBytes) this.#flushPartition(p);
  }

  /** The partition hash of the scanned row, equal to partition-key.ts's `changeKey` of its decoded change. */
  #partition(rel: RelationInfo, data: Buffer): number {
    if (rel.wholeTable) return rel.hash;
    const s = this.#scan;
    const h = this.#hash;
    h.begin(rel.hash);
    const fromOld = s.tag === PgOutputTag.Delete;
    for (const i of rel.change.keyIdx) {
      const at = keyColumnAt(s, data, i, fromOld);
      if (at < 0) h.null();
      else h.value(data, at + 5, at + 5 + valueLength(data, at));
    }
    return h.end();
  }

  /**
   * A table stops at this point of a transaction: a barrier every partition sees at a real change's position, after
   * the table's earlier changes and before anything later (its later changes are dropped: see ChangeBuilder).
   */
  #failInTransaction(tx: OpenTx, f: TableFailure): void {
    this.#closeKeyChanges(tx);
    this.#barrier(tx, tx.index++, { type: 'table-failed', table: f.table, reason: f.reason });
  }

  /** A check cut of this sync: a barrier in every partition at the marker's position (end LSN, MARKER_INDEX). */
  #checkMarker(content: Buffer, end: Lsn): void {
    const c = JSON.parse(content.toString()) as Partial<CheckMarkerMessage>;
    if (c.syncId !== this.o.syncId || typeof c.checkId !== 'string') return;
    const checkId = c.checkId;
    const origin = EntryOrigin.of(end, 0, BigInt(Date.now()) * 1000n);
    for (let p = 0; p < this.o.partitions; p++) this.#add(p, (w) => w.barrier(origin, MARKER_INDEX, { type: 'check', checkId }, false));
    this.#endAt(origin.lsnHi, origin.lsnLo);
  }

  /** Sends every waiting entry, one record per partition, and confirms the transactions they complete. */
  flush(): void {
    for (let p = 0; p < this.o.partitions; p++) this.#flushPartition(p);
    if (this.#endHi >= 0) {
      // Every end since the last flush is in records up to this sequence number: confirming the newest covers them.
      this.o.checkpoint.commit(this.o.sink.lastEnqueued, lsnOfWords(this.#endHi, this.#endLo));
      this.#endHi = -1;
    }
  }

  #flushPartition(p: number): void {
    const w = this.#writers[p]!;
    if (w.entries === 0) return;
    this.#pending -= w.entries;
    this.o.sink.enqueue(this.o.topic, p, w.toRecord(this.o.database));
    // Entries that left can no longer be flagged: the transaction's end in this partition becomes a commit entry.
    if (this.#tx && this.#last[p]! >= 0) this.#last[p] = SENT;
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
    for (let p = 0; p < this.o.partitions; p++) {
      const w = this.#writers[p]!;
      this.#last[p] = w.barrier(tx.origin, index, barrier, false);
      this.#pending++;
      if (w.entries >= this.#maxBatch || w.bytes >= this.#maxBytes) this.#flushPartition(p);
    }
  }

  /** An entry outside the flow of row changes (commit, heartbeat, table failure). */
  #add(p: number, write: (w: ChangeBatchWriter) => void): void {
    write(this.#writers[p]!);
    this.#pending++;
  }
}

/**
 * Offset of key column `i` of the scanned row, or -1 for NULL: the new tuple's value (for a delete, the old one's),
 * an unchanged TOAST value taken from a full old row ('O') as ChangeBuilder does, else NULL.
 */
function keyColumnAt(s: RowScan, data: Buffer, i: number, fromOld: boolean): number {
  if (fromOld) {
    const at = i < s.oldCount ? s.oldCols[i]! : -1;
    return at >= 0 && hasValue(data, at) ? at : -1;
  }
  const at = i < s.newCount ? s.newCols[i]! : -1;
  if (at >= 0 && hasValue(data, at)) return at;
  if (at >= 0 && data[at] === ColumnKind.Unchanged && s.oldKind === TupleMarker.Old && i < s.oldCount) {
    const old = s.oldCols[i]!;
    if (hasValue(data, old)) return old;
  }
  return -1;
}

/** Whether an update's old key differs from its new one, compared as ChangeBuilder compares the decoded values. */
function keyDiffers(s: RowScan, data: Buffer, keyIdx: readonly number[]): boolean {
  for (const i of keyIdx) {
    const oldAt = i < s.oldCount && hasValue(data, s.oldCols[i]!) ? s.oldCols[i]! : -1;
    const newAt = keyColumnAt(s, data, i, false);
    if (oldAt < 0 || newAt < 0) {
      if (oldAt >= 0 || newAt >= 0) return true;
      continue;
    }
    const len = valueLength(data, oldAt);
    if (len !== valueLength(data, newAt)) return true;
    if (data.compare(data, oldAt + 5, oldAt + 5 + len, newAt + 5, newAt + 5 + len) !== 0) return true;
  }
  return false;
}
