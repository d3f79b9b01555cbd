import { formatPath } from '../../../control/index.ts';
import { SYNC_PATHS, type StopSyncResponse } from '../../../control/v1/sync.ts';
import type { Command } from '../../command.ts';
import { ask, MASTER_CLIENT_FIELDS, OPERATOR_FIELDS, operatorClient } from '../get/common.ts';
import { SYNC_ID_FIELD } from '../sync-client.ts';

/** `dcsync abort sync`: stops the destination side alone, for when the source cannot be reached. */
export const abortSyncCommand: Command = {
  path: ['abort', 'sync'],
  summary: 'Stop the sync at the destination only (when the source cannot be reached)',
  fields: [...MASTER_CLIENT_FIELDS, ...OPERATOR_FIELDS, SYNC_ID_FIELD],
  async action(v, { out, signal }) {
    const r = await ask(operatorClient(v), (c) => c.post<StopSyncResponse>(formatPath(SYNC_PATHS.abortSync, { id: String(v['sync.id']) }), {}, { signal }));
    out.line(`sync '${r.sync.id}': ${r.sync.status}: ${r.message}`);
    return 0;
  },
};
