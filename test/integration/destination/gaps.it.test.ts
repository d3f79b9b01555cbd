import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import kafkajs, { type Admin } from 'kafkajs';
import { spawnDcsync } from '../../../tools/local/dcsync-process.ts';
import type { DaemonHandle } from '../../../tools/local/process.ts';
import { kafkaClient } from '../../../src/transport/kafka/client.ts';
import { topicName } from '../../../src/transport/topics.ts';
import { databasesEqualSoon, waitFor } from '../../helpers/compare.ts';
import { startOneBrokerPair, type OneBrokerPair } from '../../helpers/one-broker.ts';
import { psql, queryRows } from '../../helpers/psql.ts';

/**
 * Issue 15, defect 6: records gone from Kafka before the destination read them stop the sync loudly, naming the
 * database, topic, partition and the missing range; topics whose settings would drop records are refused; a topic
 * deleted under a running sync is not silently created again. The destination reads A's Kafka directly (identity
 * policy): records deleted there are records B never gets.
 */
let env: OneBrokerPair;
let admin: Admin;
const daemons: DaemonHandle[] = [];

before(async () => {
  env = await startOneBrokerPair('dcsync-gaps-');
  admin = kafkaClient(env.kafka.bootstrap, 'gaps-test').admin();
  await admin.connect();
});

after(async () => {
  for (const d of daemons.reverse()) await d.stop(10_000).catch(() => {});
  await admin?.disconnect().catch(() => {});
  await env?.stop();
});

async function start(name: string, role: 'source' | 'destination', syncId: string, db: string): Promise<{ daemon: DaemonHandle; logFile: string }> {
  const logFile = path.join(env.dir, `${name}.log`);
  const args =
    role === 'source'
      ? ['run', 'task', 'source', '--cluster.endpoint', env.pgA.url('postgres'), '--mq.kafka-addr', env.kafka.bootstrap, '--sync.id', syncId, '--databases', db, '--mq.partitions', '2', '--heartbeat', '1s']
      : ['run', 'task', 'destination', '--cluster.endpoint', env.pgB.url('postgres'), '--mq.kafka-addr', env.kafka.bootstrap, '--sync.id', syncId, '--mq.replication-policy', 'identity'];
  const daemon = await spawnDcsync({ name, args, logFile });
  daemons.push(daemon);
  return { daemon, logFile };
}

async function createDatabase(db: string): Promise<void> {
  await psql(env.pgA, 'postgres', { command: `CREATE DATABASE ${db}` });
  await psql(env.pgA, db, { command: `CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t SELECT g, 0 FROM generate_series(1, 100) g;` });
}

async function logSoon(logFile: string, pattern: RegExp, what: string): Promise<string> {
  await waitFor(async () => pattern.test(readFileSync(logFile, 'utf8')), { timeoutMs: 90_000, intervalMs: 300, what: `${what} (${logFile})` });
  return readFileSync(logFile, 'utf8').split('\n').find((l) => pattern.test(l)) ?? '';
}

async function deleteUpTo(topic: string, keepLast: number): Promise<{ partition: number; low: number; high: number }[]> {
  const ends = await admin.fetchTopicOffsets(topic);
  const cut = ends.map((p) => ({ partition: p.partition, offset: String(Math.max(0, Number(p.high) - keepLast)) }));
  await admin.deleteTopicRecords({ topic, partitions: cut });
  return (await admin.fetchTopicOffsets(topic)).map((p) => ({ partition: p.partition, low: Number(p.low), high: Number(p.high) }));
}

async function setTopicConfig(topic: string, name: string, value: string): Promise<void> {
  await admin.alterConfigs({ validateOnly: false, resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: topic, configEntries: [{ name, value }] }] });
}

