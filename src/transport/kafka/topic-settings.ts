/**
 * The settings of dcsync's topics: set explicitly when a topic is created, and checked on every start, so that a
 * topic can neither drop records silently (compaction, a retention shorter than an outage the operator plans for)
 * nor lose acknowledged ones (too few replicas, unclean leader election).
 */
import type { TopicKind } from '../topics.ts';

/** The changes topic keeps records this long when dcsync creates it. */
export const CHANGES_RETENTION_MS = 7 * 24 * 3600_000;
/** A changes topic keeping records less long than this is refused: the destination's outages must fit in it. */
export const MIN_RETENTION_MS = 24 * 3600_000;
/** A per-partition byte cap below this is refused (a backlog of a busy day must fit). */
export const MIN_RETENTION_BYTES = 1024 ** 3;

export interface Replication {
  /** Replicas of each partition. */
  factor: number;
  minInsyncReplicas: number;
}

/** What a topic needs on a cluster of `brokers` brokers: up to 3 replicas, and an acknowledgement by 2 of them. */
export function replicationFor(brokers: number): Replication {
  const factor = Math.max(1, Math.min(3, brokers));
  return { factor, minInsyncReplicas: Math.min(2, factor) };
}

/** The configuration dcsync creates a topic with. */
export function topicConfigs(kind: TopicKind, replication: Replication): Record<string, string> {
  const common = {
    'max.message.bytes': String(16 * 1024 * 1024),
    'min.insync.replicas': String(replication.minInsyncReplicas),
    'unclean.leader.election.enable': 'false',
  };
  switch (kind) {
    case 'snapshot':
      return { ...common, 'cleanup.policy': 'delete', 'retention.ms': '-1', 'retention.bytes': '-1' };
    case 'changes':
      return { ...common, 'cleanup.policy': 'delete', 'retention.ms': String(CHANGES_RETENTION_MS), 'retention.bytes': '-1' };
    case 'sequences':
      // Only each sequence's latest value matters: compaction keeps it.
      return { ...common, 'cleanup.policy': 'compact' };
  }
}

export interface TopicFacts {
  topic: string;
  kind: TopicKind;
  configs: ReadonlyMap<string, string>;
  /** The fewest replicas of any of its partitions. */
  replicas: number;
  brokers: number;
  /**
   * A destination's topic, made by MirrorMaker 2: its initial copy only has to outlast the destination's reading of
   * it, and its replication is the mirror's (deploy/kafka/), so only what drops records is checked.
   */
  mirrored?: boolean;
}

/** What is wrong with an existing topic's settings, each with what to do; empty when nothing is. */
export function topicProblems(f: TopicFacts): string[] {
  const out: string[] = [];
  const get = (name: string): string | undefined => f.configs.get(name);
  const alter = (name: string, value: string): string => `kafka-configs.sh --alter --entity-type topics --entity-name ${f.topic} --add-config ${name}=${value}`;
  if (f.kind !== 'sequences') {
    const policy = get('cleanup.policy') ?? 'delete';
    if (policy !== 'delete') out.push(`cleanup.policy is '${policy}': compaction drops records the destination needs (${alter('cleanup.policy', 'delete')})`);
    const ms = Number(get('retention.ms') ?? '-1');
    const keepAll = f.kind === 'snapshot' && !f.mirrored;
    if (ms !== -1 && (keepAll || ms < MIN_RETENTION_MS))
      out.push(
        keepAll
          ? `retention.ms is ${ms}: the initial copy must stay until the destination read it (${alter('retention.ms', '-1')})`
          : `retention.ms is ${ms}, below the minimum of ${MIN_RETENTION_MS} (24 h) (${alter('retention.ms', String(CHANGES_RETENTION_MS))})`,
      );
    const bytes = Number(get('retention.bytes') ?? '-1');
    if (bytes !== -1 && (keepAll || bytes < MIN_RETENTION_BYTES))
      out.push(`retention.bytes is ${bytes}: a byte cap expires records of a backlog the destination has not read (${alter('retention.bytes', '-1')})`);
  }
  if (f.mirrored) return out;
  if (get('unclean.leader.election.enable') === 'true')
    out.push(`unclean.leader.election.enable is true: a lagging replica may become leader and lose acknowledged records (${alter('unclean.leader.election.enable', 'false')})`);
  const need = replicationFor(f.brokers);
  if (f.replicas < need.factor) out.push(`it has ${f.replicas} replica(s) on a cluster of ${f.brokers} brokers: it needs ${need.factor} (kafka-reassign-partitions.sh)`);
  const isr = Number(get('min.insync.replicas') ?? '1');
  const needIsr = Math.min(2, f.replicas);
  if (isr < needIsr) out.push(`min.insync.replicas is ${isr}: an acknowledged record must be on ${needIsr} replicas (${alter('min.insync.replicas', String(needIsr))})`);
  return out;
}
