/** Writes change batches (the format: layout.ts). */
import { formatLsn } from '../../core/lsn.ts';
import { withRoom } from '../../core/grow.ts';
import type { RowChange, TableId, Value } from '../../model/change.ts';
import { MARKER_INDEX } from '../../model/position.ts';
import { ColumnKind, PgOutputTag, TupleMarker } from '../../postgres/protocol/index.ts';
import { barrierToJson } from './barrier-json.ts';
import { compressBody, H, type KafkaRecord } from './envelope.ts';
import { END_OF_TX, EntryKind, FORMAT_3, ORIGIN, type RelationJson } from './layout.ts';
import { EntryOrigin } from './origin.ts';
import type { Barrier, ChangeStreamRecord } from './stream-records.ts';

/** A table as the changes of a batch refer to it. The writer lists each object once per batch (compared by identity). */
export interface BatchRelation {
  readonly table: TableId;
  readonly keyColumns: readonly string[];
  readonly columns: readonly string[];
  readonly fullIdentity: boolean;
}


/**
 * Appends entries to one growing buffer, to become one Kafka record. `row` copies a row's pgoutput bytes;
 * entries return the offset of their flags byte so that the end of a transaction can be flagged on the entry
 * already written (`endTransactionAt`) while it is still in this batch.
 */
export class ChangeBatchWriter {
  #buf: Buffer;
  #len = 1;
  #count = 0;
  readonly #relations = new Map<BatchRelation, number>();
  /** Of the previous entry (the last one's, when the record is made): an entry with the same origin does not repeat it. */
  #origin: EntryOrigin | undefined;
  #first: EntryOrigin | undefined;
  #firstIndex = 0;
  #lastIndex = 0;

  constructor(initialBytes = 64 * 1024) {
    this.#buf = Buffer.allocUnsafe(Math.max(initialBytes, 64));
    this.#buf[0] = FORMAT_3;
  }

  /** Entries written (relations not counted). */
  get entries(): number {
    return this.#count;
  }

  get bytes(): number {
    return this.#len;
  }

  /** A change whose row data is `src[from, to)`: pgoutput's bytes after the relation id; `op` its PgOutputTag (Insert, Update or Delete). */
  row(origin: EntryOrigin, index: number, rel: BatchRelation, op: number, src: Buffer, from: number, to: number): number {
    const r = this.#relation(rel);
    const flags = this.#head(EntryKind.Change, index, origin, 7 + to - from);
    const buf = this.#buf;
    let p = this.#len;
    buf[p] = r >>> 8;
    buf[p + 1] = r & 0xff;
    buf[p + 2] = op;
    buf.writeUInt32BE(to - from, p + 3);
    p += 7;
    src.copy(buf, p, from, to);
    this.#len = p + (to - from);
    return flags;
  }

  /** A domain change (tests and tools; the source forwards bytes with `row`). */
  change(origin: EntryOrigin, index: number, c: RowChange, endOfTx: boolean): void {
    const rel = this.#domainRelation(c);
    const data = encodeRowData(c, rel);
    const flags = this.row(origin, index, rel, c.op === 'insert' ? PgOutputTag.Insert : c.op === 'update' ? PgOutputTag.Update : PgOutputTag.Delete, data, 0, data.length);
    if (endOfTx) this.endTransactionAt(flags);
  }

