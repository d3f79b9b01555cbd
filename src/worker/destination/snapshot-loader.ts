import type { Kafka } from 'kafkajs';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type { Logger } from '../../core/logger.ts';
import { qualifiedName, quoteIdent, tableKey } from '../../model/change.ts';
import { decodeSnapshotRecord, type SnapshotStreamRecord } from '../../transport/records.ts';
import { consumeInOrder, nextOffset } from '../../transport/kafka/kafka-source.ts';
import type { TargetState } from './target-state.ts';

export interface SnapshotLoaderOptions {
  kafka: Kafka;
  topic: string;
  groupId: string;
  target: pg.Client;
  state: TargetState;
  log: Logger;
}

/**
 * Applies the snapshot topic in order: structure (pre-data), each table's copy (COPY of compressed parts, each
 * part once, recorded in the same transaction), then indexes and constraints (post-data). A table announced again
 * with a newer snapshot LSN (the source restarted its copy) is emptied and loaded again. Resolves once the
 * snapshot-end record is applied.
 */
export async function loadSnapshot(o: SnapshotLoaderOptions, signal: AbortSignal): Promise<void> {
  const sync = await o.state.sync(o.target);
  if (sync.snapshotComplete) return;
  const tables = await o.state.tables(o.target);
  await consumeInOrder(
    { kafka: o.kafka, topic: o.topic, groupId: o.groupId, log: o.log, ...(sync.snapshotOffset ? { startOffsets: new Map([[0, sync.snapshotOffset]]) } : {}) },
    async (records) => {
      for (const { headers, value, offset } of records) {
        const r = decodeSnapshotRecord(headers, value);
        const done = await applyRecord(o, r, tables, nextOffset(offset));
        if (done) return 'stop';
      }
      return 'continue';
    },
    signal,
  );
}

async function tx<T>(c: pg.Client, state: TargetState, next: string, fn: () => Promise<T>): Promise<T> {
  await c.query('BEGIN');
  try {
    await c.query('SET LOCAL session_replication_role = replica');
    const out = await fn();
    await state.setSnapshotOffset(c, next);
    await c.query('COMMIT');
    return out;
  } catch (err) {
    await c.query('ROLLBACK').catch(() => {});
    throw err;
  }
}

async function applyRecord(o: SnapshotLoaderOptions, r: SnapshotStreamRecord, tables: Awaited<ReturnType<TargetState['tables']>>, next: string): Promise<boolean> {
  const c = o.target;
  switch (r.kind) {
    case 'schema': {
      const sync = await o.state.sync(c);
      if (sync.schemaApplied) return false;
      await tx(c, o.state, next, async () => {
        await c.query(r.preData);
        await c.query(`SELECT pg_catalog.set_config('search_path', 'public', true)`);
        await o.state.setSchemaApplied(c);
      });
      o.log.info('structure created');
      return false;
    }
    case 'table-begin': {
      const known = tables.get(tableKey(r.table));
      if (known && known.snapshotLsn === r.snapshotLsn) return false;
      await tx(c, o.state, next, async () => {
        await c.query(`TRUNCATE ONLY ${qualifiedName(r.table)}`);
        await o.state.beginTable(c, r.table, r.snapshotLsn, r.columns, r.estimatedRows);
      });
      tables.set(tableKey(r.table), { table: r.table, snapshotLsn: r.snapshotLsn, columns: r.columns, status: 'copying', rowsCopied: 0, error: null });
      return false;
    }
    case 'chunk': {
      const known = tables.get(tableKey(r.table));
      // A part of an older copy of this table, superseded by a newer snapshot: skip.
      if (!known || known.snapshotLsn !== r.snapshotLsn) return false;
      await tx(c, o.state, next, async () => {
        if (!(await o.state.claimPart(c, r.table, r.snapshotLsn, r.chunk, r.part, r.rows))) return;
        const sql = `COPY ${qualifiedName(r.table)} (${known.columns.map(quoteIdent).join(', ')}) FROM STDIN`;
        await pipeline(Readable.from([r.data]), c.query(copyFrom(sql)));
      });
      return false;
    }
    case 'table-end': {
      const known = tables.get(tableKey(r.table));
      if (!known || known.snapshotLsn !== r.snapshotLsn) return false;
      await tx(c, o.state, next, () => o.state.endTable(c, r.table, r.rows));
      o.log.info('table loaded', { table: tableKey(r.table), rows: r.rows });
      return false;
    }
    case 'snapshot-end': {
      await tx(c, o.state, next, async () => {
        await c.query(r.postData);
        await c.query(`SELECT pg_catalog.set_config('search_path', 'public', true)`);
        await o.state.setSnapshotComplete(c);
      });
      o.log.info('initial copy applied', { tables: r.tables.length });
      return true;
    }
  }
}
