import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { delay, finishWithin } from './time.ts';

describe('finishWithin', () => {
  it('says done for work that ends in time, timeout otherwise, and rethrows a failure', async () => {
    assert.equal(await finishWithin(delay(10), 1_000), 'done');
    assert.equal(await finishWithin(new Promise(() => {}), 20), 'timeout');
    await assert.rejects(finishWithin(Promise.reject(new Error('boom')), 1_000), /boom/);
  });
});
