/**
 * Samples the status every intervalMs into a LagHistory, on every master (not only the leader): any master serves
 * the status page, and a follower's history covers the time before it took over the lead.
 */
import { errorMessage } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import { AbortedError, delay } from '../../core/time.ts';
import type { StatusResponse } from '../../control/v1/sync.ts';
import type { LagHistory } from './lag-history.ts';

export interface LagSamplerOptions {
  readonly history: LagHistory;
  readonly readStatus: (signal: AbortSignal) => Promise<StatusResponse>;
  readonly log: Logger;
  readonly now?: () => number;
}

export class LagSampler {
  readonly #o: LagSamplerOptions;
  #failing = false;

  constructor(o: LagSamplerOptions) {
    this.#o = o;
  }

  /** One sample; a failed read is logged once until a read succeeds again (the page then shows a gap). */
  async sample(signal: AbortSignal): Promise<void> {
    const now = this.#o.now ?? Date.now;
    try {
      const status = await this.#o.readStatus(signal);
      this.#o.history.record(now(), status.databases);
      if (this.#failing) this.#o.log.info('lag sampling works again');
      this.#failing = false;
    } catch (err) {
      if (signal.aborted) return;
      if (!this.#failing) this.#o.log.warn('lag sampling failed', { error: errorMessage(err) });
      this.#failing = true;
    }
  }

  async run(signal: AbortSignal): Promise<void> {
    const intervalMs = this.#o.history.options.intervalMs;
    while (!signal.aborted) {
      await this.sample(signal);
      try {
        await delay(intervalMs, signal);
      } catch (err) {
        if (err instanceof AbortedError) return;
        throw err;
      }
    }
  }
}
