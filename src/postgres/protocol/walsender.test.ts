import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ProtocolError } from '../../core/errors.ts';
import { lsn, parseLsn } from '../../core/lsn.ts';
import { PG_EPOCH_MS } from '../../core/time.ts';
import type { StandbyStatus } from './messages.ts';
import { PgOutputDecoder } from './pgoutput.ts';
import { BufferBuilder, encodePgOutput, keepaliveFrame, xlogDataFrame } from './test-frames.ts';
import {
  decodeStandbyStatus,
  decodeWalSenderFrame,
  encodeStandbyStatus,
  pgNowMicros,
  pgTimeToDate,
  xlogDataAt,
} from './walsender.ts';

const MAX_LSN = lsn(0xffff_ffff_ffff_ffffn);
const HIGH_LSN = lsn(0x1_0000_0000n); // exactly 2^32: '1/0'

function assertProtocolError(fn: () => unknown, pattern?: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof ProtocolError && (pattern === undefined || pattern.test(e.message)));
}

describe('decodeWalSenderFrame', () => {
  test('XLogData: hand-built bytes', () => {
    const buf = Buffer.from(
      '77' + '0000000100000000' + 'ffffffffffffffff' + '0000000000000001' + '45', // w, 1/0, max, 1 µs, 'E'
      'hex',
    );
    const f = decodeWalSenderFrame(buf);
    assert.deepEqual(f, { tag: 'xlogdata', dataStart: HIGH_LSN, walEnd: MAX_LSN, sendTime: 1n, data: Buffer.from('E') });
  });

  test('XLogData: data is a zero-copy view holding one pgoutput message', () => {
    const inner = encodePgOutput({ tag: 'begin', finalLsn: parseLsn('16/B374D848'), commitTime: 5n, xid: 700 });
    const frame = xlogDataFrame(0n, parseLsn('16/B374D900'), -5n, inner);
    const f = decodeWalSenderFrame(frame);
    assert.equal(f.tag, 'xlogdata');
    assert.equal(f.dataStart, 0n, 'Relation-like messages may carry dataStart 0/0');
    assert.equal(f.walEnd, parseLsn('16/B374D900'));
    assert.equal(f.sendTime, -5n);
    assert.equal(f.data.buffer, frame.buffer);
    assert.equal(f.data.byteOffset, frame.byteOffset + 25);
    assert.deepEqual(new PgOutputDecoder().decode(f.data), {
      tag: 'begin',
      finalLsn: parseLsn('16/B374D848'),
      commitTime: 5n,
      xid: 700,
    });
  });

  test('XLogData with empty data and with large data', () => {
    const empty = decodeWalSenderFrame(xlogDataFrame(1n, 2n, 3n, Buffer.alloc(0)));
    assert.equal(empty.tag === 'xlogdata' && empty.data.length, 0);
    const big = Buffer.alloc(8 << 20, 7);
    const f = decodeWalSenderFrame(xlogDataFrame(MAX_LSN, MAX_LSN, 0n, big));
    assert.ok(f.tag === 'xlogdata' && f.data.equals(big) && f.dataStart === MAX_LSN);
  });

  test('keepalive: hand-built bytes, reply requested and not', () => {
    const buf = Buffer.from('6b' + 'fffffffffffffff0' + '00000000000f4240' + '01', 'hex');
    assert.deepEqual(decodeWalSenderFrame(buf), {
      tag: 'keepalive',
      walEnd: lsn(0xffff_ffff_ffff_fff0n),
      sendTime: 1_000_000n,
      replyRequested: true,
    });
    assert.deepEqual(decodeWalSenderFrame(keepaliveFrame(HIGH_LSN + 1n, -1n, false)), {
      tag: 'keepalive',
      walEnd: HIGH_LSN + 1n,
      sendTime: -1n,
      replyRequested: false,
    });
  });

  test('every frame truncated at every offset → ProtocolError', () => {
    const frames = [xlogDataFrame(HIGH_LSN, MAX_LSN, 9n, Buffer.alloc(0)), keepaliveFrame(MAX_LSN, 9n, true)];
    for (const frame of frames) {
      for (let cut = 0; cut < frame.length; cut++) {
        assertProtocolError(() => decodeWalSenderFrame(frame.subarray(0, cut)), cut === 0 ? /empty/ : /truncated/);
      }
    }
  });

  test('over-long keepalive and unknown tags → ProtocolError naming the tag', () => {
    const long = Buffer.concat([keepaliveFrame(1n, 1n, false), Buffer.from([0])]);
    assertProtocolError(() => decodeWalSenderFrame(long), /over-long keepalive/);
    for (const tag of ['r', 'h', 'd', 'W', '\u0000']) {
      const buf = new BufferBuilder().byte(tag).uint64(1n).uint64(1n).byte(0).build();
      assertProtocolError(
        () => decodeWalSenderFrame(buf),
        new RegExp(`unknown walsender frame tag .*0x${tag.charCodeAt(0).toString(16).padStart(2, '0')}`),
      );
    }
  });
});

