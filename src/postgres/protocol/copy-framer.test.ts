import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CopyFramer } from './copy-framer.ts';

function message(type: string, payload: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeUInt32BE(payload.length + 4, 1);
  return Buffer.concat([head, payload]);
}

test('CopyFramer hands over every message once, in order, however the bytes are cut', () => {
  const msgs: [string, Buffer][] = [];
  for (let i = 0; i < 300; i++) {
    const size = i % 50 === 7 ? 200_000 : i % 9; // big frames span many chunks; empty payloads too
    msgs.push([i % 23 === 5 ? (i % 2 ? 'E' : 'Z') : 'd', Buffer.from(Array.from({ length: size }, (_, j) => (i * 31 + j) & 0xff))]);
  }
  const stream = Buffer.concat(msgs.map(([t, p]) => message(t, p)));
  for (const cut of [1, 2, 3, 4, 5, 6, 7, 1000, 65_536, stream.length]) {
    const got: [string, Buffer][] = [];
    const framer = new CopyFramer(
      (buf, start, end) => got.push(['d', Buffer.from(buf.subarray(start, end))]),
      (m) => got.push([String.fromCharCode(m[0]!), m.subarray(5)]),
    );
    let rnd = cut;
    for (let off = 0; off < stream.length; ) {
      rnd = (rnd * 1103515245 + 12345) & 0x7fffffff;
      const n = cut < 8 ? cut : 1 + (rnd % cut); // fixed tiny cuts, else random sizes up to `cut`
      framer.push(stream.subarray(off, (off += n)));
    }
    assert.equal(framer.partial, false, `cut ${cut}`);
    assert.equal(got.length, msgs.length, `cut ${cut}`);
    for (let i = 0; i < msgs.length; i++) {
      assert.equal(got[i]![0], msgs[i]![0], `cut ${cut} message ${i}`);
      assert.ok(got[i]![1].equals(msgs[i]![1]), `cut ${cut} message ${i}`);
    }
  }
});

test('CopyFramer refuses a length shorter than its own field', () => {
  const framer = new CopyFramer(() => {}, () => {});
  assert.throws(() => framer.push(Buffer.from([0x64, 0, 0, 0, 3])), /length 3/);
});
