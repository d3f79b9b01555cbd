/**
 * Change batches, format 3: many entries of one partition in one Kafka record, in a binary body whose row data
 * has the layout of pgoutput's, so the source forwards a row's bytes as the walsender sent them (no strings, no
 * JSON) and the destination reads the values once.
 *
 *   body    := 0x03 entry*                                  (compressed when 1 kB or more: records.ts compressBody)
 *   entry   := 'r' u32 len json                             a relation: [schema, name, keyColumns, columns, full];
 *                                                           the n-th 'r' of a body is relation n
 *            | 'c' flags i32 index [origin] u16 rel u8 op u32 len rowdata
 *            | 'b' flags i32 index [origin] u32 len json    a barrier (records.ts barrierToJson)
 *            | 'm' flags i32 index [origin]                 the end of a transaction in this partition
 *            | 'h' flags i32 index [origin]                 a heartbeat
 *   flags   := 1 end of transaction | 2 origin follows: u64 commit LSN, u32 xid, i64 commit time (µs since
 *              the Unix epoch); without 2 the entry has the previous entry's origin
 *   op      := 'I' | 'U' | 'D'
 *   rowdata := as in pgoutput after the relation id: insert `'N' tuple`, update `['K'|'O' tuple] 'N' tuple`,
 *              delete `('K'|'O') tuple`; tuple := i16 count, per column 'n' | 'u' | 't' i32 len UTF-8 bytes
 *
 * Integers are big-endian. An index is -1 (MARKER_INDEX) for markers (heartbeats, table failures), else ≥ 0: see
 * model/position.ts; a heartbeat is read at MARKER_INDEX whatever index it carries (older writers wrote 0).
 * Integers other than indexes are unsigned. Values are PostgreSQL's text form. An update carries its old tuple only where the
 * destination needs it: identity of the whole row, a key that changed, or 'O' values for unchanged TOAST columns.
 * Decoding yields the same RowChanges as ChangeBuilder builds from the decoded pgoutput message.
 */
import { ProtocolError } from '../../core/errors.ts';
import { formatLsn, lsnOfWords, type Lsn } from '../../core/lsn.ts';
import { utf8 } from '../../core/utf8.ts';
import type { Cells, EncodedChange, RowChange, TableId, Value } from '../../model/change.ts';
import { MARKER_INDEX, markerPosition } from '../../model/position.ts';
import { barrierFromJson, barrierToJson, compressBody, decodeChangeBatchJson, decompressBody, H, headerText, type Barrier, type ChangeStreamRecord, type KafkaRecord, type RawHeaders } from './envelope.ts';
import { withRoom } from '../../core/grow.ts';
import { PG_EPOCH_MS } from '../../core/time.ts';

export const FORMAT_3 = 0x03;

const enum Kind {
  Relation = 0x72 /* r */,
  Change = 0x63 /* c */,
  Barrier = 0x62 /* b */,
  Commit = 0x6d /* m */,
  Heartbeat = 0x68 /* h */,
}

const END_OF_TX = 1;
const ORIGIN = 2;

const enum Op {
  Insert = 0x49 /* I */,
  Update = 0x55 /* U */,
  Delete = 0x44 /* D */,
}

const enum Col {
  Null = 0x6e /* n */,
  Unchanged = 0x75 /* u */,
  Text = 0x74 /* t */,
}

const MARK_NEW = 0x4e; /* N */
/** Starts of a NULL and of an unchanged TOAST value in the byte ranges of a tuple (EncodedRow). */
const NULL_VALUE = -1;
const UNCHANGED = -2;
const MARK_KEY = 0x4b; /* K */
const MARK_OLD = 0x4f; /* O */

/** A table as the changes of a batch refer to it. The writer lists each object once per batch (compared by identity). */
export interface BatchRelation {
  readonly table: TableId;
  readonly keyColumns: readonly string[];
  readonly columns: readonly string[];
  readonly fullIdentity: boolean;
}

type RelationJson = [string, string, readonly string[], readonly string[], 0 | 1];

