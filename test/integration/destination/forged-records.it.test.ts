import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { spawnDcsync } from '../../../tools/local/dcsync-process.ts';
import type { KafkaBrokerHandle } from '../../../tools/local/kafka.ts';
import type { PgClusterHandle } from '../../../tools/local/postgres.ts';
import type { DaemonHandle } from '../../../tools/local/process.ts';
import { parseLsn } from '../../../src/core/lsn.ts';
import { encodeChangeBatch, type ChangeStreamRecord } from '../../../src/transport/record-format/index.ts';
import { kafkaClient } from '../../../src/transport/kafka/client.ts';
import { newRecordKeyText } from '../../../src/transport/record-auth.ts';
import { topicName } from '../../../src/transport/topics.ts';
import { databasesEqualSoon, waitFor } from '../../helpers/compare.ts';
import { startOneBrokerPair, type OneBrokerPair } from '../../helpers/one-broker.ts';
import { psql, queryRows } from '../../helpers/psql.ts';

/**
 * Issue 15, defect 9: records in B's Kafka that dcsync's source did not write are refused, loudly, and nothing of
 * them is applied — a change naming a catalog table, a change of a table that exists at B but was never announced
 * by the source, a body that does not decode. The destination reads A's Kafka directly (identity policy).
 */
let env: OneBrokerPair | undefined;
let dir: string;
let pgA: PgClusterHandle;
let pgB: PgClusterHandle;
let kafka: KafkaBrokerHandle;
const daemons: DaemonHandle[] = [];
const DB = 'forge';

before(async () => {
  env = await startOneBrokerPair('dcsync-forge-');
  ({ dir, pgA, pgB, kafka } = env);
  await psql(pgA, 'postgres', { command: `CREATE DATABASE ${DB}` });
  await psql(pgA, DB, { command: `CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t SELECT g, 0 FROM generate_series(1, 10) g;` });
});

after(async () => {
  for (const d of daemons.reverse()) await d.stop(10_000).catch(() => {});
  await env?.stop();
});

async function start(name: string, role: 'source' | 'destination', syncId: string, keyFile?: string): Promise<{ daemon: DaemonHandle; logFile: string }> {
  const logFile = path.join(dir, `${name}.log`);
  const args =
    role === 'source'
      ? ['run', 'task', 'source', '--cluster.endpoint', pgA.url('postgres'), '--mq.kafka-addr', kafka.bootstrap, '--sync.id', syncId, '--databases', DB, '--mq.partitions', '2', '--heartbeat', '1s']
      : ['run', 'task', 'destination', '--cluster.endpoint', pgB.url('postgres'), '--mq.kafka-addr', kafka.bootstrap, '--sync.id', syncId, '--mq.replication-policy', 'identity'];
  if (keyFile) args.push('--sync.record-key-file', keyFile);
  const daemon = await spawnDcsync({ name, args, logFile });
  daemons.push(daemon);
  return { daemon, logFile };
}

/** Appends a record to partition 0 of the changes topic, positioned after everything applied so far. */
async function appendForged(syncId: string, build: (lsn: bigint) => { headers: Record<string, string>; value: Buffer }): Promise<void> {
  const applied = await queryRows<{ lsn: string }>(pgB.url(DB), `SELECT coalesce(max(lsn), '0/0')::text AS lsn FROM dcsync.applied_position`);
  const beyond = parseLsn(applied[0]!.lsn) + 0x1000n;
  const topic = topicName(syncId, DB, 'changes');
  const client = kafkaClient(kafka.bootstrap, 'forger');
  // A forger can copy every header of a real record, including any sequence number dcsync puts there.
  const last = await lastRecordHeaders(client, topic);
  const producer = client.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const rec = build(beyond);
  await producer.send({ topic, acks: -1, messages: [{ partition: 0, key: null, value: rec.value, headers: { ...last, ...rec.headers } }] });
  await producer.disconnect();
}

async function lastRecordHeaders(client: ReturnType<typeof kafkaClient>, topic: string): Promise<Record<string, Buffer>> {
  const admin = client.admin();
  await admin.connect();
  const high = Number((await admin.fetchTopicOffsets(topic)).find((p) => p.partition === 0)?.high ?? 0);
  await admin.disconnect();
  if (high === 0) return {};
  const consumer = client.consumer({ groupId: `forger-${Date.now()}` });
  let headers: Record<string, Buffer> = {};
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let seen = false;
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      if (partition === 0 && Number(message.offset) === high - 1) {
        headers = Object.fromEntries(Object.entries(message.headers ?? {}).filter((e): e is [string, Buffer] => Buffer.isBuffer(e[1])));
        seen = true;
      }
    },
  });
  await waitFor(async () => seen, { timeoutMs: 30_000, intervalMs: 100, what: 'the last record of partition 0' });
  await consumer.disconnect();
  return headers;
}

