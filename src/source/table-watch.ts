import type pg from 'pg';
import type { Logger } from '../core/logger.ts';
import { tableKey, type TableId } from '../model/change.ts';
import { ensurePublications, listSourceTables, tableShapeChange, updateDeleteCounters, type SourceTable } from './catalog.ts';
import { structureChanged } from './change-builder.ts';
import { TABLE_FAILED_PREFIX, type TableFailedMessage } from './change-capture.ts';

export interface TableWatchOptions {
  /** A normal (not replication) connection to the source database. */
  conn: pg.ClientBase;
  syncId: string;
  publicationBase: string;
  /** The tables as announced with the initial copy: what the destination holds. */
  announced: readonly SourceTable[];
  /** Per oid, the tables' update + delete counters when the sync started (see updateDeleteCounters). */
  baseline: ReadonlyMap<number, number>;
  log: Logger;
}

/**
 * What the stream cannot show: updates and deletes of tables whose updates are not published (no usable replica
 * identity), tables dropped, created again or altered (also while the task was stopped), and the publications
 * following the catalog, so that a table that lost its identity leaves the update/delete publication and the
 * application's writes at the source never fail because of dcsync. A table found so stops with a transactional
 * logical message: it reaches the stream, and the destination, at its own commit position, after every change
 * made before it.
 */
export class TableWatch {
  readonly #failed = new Set<string>();

  constructor(private readonly o: TableWatchOptions) {}

  /** Tables stopped by this watch since the task started. */
  get failed(): ReadonlySet<string> {
    return this.#failed;
  }

  async check(): Promise<void> {
    const now = await listSourceTables(this.o.conn);
    await ensurePublications(this.o.conn, this.o.publicationBase, now);
    const keyless = this.o.announced.filter((t) => t.noIdentity);
    const counters = await updateDeleteCounters(this.o.conn, keyless.map((t) => t.oid));
    const byName = new Map(now.map((t) => [tableKey(t.table), t]));
    for (const t of this.o.announced) {
      const k = tableKey(t.table);
      if (this.#failed.has(k)) continue;
      const current = byName.get(k);
      const change = !current ? 'it was dropped' : tableShapeChange(t, current);
      if (change !== undefined) await this.#fail(t.table, structureChanged(`table ${k}`, change));
      else if (t.noIdentity && (counters.get(t.oid) ?? 0) > (this.o.baseline.get(t.oid) ?? 0)) await this.#fail(t.table, keylessUpdateReason(t));
    }
  }

  async #fail(table: TableId, reason: string): Promise<void> {
    const k = tableKey(table);
    this.#failed.add(k);
    this.o.log.error('table replication stopped', { table: k, reason });
    const message: TableFailedMessage = { syncId: this.o.syncId, table, reason };
    await this.o.conn.query(`SELECT pg_logical_emit_message(true, $1, $2)`, [TABLE_FAILED_PREFIX, JSON.stringify(message)]);
  }
}

/** Why a table without a usable replica identity stops at its first update or delete, and the fix. */
export function keylessUpdateReason(t: SourceTable): string {
  const k = tableKey(t.table);
  const why =
    t.identity === 'n'
      ? 'has REPLICA IDENTITY NOTHING'
      : t.identity === 'i'
        ? 'has REPLICA IDENTITY USING INDEX of an index that no longer exists'
        : 'has no primary key and no replica identity';
  const fix = t.identity === 'n' || t.identity === 'i' ? `ALTER TABLE ${k} REPLICA IDENTITY DEFAULT (with a primary key) or FULL` : `ALTER TABLE ${k} REPLICA IDENTITY FULL (or add a primary key)`;
  return `an UPDATE or DELETE was made on table ${k}, which ${why}, so its updates and deletes cannot be replicated; the table's replication is stopped (the other tables go on). Fix: ${fix}, then stop the sync and configure it again.`;
}
