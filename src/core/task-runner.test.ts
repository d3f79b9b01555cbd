import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DcsyncError } from './errors.ts';
import { silentLogger } from './logger.ts';
import { runTask, type TaskState } from './task-runner.ts';

const noWait = { initialMs: 0, multiplier: 1, jitter: 0, maxMs: 0, maxAttempts: Infinity };

test('runTask retries retriable failures, then ends failed on the first that is not', async () => {
  const states: TaskState[] = [];
  let calls = 0;
  const status = await runTask(
    't',
    async () => {
      calls++;
      if (calls < 3) throw new DcsyncError('unreachable', { retriable: true });
      throw new DcsyncError('bad config');
    },
    { log: silentLogger, signal: new AbortController().signal, policy: noWait, onStatus: (s) => states.push(s.state) },
  );
  assert.equal(calls, 3);
  assert.deepEqual(status, { name: 't', state: 'failed', attempts: 3, lastError: 'bad config' });
  assert.deepEqual(states, ['starting', 'retrying', 'running', 'retrying', 'running', 'failed']);
});

test('runTask ends stopped when the signal aborts, during the task or before it starts', async () => {
  const c = new AbortController();
  const status = await runTask(
    't',
    async (signal) => {
      c.abort();
      assert.ok(signal.aborted);
      throw new DcsyncError('closed', { retriable: true });
    },
    { log: silentLogger, signal: c.signal, policy: noWait },
  );
  assert.equal(status.state, 'stopped');
  assert.equal(status.attempts, 1);
  let ran = false;
  const before = await runTask('u', async () => void (ran = true), { log: silentLogger, signal: c.signal });
  assert.deepEqual([before.state, before.attempts, ran], ['stopped', 0, false]);
});
