/** Reads change batches (the format: layout.ts). */
import { ProtocolError } from '../../core/errors.ts';
import type { Lsn } from '../../core/lsn.ts';
import { utf8 } from '../../core/utf8.ts';
import type { EncodedChange, RowChange, TableId } from '../../model/change.ts';
import { markerPosition } from '../../model/position.ts';
import type { ChangeRelation } from '../../model/row-change-of.ts';
import { PgOutputTag } from '../../postgres/protocol/index.ts';
import { barrierFromJson } from './barrier-json.ts';
import { EncodedRow } from './encoded-row.ts';
import { decompressBody, H, headerText, type RawHeaders } from './envelope.ts';
import { END_OF_TX, EntryKind, FORMAT_3, ORIGIN, type RelationJson } from './layout.ts';
import type { ChangeStreamRecord } from './stream-records.ts';

/** Entries in enqueue order as domain records. */
export function decodeChangeBatch(headers: RawHeaders | undefined, value: Buffer | null): ChangeStreamRecord[] {
  const entries = readChangeBatch(headers, value);
  for (const e of entries) if (e.kind === 'change' && e.change instanceof EncodedRow) e.change = e.change.decode();
  return entries as ChangeStreamRecord[];
}

/** As decodeChangeBatch, but the changes stay encoded (their values are read when needed). */
export function readChangeBatch(headers: RawHeaders | undefined, value: Buffer | null): ChangeStreamRecord<RowChange | EncodedChange>[] {
  const kind = headerText(headers, H.kind);
  if (kind === undefined) throw new ProtocolError(`record lacks header '${H.kind}'`);
  if (kind !== 'batch') throw new ProtocolError(`unknown change record kind '${kind}'`);
  const body = decompressBody(headers, value);
  if (body.length === 0) throw new ProtocolError('empty change batch');
  if (body[0] !== FORMAT_3) throw new ProtocolError(`unknown change batch format 0x${body[0]!.toString(16)}`);
  return new BatchReader(body).entries();
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
      if (kind === EntryKind.Relation) {
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
        case EntryKind.Change:
          out.push({ kind: 'change', pos, xid, commitTimeUs, endOfTx, change: this.#change() });
          break;
        case EntryKind.Barrier: {
          const len = this.#u32();
          this.#need(len);
          const json = JSON.parse(utf8(buf, this.#p, this.#p + len)) as { type: string };
          this.#p += len;
          out.push({ kind: 'barrier', pos, xid, commitTimeUs, endOfTx, barrier: barrierFromJson(json) });
          break;
        }
        case EntryKind.Commit:
          out.push({ kind: 'commit', pos, xid, commitTimeUs });
          break;
        case EntryKind.Heartbeat:
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
    if (op !== PgOutputTag.Insert && op !== PgOutputTag.Update && op !== PgOutputTag.Delete) throw new ProtocolError(`change batch: unknown op 0x${op.toString(16)}`);
    return new EncodedRow(rel, op === PgOutputTag.Insert ? 'insert' : op === PgOutputTag.Update ? 'update' : 'delete', buf, start, this.#p);
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
