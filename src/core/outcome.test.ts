import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createOutcome } from './outcome.ts';

test('the first settle wins', async () => {
  const o = createOutcome();
  assert.equal(o.settled, false);
  o.settle(new Error('first'));
  o.settle();
  assert.equal(o.settled, true);
  await assert.rejects(o.promise, /first/);
  const ok = createOutcome();
  ok.settle();
  ok.settle(new Error('late'));
  await ok.promise;
});

test('an error settled but never awaited is not an unhandled rejection', async () => {
  let unhandled = false;
  const onUnhandled = (): void => {
    unhandled = true;
  };
  process.on('unhandledRejection', onUnhandled);
  createOutcome().settle(new Error('nobody awaits'));
  await new Promise((r) => setTimeout(r, 20));
  process.off('unhandledRejection', onUnhandled);
  assert.equal(unhandled, false);
});
