import { ProtocolError } from '../../core/errors.ts';
import type { Lsn } from '../../core/lsn.ts';
import { utf8 } from '../../core/utf8.ts';
import type { PgOutputMessage, RelationColumn, ReplicaIdentity, Tuple, TupleValue } from './messages.ts';
import { ColumnKind, PgOutputTag, TupleMarker } from './tags.ts';

export { PgOutputTag } from './tags.ts';

/**
 * Decoder for the pgoutput plugin's messages, logical replication protocol versions 1 and 2
 * (PostgreSQL docs, "Logical Replication Message Formats"). One call decodes one message: the `data` of
 * one XLogData frame. Pure: no I/O, no clock.
 *
 * Protocol notes this decoder relies on:
 * - Every integer is big-endian. Xids, relation and type OIDs are unsigned 32-bit; LSNs are unsigned 64-bit;
 *   timestamps are signed 64-bit microseconds since 2000-01-01.
 * - Between Stream Start and Stream Stop (protocol v2, `streaming 'on'`), Relation, Type, Insert, Update,
 *   Delete, Truncate and Message carry the xid of the (sub)transaction first. That is the one piece of state.
 * - Strings (names, prefixes, text values) are converted by the server to the connection's client_encoding;
 *   they are decoded here as UTF-8, so the connection must use client_encoding UTF8 (node-postgres's default).
 *   Invalid UTF-8 would become U+FFFD, not an error.
 * - The namespace of an object in pg_catalog is sent as the empty string; it is passed on as ''.
 */

const TAG_NAMES: Readonly<Record<number, string>> = {
  [PgOutputTag.Begin]: 'Begin',
  [PgOutputTag.Commit]: 'Commit',
  [PgOutputTag.Origin]: 'Origin',
  [PgOutputTag.Relation]: 'Relation',
  [PgOutputTag.Type]: 'Type',
  [PgOutputTag.Insert]: 'Insert',
  [PgOutputTag.Update]: 'Update',
  [PgOutputTag.Delete]: 'Delete',
  [PgOutputTag.Truncate]: 'Truncate',
  [PgOutputTag.Message]: 'Message',
  [PgOutputTag.StreamStart]: 'Stream Start',
  [PgOutputTag.StreamStop]: 'Stream Stop',
  [PgOutputTag.StreamCommit]: 'Stream Commit',
  [PgOutputTag.StreamAbort]: 'Stream Abort',
};

/** Shared, frozen values: 'n' and 'u' columns allocate nothing. */
const NULL_VALUE: TupleValue = Object.freeze({ kind: 'null' });
const UNCHANGED_VALUE: TupleValue = Object.freeze({ kind: 'unchanged' });

const EMPTY = Buffer.alloc(0);

/** Printable form of a tag byte for error messages: `'B' (0x42)`. */
function describeByte(b: number): string {
  const hex = `0x${b.toString(16).padStart(2, '0')}`;
  return b >= 0x20 && b < 0x7f ? `'${String.fromCharCode(b)}' (${hex})` : hex;
}

export class PgOutputDecoder {
  private buf: Buffer = EMPTY;
  private pos = 0;
  private end = 0;
  private tag = 0;
  private streaming = false;

  /** True between a Stream Start and its Stream Stop: data messages then carry an xid first. */
  get inStreamBlock(): boolean {
    return this.streaming;
  }

  /** Forgets the stream-block state, e.g. before reusing the decoder on a new replication connection. */
  reset(): void {
    this.streaming = false;
    this.buf = EMPTY;
  }

