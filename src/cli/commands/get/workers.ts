import { MASTER_PATHS, type WorkersResponse } from '../../../control/v1/cluster.ts';
import type { Command } from '../../command.ts';
import { ask, JSON_FIELD, MASTER_CLIENT_FIELDS, OPERATOR_FIELDS, operatorClient } from './common.ts';

/** `dcsync get workers`: registered workers, whether they are alive, and how many tasks they hold. */
export const getWorkersCommand: Command = {
  path: ['get', 'workers'],
  summary: 'List the workers registered with the masters of a datacenter',
  fields: [...MASTER_CLIENT_FIELDS, ...OPERATOR_FIELDS, JSON_FIELD],
  async action(v, { out, signal }) {
    const r = await ask(operatorClient(v), (c) => c.get<WorkersResponse>(MASTER_PATHS.workers, { signal }));
    if (v['json']) {
      out.json(r);
      return 0;
    }
    out.table(
      r.workers.map((w) => ({ id: w.id, endpoint: w.endpoint, alive: w.alive, tasks: w.tasks, 'last heartbeat': w.lastHeartbeat, version: w.version })),
      ['id', 'endpoint', 'alive', 'tasks', 'last heartbeat', 'version'],
    );
    return 0;
  },
};
