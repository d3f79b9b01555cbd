import type { Kafka } from 'kafkajs';
import type { Logger } from '../../core/logger.ts';
import { quoteIdent } from '../../model/change.ts';
import { connect } from '../../source/postgres/connection.ts';
import { waitForTopic } from '../../transport/kafka/admin.ts';
import { remoteTopicName, topicName, type ReplicationPolicy } from '../../transport/topics.ts';
import { runApplyLoop, type ApplyMode } from './apply-loop.ts';
import { loadSnapshot } from './snapshot-loader.ts';
import { TargetState } from './target-state.ts';

export interface DestinationTaskOptions {
  syncId: string;
  /** The source database; the target database has the same name. */
  database: string;
  /** The target cluster (any database). */
  targetUrl: string;
  /** The destination datacenter's Kafka (where MirrorMaker 2 writes). */
  kafka: Kafka;
  sourceAlias: string;
  policy: ReplicationPolicy;
  mode: ApplyMode;
  log: Logger;
}

/**
 * One source database ← B's Kafka: creates the target database if needed, applies the snapshot topic
 * (structure, copy, indexes), then the changes topic, forever.
 */
export async function runDestinationTask(o: DestinationTaskOptions, signal: AbortSignal): Promise<void> {
  const log = o.log.child({ component: 'destination', database: o.database, syncId: o.syncId });
  await ensureDatabase(o.targetUrl, o.database);
  const state = new TargetState(o.syncId);
  const target = await connect({ url: o.targetUrl, database: o.database, applicationName: `dcsync-destination-${o.syncId}` });
  let partitions: number;
  let changesTopic: string;
  const group = `dcsync.${o.syncId}.${o.database}`;
  try {
    await state.init(target);
    const snapshotTopic = remoteTopicName(o.policy, o.sourceAlias, topicName(o.syncId, o.database, 'snapshot'));
    changesTopic = remoteTopicName(o.policy, o.sourceAlias, topicName(o.syncId, o.database, 'changes'));
    if (!(await state.sync(target)).snapshotComplete) {
      log.info('waiting for the snapshot topic', { topic: snapshotTopic });
      await waitForTopic(o.kafka, snapshotTopic, signal);
      const loader = await connect({ url: o.targetUrl, database: o.database, applicationName: `dcsync-destination-${o.syncId}` });
      try {
        await loadSnapshot({ kafka: o.kafka, topic: snapshotTopic, groupId: `${group}.snapshot`, target, loaders: [loader], state, log }, signal);
      } finally {
        await loader.end().catch(() => {});
      }
    }
    partitions = await waitForTopic(o.kafka, changesTopic, signal);
  } finally {
    await target.end().catch(() => {});
  }
  await runApplyLoop({ kafka: o.kafka, topic: changesTopic, groupId: `${group}.changes`, partitions, targetUrl: o.targetUrl, database: o.database, state, mode: o.mode, log }, signal);
}

async function ensureDatabase(url: string, database: string): Promise<void> {
  const c = await connect({ url, applicationName: 'dcsync-destination' });
  try {
    const r = await c.query(`SELECT 1 FROM pg_database WHERE datname = $1`, [database]);
    if ((r.rowCount ?? 0) === 0) await c.query(`CREATE DATABASE ${quoteIdent(database)} TEMPLATE template0 ENCODING 'UTF8'`);
  } finally {
    await c.end().catch(() => {});
  }
}
