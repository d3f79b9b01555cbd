import assert from 'node:assert/strict';
import { test } from 'node:test';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { ProtocolError } from '../../core/errors.ts';
import { decompressBody, H } from './envelope.ts';

test('a body that decompresses past the bound is refused, not inflated (brotli and gzip)', () => {
  const bomb = Buffer.alloc(4 * 1024 * 1024);
  assert.throws(() => decompressBody({ [H.enc]: 'br' }, brotliCompressSync(bomb), 1024 * 1024), (e: unknown) => e instanceof ProtocolError && /more than 1048576 bytes/.test(e.message));
  assert.throws(() => decompressBody({ [H.enc]: 'gzip' }, gzipSync(bomb), 1024 * 1024), (e: unknown) => e instanceof ProtocolError && /more than 1048576 bytes/.test(e.message));
  assert.equal(decompressBody({ [H.enc]: 'br' }, brotliCompressSync(bomb), bomb.length).length, bomb.length);
});

test('a body that is not what its encoding says is a protocol error, never retried', () => {
  assert.throws(() => decompressBody({ [H.enc]: 'br' }, Buffer.from('not brotli at all')), (e: unknown) => e instanceof ProtocolError && !e.retriable && /does not decompress/.test(e.message));
});
