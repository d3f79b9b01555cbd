import type { Field } from '../../../config/fields.ts';

/** Flags shared by the standalone task runners (and later by `run worker`). */
export const COMMON_TASK_FIELDS: readonly Field[] = [
  { key: 'sync.id', type: 'string', default: 'main', description: 'Name of the sync (letters, digits, underscore); part of topic, slot and publication names' },
  { key: 'cluster.endpoint', type: 'string', required: true, description: 'PostgreSQL URL of this datacenter (e.g. postgres://dcsync@127.0.0.1:5432/postgres)' },
  { key: 'cluster.password-file', type: 'string', description: 'File holding the PostgreSQL password (else DCSYNC_CLUSTER_PASSWORD or PGPASSWORD)' },
  { key: 'cluster.cacert', type: 'string', description: 'CA certificate file (PEM) that verifies PostgreSQL: connects with sslmode=verify-full (verify-ca if the URL says so); sslmode/sslrootcert in the URL work too' },
  { key: 'mq.kafka-addr', type: 'string[]', required: true, description: "This datacenter's Kafka bootstrap servers (host:port, repeatable)" },
  { key: 'mq.kafka-cacert', type: 'string', description: "CA certificate file (PEM) that verifies the Kafka brokers: connects to them with TLS (host names checked)" },
  { key: 'mq.kafka-client-keyfile', type: 'string', description: 'Keyfile (dcsync create client-auth keyfile) presented to brokers that require TLS client authentication' },
  { key: 'log.level', type: 'string', default: 'info', choices: ['debug', 'info', 'warn', 'error'], description: 'Log level' },
];

export function validSyncId(id: string): boolean {
  return /^[a-z0-9_]{1,24}$/.test(id);
}