const insert = (lsn: bigint, schema: string, name: string): ChangeStreamRecord => ({
  kind: 'change',
  pos: { lsn: lsn as ChangeStreamRecord['pos']['lsn'], index: 0 },
  endOfTx: true,
  xid: 99,
  commitTimeUs: 1n,
  change: { op: 'insert', table: { schema, name }, keyColumns: ['id'], fullIdentity: false, columns: ['id', 'v'], values: ['666', '666'] },
});

async function refusedSoon(logFile: string, reason: RegExp): Promise<string> {
  await waitFor(async () => /refusing record at topic/.test(readFileSync(logFile, 'utf8')), { timeoutMs: 60_000, intervalMs: 300, what: `the destination to refuse the record (${logFile})` });
  const log = readFileSync(logFile, 'utf8');
  const line = log.split('\n').find((l) => /refusing record at topic/.test(l)) ?? '';
  assert.match(line, reason);
  assert.match(line, /partition 0 offset \d+/);
  return line;
}

for (const kase of [
  {
    name: 'a change of a table that exists at B but was never announced',
    prepare: () => psql(pgB, DB, { command: `BEGIN READ WRITE; CREATE TABLE public.intruder (id int PRIMARY KEY, v int); COMMIT` }),
    record: (lsn: bigint) => encodeChangeBatch(DB, [insert(lsn, 'public', 'intruder')]),
    reason: /public\.intruder, which the source did not announce/,
    untouched: `SELECT count(*)::int AS n FROM public.intruder`,
  },
  {
    name: 'a change naming a catalog table',
    prepare: async () => {},
    record: (lsn: bigint) => encodeChangeBatch(DB, [insert(lsn, 'pg_catalog', 'pg_authid')]),
    reason: /pg_catalog\.pg_authid/,
    untouched: undefined,
  },
  {
    name: 'a body that does not decode',
    prepare: async () => {},
    record: () => ({ headers: { 'dcsync-kind': 'batch', 'dcsync-enc': 'br' }, value: Buffer.from('not brotli at all') }),
    reason: /cannot be decoded/,
    untouched: undefined,
  },
]) {
  test(`refused, loudly, nothing applied: ${kase.name}`, async () => {
    const syncId = `forge${daemons.length}`;
    const source = await start(`source-${syncId}`, 'source', syncId);
    const destination = await start(`destination-${syncId}`, 'destination', syncId);
    await databasesEqualSoon(pgA, pgB, DB, 90_000);
    await psql(pgA, DB, { command: `UPDATE t SET v = v + 1` });
    await databasesEqualSoon(pgA, pgB, DB, 30_000);
    await source.daemon.stop(10_000);
    await kase.prepare();
    await appendForged(syncId, kase.record);
    await refusedSoon(destination.logFile, kase.reason);
    if (kase.untouched) assert.equal((await queryRows<{ n: number }>(pgB.url(DB), kase.untouched))[0]!.n, 0, 'nothing of the forged record was applied');
    await destination.daemon.stop(10_000);
    await psql(pgB, 'postgres', { command: `DROP DATABASE ${DB} WITH (FORCE)` });
  });
}

test('signed records: a forged change of a replicated table, with every header of a real record, is refused', async () => {
  const syncId = `forge${daemons.length}`;
  const keyFile = path.join(dir, `${syncId}.key`);
  writeFileSync(keyFile, newRecordKeyText() + '\n', { mode: 0o600 });
  const source = await start(`source-${syncId}`, 'source', syncId, keyFile);
  const destination = await start(`destination-${syncId}`, 'destination', syncId, keyFile);
  await databasesEqualSoon(pgA, pgB, DB, 90_000);
  await psql(pgA, DB, { command: `UPDATE t SET v = v + 1` });
  await databasesEqualSoon(pgA, pgB, DB, 30_000);
  await source.daemon.stop(10_000);
  // Without the key this record is a valid change of an announced table, far ahead of every real position.
  await appendForged(syncId, (lsn) => encodeChangeBatch(DB, [insert(lsn, 'public', 't')]));
  await refusedSoon(destination.logFile, /its authentication code does not match/);
  assert.equal((await queryRows<{ n: number }>(pgB.url(DB), `SELECT count(*)::int AS n FROM t WHERE id = 666`))[0]!.n, 0, 'nothing of the forged record was applied');
  await destination.daemon.stop(10_000);
  await psql(pgB, 'postgres', { command: `DROP DATABASE ${DB} WITH (FORCE)` });
});
