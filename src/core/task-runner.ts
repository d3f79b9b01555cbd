import { errorMessage, isRetriable } from './errors.ts';
import type { Logger } from './logger.ts';
import { DEFAULT_RETRY, retry, type RetryPolicy } from './retry.ts';
import { AbortedError } from './time.ts';

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

export interface RunTaskOptions {
  log: Logger;
  signal: AbortSignal;
  /** Backoff between attempts; default DEFAULT_RETRY with waits of at most 15 s, attempts without end. */
  policy?: RetryPolicy;
  onStatus?: (s: TaskStatus) => void;
}

/**
 * Runs `fn` until the signal aborts; retriable failures restart it after a backoff (core/retry.ts, and are logged
 * as such), any other failure leaves the task `failed` with its message.
 */
export async function runTask(name: string, fn: (signal: AbortSignal) => Promise<void>, o: RunTaskOptions): Promise<TaskStatus> {
  const status: TaskStatus = { name, state: 'starting', attempts: 0 };
  const set = (state: TaskState, err?: unknown): void => {
    status.state = state;
    if (err !== undefined) status.lastError = errorMessage(err);
    o.onStatus?.({ ...status });
  };
  try {
    await retry(
      async () => {
        if (o.signal.aborted) throw new AbortedError();
        status.attempts++;
        set(status.attempts === 1 ? 'starting' : 'running');
        await fn(o.signal);
      },
      {
        policy: o.policy ?? { ...DEFAULT_RETRY, maxMs: 15_000 },
        signal: o.signal,
        shouldRetry: (err) => isRetriable(err) && !(err instanceof AbortedError),
        onRetry: (err, attempt, waitMs) => {
          o.log.warn('task interrupted, retrying', { task: name, error: errorMessage(err), retryInMs: waitMs, attempt });
          set('retrying', err);
        },
      },
    );
    set('stopped');
  } catch (err) {
    if (o.signal.aborted || err instanceof AbortedError) set('stopped');
    else {
      o.log.error('task failed', { task: name, error: err as Error });
      set('failed', err);
    }
  }
  return status;
}