  barrier(origin: EntryOrigin, index: number, barrier: Barrier, endOfTx: boolean): number {
    const json = Buffer.from(JSON.stringify(barrierToJson(barrier)));
    const flags = this.#head(EntryKind.Barrier, index, origin, 4 + json.length);
    this.#buf.writeUInt32BE(json.length, this.#len);
    json.copy(this.#buf, this.#len + 4);
    this.#len += 4 + json.length;
    if (endOfTx) this.endTransactionAt(flags);
    return flags;
  }

  commit(origin: EntryOrigin, index: number): void {
    this.endTransactionAt(this.#head(EntryKind.Commit, index, origin, 0));
  }

  /** A heartbeat's origin: its message's end LSN, xid 0, the time it was read; its index is MARKER_INDEX. */
  heartbeat(origin: EntryOrigin): void {
    this.endTransactionAt(this.#head(EntryKind.Heartbeat, MARKER_INDEX, origin, 0));
  }

  endTransactionAt(flagsOffset: number): void {
    this.#buf[flagsOffset] = this.#buf[flagsOffset]! | END_OF_TX;
  }

  /** The batch as a Kafka record; the writer starts empty again. */
  toRecord(database: string): KafkaRecord {
    const first = this.#first;
    const last = this.#origin;
    if (this.#count === 0 || !first || !last) throw new RangeError('empty change batch');
    const headers: Record<string, string> = {};
    const record: KafkaRecord = {
      key: null,
      value: compressBody(this.#buf.subarray(0, this.#len), headers),
      headers: {
        ...headers,
        [H.db]: database,
        [H.kind]: 'batch',
        [H.lsn]: formatLsn(first.lsn),
        [H.idx]: String(this.#firstIndex),
        [H.xid]: String(first.xid),
        [H.ts]: first.commitTimeUs.toString(),
        [H.last]: `${formatLsn(last.lsn)}:${this.#lastIndex}:${this.#count}`,
      },
    };
    this.#len = 1;
    this.#count = 0;
    this.#relations.clear();
    this.#domain?.clear();
    this.#origin = undefined;
    this.#first = undefined;
    return record;
  }

  /** Writes an entry's kind, flags, index and (when it changed) origin; returns the offset of its flags byte. */
  #head(kind: number, index: number, origin: EntryOrigin, payload: number): number {
    const sameOrigin = this.#origin !== undefined && this.#origin.sameAs(origin);
    this.#ensure(6 + (sameOrigin ? 0 : 20) + payload);
    const buf = this.#buf;
    const at = this.#len;
    buf[at] = kind;
    buf[at + 1] = sameOrigin ? 0 : ORIGIN;
    buf.writeInt32BE(index, at + 2);
    let p = at + 6;
    if (!sameOrigin) {
      origin.writeTo(buf, p);
      p += 20;
      this.#origin = origin;
    }
    this.#len = p;
    if (this.#count === 0) {
      this.#first = origin;
      this.#firstIndex = index;
    }
    this.#lastIndex = index;
    this.#count++;
    return at + 1;
  }

  #relation(rel: BatchRelation): number {
    const known = this.#relations.get(rel);
    if (known !== undefined) return known;
    const index = this.#relations.size;
    if (index > 0xffff) throw new RangeError('more than 65536 relations in one change batch');
    const json: RelationJson = [rel.table.schema, rel.table.name, rel.keyColumns, rel.columns, rel.fullIdentity ? 1 : 0];
    const bytes = Buffer.from(JSON.stringify(json));
    this.#ensure(5 + bytes.length);
    this.#buf[this.#len] = EntryKind.Relation;
    this.#buf.writeUInt32BE(bytes.length, this.#len + 1);
    bytes.copy(this.#buf, this.#len + 5);
    this.#len += 5 + bytes.length;
    this.#relations.set(rel, index);
    return index;
  }

  #domain: Map<string, BatchRelation> | undefined;

  #domainRelation(c: RowChange): BatchRelation {
    // A delete names no columns: its relation's columns are its key columns.
    const columns = c.op === 'delete' ? c.keyColumns : c.columns;
    const k = JSON.stringify([c.table.schema, c.table.name, c.keyColumns, columns, c.fullIdentity]);
    this.#domain ??= new Map();
    let rel = this.#domain.get(k);
    if (!rel) this.#domain.set(k, (rel = { table: c.table, keyColumns: c.keyColumns, columns, fullIdentity: c.fullIdentity }));
    return rel;
  }

  #ensure(more: number): void {
    this.#buf = withRoom(this.#buf, this.#len, more);
  }
}

/** Row data for a domain change: old values as a 'K' tuple (key columns filled, others NULL), never filled from. */
function encodeRowData(c: RowChange, rel: BatchRelation): Buffer {
  const parts: Buffer[] = [];
  const tuple = (values: readonly (Value | undefined)[], unchanged: readonly number[] = []): void => {
    const head = Buffer.alloc(2);
    head.writeUInt16BE(values.length);
    parts.push(head);
    values.forEach((v, i) => {
      if (unchanged.includes(i)) parts.push(Buffer.from([ColumnKind.Unchanged]));
      else if (v === null || v === undefined) parts.push(Buffer.from([ColumnKind.Null]));
      else {
        const bytes = Buffer.from(v, 'utf8');
        const h = Buffer.alloc(5);
        h[0] = ColumnKind.Text;
        h.writeInt32BE(bytes.length, 1);
        parts.push(h, bytes);
      }
    });
  };
  const oldTuple = (oldKey: readonly Value[]): void => {
    const values = new Array<Value>(rel.columns.length).fill(null);
    rel.keyColumns.forEach((k, i) => (values[rel.columns.indexOf(k)] = oldKey[i] ?? null));
    parts.push(Buffer.from([TupleMarker.Key]));
    tuple(values);
  };
  if (c.op === 'delete') oldTuple(c.oldKey);
  else {
    if (c.op === 'update' && c.oldKey) oldTuple(c.oldKey);
    parts.push(Buffer.from([TupleMarker.New]));
    tuple(c.values, c.op === 'update' ? c.unchanged : []);
  }
  return Buffer.concat(parts);
}

/** Encodes domain entries as one record (tests and tools). */
export function encodeChangeBatch(database: string, entries: readonly ChangeStreamRecord[]): KafkaRecord {
  const w = new ChangeBatchWriter();
  for (const e of entries) {
    const origin = EntryOrigin.of(e.pos.lsn, e.xid, e.commitTimeUs);
    switch (e.kind) {
      case 'change':
        w.change(origin, e.pos.index, e.change, e.endOfTx);
        break;
      case 'barrier':
        w.barrier(origin, e.pos.index, e.barrier, e.endOfTx);
        break;
      case 'commit':
        w.commit(origin, e.pos.index);
        break;
      case 'heartbeat':
        if (e.pos.index !== MARKER_INDEX || e.xid !== 0) throw new RangeError(`a heartbeat has index ${MARKER_INDEX} and xid 0`);
        w.heartbeat(origin);
        break;
    }
  }
  return w.toRecord(database);
}
