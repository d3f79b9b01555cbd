import kafkajs, { type Admin, type Kafka } from 'kafkajs';

// kafkajs is CommonJS: Node's ESM loader sees only some of its named exports.
const { ConfigResourceTypes } = kafkajs;
import { DcsyncError } from '../../core/errors.ts';
import { delay } from '../../core/time.ts';
import type { TopicKind } from '../topics.ts';
import { wrapKafkaError } from './errors.ts';
import { replicationFor, topicConfigs, topicProblems } from './topic-settings.ts';

export interface TopicSpec {
  topic: string;
  kind: TopicKind;
  partitions: number;
}

/**
 * Creates the topics that do not exist, with explicit settings (topic-settings.ts), and checks those that do: a
 * partition count other than the sync's, or settings that would lose records, are refused. `mayCreate` is asked
 * before creating any: a topic that a sync produced to before and that is gone now took records with it.
 */
export async function ensureTopics(kafka: Kafka, specs: readonly TopicSpec[], mayCreate: (missing: readonly string[]) => Promise<void>): Promise<void> {
  const admin = kafka.admin();
  let doing = 'listing topics';
  try {
    await admin.connect();
    const brokers = (await admin.describeCluster()).brokers.length;
    const existing = new Set(await admin.listTopics());
    const missing = specs.filter((s) => !existing.has(s.topic));
    const present = specs.filter((s) => existing.has(s.topic));
    if (missing.length > 0) {
      await mayCreate(missing.map((s) => s.topic));
      doing = `creating topic${missing.length > 1 ? 's' : ''} ${missing.map((s) => `'${s.topic}'`).join(', ')}`;
      const replication = replicationFor(brokers);
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((s) => ({
          topic: s.topic,
          numPartitions: s.partitions,
          replicationFactor: replication.factor,
          configEntries: Object.entries(topicConfigs(s.kind, replication)).map(([name, value]) => ({ name, value })),
        })),
      });
    }
    if (present.length === 0) return;
    doing = 'reading topic metadata';
    const facts = await describeTopics(admin, present, brokers);
    for (const s of present) {
      const f = facts.get(s.topic)!;
      if (f.partitions !== s.partitions)
        throw new DcsyncError(`topic '${s.topic}' exists with ${f.partitions} partitions but this sync uses ${s.partitions}; delete the topic or use the same --mq.partitions`);
      const problems = topicProblems({ topic: s.topic, kind: s.kind, configs: f.configs, replicas: f.replicas, brokers });
      if (problems.length > 0) throw new TopicSettingsError(s.topic, problems);
    }
  } catch (err) {
    throw wrapKafkaError(err, doing);
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** A topic's settings would lose records: refused until the operator changes them (the task retries meanwhile). */
export class TopicSettingsError extends DcsyncError {
  constructor(
    readonly topic: string,
    readonly problems: readonly string[],
  ) {
    super(`topic '${topic}' is not safe for dcsync: ${problems.join('; ')}`, { retriable: true });
  }
}

interface DescribedTopic {
  partitions: number;
  replicas: number;
  configs: Map<string, string>;
}

async function describeTopics(admin: Admin, specs: readonly { topic: string }[], brokers: number): Promise<Map<string, DescribedTopic>> {
  const meta = await admin.fetchTopicMetadata({ topics: specs.map((s) => s.topic) });
  const described = await admin.describeConfigs({ includeSynonyms: false, resources: specs.map((s) => ({ type: ConfigResourceTypes.TOPIC, name: s.topic })) });
  const out = new Map<string, DescribedTopic>();
  for (const s of specs) {
    const parts = meta.topics.find((t) => t.name === s.topic)?.partitions ?? [];
    const entries = described.resources.find((r) => r.resourceName === s.topic)?.configEntries ?? [];
    const replicas = parts.length === 0 ? brokers : Math.min(...parts.map((p) => p.replicas.length));
    out.set(s.topic, { partitions: parts.length, replicas, configs: new Map(entries.map((e) => [e.configName, e.configValue])) });
  }
  return out;
}

/** Refuses a destination's topic (MirrorMaker 2 made it) whose settings would drop records before they are read. */
export async function checkMirroredTopic(kafka: Kafka, topic: string, kind: TopicKind): Promise<void> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    const brokers = (await admin.describeCluster()).brokers.length;
    const f = (await describeTopics(admin, [{ topic }], brokers)).get(topic)!;
    const problems = topicProblems({ topic, kind, configs: f.configs, replicas: f.replicas, brokers, mirrored: true });
    if (problems.length > 0) throw new TopicSettingsError(topic, problems);
  } catch (err) {
    throw wrapKafkaError(err, `reading the settings of '${topic}'`);
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** Topic names on this Kafka matching `filter`. */
export async function listTopics(kafka: Kafka, filter: (name: string) => boolean): Promise<string[]> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    return (await admin.listTopics()).filter(filter);
  } catch (err) {
    throw wrapKafkaError(err, 'listing topics');
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** Waits until the topic exists with its partitions led (MirrorMaker creates remote topics lazily). */
export async function waitForTopic(kafka: Kafka, topic: string, signal: AbortSignal, pollMs = 1000): Promise<number> {
  for (;;) {
    const admin = kafka.admin();
    try {
      await admin.connect();
      if ((await admin.listTopics()).includes(topic)) {
        const meta = await admin.fetchTopicMetadata({ topics: [topic] });
        const parts = meta.topics[0]?.partitions ?? [];
        if (parts.length > 0 && parts.every((p) => p.leader >= 0)) return parts.length;
      }
    } catch {
      // not there yet, or the broker is restarting: try again
    } finally {
      await admin.disconnect().catch(() => {});
    }
    await delay(pollMs, signal);
  }
}
