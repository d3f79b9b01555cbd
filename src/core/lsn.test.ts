import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatLsn, lsnOfWords, parseLsn } from './lsn.ts';

test('an LSN from its two 32-bit words is the one its text form names', () => {
  assert.equal(lsnOfWords(0x16, 0xb374d848), parseLsn('16/B374D848'));
  assert.equal(lsnOfWords(0xffff_ffff, 0xffff_ffff), 0xffff_ffff_ffff_ffffn);
  assert.equal(lsnOfWords(0, 0), 0n);
  assert.equal(formatLsn(lsnOfWords(0x8000_0000, 1)), '80000000/1');
});
