import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { decodeSequenceRecord, encodeSequenceRecord } from './sequence-records.ts';

describe('sequence records', () => {
  it('round-trips bigint values beyond 2^53 and negative ones', () => {
    const sample = { database: 'shop', at: 1_700_000_000_000, values: [{ schema: 'public', name: 'a_id_seq', lastValue: 9_223_372_036_854_775_000n }, { schema: 'S"x', name: 'down', lastValue: -42n }] };
    const r = encodeSequenceRecord(sample);
    assert.equal(r.headers['dcsync-kind'], 'sequences');
    assert.deepEqual(decodeSequenceRecord(r.value), sample);
  });

  it('refuses malformed records', () => {
    assert.throws(() => decodeSequenceRecord(Buffer.from('nope')), /gzip/);
    assert.throws(() => decodeSequenceRecord(gzipSync('{"db":"x","at":1,"seqs":[["a","b","1.5"]]}')), /malformed/);
    assert.throws(() => decodeSequenceRecord(gzipSync('{"db":"x"}')), /lacks/);
  });
});
