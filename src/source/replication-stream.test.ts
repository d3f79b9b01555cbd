import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import type pg from 'pg';
import { lsn } from '../core/lsn.ts';
import { silentLogger } from '../core/logger.ts';
import { decodeStandbyStatus, type StandbyStatus } from '../postgres/protocol/index.ts';
import { keepaliveFrame } from '../postgres/protocol/test-frames.ts';
import { ReplicationStream } from './replication-stream.ts';

/** A pg Client as far as the stream uses it: a connection whose socket the test writes to and whose CopyData it reads. */
function fakeClient(): { client: pg.Client; socket: EventEmitter; sent: StandbyStatus[]; queries: string[] } {
  const socket = Object.assign(new EventEmitter(), { pause() {}, resume() {} });
  const sent: StandbyStatus[] = [];
  const queries: string[] = [];
  const connection = {
    stream: socket,
    query: (text: string) => queries.push(text),
    sendCopyFromChunk: (b: Buffer) => sent.push(decodeStandbyStatus(b)),
  };
  const client = Object.assign(new EventEmitter(), {
    connection,
    query(submittable: { submit(c: typeof connection): void }) {
      submittable.submit(connection);
      return submittable;
    },
    end: async () => {},
  });
  return { client: client as unknown as pg.Client, socket, sent, queries };
}

/** A CopyData message ('d') around a walsender frame, as the server sends it. */
function copyData(frame: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header[0] = 0x64;
  header.writeUInt32BE(frame.length + 4, 1);
  return Buffer.concat([header, frame]);
}

test('status updates carry the acknowledged position as flushed and applied, the received one as written', async () => {
  const { client, socket, sent, queries } = fakeClient();
  const stream = new ReplicationStream(client, silentLogger);
  const keepalives: bigint[] = [];
  stream.start({ slot: 's', startLsn: lsn(0n), publications: ['p'], statusIntervalMs: 60_000 }, { message() {}, keepalive: (w) => keepalives.push(w) });
  assert.match(queries[0]!, /^START_REPLICATION SLOT "s" LOGICAL 0\/0/);
  stream.received(lsn(500n));
  stream.acknowledge(lsn(300n));
  stream.acknowledge(lsn(200n)); // an older position never moves it back
  socket.emit('data', copyData(keepaliveFrame(600n, 0n, true)));
  assert.deepEqual(keepalives, [600n]);
  assert.equal(await stream.waitForFrames(0), 1);
  assert.equal(sent.length, 1, 'a keepalive that asks for a reply gets one');
  assert.deepEqual({ written: sent[0]!.written, flushed: sent[0]!.flushed, applied: sent[0]!.applied }, { written: 500n, flushed: 300n, applied: 300n });
  await stream.close();
  assert.equal(sent.length, 2, 'close sends a last status');
  assert.equal(sent[1]!.flushed, 300n);
});

test('nothing acknowledged: the status confirms nothing', async () => {
  const { client, socket, sent } = fakeClient();
  const stream = new ReplicationStream(client, silentLogger);
  stream.start({ slot: 's', startLsn: lsn(0n), publications: ['p'] }, { message() {}, keepalive() {} });
  stream.received(lsn(900n));
  socket.emit('data', copyData(keepaliveFrame(900n, 0n, true)));
  assert.equal(sent[0]!.flushed, 0n);
  assert.equal(sent[0]!.written, 900n);
  await stream.close();
});
