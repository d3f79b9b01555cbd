import { ProtocolError } from '../../core/errors.ts';
import type { Lsn } from '../../core/lsn.ts';
import { PG_EPOCH_MS } from '../../core/time.ts';
import type { StandbyStatus, WalSenderFrame } from './messages.ts';

/**
 * The walsender's frames inside CopyData on a replication connection (PostgreSQL docs, "Streaming Replication
 * Protocol"): XLogData 'w' and Primary keepalive 'k' from the server, Standby status update 'r' from the client.
 * The CopyData envelope ('d' + length) is not part of these bytes.
 */
export const enum WalSenderTag {
  XLogData = 0x77 /* w */,
  Keepalive = 0x6b /* k */,
  StandbyStatus = 0x72 /* r */,
}

/** 'w' + dataStart + walEnd + sendTime. */
const XLOGDATA_HEADER = 25;
/** 'k' + walEnd + sendTime + replyRequested. */
const KEEPALIVE_LENGTH = 18;
/** 'r' + written + flushed + applied + clock + replyRequested. */
const STANDBY_STATUS_LENGTH = 34;

function describeByte(b: number): string {
  const hex = `0x${b.toString(16).padStart(2, '0')}`;
  return b >= 0x20 && b < 0x7f ? `'${String.fromCharCode(b)}' (${hex})` : hex;
}

/**
 * Decodes one CopyData payload from the walsender. XLogData's `data` is a view of `buf` (no copy): one pgoutput
 * message for logical replication. Throws ProtocolError on an empty, short or over-long frame or an unknown tag.
 */
export function decodeWalSenderFrame(buf: Buffer): WalSenderFrame {
  if (buf.length === 0) throw new ProtocolError('empty walsender frame');
  const tag = buf[0]!;
  switch (tag) {
    case WalSenderTag.XLogData:
      if (buf.length < XLOGDATA_HEADER) {
        throw new ProtocolError(
          `truncated XLogData frame 'w': header needs ${XLOGDATA_HEADER} bytes, got ${buf.length}`,
        );
      }
      return {
        tag: 'xlogdata',
        dataStart: buf.readBigUInt64BE(1) as Lsn,
        walEnd: buf.readBigUInt64BE(9) as Lsn,
        sendTime: buf.readBigInt64BE(17),
        data: buf.subarray(XLOGDATA_HEADER),
      };
    case WalSenderTag.Keepalive:
      if (buf.length !== KEEPALIVE_LENGTH) {
        throw new ProtocolError(
          `${buf.length < KEEPALIVE_LENGTH ? 'truncated' : 'over-long'} keepalive frame 'k': ` +
            `expected ${KEEPALIVE_LENGTH} bytes, got ${buf.length}`,
        );
      }
      return {
        tag: 'keepalive',
        walEnd: buf.readBigUInt64BE(1) as Lsn,
        sendTime: buf.readBigInt64BE(9),
        replyRequested: buf[17] !== 0,
      };
    default:
      throw new ProtocolError(`unknown walsender frame tag ${describeByte(tag)} at offset 0 (${buf.length} bytes)`);
  }
}

/**
 * A pgoutput message, `buf[start, end)`, and the walEnd of its XLogData frame. `data` (a view of the message) and
 * `walEnd` are made only when asked for: most messages need neither.
 */
export interface XLogData {
  readonly buf: Buffer;
  readonly start: number;
  readonly end: number;
  readonly data: Buffer;
  readonly walEnd: Lsn;
}

class XLogDataView implements XLogData {
  buf: Buffer = Buffer.alloc(0);
  start = 0;
  end = 0;

  get data(): Buffer {
    return this.buf.subarray(this.start, this.end);
  }

  get walEnd(): Lsn {
    return this.buf.readBigUInt64BE(this.start - XLOGDATA_HEADER + 9) as Lsn;
  }
}

/**
 * The pgoutput message inside the XLogData frame `buf[start, end)` and the frame's walEnd, without building a frame
 * object or a view: the stream's hot path, one call per message. The result is reused: valid until the next call, and
 * only while `buf` holds the frame. Undefined for any other frame (decode those with decodeWalSenderFrame).
 */
export function xlogDataAt(buf: Buffer, start: number, end: number): XLogData | undefined {
  if (end - start < XLOGDATA_HEADER || buf[start] !== WalSenderTag.XLogData) return undefined;
  XLOG_DATA.buf = buf;
  XLOG_DATA.start = start + XLOGDATA_HEADER;
  XLOG_DATA.end = end;
  return XLOG_DATA;
}

const XLOG_DATA = new XLogDataView();

/**
 * Encodes a Standby status update ('r'), the CopyData payload a client sends to confirm progress. The server may
 * remove WAL up to `flushed`, so send only what is durable downstream. `now` is microseconds since 2000-01-01
 * (see pgNowMicros).
 */
export function encodeStandbyStatus(s: StandbyStatus): Buffer {
  const out = Buffer.allocUnsafe(STANDBY_STATUS_LENGTH);
  out[0] = WalSenderTag.StandbyStatus;
  out.writeBigUInt64BE(s.written, 1);
  out.writeBigUInt64BE(s.flushed, 9);
  out.writeBigUInt64BE(s.applied, 17);
  out.writeBigInt64BE(s.now, 25);
  out[33] = s.replyRequested ? 1 : 0;
  return out;
}

/** The inverse of encodeStandbyStatus, for fake walsenders in tests. */
export function decodeStandbyStatus(buf: Buffer): StandbyStatus {
  if (buf.length !== STANDBY_STATUS_LENGTH || buf[0] !== WalSenderTag.StandbyStatus) {
    throw new ProtocolError(
      `invalid standby status frame: expected 'r' and ${STANDBY_STATUS_LENGTH} bytes, got ` +
        `${buf.length === 0 ? 'nothing' : describeByte(buf[0]!)} and ${buf.length} bytes`,
    );
  }
  return {
    written: buf.readBigUInt64BE(1) as Lsn,
    flushed: buf.readBigUInt64BE(9) as Lsn,
    applied: buf.readBigUInt64BE(17) as Lsn,
    now: buf.readBigInt64BE(25),
    replyRequested: buf[33] !== 0,
  };
}

/** Microseconds since 2000-01-01 00:00 UTC (PostgreSQL's epoch) for a Date (millisecond precision). */
export function pgNowMicros(date: Date = new Date()): bigint {
  return BigInt(date.getTime() - PG_EPOCH_MS) * 1000n;
}

/**
 * A PostgreSQL timestamp (microseconds since 2000-01-01 UTC) as a Date, rounded down to the millisecond.
 * PostgreSQL's ±infinity, and anything outside Date's range, gives an invalid Date (NaN time).
 */
export function pgTimeToDate(micros: bigint): Date {
  let ms = micros / 1000n;
  if (micros < 0n && ms * 1000n !== micros) ms -= 1n; // floor, not truncation toward zero
  return new Date(Number(ms) + PG_EPOCH_MS);
}
