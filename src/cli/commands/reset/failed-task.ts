import { formatPath } from '../../../control/index.ts';
import { InvalidOptionError } from '../../../core/errors.ts';
import { isValidId } from '../../../control/v1/cluster.ts';
import { SYNC_PATHS, type ResetTaskResponse } from '../../../control/v1/sync.ts';
import type { Command } from '../../command.ts';
import { ask, MASTER_CLIENT_FIELDS, OPERATOR_FIELDS, operatorClient } from '../get/common.ts';

/** `dcsync reset failed task --task.id ID`: a failed task starts again (on any live worker). */
export const resetFailedTaskCommand: Command = {
  path: ['reset', 'failed', 'task'],
  summary: "Restart a failed task ('dcsync get tasks' shows the ids)",
  fields: [...MASTER_CLIENT_FIELDS, ...OPERATOR_FIELDS, { key: 'task.id', type: 'string', required: true, description: 'Id of the failed task' }],
  async action(v, { out, signal }) {
    const id = String(v['task.id']);
    if (!isValidId(id)) throw new InvalidOptionError('task.id', `'${id}' is not a task id`);
    const r = await ask(operatorClient(v), (c) => c.post<ResetTaskResponse>(formatPath(SYNC_PATHS.resetTask, { id }), {}, { signal }));
    out.line(`task '${r.taskId}' reset: ${r.state} at epoch ${r.epoch}; the leader assigns it to a worker`);
    return 0;
  },
};
