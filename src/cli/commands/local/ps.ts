import { localPs } from '../../../../tools/local/deployment.ts';
import { readLocalState } from '../../../../tools/local/state.ts';
import type { Command } from '../../command.ts';
import { JSON_FIELD } from '../get/common.ts';
import { dirOf, DIR_FIELD } from './common.ts';

/** `dcsync local ps --dir DIR [--json]`: what `local up` started and whether it still runs. */
export const localPsCommand: Command = {
  path: ['local', 'ps'],
  summary: 'List the processes of a local deployment (name, role, datacenter, pid, alive, port)',
  fields: [DIR_FIELD, JSON_FIELD],
  async action(v, { out }) {
    const state = readLocalState(dirOf(v));
    const ps = localPs(state).map((p) => ({ name: p.name, role: p.role, datacenter: p.datacenter, pid: p.pid, alive: p.alive, port: p.port, log: p.logFile }));
    if (v['json']) {
      out.json({ dir: state.dir, status: state.status, processes: ps });
      return 0;
    }
    out.table(ps, ['name', 'role', 'datacenter', 'pid', 'alive', 'port', 'log']);
    out.line(`${ps.filter((p) => p.alive).length} of ${ps.length} running (deployment ${state.status})`);
    return 0;
  },
};
