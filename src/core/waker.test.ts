import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Waker } from './waker.ts';

describe('Waker', () => {
  it('sleeps the interval unless poked, and a poke while busy skips the next sleep once', async () => {
    const w = new Waker();
    const never = new AbortController().signal;
    let t = Date.now();
    setTimeout(() => w.poke(), 20);
    await w.sleep(5_000, never);
    assert.ok(Date.now() - t < 1_000, 'a poke ends the sleep');
    t = Date.now();
    await w.sleep(5_000, never); // the poke was not taken: returns at once
    assert.ok(Date.now() - t < 100);
    w.take();
    t = Date.now();
    await w.sleep(60, never);
    assert.ok(Date.now() - t >= 50, 'after take() it sleeps again');
  });

  it('interrupt ends one sleep only; an abort ends it without throwing', async () => {
    const w = new Waker();
    const never = new AbortController().signal;
    setTimeout(() => w.interrupt(), 20);
    let t = Date.now();
    await w.sleep(5_000, never);
    assert.ok(Date.now() - t < 1_000);
    t = Date.now();
    await w.sleep(60, never);
    assert.ok(Date.now() - t >= 50, 'an interrupt leaves no poke behind');
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 20);
    await w.sleep(5_000, abort.signal);
  });
});
