import { readFileSync } from 'node:fs';
import type { Values } from '../../../config/fields.ts';
import { InvalidOptionError } from '../../../core/errors.ts';
import { APPLY_MODES, REPLICATION_POLICIES, SYNC_PATHS, type ConfigureSyncRequest, type ConfigureSyncResponse } from '../../../control/v1/sync.ts';
import type { Command } from '../../command.ts';
import { ask, MASTER_CLIENT_FIELDS, OPERATOR_FIELDS, operatorClient } from '../get/common.ts';
import { explainOtherSide, SYNC_ID_FIELD } from '../sync-client.ts';

function readText(v: Values, key: string): string {
  const path = String(v[key]);
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new InvalidOptionError(key, `cannot be read: ${(err as Error).message}`);
  }
}

/**
 * `dcsync configure sync`: asks the destination's masters (--master.endpoint) to replicate from the source's
 * (--source.endpoint). The destination's leader checks the request, then, presenting the client keyfile
 * (--master.keyfile, issued by the source's client-auth CA), asks the source's leader to start the outgoing sync.
 */
export const configureSyncCommand: Command = {
  path: ['configure', 'sync'],
  summary: 'Configure replication from a source datacenter into this one (run against the destination)',
  fields: [
    ...MASTER_CLIENT_FIELDS.map((f) =>
      f.key === 'master.cacert'
        ? { ...f, required: false, description: "CA certificate that verifies the destination's masters (default: --source.cacert, for datacenters that share one TLS CA)" }
        : f,
    ),
    ...OPERATOR_FIELDS,
    SYNC_ID_FIELD,
    { key: 'source.endpoint', type: 'string[]', required: true, description: "Endpoints of the source datacenter's masters" },
    { key: 'source.cacert', type: 'string', required: true, description: "The source datacenter's TLS CA certificate (verifies its masters)" },
    { key: 'master.keyfile', type: 'string', required: true, description: "Client keyfile issued by the SOURCE's client-auth CA: the destination's masters present it to the source" },
    { key: 'apply.mode', type: 'string', default: 'parallel', choices: APPLY_MODES, description: "'parallel' (partitions in parallel, per-row order) or 'transactional' (source transactions whole, in commit order)" },
    { key: 'mq.partitions', type: 'number', default: 8, description: "Partitions of each database's changes topic (parallel mode)" },
    { key: 'copy.sessions', type: 'number', default: 2, description: 'Connections per database for the initial copy' },
    { key: 'mq.source-alias', type: 'string', default: 'A', description: "MirrorMaker 2's alias of the source Kafka cluster" },
    { key: 'mq.replication-policy', type: 'string', default: 'default', choices: REPLICATION_POLICIES, description: "MirrorMaker 2's replication policy ('default' prefixes topics with the alias)" },
  ],
  async action(v, { out, signal }) {
    const transactional = v['apply.mode'] === 'transactional';
    const body: ConfigureSyncRequest = {
      id: String(v['sync.id']),
      source: { endpoints: v['source.endpoint'] as string[], cacert: readText(v, 'source.cacert') },
      clientKeyfile: readText(v, 'master.keyfile'),
      settings: {
        applyMode: transactional ? 'transactional' : 'parallel',
        partitions: transactional ? 1 : Number(v['mq.partitions']),
        copySessions: Number(v['copy.sessions']),
        sourceAlias: String(v['mq.source-alias']),
        replicationPolicy: v['mq.replication-policy'] === 'identity' ? 'identity' : 'default',
      },
    };
    let r: ConfigureSyncResponse;
    const values = v['master.cacert'] === undefined ? { ...v, 'master.cacert': v['source.cacert'] } : v;
    try {
      r = await ask(operatorClient(values), (c) => c.post<ConfigureSyncResponse>(SYNC_PATHS.syncs, body, { signal, timeout: Math.max(Number(v['timeout']), 30_000) }));
    } catch (err) {
      throw explainOtherSide(err);
    }
    out.line(
      r.created
        ? `sync '${r.sync.id}' configured (run ${r.sync.run}): ${r.databases.length} database(s) from ${body.source.endpoints.join(', ')}: ${r.databases.join(', ')}`
        : `sync '${r.sync.id}' was configured already with these settings (run ${r.sync.run}); nothing changed`,
    );
    return 0;
  },
};
