import type { Logger } from '../core/logger.ts';
import { delay } from '../core/time.ts';
import { listTopics } from '../transport/kafka/admin.ts';
import { parseRemoteTopic } from '../transport/topics.ts';
import { runTask, type TaskStatus } from '../core/task-runner.ts';
import { runDestinationTask, type DestinationTaskOptions } from './destination-task.ts';

export interface DestinationSupervisorOptions extends Omit<DestinationTaskOptions, 'database' | 'epoch'> {
  /**
   * The tasks' fencing token; default the time this supervisor started (ms): a standalone process started later
   * takes the target databases over from an earlier one, which stops at its next write.
   */
  epoch?: number;
  discoverMs: number;
  onStatus?: (s: TaskStatus) => void;
}

/** One destination task per source database, discovered from the snapshot topics MirrorMaker 2 brings over. */
export async function runDestinationSupervisor(o: DestinationSupervisorOptions, signal: AbortSignal): Promise<void> {
  const log: Logger = o.log.child({ component: 'destination-supervisor', syncId: o.syncId });
  const running = new Map<string, Promise<TaskStatus>>();
  const epoch = o.epoch ?? Date.now();
  while (!signal.aborted) {
    try {
      const topics = await listTopics(o.kafka, (t) => parseRemoteTopic(o.policy, o.sourceAlias, o.syncId, t)?.kind === 'snapshot');
      for (const t of topics) {
        const db = parseRemoteTopic(o.policy, o.sourceAlias, o.syncId, t)!.database;
        if (running.has(db)) continue;
        log.info('destination task starting', { database: db });
        running.set(db, runTask(`destination:${db}`, (s) => runDestinationTask({ ...o, database: db, epoch, holder: o.holder ?? `standalone pid ${process.pid}` }, s), { log, signal, ...(o.onStatus ? { onStatus: o.onStatus } : {}) }));
      }
    } catch (err) {
      log.warn('cannot list topics, retrying', { error: err as Error });
    }
    await delay(o.discoverMs, signal).catch(() => {});
  }
  await Promise.all(running.values());
}
