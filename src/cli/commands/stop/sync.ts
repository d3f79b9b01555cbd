import { formatPath } from '../../../control/index.ts';
import { SYNC_PATHS, type StopSyncResponse } from '../../../control/v1/sync.ts';
import type { Command } from '../../command.ts';
import { ask, OPERATOR_FIELDS, operatorClient } from '../get/common.ts';
import { explainOtherSide, SYNC_ID_FIELD } from '../sync-client.ts';

export const LIFECYCLE_CLIENT_FIELDS = [
  { key: 'master.endpoint', type: 'string[]', required: true, description: 'Endpoints of the masters of the datacenter (all of them; repeatable or comma-separated)' },
  { key: 'master.cacert', type: 'string', required: true, description: "CA certificate that verifies the masters' TLS certificates (the TLS CA)" },
  ...OPERATOR_FIELDS,
  SYNC_ID_FIELD,
  { key: 'timeout', type: 'duration', default: 60_000, description: 'How long to wait for the source to drop its slots and publications' },
] as const;

/** `dcsync stop sync`: stops both sides; the source drops the slots and publications; status becomes inactive. */
export const stopSyncCommand: Command = {
  path: ['stop', 'sync'],
  summary: 'Stop the sync on both sides (run against the destination); the source drops its slots and publications',
  fields: LIFECYCLE_CLIENT_FIELDS,
  async action(v, { out, signal }) {
    const timeoutMs = Number(v['timeout']);
    const client = operatorClient({ ...v, timeout: timeoutMs + 15_000 });
    let r: StopSyncResponse;
    try {
      r = await ask(client, (c) => c.post<StopSyncResponse>(formatPath(SYNC_PATHS.stopSync, { id: String(v['sync.id']) }), { timeoutMs }, { signal }));
    } catch (err) {
      throw explainOtherSide(err);
    }
    out.line(`sync '${r.sync.id}': ${r.sync.status}: ${r.message}`);
    return r.sourceCleaned ? 0 : 1;
  },
};
