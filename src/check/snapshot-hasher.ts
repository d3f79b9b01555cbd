/**
 * One side's hashing at a check's cut: a session whose REPEATABLE READ transaction holds the cut's snapshot, asked
 * for chunk summaries and chunk rows. The same class serves A (A's master, the snapshot taken under the lock) and
 * B (B's master, the snapshot the destination exported at the marker).
 */
import type pg from 'pg';
import { bucketsOf, type HashRange } from './hash-ranges.ts';
import { chunkRowsSql, chunkStatsSql, type HashedTable } from './hash-sql.ts';
import { EMPTY_CHUNK, type ChunkStat, type RowDigest } from './chunk-compare.ts';

/** What a side of a check answers: the same questions, asked locally at B and over the peer routes of A. */
export interface HashSide {
  stats(table: HashedTable, ranges: readonly HashRange[]): Promise<ChunkStat[]>;
  rows(table: HashedTable, ranges: readonly HashRange[]): Promise<RowDigest[]>;
}

export class SnapshotHasher implements HashSide {
  /** One question at a time: a session runs one query at a time, and the answers must not interleave. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(readonly client: pg.Client) {}

  stats(table: HashedTable, ranges: readonly HashRange[]): Promise<ChunkStat[]> {
    return this.#serial(async () => {
      if (ranges.length === 0) return [];
      const { thresholds, buckets } = bucketsOf(ranges);
      const r = await this.client.query<{ b: number; n: string; s: string }>(chunkStatsSql(table), [thresholds.map(String), buckets]);
      const byBucket = new Map(r.rows.map((row) => [Number(row.b), { rows: Number(row.n), sum: row.s }]));
      return buckets.map((b) => byBucket.get(b) ?? EMPTY_CHUNK);
    });
  }

  rows(table: HashedTable, ranges: readonly HashRange[]): Promise<RowDigest[]> {
    return this.#serial(async () => {
      if (ranges.length === 0) return [];
      const { thresholds, buckets } = bucketsOf(ranges);
      const r = await this.client.query<{ k: string; h: string; n: string }>(chunkRowsSql(table), [thresholds.map(String), buckets]);
      return r.rows.map((row) => ({ key: row.k, hash: row.h, count: Number(row.n) }));
    });
  }

  /** Ends the snapshot's transaction and the session. */
  async close(): Promise<void> {
    await this.#queue.catch(() => {});
    await this.client.query('ROLLBACK').catch(() => {});
    await this.client.end().catch(() => {});
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => {});
    return run;
  }
}
