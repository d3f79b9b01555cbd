/**
 * A `check sync` run on the destination's leading master. Per database: the source takes the cut (its master locks
 * the tables for a moment, exports a snapshot and emits the marker); the destination's apply loop exports a snapshot
 * when every partition reached the marker; this job imports it and compares each table, asking the source's master
 * for the same chunk summaries over the peer connection. Both sides are read at the same point of the stream, so
 * replication lag never shows as a difference.
 */
import type pg from 'pg';
import { DcsyncError, errorMessage } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { CheckView, DatabaseCheckView, PeerHashRequest, TableCheckView } from '../control/v1/check.ts';
import type { PeerClient } from '../master/peer-client.ts';
import { connect } from '../postgres/connection.ts';
import { ensureCheckPoints, importCheckSnapshot } from './check-points.ts';
import type { ChunkStat, RowDigest } from './chunk-compare.ts';
import type { HashRange } from './hash-ranges.ts';
import type { HashedTable } from './hash-sql.ts';
import { SnapshotHasher, type HashSide } from './snapshot-hasher.ts';
import { checkTable, DEFAULT_TABLE_CHECK, type TableCheckOptions } from './table-check.ts';

/** The source's side, over the peer routes of its masters. */
class PeerSide implements HashSide {
  constructor(
    private readonly peer: PeerClient,
    private readonly syncId: string,
    private readonly checkId: string,
    private readonly database: string,
    private readonly signal: AbortSignal | undefined,
  ) {}

  async stats(table: HashedTable, ranges: readonly HashRange[]): Promise<ChunkStat[]> {
    const r = await this.#ask(table, ranges, 'stats');
    return (r.stats ?? []).map(([rows, sum]) => ({ rows, sum }));
  }

  async rows(table: HashedTable, ranges: readonly HashRange[]): Promise<RowDigest[]> {
    const r = await this.#ask(table, ranges, 'rows');
    return (r.rows ?? []).map(([key, hash, count]) => ({ key, hash, count }));
  }

  #ask(table: HashedTable, ranges: readonly HashRange[], what: PeerHashRequest['what']) {
    const body: PeerHashRequest = { database: this.database, table: { schema: table.schema, name: table.name, keyColumns: table.keyColumns }, ranges: ranges.map((r) => [r.lo, r.hi] as const), what };
    return this.peer.checkHash(this.syncId, this.checkId, body, this.signal);
  }
}

/** The operator named a table that no checked database replicates. */
export class UnknownTableError extends DcsyncError {}

export interface CheckJobOptions {
  id: string;
  syncId: string;
  databases: readonly string[];
  tables: readonly string[];
  peer: PeerClient;
  /** This datacenter's PostgreSQL (the destination). */
  targetUrl: string;
  /** How long the destination may take to reach the marker (its lag). */
  reachTimeoutMs: number;
  table?: TableCheckOptions;
  log: Logger;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export class CheckJob {
  readonly #view: Mutable<CheckView>;
  readonly #progress = { tablesDone: 0, tablesTotal: 0, rowsHashed: 0 };

  constructor(private readonly o: CheckJobOptions) {
    this.#view = { id: o.id, syncId: o.syncId, state: 'running', phase: 'starting', progress: this.#progress, startedAt: new Date().toISOString(), finishedAt: null, error: null, databases: [] };
  }

  get view(): CheckView {
    return { ...this.#view, progress: { ...this.#progress }, databases: [...this.#view.databases] };
  }

  get done(): boolean {
    return this.#view.state !== 'running';
  }

  async run(signal?: AbortSignal): Promise<void> {
    try {
      // A table named with --table may live in any of the databases; one that none has is an error.
      const found = new Set<string>();
      for (const db of this.o.databases) {
        const view = await this.#database(db, signal);
        if (!view) continue;
        this.#view.databases.push(view);
        for (const t of view.tables) found.add(`${t.schema}.${t.name}`);
      }
      const unknown = [...new Set(this.o.tables)].filter((t) => !found.has(t));
      if (unknown.length > 0) throw new UnknownTableError(`no replicated table ${unknown.map((t) => `'${t}'`).join(', ')} in the sync's databases at the source (${this.o.databases.join(', ')})`);
      const equal = this.#view.databases.every((d) => d.tables.every((t) => t.equal));
      this.#view.state = equal ? 'equal' : 'different';
      this.#view.phase = 'done';
      this.o.log.info('check finished', { checkId: this.o.id, syncId: this.o.syncId, equal });
    } catch (err) {
      this.#view.state = 'failed';
      this.#view.error = errorMessage(err);
      this.#view.phase = 'failed';
      this.o.log.warn('check failed', { checkId: this.o.id, syncId: this.o.syncId, error: errorMessage(err) });
    } finally {
      this.#view.finishedAt = new Date().toISOString();
      await this.o.peer.checkRelease(this.o.syncId, this.o.id).catch(() => {});
      this.o.peer.close();
    }
  }

  /** undefined: the database has none of the tables named. */
  async #database(database: string, signal: AbortSignal | undefined): Promise<DatabaseCheckView | undefined> {
    const o = this.o;
    let watcher: pg.Client | undefined;
    let hasher: SnapshotHasher | undefined;
    try {
      this.#view.phase = `${database}: preparing the destination`;
      watcher = await connect({ url: o.targetUrl, database, applicationName: 'dcsync-check' });
      await ensureCheckPoints(watcher);
      const session = await connect({ url: o.targetUrl, database, applicationName: 'dcsync-check-hash' });
      hasher = new SnapshotHasher(session);
      this.#view.phase = `${database}: taking the cut at the source`;
      const cut = await o.peer.checkCut(o.syncId, { checkId: o.id, database, tables: o.tables }, signal);
      const markerLsn = cut.markerLsn;
      if (markerLsn === null) return undefined;
      this.#progress.tablesTotal += cut.tables.length;
      this.#view.phase = `${database}: waiting for the destination to apply up to the marker at ${markerLsn}`;
      await importCheckSnapshot(session, watcher, o.id, {
        timeoutMs: o.reachTimeoutMs,
        ...(signal ? { signal } : {}),
        onWait: (ms) => {
          this.#view.phase = `${database}: waiting for the destination to apply up to the marker at ${markerLsn} (${Math.round(ms / 1000)}s)`;
        },
      });
      await watcher.end().catch(() => {});
      watcher = undefined;
      const atSource = new PeerSide(o.peer, o.syncId, o.id, database, signal);
      const tables: TableCheckView[] = [];
      for (const t of cut.tables) {
        this.#view.phase = `${database}: comparing ${t.schema}.${t.name}`;
        const started = Date.now();
        const r = await checkTable(t, atSource, hasher, o.table ?? DEFAULT_TABLE_CHECK, (n) => (this.#progress.rowsHashed += n));
        tables.push(r);
        o.log.info('check: table compared', { checkId: o.id, database, table: `${t.schema}.${t.name}`, equal: r.equal, rowsAtSource: r.rowsAtSource, rowsAtDestination: r.rowsAtDestination, ms: Date.now() - started });
        this.#progress.tablesDone++;
      }
      return { database, markerLsn, tables };
    } finally {
      await watcher?.end().catch(() => {});
      await hasher?.close();
    }
  }
}
