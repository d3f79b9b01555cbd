/**
 * A check's cut at the source (run by A's leading master in A's PostgreSQL). In a short transaction the checked
 * tables are locked IN SHARE MODE (which waits for the transactions writing them and holds off new writes), a
 * snapshot is exported, and a non-transactional `dcsync.check` message enters the WAL at once: after every commit
 * the snapshot sees, before every later one. A second session imports the snapshot and the first commits, so A's
 * writes wait only for milliseconds. The lock gives up after `lockTimeoutMs` and is tried again later, rather than
 * making the application's writes queue behind it.
 */
import type pg from 'pg';
import { errorMessage } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { delay } from '../core/time.ts';
import { qualifiedName } from '../model/change.ts';
import { connect } from '../postgres/connection.ts';
import { listSourceTables } from '../source/catalog.ts';
import { CHECK_PREFIX, type CheckMarkerMessage } from '../source/change-capture.ts';
import type { CheckedTableInfo } from '../control/v1/check.ts';
import { SnapshotHasher } from './snapshot-hasher.ts';


export interface SourceCutOptions {
  url: string;
  database: string;
  syncId: string;
  checkId: string;
  /** `schema.table` names; empty: every replicated table of the database. */
  tables: readonly string[];
  lockTimeoutMs?: number;
  attempts?: number;
  log: Logger;
  signal?: AbortSignal;
}

export interface SourceCut {
  readonly hasher: SnapshotHasher;
  readonly tables: CheckedTableInfo[];
  /** The marker message's end LSN, as text: where the destination meets the cut. */
  readonly markerLsn: string;
}

/** A cut, or none when the database has none of the tables named (a table may live in one database of several). */
export interface SourceCutOutcome {
  readonly cut: SourceCut | undefined;
  /** Names given that this database does not replicate. */
  readonly unknown: string[];
}

/** The tables to check, with the key the comparison uses (none for a table replicated by its whole row). */
async function checkedTables(c: pg.ClientBase, names: readonly string[]): Promise<{ tables: CheckedTableInfo[]; unknown: string[] }> {
  const all = (await listSourceTables(c)).map((t) => ({
    schema: t.table.schema,
    name: t.table.name,
    keyColumns: t.fullIdentity ? [] : t.keyColumns,
    estimatedRows: t.estimatedRows,
  }));
  if (names.length === 0) return { tables: all, unknown: [] };
  const byName = new Map(all.map((t) => [`${t.schema}.${t.name}`, t]));
  const wanted = [...new Set(names)];
  return { tables: wanted.filter((n) => byName.has(n)).map((n) => byName.get(n)!), unknown: wanted.filter((n) => !byName.has(n)) };
}

export async function openSourceCut(o: SourceCutOptions): Promise<SourceCutOutcome> {
  const lockTimeoutMs = o.lockTimeoutMs ?? 2_000;
  const attempts = o.attempts ?? 10;
  const locker = await connect({ url: o.url, database: o.database, applicationName: 'dcsync-check-cut' });
  let reader: pg.Client | undefined;
  let handedOver = false;
  try {
    const { tables, unknown } = await checkedTables(locker, o.tables);
    if (o.tables.length > 0 && tables.length === 0) return { cut: undefined, unknown };
    const session = (reader = await connect({ url: o.url, database: o.database, applicationName: 'dcsync-check-hash' }));
    const marker: CheckMarkerMessage = { syncId: o.syncId, checkId: o.checkId };
    for (let attempt = 1; ; attempt++) {
      await locker.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      try {
        await locker.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.round(lockTimeoutMs))}`);
        if (tables.length > 0) await locker.query(`LOCK TABLE ${tables.map((t) => qualifiedName({ schema: t.schema, name: t.name })).join(', ')} IN SHARE MODE`);
        const snap = await locker.query<{ s: string }>('SELECT pg_export_snapshot() AS s');
        const lsn = await locker.query<{ lsn: string }>('SELECT pg_logical_emit_message(false, $1, $2)::text AS lsn', [CHECK_PREFIX, JSON.stringify(marker)]);
        await session.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
        await session.query(`SET TRANSACTION SNAPSHOT '${snap.rows[0]!.s}'`);
        await locker.query('COMMIT');
        o.log.info('check cut taken at the source', { checkId: o.checkId, database: o.database, lsn: lsn.rows[0]!.lsn, tables: tables.length, attempt });
        handedOver = true;
        return { cut: { hasher: new SnapshotHasher(session), tables, markerLsn: lsn.rows[0]!.lsn }, unknown };
      } catch (err) {
        await locker.query('ROLLBACK').catch(() => {});
        await session.query('ROLLBACK').catch(() => {});
        // 55P03 lock_not_available: the tables are busy right now; the application's writes go first.
        if ((err as { code?: string }).code !== '55P03' || attempt >= attempts) throw err;
        o.log.info('check cut: tables busy, trying again', { checkId: o.checkId, database: o.database, attempt, error: errorMessage(err) });
        await delay(500 * attempt, o.signal);
      }
    }
  } finally {
    await locker.end().catch(() => {});
    if (!handedOver) await reader?.end().catch(() => {});
  }
}
