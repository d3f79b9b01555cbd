import { readFileSync } from 'node:fs';
import type { Kafka } from 'kafkajs';
import { InvalidOptionError } from '../../../core/errors.ts';
import { createLogger, type Logger, type LogLevel } from '../../../core/logger.ts';
import type { Field, Values } from '../../../config/fields.ts';
import { loadKafkaTls } from '../../../transport/kafka/tls-files.ts';
import { resolvePgUrl } from '../../../postgres/url.ts';
import { kafkaClient } from '../../../transport/kafka/client.ts';
import { parseRecordKey, type RecordKey } from '../../../transport/record-auth.ts';

function readSecretFile(key: string, file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new InvalidOptionError(key, `cannot be read: ${(err as Error).message}`);
  }
}

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

/** The standalone task runners' record key (workers get theirs from the masters, with each task). */
export const RECORD_KEY_FIELD: Field = {
  key: 'sync.record-key-file',
  type: 'string',
  description:
    "File holding the sync's record key (43 characters of base64url): the source signs every record with it, the destination applies only what verifies. Masters hand it to their workers; standalone tasks need the same file on both sides",
};

export function validSyncId(id: string): boolean {
  return /^[a-z0-9_]{1,24}$/.test(id);
}

export interface CompiledTaskCommon {
  syncId: string;
  log: Logger;
  /** The cluster URL with password and TLS settings filled in. */
  url: string;
  kafka: Kafka;
  /** Spread into the task's options: `{ recordKey }` when --sync.record-key-file is given. */
  signing: { recordKey?: RecordKey };
}

/** What both task runners take from COMMON_TASK_FIELDS: validated, secrets resolved, clients built. */
export async function compileTaskCommon(v: Values, env: NodeJS.ProcessEnv, role: 'source' | 'destination'): Promise<CompiledTaskCommon> {
  const syncId = String(v['sync.id']);
  if (!validSyncId(syncId)) throw new InvalidOptionError('sync.id', 'must be 1-24 characters of a-z, 0-9 and _');
  const log = createLogger({ level: v['log.level'] as LogLevel });
  const url = resolvePgUrl('cluster.endpoint', String(v['cluster.endpoint']), v['cluster.password-file'] as string | undefined, env, {
    caFile: v['cluster.cacert'] as string | undefined,
  });
  const ssl = await loadKafkaTls({ caFile: v['mq.kafka-cacert'] as string | undefined, clientKeyfile: v['mq.kafka-client-keyfile'] as string | undefined });
  const kafka = kafkaClient(v['mq.kafka-addr'] as string[], `dcsync-${role}-${syncId}`, log, ssl ? { ssl } : {});
  const keyFile = v['sync.record-key-file'] as string | undefined;
  const signing = keyFile ? { recordKey: parseRecordKey(readSecretFile('sync.record-key-file', keyFile), 'sync.record-key-file') } : {};
  return { syncId, log, url, kafka, signing };
}
