import { errorMessage, isRetriable } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { backoffMs, DEFAULT_RETRY, type RetryPolicy } from '../core/retry.ts';
import { AbortedError, delay } from '../core/time.ts';

/**
 * A task's lifecycle as the worker sees it:
 *   starting  – (re)connecting and preparing
 *   running   – its loop is working
 *   retrying  – failed with a retriable error (a server unreachable); waiting before the next attempt
 *   failed    – failed with an error that retrying cannot fix; stays failed until reset
 *   stopped   – ended because it was asked to
 */
export type TaskState = 'starting' | 'running' | 'retrying' | 'failed' | 'stopped';

export interface TaskStatus {
  name: string;
  state: TaskState;
  attempts: number;
  lastError?: string;
}

/**
 * Runs `fn` until the signal aborts; retriable failures restart it after a backoff (and are logged as such),
 * any other failure leaves the task `failed` with its message.
 */
export async function runTask(
  name: string,
  fn: (signal: AbortSignal) => Promise<void>,
  o: { log: Logger; signal: AbortSignal; policy?: RetryPolicy; onStatus?: (s: TaskStatus) => void },
): Promise<TaskStatus> {
  const policy = o.policy ?? { ...DEFAULT_RETRY, maxMs: 15_000 };
  const status: TaskStatus = { name, state: 'starting', attempts: 0 };
  const set = (state: TaskState, err?: unknown): void => {
    status.state = state;
    if (err !== undefined) status.lastError = errorMessage(err);
    o.onStatus?.({ ...status });
  };
  for (;;) {
    if (o.signal.aborted) {
      set('stopped');
      return status;
    }
    status.attempts++;
    set(status.attempts === 1 ? 'starting' : 'running');
    try {
      await fn(o.signal);
      set('stopped');
      return status;
    } catch (err) {
      if (o.signal.aborted || err instanceof AbortedError) {
        set('stopped');
        return status;
      }
      if (!isRetriable(err)) {
        o.log.error('task failed', { task: name, error: err as Error });
        set('failed', err);
        return status;
      }
      const waitMs = backoffMs(policy, Math.min(status.attempts, 20));
      o.log.warn('task interrupted, retrying', { task: name, error: errorMessage(err), retryInMs: waitMs, attempt: status.attempts });
      set('retrying', err);
      try {
        await delay(waitMs, o.signal);
      } catch {
        set('stopped');
        return status;
      }
    }
  }
}
