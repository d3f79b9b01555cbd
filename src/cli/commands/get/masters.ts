import { MASTER_PATHS, type MastersResponse } from '../../../control/v1/cluster.ts';
import type { Command } from '../../command.ts';
import { ask, JSON_FIELD, MASTER_CLIENT_FIELDS, OPERATOR_FIELDS, operatorClient } from './common.ts';

/** `dcsync get masters`: the masters of a datacenter and which one leads. */
export const getMastersCommand: Command = {
  path: ['get', 'masters'],
  summary: 'List the masters of a datacenter and which one leads',
  fields: [...MASTER_CLIENT_FIELDS, ...OPERATOR_FIELDS, JSON_FIELD],
  async action(v, { out, signal }) {
    const r = await ask(operatorClient(v), (c) => c.get<MastersResponse>(MASTER_PATHS.masters, { signal }));
    if (v['json']) {
      out.json(r);
      return 0;
    }
    out.table(
      r.masters.map((m) => ({ id: m.id, endpoint: m.endpoint, role: m.role, alive: m.alive, 'last seen': m.lastSeen, version: m.version })),
      ['id', 'endpoint', 'role', 'alive', 'last seen', 'version'],
    );
    out.line(r.leader ? `leader: ${r.leader.id} (epoch ${r.leader.epoch})` : 'leader: none (an election is under way)');
    return 0;
  },
};
