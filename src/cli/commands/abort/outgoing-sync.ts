import { formatPath } from '../../../control/index.ts';
import { SYNC_PATHS, type StopSyncResponse } from '../../../control/v1/sync.ts';
import type { Command } from '../../command.ts';
import { ask, operatorClient } from '../get/common.ts';
import { LIFECYCLE_CLIENT_FIELDS } from '../stop/sync.ts';

/** `dcsync abort outgoing sync`: at the source, ends a sync whose destination is gone, dropping slots and publications. */
export const abortOutgoingSyncCommand: Command = {
  path: ['abort', 'outgoing', 'sync'],
  summary: 'End an outgoing sync at the source (its destination is gone): drops its slots and publications',
  fields: LIFECYCLE_CLIENT_FIELDS,
  async action(v, { out, signal }) {
    const timeoutMs = Number(v['timeout']);
    const client = operatorClient({ ...v, timeout: timeoutMs + 15_000 });
    const r = await ask(client, (c) => c.post<StopSyncResponse>(formatPath(SYNC_PATHS.abortOutgoing, { id: String(v['sync.id']) }), { timeoutMs }, { signal }));
    out.line(`outgoing sync '${r.sync.id}': ${r.sync.status}: ${r.message}`);
    return r.sourceCleaned ? 0 : 1;
  },
};
