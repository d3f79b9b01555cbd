import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAC_HEADER, macHeader, macProblem, newRecordKeyText, parseRecordKey, type SignedParts } from './record-auth.ts';

const key = parseRecordKey(newRecordKeyText());
const record = { partition: 3, key: Buffer.from('k'), headers: { 'dcsync-db': 'shop', 'dcsync-seq': '41', 'dcsync-lsn': '0/16B3748' } as Record<string, string>, value: Buffer.from('body') };
const signed = { ...record, headers: { ...record.headers, [MAC_HEADER]: macHeader(key, record) } };
/** As a consumer hands it over: header values are Buffers. */
const consumed = (r: typeof signed): SignedParts => ({ ...r, headers: Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, Buffer.from(v)])) });

describe('record authentication', () => {
  it('a signed record verifies, also with Buffer header values and foreign headers added on the way', () => {
    assert.equal(macProblem(key, signed), undefined);
    assert.equal(macProblem(key, consumed(signed)), undefined);
    assert.equal(macProblem(key, { ...signed, headers: { ...signed.headers, 'mm2-added': 'x' } }), undefined);
  });

  it('refuses a changed value, header, key or partition, a missing code and another key', () => {
    assert.match(macProblem(key, { ...signed, value: Buffer.from('bodY') })!, /does not match/);
    assert.match(macProblem(key, { ...signed, headers: { ...signed.headers, 'dcsync-lsn': 'FFFFFFFF/0' } })!, /does not match/);
    assert.match(macProblem(key, { ...signed, headers: { ...signed.headers, 'dcsync-new': '1' } })!, /does not match/);
    assert.match(macProblem(key, { ...signed, key: null })!, /does not match/);
    assert.match(macProblem(key, { ...signed, partition: 4 })!, /does not match/);
    assert.match(macProblem(key, record)!, /carries no authentication code/);
    assert.match(macProblem(parseRecordKey(newRecordKeyText()), signed)!, /does not match/);
  });

  it('takes only a 32-byte key in base64url', () => {
    assert.equal(newRecordKeyText().length, 43);
    assert.throws(() => parseRecordKey('short'), /32 bytes/);
    assert.throws(() => parseRecordKey('+'.repeat(43)), /32 bytes/);
  });
});
