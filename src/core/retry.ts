import { isRetriable, RetriesExhaustedError } from './errors.ts';
import { delay } from './time.ts';

export interface RetryPolicy {
  initialMs: number;
  multiplier: number;
  /** 0..1: each wait is varied by up to this fraction. */
  jitter: number;
  maxMs: number;
  /** Infinity: retry until aborted. */
  maxAttempts: number;
}

export const DEFAULT_RETRY: RetryPolicy = { initialMs: 300, multiplier: 2, jitter: 0.2, maxMs: 30_000, maxAttempts: Infinity };

export function compileRetryPolicy(p: Partial<RetryPolicy>): RetryPolicy {
  const policy = { ...DEFAULT_RETRY, ...p };
  if (policy.initialMs < 0) throw new RangeError('initialMs must be ≥ 0');
  if (policy.maxMs < policy.initialMs) throw new RangeError('maxMs must be ≥ initialMs');
  if (policy.multiplier < 1) throw new RangeError('multiplier must be ≥ 1');
  if (policy.jitter < 0 || policy.jitter > 1) throw new RangeError('jitter must be within 0..1');
  if (!(policy.maxAttempts >= 1)) throw new RangeError('maxAttempts must be ≥ 1');
  return policy;
}

export function backoffMs(policy: RetryPolicy, attempt: number): number {
  // The exponent stops growing long after the wait reached maxMs, so endless retries never reach Infinity · 0.
  const base = Math.min(policy.maxMs, policy.initialMs * policy.multiplier ** Math.min(attempt - 1, 32));
  const spread = base * policy.jitter;
  return Math.max(0, Math.round(base - spread + Math.random() * 2 * spread));
}

export interface RetryContext {
  attempt: number;
  bail(err: unknown): never;
}

class Bail {
  constructor(readonly err: unknown) {}
}

/**
 * Runs fn until it succeeds, fails with a non-retriable error, bails, or the attempts run out.
 * `shouldRetry` defaults to the error's `retriable` bit; TypeError and RangeError are never retried.
 */
export async function retry<T>(
  fn: (ctx: RetryContext) => Promise<T>,
  opts: {
    policy?: RetryPolicy;
    signal?: AbortSignal;
    shouldRetry?: (err: unknown) => boolean;
    onRetry?: (err: unknown, attempt: number, waitMs: number) => void;
  } = {},
): Promise<T> {
  const policy = opts.policy ?? DEFAULT_RETRY;
  const shouldRetry = opts.shouldRetry ?? isRetriable;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn({
        attempt,
        bail(err: unknown): never {
          throw new Bail(err);
        },
      });
    } catch (err) {
      if (err instanceof Bail) throw err.err;
      if (err instanceof TypeError || err instanceof RangeError) throw err;
      if (!shouldRetry(err) || opts.signal?.aborted) throw err;
      if (attempt >= policy.maxAttempts) throw new RetriesExhaustedError(attempt, err);
      const waitMs = backoffMs(policy, attempt);
      opts.onRetry?.(err, attempt, waitMs);
      await delay(waitMs, opts.signal);
    }
  }
}