  /**
   * Decodes one pgoutput message. Throws ProtocolError (naming the tag and the offset) on an unknown tag, a
   * truncated message, trailing bytes, an invalid field value, or a message that is out of place with respect
   * to the stream block (e.g. Begin inside Stream Start … Stream Stop). On error the state is unchanged.
   *
   * Text values and names are copied into strings; Message content and binary values are copied, so the result
   * never aliases `buf`.
   */
  decode(buf: Buffer): PgOutputMessage {
    const length = buf.length;
    if (length === 0) throw new ProtocolError('empty pgoutput message');
    this.buf = buf;
    this.pos = 1;
    this.end = length;
    const tag = buf[0]!;
    this.tag = tag;

    let msg: PgOutputMessage;
    let nextStreaming = this.streaming;
    switch (tag) {
      case PgOutputTag.Insert:
        msg = this.insert();
        break;
      case PgOutputTag.Update:
        msg = this.update();
        break;
      case PgOutputTag.Delete:
        msg = this.delete();
        break;
      case PgOutputTag.Begin:
        this.outsideStreamBlock();
        msg = { tag: 'begin', finalLsn: this.lsn(), commitTime: this.int64(), xid: this.uint32() };
        break;
      case PgOutputTag.Commit:
        this.outsideStreamBlock();
        msg = { tag: 'commit', flags: this.uint8(), commitLsn: this.lsn(), endLsn: this.lsn(), commitTime: this.int64() };
        break;
      case PgOutputTag.Origin:
        msg = { tag: 'origin', originLsn: this.lsn(), name: this.cstring() };
        break;
      case PgOutputTag.Relation:
        msg = this.relation();
        break;
      case PgOutputTag.Type:
        msg = this.streaming
          ? { tag: 'type', xid: this.uint32(), typeOid: this.uint32(), schema: this.cstring(), name: this.cstring() }
          : { tag: 'type', typeOid: this.uint32(), schema: this.cstring(), name: this.cstring() };
        break;
      case PgOutputTag.Truncate:
        msg = this.truncate();
        break;
      case PgOutputTag.Message:
        msg = this.message();
        break;
      case PgOutputTag.StreamStart:
        this.outsideStreamBlock();
        msg = { tag: 'stream_start', xid: this.uint32(), firstSegment: this.uint8() === 1 };
        nextStreaming = true;
        break;
      case PgOutputTag.StreamStop:
        if (!this.streaming) throw this.error('Stream Stop without a preceding Stream Start');
        msg = { tag: 'stream_stop' };
        nextStreaming = false;
        break;
      case PgOutputTag.StreamCommit:
        this.outsideStreamBlock();
        msg = {
          tag: 'stream_commit',
          xid: this.uint32(),
          flags: this.uint8(),
          commitLsn: this.lsn(),
          endLsn: this.lsn(),
          commitTime: this.int64(),
        };
        break;
      case PgOutputTag.StreamAbort:
        this.outsideStreamBlock();
        msg = { tag: 'stream_abort', xid: this.uint32(), subXid: this.uint32() };
        break;
      default:
        throw new ProtocolError(`unknown pgoutput message tag ${describeByte(tag)} at offset 0 (${length} bytes)`);
    }
    if (this.pos !== this.end) {
      throw this.error(`${this.end - this.pos} unexpected trailing byte(s) at offset ${this.pos}`);
    }
    this.streaming = nextStreaming;
    this.buf = EMPTY;
    return msg;
  }

  // ---- messages ----

  private insert(): PgOutputMessage {
    const xid = this.streaming ? this.uint32() : -1;
    const relationId = this.uint32();
    this.expectMarker(TupleMarker.New);
    const newTuple = this.tuple();
    return xid === -1 ? { tag: 'insert', relationId, newTuple } : { tag: 'insert', xid, relationId, newTuple };
  }

