import { createLogger, type LogLevel } from '../../../core/logger.ts';
import { InvalidOptionError } from '../../../core/errors.ts';
import { loadKafkaTls } from '../../../config/kafka-tls.ts';
import { resolvePgUrl } from '../../../config/pg-url.ts';
import { kafkaClient } from '../../../transport/kafka/client.ts';
import type { ReplicationPolicy } from '../../../transport/topics.ts';
import { runDestinationSupervisor } from '../../../worker/destination/destination-supervisor.ts';
import type { Command } from '../../command.ts';
import { COMMON_TASK_FIELDS, validSyncId } from './task-fields.ts';

export const runTaskDestination: Command = {
  path: ['run', 'task', 'destination'],
  summary: "Run the destination tasks of a sync standalone (this datacenter's Kafka → PostgreSQL)",
  fields: [
    ...COMMON_TASK_FIELDS,
    { key: 'mq.source-alias', type: 'string', default: 'A', description: "MirrorMaker 2's alias of the source datacenter's Kafka" },
    { key: 'mq.replication-policy', type: 'string', default: 'default', choices: ['default', 'identity'], description: "MirrorMaker 2's replication policy: default prefixes topics with '<alias>.', identity keeps names" },
    { key: 'apply.mode', type: 'string', default: 'parallel', choices: ['parallel', 'transactional'], description: 'parallel: partitions applied in parallel, per-row order; transactional: source transactions whole, in commit order' },
  ],
  async action(v, ctx) {
    const syncId = String(v['sync.id']);
    if (!validSyncId(syncId)) throw new InvalidOptionError('sync.id', 'must be 1-24 characters of a-z, 0-9 and _');
    const log = createLogger({ level: v['log.level'] as LogLevel });
    const url = resolvePgUrl('cluster.endpoint', String(v['cluster.endpoint']), v['cluster.password-file'] as string | undefined, ctx.env, {
      caFile: v['cluster.cacert'] as string | undefined,
    });
    const ssl = await loadKafkaTls({ caFile: v['mq.kafka-cacert'] as string | undefined, clientKeyfile: v['mq.kafka-client-keyfile'] as string | undefined });
    await runDestinationSupervisor(
      {
        syncId,
        targetUrl: url,
        kafka: kafkaClient(v['mq.kafka-addr'] as string[], `dcsync-destination-${syncId}`, log, ssl ? { ssl } : {}),
        sourceAlias: String(v['mq.source-alias']),
        policy: v['mq.replication-policy'] as ReplicationPolicy,
        mode: v['apply.mode'] === 'transactional' ? 'transactional' : 'parallel',
        discoverMs: 2_000,
        log,
      },
      ctx.signal,
    );
    return 0;
  },
};
