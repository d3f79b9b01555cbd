import type { Logger } from '../core/logger.ts';
import { delay } from '../core/time.ts';
import { listDatabases } from './catalog.ts';
import { connect } from '../postgres/connection.ts';
import { runTask, type TaskStatus } from '../core/task-runner.ts';
import { runSourceTask, type SourceTaskOptions } from './source-task.ts';

export interface SourceSupervisorOptions extends Omit<SourceTaskOptions, 'database'> {
  /** Only these databases; empty: every database of the instance except templates, new ones included. */
  databases: readonly string[];
  discoverMs: number;
  onStatus?: (s: TaskStatus) => void;
}

/** One source task per database of the source instance; new databases are picked up as they appear. */
export async function runSourceSupervisor(o: SourceSupervisorOptions, signal: AbortSignal): Promise<void> {
  const log = o.log.child({ component: 'source-supervisor', syncId: o.syncId });
  const running = new Map<string, Promise<TaskStatus>>();
  while (!signal.aborted) {
    let dbs: string[] = [...o.databases];
    if (dbs.length === 0) {
      try {
        const c = await connect({ url: o.sourceUrl, applicationName: 'dcsync-source' });
        try {
          dbs = await listDatabases(c);
        } finally {
          await c.end().catch(() => {});
        }
      } catch (err) {
        log.warn('cannot list source databases, retrying', { error: err as Error });
      }
    }
    for (const db of dbs) {
      if (running.has(db)) continue;
      log.info('source task starting', { database: db });
      running.set(db, runTask(`source:${db}`, (s) => runSourceTask({ ...o, database: db }, s), { log, signal, ...(o.onStatus ? { onStatus: o.onStatus } : {}) }));
    }
    await delay(o.discoverMs, signal).catch(() => {});
  }
  await Promise.all(running.values());
}