test('changes deleted before the destination read them stop it, naming database, partition and range', async () => {
  const db = 'gapchg';
  const syncId = 'gap1';
  await createDatabase(db);
  const source = await start('source-gap1', 'source', syncId, db);
  const destination = await start('destination-gap1', 'destination', syncId, db);
  await databasesEqualSoon(env.pgA, env.pgB, db, 90_000);
  // Heartbeats reach both partitions within seconds; each commit stores the partition's mark with its position.
  await waitFor(
    async () => {
      const rows = await queryRows<{ seq: string | null }>(env.pgB.url(db), `SELECT record_seq::text AS seq FROM dcsync.applied_position WHERE partition >= 0`);
      return rows.length === 2 && rows.every((r) => r.seq !== null && Number(r.seq) >= 0);
    },
    { timeoutMs: 30_000, what: 'a mark stored for each partition' },
  );
  await destination.daemon.stop(10_000);

  for (let i = 0; i < 20; i++) await psql(env.pgA, db, { command: `UPDATE t SET v = v + 1 WHERE id % 20 = ${i}` });
  const topic = topicName(syncId, db, 'changes');
  await waitFor(async () => (await admin.fetchTopicOffsets(topic)).every((p) => Number(p.high) > 10), { timeoutMs: 30_000, what: 'the updates in Kafka' });
  const left = await deleteUpTo(topic, 1);
  assert.ok(left.every((p) => p.low > 0));

  const again = await start('destination-gap1b', 'destination', syncId, db);
  const line = await logSoon(again.logFile, /records are missing from topic/, 'the destination to stop at the gap');
  assert.match(line, new RegExp(`topic '${topic.replace(/\./g, '\\.')}' partition [01] \\(database '${db}'\\)`));
  assert.match(line, /A's offsets \d+–\d+ \(\d+ records?\) never reached the destination/);
  assert.match(line, /configure it again/);
  const atB = await queryRows<{ n: number }>(env.pgB.url(db), `SELECT count(*)::int AS n FROM t WHERE v > 0`);
  assert.equal(atB[0]!.n, 0, 'nothing after the gap was applied');
  await again.daemon.stop(10_000);
  await source.daemon.stop(10_000);
});

test('an initial copy whose first records are gone is not loaded', async () => {
  const db = 'gapsnap';
  const syncId = 'gap2';
  await createDatabase(db);
  const source = await start('source-gap2', 'source', syncId, db);
  await waitFor(async () => (await queryRows<{ done: boolean }>(env.pgA.url(db), `SELECT coalesce(bool_and(snapshot_complete), false) AS done FROM dcsync.source_progress`))[0]!.done, {
    timeoutMs: 60_000,
    what: 'the initial copy in Kafka',
  });
  const topic = topicName(syncId, db, 'snapshot');
  const ends = await admin.fetchTopicOffsets(topic);
  await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '1' }] }); // the structure record
  assert.ok(Number(ends[0]!.high) > 1);
  const destination = await start('destination-gap2', 'destination', syncId, db);
  const line = await logSoon(destination.logFile, /records are missing from topic/, 'the destination to refuse the copy');
  assert.match(line, new RegExp(`topic '${topic.replace(/\./g, '\\.')}' partition 0 \\(database '${db}'\\): A's offsets 0–0 \\(1 record\\)`));
  const tables = await queryRows<{ n: number }>(env.pgB.url('postgres'), `SELECT count(*)::int AS n FROM pg_database WHERE datname = '${db}'`);
  if (tables[0]!.n > 0) {
    const loaded = await queryRows<{ ok: boolean }>(env.pgB.url(db), `SELECT to_regclass('public.t') IS NULL AS ok`);
    assert.ok(loaded[0]!.ok, 'no structure or rows were loaded past the gap');
  }
  await destination.daemon.stop(10_000);
  await source.daemon.stop(10_000);
});

test('topic settings that drop records are refused until fixed; a deleted topic is not created again', async () => {
  const db = 'gapcfg';
  const syncId = 'gap3';
  await createDatabase(db);
  let source = await start('source-gap3', 'source', syncId, db);
  const destination = await start('destination-gap3', 'destination', syncId, db);
  await databasesEqualSoon(env.pgA, env.pgB, db, 90_000);
  const changes = topicName(syncId, db, 'changes');
  const described = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: changes }] });
  const configs = new Map(described.resources[0]!.configEntries.map((e) => [e.configName, e.configValue]));
  assert.equal(configs.get('cleanup.policy'), 'delete');
  assert.equal(configs.get('retention.ms'), String(7 * 24 * 3600_000));
  assert.equal(configs.get('unclean.leader.election.enable'), 'false');

  await source.daemon.stop(10_000);
  await setTopicConfig(changes, 'cleanup.policy', 'compact');
  source = await start('source-gap3b', 'source', syncId, db);
  await logSoon(source.logFile, /is not safe for dcsync: cleanup\.policy is 'compact'/, 'the source to refuse the compacted topic');
  await psql(env.pgA, db, { command: `UPDATE t SET v = 7 WHERE id <= 10` });
  await setTopicConfig(changes, 'cleanup.policy', 'delete');
  await databasesEqualSoon(env.pgA, env.pgB, db, 90_000); // the source retries and goes on once the setting is fixed

  await source.daemon.stop(10_000);
  await destination.daemon.stop(10_000);
  await admin.deleteTopics({ topics: [changes] });
  await waitFor(async () => !(await admin.listTopics()).includes(changes), { timeoutMs: 30_000, what: 'the topic deleted' });
  source = await start('source-gap3c', 'source', syncId, db);
  await logSoon(source.logFile, /is gone from A's Kafka or empty, although this sync produced to it/, 'the source to refuse a deleted topic');
  assert.ok(!(await admin.listTopics()).includes(changes), 'the deleted topic is not created again');
  await source.daemon.stop(10_000);
});