/**
 * Where entries come from: a transaction's commit LSN, xid and commit time (µs since the Unix epoch), as the five
 * big-endian 32-bit words an entry carries them in. Made once per transaction on the stream's hot path: no Buffer,
 * no BigInt until `lsn` or `commitTimeUs` is read.
 */
export class EntryOrigin {
  #lsn: Lsn | undefined;
  #commitTimeUs: bigint | undefined;

  private constructor(
    readonly lsnHi: number,
    readonly lsnLo: number,
    readonly xid: number,
    readonly timeHi: number,
    readonly timeLo: number,
  ) {}

  static of(lsn: Lsn, xid: number, commitTimeUs: bigint): EntryOrigin {
    if (BigInt.asIntN(64, commitTimeUs) !== commitTimeUs) throw new RangeError(`commit time ${commitTimeUs} µs is not a 64-bit integer`);
    const t = BigInt.asUintN(64, commitTimeUs);
    const o = new EntryOrigin(Number(lsn >> 32n), Number(lsn & 0xffff_ffffn), xid >>> 0, Number(t >> 32n), Number(t & 0xffff_ffffn));
    o.#lsn = lsn;
    o.#commitTimeUs = commitTimeUs;
    return o;
  }

  /**
   * The origin of a transaction from its pgoutput Begin message `buf[start, end)` (u8 'B', i64 final LSN, i64 commit
   * time in µs since 2000-01-01, u32 xid), without BigInt arithmetic.
   */
  static ofBegin(buf: Buffer, start = 0, end = buf.length): EntryOrigin {
    if (end - start !== 21) throw new ProtocolError(`pgoutput Begin of ${end - start} bytes, expected 21`);
    // µs since 2000 → since 1970. Exact as a double while below 2^53 µs (the year 2255).
    const us = buf.readInt32BE(start + 9) * 0x1_0000_0000 + buf.readUInt32BE(start + 13) + PG_EPOCH_OFFSET_US;
    if (!Number.isSafeInteger(us) || us < 0)
      return EntryOrigin.of(buf.readBigUInt64BE(start + 1) as Lsn, buf.readUInt32BE(start + 17), buf.readBigInt64BE(start + 9) + BigInt(PG_EPOCH_OFFSET_US));
    return new EntryOrigin(buf.readUInt32BE(start + 1), buf.readUInt32BE(start + 5), buf.readUInt32BE(start + 17), Math.floor(us / 0x1_0000_0000), us % 0x1_0000_0000);
  }

