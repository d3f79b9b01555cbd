import type { Field, Values } from '../../../config/fields.ts';
import { MASTER_PORT } from '../../../control/options.ts';
import type { LogLevel } from '../../../core/logger.ts';
import { compileMasterOptions, DEFAULT_DATACENTER, MQ_TYPES, runMaster, type MasterOptions } from '../../../master/index.ts';
import type { Command } from '../../command.ts';
import { MONITORING_FIELDS, monitoringOptionsFromFlags } from './monitoring-fields.ts';

/** The flags of `dcsync run master`, as ArangoSync's (plus --datacenter, --cluster.password-file, --cluster.cacert). */
export const MASTER_FIELDS: readonly Field[] = [
  { key: 'server.endpoint', type: 'string', required: true, description: 'Endpoint where workers, the other masters and the CLI reach this master (https://host:port)' },
  { key: 'server.port', type: 'number', default: MASTER_PORT, description: 'Port to listen on (all addresses)' },
  { key: 'server.keyfile', type: 'string', required: true, description: 'TLS keyfile of this master (dcsync create tls keyfile)' },
  { key: 'server.client-cafile', type: 'string', description: "Client-auth CA certificate: accepts the other datacenter's masters (dcsync create client-auth ca)" },
  { key: 'cluster.endpoint', type: 'string', required: true, description: "PostgreSQL URL of this datacenter; the masters keep their state in its 'postgres' database, schema dcsync" },
  { key: 'cluster.password-file', type: 'string', description: 'File holding the PostgreSQL password (else DCSYNC_CLUSTER_PASSWORD or PGPASSWORD)' },
  { key: 'cluster.cacert', type: 'string', description: 'CA certificate file (PEM) that verifies PostgreSQL (sslmode=verify-full)' },
  { key: 'master.endpoint', type: 'string[]', description: 'Endpoints of every master of this datacenter, this one included (repeatable or comma-separated)' },
  { key: 'master.jwtSecret', type: 'string', required: true, description: 'JWT secret file shared by the masters and workers of this datacenter (dcsync create jwt-secret)' },
  { key: 'datacenter', type: 'string', default: DEFAULT_DATACENTER, description: 'Name of this datacenter: the audience of its JWTs (workers must use the same)' },
  { key: 'mq.type', type: 'string', default: 'kafka', choices: MQ_TYPES, description: 'Message queue between the datacenters' },
  { key: 'mq.kafka-addr', type: 'string[]', description: "This datacenter's Kafka bootstrap servers (host:port, repeatable); required with --mq.type=kafka" },
  { key: 'log.level', type: 'string', default: 'info', choices: ['debug', 'info', 'warn', 'error'], description: 'Log level' },
  ...MONITORING_FIELDS,
];

const opt = (v: Values, key: string): string | undefined => (typeof v[key] === 'string' ? (v[key] as string) : undefined);
const list = (v: Values, key: string): string[] | undefined => (Array.isArray(v[key]) ? (v[key] as string[]) : undefined);

/** The flags as MasterOptions (names only; compileMasterOptions checks them). */
export function masterOptionsFromFlags(v: Values): MasterOptions {
  return {
    serverEndpoint: opt(v, 'server.endpoint') ?? '',
    serverPort: Number(v['server.port']),
    serverKeyfile: opt(v, 'server.keyfile') ?? '',
    serverClientCafile: opt(v, 'server.client-cafile'),
    clusterEndpoint: opt(v, 'cluster.endpoint') ?? '',
    clusterPasswordFile: opt(v, 'cluster.password-file'),
    clusterCacert: opt(v, 'cluster.cacert'),
    masterEndpoints: list(v, 'master.endpoint'),
    jwtSecretFile: opt(v, 'master.jwtSecret') ?? '',
    datacenter: opt(v, 'datacenter'),
    mqType: opt(v, 'mq.type'),
    kafkaAddr: list(v, 'mq.kafka-addr'),
    logLevel: opt(v, 'log.level') as LogLevel | undefined,
    ...monitoringOptionsFromFlags(v),
  };
}

/** `dcsync run master`: runs until SIGTERM/SIGINT, then stops gracefully. */
export const runMasterCommand: Command = {
  path: ['run', 'master'],
  summary: 'Run a sync master (HTTPS API, leader election and scheduling through this datacenter\'s PostgreSQL)',
  fields: MASTER_FIELDS,
  async action(v, ctx) {
    await runMaster(compileMasterOptions(masterOptionsFromFlags(v), ctx.env), ctx.signal, ctx.onReload);
    return 0;
  },
};
