import type { Field, Values } from '../../../config/fields.ts';
import { WORKER_PORT } from '../../../control/options.ts';
import type { LogLevel } from '../../../core/logger.ts';
import type { ReplicationPolicy } from '../../../transport/topics.ts';
import { compileWorkerOptions, DEFAULT_WORKER_DATACENTER, runWorker, type WorkerOptions } from '../../../worker/worker.ts';
import type { Command } from '../../command.ts';
import { MONITORING_FIELDS, monitoringOptionsFromFlags } from './monitoring-fields.ts';
import { COMMON_TASK_FIELDS } from './task-fields.ts';

/** The flags of `dcsync run worker` (ArangoSync's, plus the PostgreSQL/Kafka flags of the task runners). */
export const WORKER_FIELDS: readonly Field[] = [
  { key: 'server.endpoint', type: 'string', required: true, description: 'Endpoint where the masters reach this worker (https://host:port); its host:port is the worker id' },
  { key: 'server.port', type: 'number', default: WORKER_PORT, description: 'Port to listen on (all addresses)' },
  { key: 'server.keyfile', type: 'string', required: true, description: 'TLS keyfile of this worker (dcsync create tls keyfile)' },
  { key: 'master.endpoint', type: 'string[]', required: true, description: "Endpoints of this datacenter's masters (repeatable or comma-separated)" },
  { key: 'master.cacert', type: 'string', description: "CA certificate (PEM) that verifies the masters; default: the CA at the end of --server.keyfile's chain" },
  { key: 'master.jwtSecret', type: 'string', required: true, description: 'JWT secret file shared by the masters and workers of this datacenter' },
  { key: 'datacenter', type: 'string', default: DEFAULT_WORKER_DATACENTER, description: "Name of this datacenter (the audience of its JWTs; the masters' --datacenter)" },
  ...COMMON_TASK_FIELDS.filter((f) => f.key !== 'sync.id'),
  { key: 'mq.partitions', type: 'number', default: 8, description: 'Partitions of each changes topic of source tasks (parallel mode)' },
  { key: 'copy.sessions', type: 'number', default: 2, description: 'Connections copying tables in parallel in source tasks' },
  { key: 'mq.source-alias', type: 'string', default: 'A', description: "MirrorMaker 2's alias of the source datacenter's Kafka (destination tasks)" },
  { key: 'mq.replication-policy', type: 'string', default: 'default', choices: ['default', 'identity'], description: "MirrorMaker 2's replication policy (destination tasks)" },
  { key: 'apply.mode', type: 'string', default: 'parallel', choices: ['parallel', 'transactional'], description: 'parallel or transactional (one ordered partition)' },
  ...MONITORING_FIELDS,
];

const opt = (v: Values, key: string): string | undefined => (typeof v[key] === 'string' ? (v[key] as string) : undefined);
const list = (v: Values, key: string): string[] => (Array.isArray(v[key]) ? (v[key] as string[]) : []);

export function workerOptionsFromFlags(v: Values): WorkerOptions {
  return {
    serverEndpoint: opt(v, 'server.endpoint') ?? '',
    serverPort: Number(v['server.port']),
    serverKeyfile: opt(v, 'server.keyfile') ?? '',
    masterEndpoints: list(v, 'master.endpoint'),
    masterCacert: opt(v, 'master.cacert'),
    jwtSecretFile: opt(v, 'master.jwtSecret') ?? '',
    datacenter: opt(v, 'datacenter'),
    clusterEndpoint: opt(v, 'cluster.endpoint') ?? '',
    clusterPasswordFile: opt(v, 'cluster.password-file'),
    clusterCacert: opt(v, 'cluster.cacert'),
    kafkaAddr: list(v, 'mq.kafka-addr'),
    kafkaCacert: opt(v, 'mq.kafka-cacert'),
    kafkaClientKeyfile: opt(v, 'mq.kafka-client-keyfile'),
    partitions: Number(v['mq.partitions']),
    copySessions: Number(v['copy.sessions']),
    sourceAlias: opt(v, 'mq.source-alias'),
    replicationPolicy: opt(v, 'mq.replication-policy') as ReplicationPolicy | undefined,
    applyMode: v['apply.mode'] === 'transactional' ? 'transactional' : 'parallel',
    logLevel: opt(v, 'log.level') as LogLevel | undefined,
    ...monitoringOptionsFromFlags(v),
  };
}

/** `dcsync run worker`: runs the tasks the masters assign until SIGTERM/SIGINT, then stops them. */
export const runWorkerCommand: Command = {
  path: ['run', 'worker'],
  summary: "Run a sync worker (registers with this datacenter's masters and runs the tasks they assign)",
  fields: WORKER_FIELDS,
  async action(v, ctx) {
    await runWorker(compileWorkerOptions(workerOptionsFromFlags(v), ctx.env), ctx.signal, ctx.onReload);
    return 0;
  },
};
