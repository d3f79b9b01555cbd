/**
 * Test helper (not part of the public surface): builds protocol frames byte by byte, written from the
 * PostgreSQL docs independently of the decoders, so tests can feed the decoders bytes.
 */
import type { PgOutputMessage, Tuple } from './messages.ts';

/** A growable big-endian byte writer. */
export class BufferBuilder {
  private buf: Buffer;
  private len = 0;

  constructor(initialSize = 64) {
    this.buf = Buffer.alloc(initialSize);
  }

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = Buffer.alloc(size);
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  /** One byte; a one-character string is written as its char code ('B' → 0x42). */
  byte(v: number | string): this {
    this.ensure(1);
    this.buf[this.len++] = typeof v === 'string' ? v.charCodeAt(0) : v & 0xff;
    return this;
  }

  int16(v: number): this {
    this.ensure(2);
    this.len = this.buf.writeInt16BE(v, this.len);
    return this;
  }

  uint16(v: number): this {
    this.ensure(2);
    this.len = this.buf.writeUInt16BE(v, this.len);
    return this;
  }

  int32(v: number): this {
    this.ensure(4);
    this.len = this.buf.writeInt32BE(v, this.len);
    return this;
  }

  uint32(v: number): this {
    this.ensure(4);
    this.len = this.buf.writeUInt32BE(v, this.len);
    return this;
  }

  int64(v: bigint): this {
    this.ensure(8);
    this.len = this.buf.writeBigInt64BE(v, this.len);
    return this;
  }

  uint64(v: bigint): this {
    this.ensure(8);
    this.len = this.buf.writeBigUInt64BE(v, this.len);
    return this;
  }

  /** PostgreSQL "String": UTF-8 bytes then NUL. */
  cstring(s: string): this {
    return this.bytes(Buffer.from(s, 'utf8')).byte(0);
  }

  bytes(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }

  get length(): number {
    return this.len;
  }

  /** A copy of what was written. */
  build(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.len));
  }
}

/** TupleData: Int16 count, then 'n' | 'u' | 't' Int32 len bytes | 'b' Int32 len bytes per column. */
export function writeTuple(b: BufferBuilder, tuple: Tuple): BufferBuilder {
  b.uint16(tuple.length);
  for (const v of tuple) {
    switch (v.kind) {
      case 'null':
        b.byte('n');
        break;
      case 'unchanged':
        b.byte('u');
        break;
      case 'text': {
        const bytes = Buffer.from(v.value, 'utf8');
        b.byte('t').int32(bytes.length).bytes(bytes);
        break;
      }
      case 'binary':
        b.byte('b').int32(v.value.length).bytes(v.value);
        break;
    }
  }
  return b;
}

function xid(b: BufferBuilder, value: number | undefined): void {
  if (value !== undefined) b.uint32(value);
}

/**
 * Encodes a message the way pgoutput does (test-only). An `xid` on a data message is written, as pgoutput
 * does inside a stream block; the decoder must then be inside one.
 */
export function encodePgOutput(m: PgOutputMessage): Buffer {
  const b = new BufferBuilder();
  switch (m.tag) {
    case 'begin':
      b.byte('B').uint64(m.finalLsn).int64(m.commitTime).uint32(m.xid);
      break;
    case 'commit':
      b.byte('C').byte(m.flags).uint64(m.commitLsn).uint64(m.endLsn).int64(m.commitTime);
      break;
    case 'origin':
      b.byte('O').uint64(m.originLsn).cstring(m.name);
      break;
    case 'relation':
      b.byte('R');
      xid(b, m.xid);
      b.uint32(m.relationId).cstring(m.schema).cstring(m.name).byte(m.replicaIdentity).uint16(m.columns.length);
      for (const c of m.columns) b.byte(c.isKey ? 1 : 0).cstring(c.name).uint32(c.typeOid).int32(c.typeMod);
      break;
    case 'type':
      b.byte('Y');
      xid(b, m.xid);
      b.uint32(m.typeOid).cstring(m.schema).cstring(m.name);
      break;
    case 'insert':
      b.byte('I');
      xid(b, m.xid);
      writeTuple(b.uint32(m.relationId).byte('N'), m.newTuple);
      break;
    case 'update':
      b.byte('U');
      xid(b, m.xid);
      b.uint32(m.relationId);
      if (m.oldKind !== undefined && m.oldTuple !== undefined) writeTuple(b.byte(m.oldKind), m.oldTuple);
      writeTuple(b.byte('N'), m.newTuple);
      break;
    case 'delete':
      b.byte('D');
      xid(b, m.xid);
      writeTuple(b.uint32(m.relationId).byte(m.oldKind), m.oldTuple);
      break;
    case 'truncate':
      b.byte('T');
      xid(b, m.xid);
      b.int32(m.relationIds.length).byte((m.cascade ? 1 : 0) | (m.restartIdentity ? 2 : 0));
      for (const id of m.relationIds) b.uint32(id);
      break;
    case 'message':
      b.byte('M');
      xid(b, m.xid);
      b.byte(m.transactional ? 1 : 0).uint64(m.lsn).cstring(m.prefix).int32(m.content.length).bytes(m.content);
      break;
    case 'stream_start':
      b.byte('S').uint32(m.xid).byte(m.firstSegment ? 1 : 0);
      break;
    case 'stream_stop':
      b.byte('E');
      break;
    case 'stream_commit':
      b.byte('c').uint32(m.xid).byte(m.flags).uint64(m.commitLsn).uint64(m.endLsn).int64(m.commitTime);
      break;
    case 'stream_abort':
      b.byte('A').uint32(m.xid).uint32(m.subXid);
      break;
  }
  return b.build();
}

/** XLogData ('w') frame around `data`. */
export function xlogDataFrame(dataStart: bigint, walEnd: bigint, sendTime: bigint, data: Uint8Array): Buffer {
  return new BufferBuilder().byte('w').uint64(dataStart).uint64(walEnd).int64(sendTime).bytes(data).build();
}

/** Primary keepalive ('k') frame. */
export function keepaliveFrame(walEnd: bigint, sendTime: bigint, replyRequested: boolean): Buffer {
  return new BufferBuilder().byte('k').uint64(walEnd).int64(sendTime).byte(replyRequested ? 1 : 0).build();
}
