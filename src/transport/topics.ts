/**
 * Kafka layout. Per sync and source database two topics on the source datacenter's Kafka:
 *   dcsync.<sync>.<db>.snapshot  1 partition: schema, initial copy chunks, table and snapshot markers, in order
 *   dcsync.<sync>.<db>.changes   N partitions (1 in transactional mode): row changes, partitioned by (table, key)
 *   dcsync.<sync>.<db>.sequences 1 partition: the values of the database's sequences, sampled every couple of seconds
 * MirrorMaker 2 copies them to the destination's Kafka, under `<alias>.<name>` (default policy) or unchanged
 * (identity policy). Database names become a reversible token: [A-Za-z0-9-] stay, other bytes are `_HH`.
 */
export type TopicKind = 'snapshot' | 'changes' | 'sequences';
export type ReplicationPolicy = 'default' | 'identity';

export function encodeDatabaseToken(db: string): string {
  let out = '';
  for (const byte of Buffer.from(db, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9-]/.test(c) ? c : '_' + byte.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

export function decodeDatabaseToken(token: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < token.length; i++) {
    if (token[i] === '_') {
      bytes.push(parseInt(token.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(token.charCodeAt(i));
  }
  return Buffer.from(bytes).toString('utf8');
}

export function topicName(syncId: string, database: string, kind: TopicKind): string {
  return `dcsync.${syncId}.${encodeDatabaseToken(database)}.${kind}`;
}

/** The name MirrorMaker 2 gives the topic on the destination's Kafka. */
export function remoteTopicName(policy: ReplicationPolicy, sourceAlias: string, topic: string): string {
  return policy === 'identity' ? topic : `${sourceAlias}.${topic}`;
}

/** Parses a destination-side topic name back into (database, kind), or undefined if it is not one of this sync's. */
export function parseRemoteTopic(
  policy: ReplicationPolicy,
  sourceAlias: string,
  syncId: string,
  remote: string,
): { database: string; kind: TopicKind } | undefined {
  const prefix = (policy === 'identity' ? '' : `${sourceAlias}.`) + `dcsync.${syncId}.`;
  if (!remote.startsWith(prefix)) return undefined;
  const m = /^([A-Za-z0-9_-]+)\.(snapshot|changes|sequences)$/.exec(remote.slice(prefix.length));
  if (!m) return undefined;
  return { database: decodeDatabaseToken(m[1]!), kind: m[2] as TopicKind };
}
