/**
 * The source's side of the checks in flight (held by A's leading master): per check and database, the session
 * whose transaction holds the cut's snapshot. The destination's master asks it for hashes and releases it when done;
 * a cut nobody asked anything of for `idleMs` is released, so a lost destination never pins A's snapshots for long.
 */
import type { Logger } from '../core/logger.ts';
import type { PeerCutResponse } from '../control/v1/check.ts';
import { openSourceCut, type SourceCut } from './source-cut.ts';

interface Held {
  cut: SourceCut;
  usedAt: number;
}

export class SourceChecks {
  readonly #held = new Map<string, Held>();
  readonly #timer: NodeJS.Timeout;

  constructor(private readonly o: { url: string; log: Logger; idleMs?: number }) {
    this.#timer = setInterval(() => void this.#sweep(), 10_000);
    this.#timer.unref();
  }

  /** Takes the cut; none (markerLsn null) when the database has none of the tables named. */
  async open(syncId: string, checkId: string, database: string, tables: readonly string[], signal?: AbortSignal): Promise<PeerCutResponse> {
    const key = `${checkId}/${database}`;
    await this.#release(key);
    const { cut, unknown } = await openSourceCut({ url: this.o.url, database, syncId, checkId, tables, log: this.o.log, ...(signal ? { signal } : {}) });
    if (!cut) return { markerLsn: null, tables: [], unknownTables: unknown };
    this.#held.set(key, { cut, usedAt: Date.now() });
    return { markerLsn: cut.markerLsn, tables: cut.tables, unknownTables: unknown };
  }

  /** The cut of `checkId` in `database`, undefined when it was released or never taken on this master. */
  get(checkId: string, database: string): SourceCut | undefined {
    const h = this.#held.get(`${checkId}/${database}`);
    if (h) h.usedAt = Date.now();
    return h?.cut;
  }

  /** Releases every database's cut of `checkId`. */
  async release(checkId: string): Promise<void> {
    await Promise.all([...this.#held.keys()].filter((k) => k.startsWith(`${checkId}/`)).map((k) => this.#release(k)));
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await Promise.all([...this.#held.keys()].map((k) => this.#release(k)));
  }

  async #release(key: string): Promise<void> {
    const h = this.#held.get(key);
    if (!h) return;
    this.#held.delete(key);
    await h.cut.hasher.close();
  }

  async #sweep(): Promise<void> {
    const idle = this.o.idleMs ?? 600_000;
    for (const [k, h] of this.#held) {
      if (Date.now() - h.usedAt > idle) {
        this.o.log.warn('check: releasing a cut nobody asked for', { check: k });
        await this.#release(k);
      }
    }
  }
}
