import { DcsyncError } from './errors.ts';

export class AbortedError extends DcsyncError {
  constructor() {
    super('operation aborted');
  }
}

/** A delay that ends early (rejecting with AbortedError) when the signal aborts. */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new AbortedError());
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new AbortedError());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Parses durations such as 500, '500ms', '10s', '5m', '1h', '2d'; numbers are milliseconds. */
export function parseDuration(value: number | string): number {
  if (typeof value === 'number') return value;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|y)?$/.exec(value.trim());
  if (!m) throw new RangeError(`invalid duration '${value}'`);
  const n = Number(m[1]);
  const unit = m[2] ?? 'ms';
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, y: 365 * 86_400_000 }[unit];
  return n * (factor ?? 1);
}

/** Microseconds since 2000-01-01, PostgreSQL's timestamp epoch, to a JS Date (ms precision). */
export const PG_EPOCH_MS = Date.UTC(2000, 0, 1);

/**
 * Waits for `work` at most `ms`: 'done' once it settled ('done' also rethrows its rejection), 'timeout' when the time
 * ran out first (the work goes on; the caller decides what to close). The daemons' graceful stop.
 */
export async function finishWithin(work: Promise<unknown>, ms: number): Promise<'done' | 'timeout'> {
  const timer = new AbortController();
  try {
    return await Promise.race([work.then(() => 'done' as const), delay(ms, timer.signal).then(() => 'timeout' as const, () => 'done' as const)]);
  } finally {
    timer.abort();
  }
}
