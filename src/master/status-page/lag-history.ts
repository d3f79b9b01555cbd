/**
 * The lag of each database over the last hour, kept in memory by each master for the status page's charts. It is
 * sampled from the same computation as `GET /status` (status.ts), so a chart never disagrees with `get status`.
 * Bounded: at most windowMs / intervalMs + 1 samples per database, and a database whose last sample left the
 * window is forgotten. A restarted master starts with an empty history.
 */
import type { DatabaseStatusView, LagHistoryResponse, LagSample } from '../../control/v1/sync.ts';

export interface LagHistoryOptions {
  readonly intervalMs: number;
  readonly windowMs: number;
}

export const DEFAULT_LAG_HISTORY: LagHistoryOptions = { intervalMs: 5_000, windowMs: 60 * 60_000 };

export class LagHistory {
  readonly #series = new Map<string, LagSample[]>();
  readonly #maxSamples: number;

  constructor(readonly options: LagHistoryOptions = DEFAULT_LAG_HISTORY) {
    if (!(options.intervalMs > 0) || !(options.windowMs >= options.intervalMs)) throw new RangeError('lag history needs 0 < intervalMs ≤ windowMs');
    this.#maxSamples = Math.floor(options.windowMs / options.intervalMs) + 1;
  }

  /** Adds one sample per database at `atMs` and drops what fell out of the window. */
  record(atMs: number, databases: readonly Pick<DatabaseStatusView, 'database' | 'lagSeconds' | 'lagBytes'>[]): void {
    for (const d of databases) {
      let s = this.#series.get(d.database);
      if (!s) this.#series.set(d.database, (s = []));
      s.push([atMs, d.lagSeconds, d.lagBytes]);
    }
    this.#prune(atMs);
  }

  /** The samples of the window ending at `nowMs`, databases by name. */
  snapshot(nowMs: number, answeredBy: string): LagHistoryResponse {
    this.#prune(nowMs);
    const databases = [...this.#series.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([database, samples]) => ({ database, samples: [...samples] }));
    return { intervalMs: this.options.intervalMs, windowMs: this.options.windowMs, databases, answeredBy };
  }

  #prune(nowMs: number): void {
    const oldest = nowMs - this.options.windowMs;
    for (const [db, s] of this.#series) {
      let drop = 0;
      while (drop < s.length && (s[drop]![0] < oldest || s.length - drop > this.#maxSamples)) drop++;
      if (drop > 0) s.splice(0, drop);
      if (s.length === 0) this.#series.delete(db);
    }
  }
}
