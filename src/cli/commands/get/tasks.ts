import { MASTER_PATHS, type TasksResponse } from '../../../control/v1/cluster.ts';
import type { Command } from '../../command.ts';
import { ask, JSON_FIELD, MASTER_CLIENT_FIELDS, OPERATOR_FIELDS, operatorClient } from './common.ts';

/** `dcsync get tasks`: every task (one per sync and source database) with its worker, epoch and state. */
export const getTasksCommand: Command = {
  path: ['get', 'tasks'],
  summary: 'List the tasks of a datacenter with their worker, epoch and state',
  fields: [
    ...MASTER_CLIENT_FIELDS,
    ...OPERATOR_FIELDS,
    { key: 'sync.id', type: 'string', description: 'Only the tasks of this sync' },
    { key: 'worker.id', type: 'string', description: 'Only the tasks of this worker' },
    JSON_FIELD,
  ],
  async action(v, { out, signal }) {
    const query = { sync: v['sync.id'] as string | undefined, worker: v['worker.id'] as string | undefined };
    const r = await ask(operatorClient(v), (c) => c.get<TasksResponse>(MASTER_PATHS.tasks, { signal, query }));
    if (v['json']) {
      out.json(r);
      return 0;
    }
    out.table(
      r.tasks.map((t) => ({ id: t.id, sync: t.syncId, kind: t.kind, database: t.database, worker: t.workerId, epoch: t.epoch, state: t.state, error: t.error })),
      ['id', 'sync', 'kind', 'database', 'worker', 'epoch', 'state', 'error'],
    );
    return 0;
  },
};
