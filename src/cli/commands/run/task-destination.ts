import type { ReplicationPolicy } from '../../../transport/topics.ts';
import { runDestinationSupervisor } from '../../../destination/destination-supervisor.ts';
import type { Command } from '../../command.ts';
import { COMMON_TASK_FIELDS, compileTaskCommon, RECORD_KEY_FIELD } from './task-fields.ts';

export const runTaskDestination: Command = {
  path: ['run', 'task', 'destination'],
  summary: "Run the destination tasks of a sync standalone (this datacenter's Kafka → PostgreSQL)",
  fields: [
    ...COMMON_TASK_FIELDS,
    RECORD_KEY_FIELD,
    { key: 'mq.source-alias', type: 'string', default: 'A', description: "MirrorMaker 2's alias of the source datacenter's Kafka" },
    { key: 'mq.replication-policy', type: 'string', default: 'default', choices: ['default', 'identity'], description: "MirrorMaker 2's replication policy: default prefixes topics with '<alias>.', identity keeps names" },
    { key: 'apply.mode', type: 'string', default: 'parallel', choices: ['parallel', 'transactional'], description: 'parallel: partitions applied in parallel, per-row order; transactional: source transactions whole, in commit order' },
  ],
  async action(v, ctx) {
    const { syncId, log, url, kafka, signing } = await compileTaskCommon(v, ctx.env, 'destination');
    await runDestinationSupervisor(
      {
        syncId,
        targetUrl: url,
        kafka,
        sourceAlias: String(v['mq.source-alias']),
        policy: v['mq.replication-policy'] as ReplicationPolicy,
        mode: v['apply.mode'] === 'transactional' ? 'transactional' : 'parallel',
        discoverMs: 2_000,
        log,
        ...signing,
      },
      ctx.signal,
    );
    return 0;
  },
};
