import { createLogger, type LogLevel } from '../../../core/logger.ts';
import { InvalidOptionError } from '../../../core/errors.ts';
import { loadKafkaTls } from '../../../config/kafka-tls.ts';
import { resolvePgUrl } from '../../../config/pg-url.ts';
import { kafkaClient } from '../../../transport/kafka/client.ts';
import { runSourceSupervisor } from '../../../worker/source/source-supervisor.ts';
import type { Command } from '../../command.ts';
import { COMMON_TASK_FIELDS, validSyncId } from './task-fields.ts';

export const runTaskSource: Command = {
  path: ['run', 'task', 'source'],
  summary: 'Run the source tasks of a sync standalone (every database → this datacenter\'s Kafka)',
  fields: [
    ...COMMON_TASK_FIELDS,
    { key: 'databases', type: 'string[]', default: [], description: 'Only these databases (default: all but templates, new ones included)' },
    { key: 'apply.mode', type: 'string', default: 'parallel', choices: ['parallel', 'transactional'], description: 'parallel: partitions by row key; transactional: one ordered partition' },
    { key: 'mq.partitions', type: 'number', default: 8, description: 'Partitions of each changes topic in parallel mode' },
    { key: 'copy.sessions', type: 'number', default: 2, description: 'Connections copying tables in parallel during the initial copy' },
    { key: 'copy.chunk-pages', type: 'number', default: 16384, description: 'Tables larger than this many 8 kB pages are split into chunks' },
    { key: 'heartbeat', type: 'duration', default: 5000, description: 'Heartbeat interval on idle databases' },
  ],
  async action(v, ctx) {
    const syncId = String(v['sync.id']);
    if (!validSyncId(syncId)) throw new InvalidOptionError('sync.id', 'must be 1-24 characters of a-z, 0-9 and _');
    const log = createLogger({ level: v['log.level'] as LogLevel });
    const url = resolvePgUrl('cluster.endpoint', String(v['cluster.endpoint']), v['cluster.password-file'] as string | undefined, ctx.env, {
      caFile: v['cluster.cacert'] as string | undefined,
    });
    const ssl = await loadKafkaTls({ caFile: v['mq.kafka-cacert'] as string | undefined, clientKeyfile: v['mq.kafka-client-keyfile'] as string | undefined });
    const mode = v['apply.mode'] === 'transactional' ? 'transactional' : 'parallel';
    await runSourceSupervisor(
      {
        syncId,
        sourceUrl: url,
        kafka: kafkaClient(v['mq.kafka-addr'] as string[], `dcsync-source-${syncId}`, log, ssl ? { ssl } : {}),
        partitions: mode === 'transactional' ? 1 : Number(v['mq.partitions']),
        copySessions: Number(v['copy.sessions']),
        chunkPages: Number(v['copy.chunk-pages']),
        partBytes: 512 * 1024,
        heartbeatMs: Number(v['heartbeat']),
        statusIntervalMs: 10_000,
        identityCheckMs: 2_000,
        databases: v['databases'] as string[],
        discoverMs: 10_000,
        log,
      },
      ctx.signal,
    );
    return 0;
  },
};