describe('encodeStandbyStatus', () => {
  test('exact bytes', () => {
    const s: StandbyStatus = {
      written: parseLsn('16/B374D848'),
      flushed: HIGH_LSN,
      applied: lsn(0n),
      now: 0x0102_0304_0506_0708n,
      replyRequested: true,
    };
    assert.equal(
      encodeStandbyStatus(s).toString('hex'),
      '72' + '00000016b374d848' + '0000000100000000' + '0000000000000000' + '0102030405060708' + '01',
    );
  });

  test('round trip, including LSNs near 2^64 and a negative clock', () => {
    const cases: StandbyStatus[] = [
      { written: MAX_LSN, flushed: lsn(MAX_LSN - 1n), applied: HIGH_LSN, now: pgNowMicros(), replyRequested: false },
      { written: lsn(0n), flushed: lsn(0n), applied: lsn(0n), now: -1n, replyRequested: true },
      {
        written: lsn(0xffff_ffffn),
        flushed: lsn(0x1_0000_0001n),
        applied: lsn(0x8000_0000_0000_0000n),
        now: 0x7fff_ffff_ffff_ffffn,
        replyRequested: false,
      },
    ];
    for (const s of cases) {
      const bytes = encodeStandbyStatus(s);
      assert.equal(bytes.length, 34);
      assert.equal(bytes[0], 0x72);
      assert.deepEqual(decodeStandbyStatus(bytes), s);
    }
  });

  test('decodeStandbyStatus rejects wrong tag and length', () => {
    const ok = encodeStandbyStatus({ written: lsn(1n), flushed: lsn(1n), applied: lsn(1n), now: 1n, replyRequested: false });
    assertProtocolError(() => decodeStandbyStatus(ok.subarray(0, 33)), /standby status/);
    assertProtocolError(() => decodeStandbyStatus(Buffer.alloc(0)), /standby status/);
    const wrong = Buffer.from(ok);
    wrong[0] = 0x68; // 'h', hot standby feedback
    assertProtocolError(() => decodeStandbyStatus(wrong), /'h'/);
  });
});

describe('PostgreSQL time', () => {
  test('epoch is 2000-01-01 UTC', () => {
    assert.equal(PG_EPOCH_MS, 946_684_800_000);
    assert.equal(pgNowMicros(new Date('2000-01-01T00:00:00Z')), 0n);
    assert.equal(pgTimeToDate(0n).toISOString(), '2000-01-01T00:00:00.000Z');
  });

  test('known instants, before and after the epoch', () => {
    const d = new Date('2024-02-29T12:34:56.789Z');
    const micros = pgNowMicros(d);
    assert.equal(micros, 762_525_296_789_000n);
    assert.equal(pgTimeToDate(micros).toISOString(), d.toISOString());
    assert.equal(pgNowMicros(new Date('1999-12-31T23:59:59.999Z')), -1000n);
    assert.equal(pgTimeToDate(-1n).toISOString(), '1999-12-31T23:59:59.999Z', 'floors, not truncates');
    assert.equal(pgTimeToDate(1999n).toISOString(), '2000-01-01T00:00:00.001Z');
  });

  test('pgNowMicros defaults to now', () => {
    const before = BigInt(Date.now() - PG_EPOCH_MS) * 1000n;
    const now = pgNowMicros();
    const after = BigInt(Date.now() - PG_EPOCH_MS) * 1000n;
    assert.ok(now >= before && now <= after);
  });

  test('infinity timestamps give an invalid Date, not a throw', () => {
    assert.ok(Number.isNaN(pgTimeToDate(0x7fff_ffff_ffff_ffffn).getTime()));
    assert.ok(Number.isNaN(pgTimeToDate(-0x8000_0000_0000_0000n).getTime()));
  });
});

test('xlogDataAt finds the message and walEnd of an XLogData frame inside a larger buffer, and nothing else', () => {
  const data = Buffer.from('pgoutput bytes');
  const frame = xlogDataFrame(5n, 0xffff_ffff_ffff_fff0n, 7n, data);
  const buf = Buffer.concat([Buffer.from('before'), frame, Buffer.from('after')]);
  const x = xlogDataAt(buf, 6, 6 + frame.length);
  assert.ok(x);
  assert.ok(x.data.equals(data));
  assert.equal(x.buf, buf);
  assert.deepEqual([x.start, x.end], [6 + 25, 6 + frame.length]);
  assert.equal(x.walEnd, 0xffff_ffff_ffff_fff0n);
  assert.equal(xlogDataAt(buf, 6, 6 + 24), undefined, 'header cut short');
  const keepalive = keepaliveFrame(9n, 1n, true);
  assert.equal(xlogDataAt(keepalive, 0, keepalive.length), undefined);
});
