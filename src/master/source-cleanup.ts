/**
 * Drops what an ended run left at the source: its replication slots (which otherwise hold WAL forever), its
 * publications and its progress rows, in every database of the cluster. Run by the source's leader for each
 * row of master_cleanups. A slot still in use by a source task that has not noticed the end of its run yet is
 * left for the next round; after `terminateAfterMs` its walsender is terminated (the task was fenced already).
 */
import type pg from 'pg';
import type { Logger } from '../core/logger.ts';
import { quoteIdent } from '../model/change.ts';
import { connect } from '../postgres/connection.ts';

export interface CleanupResult {
  /** Everything of the stream is gone. */
  readonly done: boolean;
  readonly droppedSlots: readonly string[];
  readonly busySlots: readonly string[];
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Slot names of a stream's source tasks: dcsync_<stream>_<database oid> (source-task.ts slotName). */
export function slotPattern(stream: string): string {
  return `^dcsync_${escapeRegex(stream)}_[0-9]+$`;
}

async function tableExists(c: pg.Client, name: string): Promise<boolean> {
  const r = await c.query<{ ok: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS ok`, [name]);
  return r.rows[0]?.ok ?? false;
}

export async function cleanupStream(o: { clusterUrl: string; stateDatabase: string; stream: string; terminateAfterMs: number; ageMs: number; log: Logger }): Promise<CleanupResult> {
  const main = await connect({ url: o.clusterUrl, database: o.stateDatabase, applicationName: 'dcsync-master-cleanup' });
  const dropped: string[] = [];
  const busy: string[] = [];
  let databases: string[];
  try {
    const slots = await main.query<{ slot_name: string; active_pid: number | null }>(
      `SELECT slot_name, active_pid FROM pg_replication_slots WHERE slot_name ~ $1 AND NOT temporary ORDER BY slot_name`,
      [slotPattern(o.stream)],
    );
    for (const s of slots.rows) {
      if (s.active_pid !== null) {
        busy.push(s.slot_name);
        if (o.ageMs >= o.terminateAfterMs) {
          o.log.warn('slot of an ended run still in use: terminating its walsender', { slot: s.slot_name, pid: s.active_pid });
          await main.query(`SELECT pg_terminate_backend($1)`, [s.active_pid]);
        }
        continue;
      }
      await main.query(`SELECT pg_drop_replication_slot($1)`, [s.slot_name]).catch((err: unknown) => {
        // Someone took it between the two statements: the next round tries again.
        if ((err as { code?: string }).code === '55006') busy.push(s.slot_name);
        else if ((err as { code?: string }).code !== '42704') throw err;
      });
      if (!busy.includes(s.slot_name)) {
        dropped.push(s.slot_name);
        o.log.info('replication slot dropped', { slot: s.slot_name });
      }
    }
    // Publications stay while a walsender of the run still streams (it would fail on a missing publication).
    if (busy.length > 0) return { done: false, droppedSlots: dropped, busySlots: busy };
    databases = (await main.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE NOT datistemplate AND datallowconn ORDER BY datname`)).rows.map((r) => r.datname);
  } finally {
    await main.end().catch(() => {});
  }
  for (const database of databases) {
    const c = await connect({ url: o.clusterUrl, database, applicationName: 'dcsync-master-cleanup' });
    try {
      const base = `dcsync_${o.stream}`;
      await c.query(`DROP PUBLICATION IF EXISTS ${quoteIdent(`${base}_all`)}, ${quoteIdent(`${base}_ident`)}`);
      if (await tableExists(c, 'dcsync.source_tables')) await c.query(`DELETE FROM dcsync.source_tables WHERE sync_id = $1`, [o.stream]);
      if (await tableExists(c, 'dcsync.source_progress')) await c.query(`DELETE FROM dcsync.source_progress WHERE sync_id = $1`, [o.stream]);
    } finally {
      await c.end().catch(() => {});
    }
  }
  return { done: busy.length === 0, droppedSlots: dropped, busySlots: busy };
}
