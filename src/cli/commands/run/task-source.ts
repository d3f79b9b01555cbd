import { runSourceSupervisor } from '../../../source/source-supervisor.ts';
import type { Command } from '../../command.ts';
import { COMMON_TASK_FIELDS, compileTaskCommon, RECORD_KEY_FIELD } from './task-fields.ts';

export const runTaskSource: Command = {
  path: ['run', 'task', 'source'],
  summary: 'Run the source tasks of a sync standalone (every database → this datacenter\'s Kafka)',
  fields: [
    ...COMMON_TASK_FIELDS,
    RECORD_KEY_FIELD,
    { key: 'databases', type: 'string[]', default: [], description: 'Only these databases (default: all but templates, new ones included)' },
    { key: 'apply.mode', type: 'string', default: 'parallel', choices: ['parallel', 'transactional'], description: 'parallel: partitions by row key; transactional: one ordered partition' },
    { key: 'mq.partitions', type: 'number', default: 8, description: 'Partitions of each changes topic in parallel mode' },
    { key: 'copy.sessions', type: 'number', default: 2, description: 'Connections copying tables in parallel during the initial copy' },
    { key: 'copy.chunk-pages', type: 'number', default: 16384, description: 'Tables larger than this many 8 kB pages are split into chunks' },
    { key: 'heartbeat', type: 'duration', default: 5000, description: 'Heartbeat interval on idle databases' },
  ],
  async action(v, ctx) {
    const { syncId, log, url, kafka, signing } = await compileTaskCommon(v, ctx.env, 'source');
    const mode = v['apply.mode'] === 'transactional' ? 'transactional' : 'parallel';
    await runSourceSupervisor(
      {
        syncId,
        sourceUrl: url,
        kafka,
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
        ...signing,
      },
      ctx.signal,
    );
    return 0;
  },
};