  private update(): PgOutputMessage {
    const xid = this.streaming ? this.uint32() : -1;
    const relationId = this.uint32();
    const marker = this.uint8();
    if (marker === TupleMarker.Key || marker === TupleMarker.Old) {
      const oldKind = marker === TupleMarker.Key ? 'K' : 'O';
      const oldTuple = this.tuple();
      this.expectMarker(TupleMarker.New);
      const newTuple = this.tuple();
      return xid === -1
        ? { tag: 'update', relationId, oldKind, oldTuple, newTuple }
        : { tag: 'update', xid, relationId, oldKind, oldTuple, newTuple };
    }
    if (marker !== TupleMarker.New) throw this.badMarker(marker, this.pos - 1, "'K', 'O' or 'N'");
    const newTuple = this.tuple();
    return xid === -1 ? { tag: 'update', relationId, newTuple } : { tag: 'update', xid, relationId, newTuple };
  }

  private delete(): PgOutputMessage {
    const xid = this.streaming ? this.uint32() : -1;
    const relationId = this.uint32();
    const marker = this.uint8();
    if (marker !== TupleMarker.Key && marker !== TupleMarker.Old) {
      throw this.badMarker(marker, this.pos - 1, "'K' or 'O'");
    }
    const oldKind = marker === TupleMarker.Key ? 'K' : 'O';
    const oldTuple = this.tuple();
    return xid === -1
      ? { tag: 'delete', relationId, oldKind, oldTuple }
      : { tag: 'delete', xid, relationId, oldKind, oldTuple };
  }

  private relation(): PgOutputMessage {
    const xid = this.streaming ? this.uint32() : -1;
    const relationId = this.uint32();
    const schema = this.cstring();
    const name = this.cstring();
    const identityAt = this.pos;
    const identity = this.uint8();
    if (identity !== 0x64 && identity !== 0x6e && identity !== 0x66 && identity !== 0x69) {
      throw this.error(`invalid replica identity ${describeByte(identity)} at offset ${identityAt}`);
    }
    const replicaIdentity = String.fromCharCode(identity) as ReplicaIdentity;
    const count = this.uint16();
    // Each column needs at least 10 bytes (flags, empty name, type OID, typmod): check before allocating.
    this.need(count * 10);
    const columns: RelationColumn[] = new Array<RelationColumn>(count);
    for (let i = 0; i < count; i++) {
      const flags = this.uint8();
      columns[i] = { isKey: (flags & 1) !== 0, name: this.cstring(), typeOid: this.uint32(), typeMod: this.int32() };
    }
    return xid === -1
      ? { tag: 'relation', relationId, schema, name, replicaIdentity, columns }
      : { tag: 'relation', xid, relationId, schema, name, replicaIdentity, columns };
  }

  private truncate(): PgOutputMessage {
    const xid = this.streaming ? this.uint32() : -1;
    const countAt = this.pos;
    const count = this.int32();
    if (count < 0) throw this.error(`negative relation count ${count} at offset ${countAt}`);
    const flags = this.uint8();
    this.need(count * 4);
    const relationIds = new Array<number>(count);
    for (let i = 0; i < count; i++) relationIds[i] = this.uint32();
    const cascade = (flags & 1) !== 0;
    const restartIdentity = (flags & 2) !== 0;
    return xid === -1
      ? { tag: 'truncate', cascade, restartIdentity, relationIds }
      : { tag: 'truncate', xid, cascade, restartIdentity, relationIds };
  }

  private message(): PgOutputMessage {
    const xid = this.streaming ? this.uint32() : -1;
    const transactional = (this.uint8() & 1) !== 0;
    const lsn = this.lsn();
    const prefix = this.cstring();
    const content = Buffer.from(this.bytes());
    return xid === -1
      ? { tag: 'message', transactional, lsn, prefix, content }
      : { tag: 'message', xid, transactional, lsn, prefix, content };
  }