  get lsn(): Lsn {
    return (this.#lsn ??= lsnOfWords(this.lsnHi, this.lsnLo));
  }

  get commitTimeUs(): bigint {
    return (this.#commitTimeUs ??= BigInt.asIntN(64, (BigInt(this.timeHi) << 32n) | BigInt(this.timeLo)));
  }

  /** Writes the 20 bytes of an entry's origin at `buf[at]`. */
  writeTo(buf: Buffer, at: number): void {
    buf.writeUInt32BE(this.lsnHi, at);
    buf.writeUInt32BE(this.lsnLo, at + 4);
    buf.writeUInt32BE(this.xid, at + 8);
    buf.writeUInt32BE(this.timeHi, at + 12);
    buf.writeUInt32BE(this.timeLo, at + 16);
  }

  sameAs(o: EntryOrigin): boolean {
    return this === o || (this.lsnLo === o.lsnLo && this.lsnHi === o.lsnHi && this.xid === o.xid && this.timeLo === o.timeLo && this.timeHi === o.timeHi);
  }
}

/** Microseconds from the Unix epoch to PostgreSQL's (2000-01-01). */
const PG_EPOCH_OFFSET_US = PG_EPOCH_MS * 1000;

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

  /** A change whose row data is `src[from, to)`: pgoutput's bytes after the relation id (see the format above). */
  row(origin: EntryOrigin, index: number, rel: BatchRelation, op: number, src: Buffer, from: number, to: number): number {
    const r = this.#relation(rel);
    const flags = this.#head(Kind.Change, index, origin, 7 + to - from);
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
    const flags = this.row(origin, index, rel, c.op === 'insert' ? Op.Insert : c.op === 'update' ? Op.Update : Op.Delete, data, 0, data.length);
    if (endOfTx) this.endTransactionAt(flags);
  }

  barrier(origin: EntryOrigin, index: number, barrier: Barrier, endOfTx: boolean): number {
    const json = Buffer.from(JSON.stringify(barrierToJson(barrier)));
    const flags = this.#head(Kind.Barrier, index, origin, 4 + json.length);
    this.#buf.writeUInt32BE(json.length, this.#len);
    json.copy(this.#buf, this.#len + 4);
    this.#len += 4 + json.length;
    if (endOfTx) this.endTransactionAt(flags);
    return flags;
  }

  commit(origin: EntryOrigin, index: number): void {
    this.endTransactionAt(this.#head(Kind.Commit, index, origin, 0));
  }

  /** A heartbeat's origin: its message's end LSN, xid 0, the time it was read; its index is MARKER_INDEX. */
  heartbeat(origin: EntryOrigin): void {
    this.endTransactionAt(this.#head(Kind.Heartbeat, MARKER_INDEX, origin, 0));
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
    this.#buf[this.#len] = Kind.Relation;
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
      if (unchanged.includes(i)) parts.push(Buffer.from('u'));
      else if (v === null || v === undefined) parts.push(Buffer.from('n'));
      else {
        const bytes = Buffer.from(v, 'utf8');
        const h = Buffer.alloc(5);
        h[0] = Col.Text;
        h.writeInt32BE(bytes.length, 1);
        parts.push(h, bytes);
      }
    });
  };
  const oldTuple = (oldKey: readonly Value[]): void => {
    const values = new Array<Value>(rel.columns.length).fill(null);
    rel.keyColumns.forEach((k, i) => (values[rel.columns.indexOf(k)] = oldKey[i] ?? null));
    parts.push(Buffer.from([MARK_KEY]));
    tuple(values);
  };
  if (c.op === 'delete') oldTuple(c.oldKey);
  else {
    if (c.op === 'update' && c.oldKey) oldTuple(c.oldKey);
    parts.push(Buffer.from([MARK_NEW]));
    tuple(c.values, c.op === 'update' ? c.unchanged : []);
  }
  return Buffer.concat(parts);
}

/** Entries in enqueue order as domain records, from a record of any format (1 and 2 are JSON: records.ts). */
export function decodeChangeBatch(headers: RawHeaders | undefined, value: Buffer | null): ChangeStreamRecord[] {
  const entries = readChangeBatch(headers, value);
  for (const e of entries) if (e.kind === 'change' && e.change instanceof EncodedRow) e.change = e.change.decode();
  return entries as ChangeStreamRecord[];
}

/** As decodeChangeBatch, but the changes of a format-3 body stay encoded (their values are read when needed). */
export function readChangeBatch(headers: RawHeaders | undefined, value: Buffer | null): ChangeStreamRecord<RowChange | EncodedChange>[] {
  const kind = headerText(headers, H.kind);
  if (kind === undefined) throw new ProtocolError(`record lacks header '${H.kind}'`);
  if (kind !== 'batch') throw new ProtocolError(`unknown change record kind '${kind}'`);
  const body = decompressBody(headers, value);
  return body.length > 0 && body[0] === FORMAT_3 ? new BatchReader(body).entries() : decodeChangeBatchJson(body);
}

/** A table as a row change is derived for it: `keyIdx` is the position of each key column in `columns`. */
export interface ChangeRelation {
  readonly table: TableId;
  readonly keyColumns: readonly string[];
  readonly columns: readonly string[];
  readonly fullIdentity: boolean;
  readonly keyIdx: readonly number[];
}

/**
 * The RowChange of one pgoutput row, from its tuples' values (unchanged TOAST and NULL both as null; `unchanged`
 * lists the new tuple's unchanged TOAST columns). The one derivation shared by the source's ChangeBuilder (decoded
 * messages) and the destination's batch reader (format-3 row data): unchanged values are taken from a full old row
 * ('O') where it has them; an update names its old key only when the key changed or the identity is the whole row.
 */
export function rowChangeOf(
  rel: ChangeRelation,
  op: 'insert' | 'update' | 'delete',
  values: Value[] | undefined,
  unchanged: readonly number[],
  oldKind: 'K' | 'O' | undefined,
  old: readonly Value[] | undefined,
): RowChange {
  const { table, keyColumns, fullIdentity, columns, keyIdx } = rel;
  if (op === 'delete') {
    if (!old) throw new ProtocolError(`delete without old values (${table.schema}.${table.name})`);
    return { op: 'delete', table, keyColumns, fullIdentity, oldKey: pick(old, keyIdx) };
  }
  if (!values) throw new ProtocolError(`${op} without new values (${table.schema}.${table.name})`);
  if (op === 'insert') return { op: 'insert', table, keyColumns, fullIdentity, columns, values };
  const kept: number[] = [];
  for (const i of unchanged) {
    // With REPLICA IDENTITY FULL the old row carries the value: use it and keep the update whole.
    const o = oldKind === 'O' ? old?.[i] : undefined;
    if (o !== undefined && o !== null) values[i] = o;
    else kept.push(i);
  }
  if (!old) return { op: 'update', table, keyColumns, fullIdentity, columns, values, unchanged: kept };
  const oldKey = pick(old, keyIdx);
  if (!fullIdentity) {
    let same = true;
    for (let k = 0; k < keyIdx.length; k++) if (oldKey[k] !== values[keyIdx[k]!]) same = false;
    if (same) return { op: 'update', table, keyColumns, fullIdentity, columns, values, unchanged: kept };
  }
  return { op: 'update', table, keyColumns, fullIdentity, columns, values, unchanged: kept, oldKey };
}

/** Reads a format-3 body. Every change of a relation shares its TableId and column arrays. */
class BatchReader {
  #p = 1;
  readonly #relations: ChangeRelation[] = [];
  readonly #tables = new Map<string, TableId>();
  #lsn = 0n as Lsn;
  #xid = 0;
  #ts = 0n;

  constructor(private readonly buf: Buffer) {}

  entries(): ChangeStreamRecord<EncodedRow>[] {
    const buf = this.buf;
    const out: ChangeStreamRecord<EncodedRow>[] = [];
    let seenOrigin = false;
    while (this.#p < buf.length) {
      const kind = buf[this.#p]!;
      if (kind === Kind.Relation) {
        this.#relation();
        continue;
      }
      this.#need(6);
      const flags = buf[this.#p + 1]!;
      const index = buf.readInt32BE(this.#p + 2);
      this.#p += 6;
      if (flags & ORIGIN) {
        this.#need(20);
        this.#lsn = buf.readBigUInt64BE(this.#p) as Lsn;
        this.#xid = buf.readUInt32BE(this.#p + 8);
        this.#ts = buf.readBigInt64BE(this.#p + 12);
        this.#p += 20;
        seenOrigin = true;
      } else if (!seenOrigin) throw new ProtocolError('change batch: the first entry has no origin');
      const pos = { lsn: this.#lsn, index };
      const xid = this.#xid;
      const commitTimeUs = this.#ts;
      const endOfTx = (flags & END_OF_TX) !== 0;
      switch (kind) {
        case Kind.Change:
          out.push({ kind: 'change', pos, xid, commitTimeUs, endOfTx, change: this.#change() });
          break;
        case Kind.Barrier: {
          const len = this.#u32();
          this.#need(len);
          const json = JSON.parse(utf8(buf, this.#p, this.#p + len)) as { type: string };
          this.#p += len;
          out.push({ kind: 'barrier', pos, xid, commitTimeUs, endOfTx, barrier: barrierFromJson(json) });
          break;
        }
        case Kind.Commit:
          out.push({ kind: 'commit', pos, xid, commitTimeUs });
          break;
        case Kind.Heartbeat:
          out.push({ kind: 'heartbeat', pos: markerPosition(pos.lsn), xid, commitTimeUs });
          break;
        default:
          throw new ProtocolError(`change batch: unknown entry kind 0x${kind.toString(16)} at offset ${this.#p - 6}`);
      }
    }
    return out;
  }

  #relation(): void {
    this.#p++;
    const len = this.#u32();
    this.#need(len);
    const [schema, name, keyColumns, columns, full] = JSON.parse(utf8(this.buf, this.#p, this.#p + len)) as RelationJson;
    this.#p += len;
    const k = schema + '\u0000' + name;
    let table = this.#tables.get(k);
    if (!table) this.#tables.set(k, (table = { schema, name }));
    const keyIdx = keyColumns.map((c) => columns.indexOf(c));
    if (keyIdx.includes(-1)) throw new ProtocolError(`change batch: relation ${schema}.${name} lists key columns that are not among its columns`);
    this.#relations.push({ table, keyColumns, columns, fullIdentity: full === 1, keyIdx });
  }

  #change(): EncodedRow {
    this.#need(7);
    const buf = this.buf;
    const relIndex = (buf[this.#p]! << 8) | buf[this.#p + 1]!;
    const op = buf[this.#p + 2]!;
    const len = buf.readUInt32BE(this.#p + 3);
    this.#p += 7;
    this.#need(len);
    const start = this.#p;
    this.#p += len;
    const rel = this.#relations[relIndex];
    if (rel === undefined) throw new ProtocolError(`change refers to relation ${relIndex}, the batch lists ${this.#relations.length}`);
    if (op !== Op.Insert && op !== Op.Update && op !== Op.Delete) throw new ProtocolError(`change batch: unknown op 0x${op.toString(16)}`);
    return new EncodedRow(rel, op === Op.Insert ? 'insert' : op === Op.Update ? 'update' : 'delete', buf, start, this.#p);
  }

  #u32(): number {
    this.#need(4);
    const v = this.buf.readUInt32BE(this.#p);
    this.#p += 4;
    return v;
  }

  #need(n: number): void {
    if (this.buf.length - this.#p < n) throw this.#truncated();
  }

  #truncated(): ProtocolError {
    return new ProtocolError(`change batch truncated at offset ${this.#p} (${this.buf.length} bytes)`);
  }
}

/**
 * A change of a format-3 body, its row data `buf[start, end)` read only when asked: `decode` mirrors
 * ChangeBuilder.build (same values, unchanged list and old key for the same pgoutput message), `cells` gives the
 * values' byte ranges without making strings.
 */
export class EncodedRow implements EncodedChange {
  constructor(
    readonly relation: ChangeRelation,
    readonly op: 'insert' | 'update' | 'delete',
    private readonly buf: Buffer,
    private readonly start: number,
    private readonly end: number,
  ) {}

  get table(): TableId {
    return this.relation.table;
  }
  get keyColumns(): readonly string[] {
    return this.relation.keyColumns;
  }
  get columns(): readonly string[] {
    return this.relation.columns;
  }
  get fullIdentity(): boolean {
    return this.relation.fullIdentity;
  }
  get keyIdx(): readonly number[] {
    return this.relation.keyIdx;
  }

  cells(): Cells | undefined {
    const p = this.start;
    const marker = this.buf[p];
    const hasOld = marker === MARK_KEY || marker === MARK_OLD;
    if (this.op !== 'delete') {
      if (hasOld) {
        if (this.op === 'update') return undefined;
        throw this.#error('insert with old values');
      }
      if (marker !== MARK_NEW) throw this.#error('expected a new tuple');
    } else if (!hasOld) throw this.#error('delete without old values');
    const [ranges, end] = this.#tuple(p + 1);
    if (end !== this.end) throw this.#error(`unread bytes after the ${this.op === 'delete' ? 'old' : 'new'} row`);
    const width = this.relation.columns.length;
    if (ranges.length !== 2 * width) throw this.#error(`${ranges.length / 2} values for ${width} columns`);
    for (let i = 0; i < ranges.length; i += 2) if (ranges[i] === UNCHANGED) return undefined;
    return { bytes: this.buf, ranges };
  }

  decode(): RowChange {
    const rel = this.relation;
    let p = this.start;
    let oldKind: 'K' | 'O' | undefined;
    let old: Value[] | undefined;
    const marker = this.buf[p];
    if (marker === MARK_KEY || marker === MARK_OLD) {
      oldKind = marker === MARK_KEY ? 'K' : 'O';
      const [ranges, next] = this.#tuple(p + 1);
      old = this.#values(ranges, null);
      p = next;
    }
    if (this.op === 'delete') {
      if (p !== this.end) throw this.#error('unread bytes after the old row');
      if (!old) throw this.#error('delete without old values');
      return rowChangeOf(rel, 'delete', undefined, [], oldKind, old);
    }
    if (this.buf[p] !== MARK_NEW) throw this.#error('expected a new tuple');
    const [ranges, end] = this.#tuple(p + 1);
    if (end !== this.end) throw this.#error('unread bytes after the new row');
    const unchanged: number[] = [];
    return rowChangeOf(rel, this.op, this.#values(ranges, unchanged), unchanged, oldKind, old);
  }

  /**
   * The tuple at `p` as byte ranges, `ranges[2i]` and `ranges[2i + 1]` the start and end of column i's value (a start
   * of NULL_VALUE or UNCHANGED for 'n' and 'u'), and the offset after it.
   */
  #tuple(p: number): [Int32Array, number] {
    const buf = this.buf;
    const end = this.end;
    if (end - p < 2) throw this.#truncated(p);
    const count = (buf[p]! << 8) | buf[p + 1]!;
    const ranges = new Int32Array(2 * count);
    p += 2;
    for (let i = 0; i < count; i++) {
      if (p >= end) throw this.#truncated(p);
      const kind = buf[p++]!;
      if (kind === Col.Text) {
        if (end - p < 4) throw this.#truncated(p);
        const len = (buf[p]! << 24) | (buf[p + 1]! << 16) | (buf[p + 2]! << 8) | buf[p + 3]!;
        p += 4;
        if (len < 0 || end - p < len) throw this.#truncated(p);
        ranges[2 * i] = p;
        ranges[2 * i + 1] = p + len;
        p += len;
      } else if (kind === Col.Null) ranges[2 * i] = ranges[2 * i + 1] = NULL_VALUE;
      else if (kind === Col.Unchanged) ranges[2 * i] = ranges[2 * i + 1] = UNCHANGED;
      else throw new ProtocolError(`change batch: column kind 0x${kind.toString(16)} at offset ${p - 1}`);
    }
    return [ranges, p];
  }

  /** The values of a tuple's ranges ('u' and 'n' as null); the indexes of 'u' go to `unchanged` when given. */
  #values(ranges: Int32Array, unchanged: number[] | null): Value[] {
    const values = new Array<Value>(ranges.length >> 1);
    for (let i = 0; i < values.length; i++) {
      const start = ranges[2 * i]!;
      if (start >= 0) values[i] = utf8(this.buf, start, ranges[2 * i + 1]!);
      else {
        values[i] = null;
        if (start === UNCHANGED) unchanged?.push(i);
      }
    }
    return values;
  }

  #error(what: string): ProtocolError {
    return new ProtocolError(`change batch: ${what} in a ${this.op} of ${this.relation.table.schema}.${this.relation.table.name} at offset ${this.start}`);
  }

  #truncated(p: number): ProtocolError {
    return new ProtocolError(`change batch: row data truncated at offset ${p} (ends at ${this.end})`);
  }
}

function pick(values: readonly Value[], idx: readonly number[]): Value[] {
  const out = new Array<Value>(idx.length);
  for (let k = 0; k < idx.length; k++) out[k] = values[idx[k]!] ?? null;
  return out;
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
