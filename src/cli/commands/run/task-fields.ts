import type { Field } from '../../../config/fields.ts';

/** Flags shared by the standalone task runners (and later by `run worker`). */
export const COMMON_TASK_FIELDS: readonly Field[] = [
  { key: 'sync.id', type: 'string', default: 'main', description: 'Name of the sync (letters, digits, underscore); part of topic, slot and publication names' },
  { key: 'cluster.endpoint', type: 'string', required: true, description: 'PostgreSQL URL of this datacenter (e.g. postgres://dcsync@127.0.0.1:5432/postgres)' },
  { key: 'cluster.password-file', type: 'string', description: 'File holding the PostgreSQL password (else DCSYNC_CLUSTER_PASSWORD or PGPASSWORD)' },
  { key: 'mq.kafka-addr', type: 'string[]', required: true, description: "This datacenter's Kafka bootstrap servers (host:port, repeatable)" },
  { key: 'log.level', type: 'string', default: 'info', choices: ['debug', 'info', 'warn', 'error'], description: 'Log level' },
];

export function validSyncId(id: string): boolean {
  return /^[a-z0-9_]{1,24}$/.test(id);
}