  /**
   * TupleData: Int16 column count, then per column a kind byte and, for 't'/'b', Int32 length + bytes.
   * The hot path of every Insert/Update/Delete, so it works on a local cursor with inline big-endian reads
   * (after its own bounds checks, which name the local offset) and writes `this.pos` back once at the end.
   */
  private tuple(): Tuple {
    const buf = this.buf;
    const end = this.end;
    let p = this.pos;
    if (end - p < 2) this.need(2);
    const count = (buf[p]! << 8) | buf[p + 1]!;
    p += 2;
    // Every column takes at least its kind byte: refuse a bogus count before allocating for it.
    if (end - p < count) this.needAt(p, count);
    const values = new Array<TupleValue>(count);
    for (let i = 0; i < count; i++) {
      if (p >= end) this.needAt(p, 1);
      const kind = buf[p++]!;
      if (kind === ColumnKind.Text || kind === ColumnKind.Binary) {
        if (end - p < 4) this.needAt(p, 4);
        const len = (buf[p]! << 24) | (buf[p + 1]! << 16) | (buf[p + 2]! << 8) | buf[p + 3]!;
        if (len < 0) throw this.error(`negative length ${len} at offset ${p} (column ${i})`);
        p += 4;
        if (end - p < len) this.needAt(p, len);
        const start = p;
        p += len;
        values[i] =
          kind === ColumnKind.Text
            ? { kind: 'text', value: utf8(buf, start, p) }
            : { kind: 'binary', value: Buffer.from(buf.subarray(start, p)) };
      } else if (kind === ColumnKind.Null) {
        values[i] = NULL_VALUE;
      } else if (kind === ColumnKind.Unchanged) {
        values[i] = UNCHANGED_VALUE;
      } else {
        throw this.error(`unknown tuple column kind ${describeByte(kind)} at offset ${p - 1} (column ${i})`);
      }
    }
    this.pos = p;
    return values;
  }

  // ---- primitives: each checks the bounds first, so reads never throw RangeError ----

  /** Reads an Int32 length and skips that many bytes; returns where they start. */
  private lengthPrefixed(): number {
    const at = this.pos;
    const len = this.int32();
    if (len < 0) throw this.error(`negative length ${len} at offset ${at}`);
    this.need(len);
    const start = this.pos;
    this.pos = start + len;
    return start;
  }

  /** An Int32 length followed by that many bytes, as a view of the input. */
  private bytes(): Buffer {
    const start = this.lengthPrefixed();
    return this.buf.subarray(start, this.pos);
  }

  private uint8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  private uint16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  private int32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  private uint32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  private int64(): bigint {
    this.need(8);
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  private lsn(): Lsn {
    this.need(8);
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v as Lsn;
  }

  /** A NUL-terminated string (PostgreSQL "String"). */
  private cstring(): string {
    const buf = this.buf;
    const start = this.pos;
    const end = this.end;
    let i = start;
    while (i < end && buf[i] !== 0) i++;
    if (i === end) {
      throw this.error(`unterminated string starting at offset ${start} (message is ${end} bytes)`);
    }
    this.pos = i + 1;
    return utf8(buf, start, i);
  }

  private expectMarker(expected: TupleMarker): void {
    const marker = this.uint8();
    if (marker !== expected) throw this.badMarker(marker, this.pos - 1, describeByte(expected));
  }

  private need(n: number): void {
    if (this.end - this.pos < n) this.needAt(this.pos, n);
  }

  private needAt(at: number, n: number): void {
    if (this.end - at < n) {
      throw this.error(
        `truncated: needs ${n} byte(s) at offset ${at}, only ${this.end - at} left (message is ${this.end} bytes)`,
      );
    }
  }

  private outsideStreamBlock(): void {
    if (this.streaming) throw this.error('not allowed between Stream Start and Stream Stop');
  }

  private badMarker(marker: number, at: number, expected: string): ProtocolError {
    return this.error(`expected tuple marker ${expected} at offset ${at}, got ${describeByte(marker)}`);
  }

  private error(detail: string): ProtocolError {
    const name = TAG_NAMES[this.tag] ?? 'unknown';
    const streamed = this.streaming ? ', in stream block' : '';
    return new ProtocolError(`pgoutput ${name} message ${describeByte(this.tag)}${streamed}: ${detail}`);
  }
}
