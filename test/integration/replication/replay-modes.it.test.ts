import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { kafkaClient } from '../../../src/transport/kafka/client.ts';
import { remoteTopicName, topicName } from '../../../src/transport/topics.ts';
import { databaseFingerprint, databasesEqualSoon, waitFor } from '../../helpers/compare.ts';
import { psql } from '../../helpers/psql.ts';
import { startTwoDc, type TwoDc } from '../../helpers/two-dc.ts';
import type { DaemonHandle } from '../../../tools/local/process.ts';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

let env: TwoDc;
before(async () => {
  env = await startTwoDc();
});
after(async () => {
  await env?.stop();
});

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

function equalSoon(db: string, timeoutMs = 90_000): Promise<void> {
  return databasesEqualSoon(env.pgA, env.pgB, db, timeoutMs);
}

function startSync(syncId: string, db: string, mode: 'parallel' | 'transactional'): Promise<DaemonHandle[]> {
  return Promise.all([
    env.dcsync(`source-${syncId}`, ['run', 'task', 'source', '--cluster.endpoint', env.pgA.url('postgres'), '--mq.kafka-addr', env.kafkaA.bootstrap, '--sync.id', syncId, '--databases', db, '--apply.mode', mode, '--mq.partitions', '4', '--heartbeat', '1s']),
    env.dcsync(`destination-${syncId}`, ['run', 'task', 'destination', '--cluster.endpoint', env.pgB.url('postgres'), '--mq.kafka-addr', env.kafkaB.bootstrap, '--sync.id', syncId, '--apply.mode', mode]),
  ]);
}

/** Rows written to the target's user tables, from PostgreSQL's own counters. */
async function targetWrites(db: string): Promise<number> {
  await new Promise((r) => setTimeout(r, 1_500)); // statistics are flushed about once a second
  return withClient(env.pgB.url(db), async (c) => {
    await c.query('SELECT pg_stat_clear_snapshot()');
    const r = await c.query(`SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)::bigint AS n FROM pg_stat_user_tables WHERE schemaname <> 'dcsync'`);
    return Number(r.rows[0].n);
  });
}

test('a replayed Kafka range and re-read topics at B change nothing; a MirrorMaker 2 restart loses and duplicates nothing', async (t) => {
  await psql(env.pgA, 'postgres', { command: 'CREATE DATABASE rp' });
  await psql(env.pgA, 'rp', {
    command: `CREATE TABLE acct (id int PRIMARY KEY, v bigint NOT NULL, note text);
              CREATE TABLE events (at timestamptz NOT NULL, what text); ALTER TABLE events REPLICA IDENTITY FULL;
              INSERT INTO acct SELECT g, 0, 'n' || g FROM generate_series(1, 2000) g;`,
  });
  await startSync('rp', 'rp', 'parallel');
  await equalSoon('rp');
  for (let i = 0; i < 20; i++)
    await psql(env.pgA, 'rp', { command: `UPDATE acct SET v = v + 1 WHERE id % 20 = ${i}; INSERT INTO events VALUES (now(), 'round ${i}'); DELETE FROM acct WHERE id = ${1000 + i};` });
  await equalSoon('rp');
  const before = await databaseFingerprint(env.pgB.url('rp'));
  // MirrorMaker 2 carries the records' numbers to B: the gap check has a mark for every partition and the copy.
  const marks = await withClient(env.pgB.url('rp'), async (c) => ({
    partitions: (await c.query<{ seq: string | null }>(`SELECT record_seq::text AS seq FROM dcsync.applied_position WHERE partition >= 0`)).rows,
    snapshot: (await c.query<{ seq: string | null }>(`SELECT snapshot_seq::text AS seq FROM dcsync.target_sync`)).rows[0]?.seq,
  }));
  assert.ok(marks.partitions.length > 0 && marks.partitions.every((r) => r.seq !== null && Number(r.seq) >= 0), `marks at B: ${JSON.stringify(marks)}`);
  assert.ok(marks.snapshot !== null && Number(marks.snapshot) > 0, `snapshot mark at B: ${JSON.stringify(marks)}`);

  // 1. duplicate a range of every partition at the end of B's topic, and make the destination re-read everything
  const topic = remoteTopicName('default', 'A', topicName('rp', 'rp', 'changes'));
  const kafka = kafkaClient(env.kafkaB.bootstrap, 'replay-test');
  const consumer = kafka.consumer({ groupId: `replay-${Date.now()}` });
  const copied: { partition: number; key: Buffer | null; value: Buffer | null; headers: Record<string, Buffer | string | undefined> }[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      copied.push({ partition, key: message.key, value: message.value, headers: message.headers as Record<string, Buffer | string | undefined> });
    },
  });
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic);
  const total = ends.reduce((n, p) => n + Number(p.high), 0);
  await waitFor(async () => copied.length >= total, { timeoutMs: 30_000, what: 'reading the topic at B' });
  await consumer.disconnect();
  const writesBefore = await targetWrites('rp');
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const range = copied.filter((_, i) => i % 3 === 0);
  await producer.send({
    topic,
    acks: -1,
    messages: range.map((m) => ({ partition: m.partition, key: m.key, value: m.value, headers: Object.fromEntries(Object.entries(m.headers).filter(([, v]) => v !== undefined)) as Record<string, Buffer | string> })),
  });
  await producer.disconnect();
  t.diagnostic(`re-appended ${range.length} of ${copied.length} records to ${topic}`);
  // A superuser's repair at B: the database refuses writes of sessions that do not turn read-only off.
  await withClient(env.pgB.url('rp'), (c) => c.query(`BEGIN READ WRITE; UPDATE dcsync.applied_position SET kafka_offset = 0; COMMIT`));
  // restart the destination so it re-reads the whole topic from offset 0
  const dest = await env.dcsync('destination-rp-2', ['run', 'task', 'destination', '--cluster.endpoint', env.pgB.url('postgres'), '--mq.kafka-addr', env.kafkaB.bootstrap, '--sync.id', 'rp']);
  const newEnds = await admin.fetchTopicOffsets(topic);
  await waitFor(
    async () =>
      withClient(env.pgB.url('rp'), async (c) => {
        const r = await c.query<{ partition: number; kafka_offset: string | null }>(`SELECT partition, kafka_offset::text FROM dcsync.applied_position WHERE partition >= 0`);
        return newEnds.every((e) => Number(e.high) === 0 || Number(r.rows.find((x) => x.partition === e.partition)?.kafka_offset ?? -1) >= 0);
      }),
    { timeoutMs: 30_000, what: 'the restarted destination reading' },
  );
  await new Promise((r) => setTimeout(r, 5_000));
  assert.equal(await targetWrites('rp'), writesBefore, 'the replay wrote no row at the target');
  assert.deepEqual(await databaseFingerprint(env.pgB.url('rp')), before);
  await dest.stop();
  await admin.disconnect();
  // The restarted destination took the target over (the first one is fenced): a new one applies from here on.
  await env.dcsync('destination-rp-3', ['run', 'task', 'destination', '--cluster.endpoint', env.pgB.url('postgres'), '--mq.kafka-addr', env.kafkaB.bootstrap, '--sync.id', 'rp']);

  // 2. MirrorMaker 2 killed and restarted in the middle of a stream of writes
  let stop = false;
  const writer = (async () => {
    for (let i = 0; !stop; i++)
      await psql(env.pgA, 'rp', { command: `UPDATE acct SET v = v + 1, note = 'w${i}' WHERE id % 7 = ${i % 7}; INSERT INTO events VALUES (now(), 'w${i}');` });
  })();
  await new Promise((r) => setTimeout(r, 3_000));
  await env.restartMirror();
  await new Promise((r) => setTimeout(r, 3_000));
  stop = true;
  await writer;
  await equalSoon('rp', 120_000);
});

test('transactional mode: the target never shows a torn transaction', async (t) => {
  await psql(env.pgA, 'postgres', { command: 'CREATE DATABASE bank' });
  await psql(env.pgA, 'bank', { command: `CREATE TABLE acct (id int PRIMARY KEY, balance bigint NOT NULL); INSERT INTO acct SELECT g, 1000 FROM generate_series(1, 100) g;` });
  await startSync('bank', 'bank', 'transactional');
  await equalSoon('bank');
  let stop = false;
  let transfers = 0;
  const writer = (async () => {
    while (!stop) {
      const a = 1 + Math.floor(Math.random() * 100);
      const b = 1 + Math.floor(Math.random() * 100);
      await psql(env.pgA, 'bank', { command: `BEGIN; UPDATE acct SET balance = balance - 7 WHERE id = ${a}; UPDATE acct SET balance = balance + 7 WHERE id = ${b}; COMMIT;` });
      transfers++;
    }
  })();
  const sums = new Set<number>();
  await withClient(env.pgB.url('bank'), async (c) => {
    const until = Date.now() + 8_000;
    while (Date.now() < until) {
      const r = await c.query(`SELECT sum(balance)::bigint AS s FROM acct`);
      sums.add(Number(r.rows[0].s));
    }
  });
  stop = true;
  await writer;
  await equalSoon('bank');
  t.diagnostic(`${transfers} transfers; sums seen at the target: ${[...sums].join(', ')}`);
  assert.deepEqual([...sums], [100_000]);
});

test('a second destination task for the same database takes over at once; the first is fenced and stops', async () => {
  await psql(env.pgA, 'postgres', { command: 'CREATE DATABASE fence' });
  await psql(env.pgA, 'fence', { command: `CREATE TABLE c (id int PRIMARY KEY, n bigint NOT NULL); INSERT INTO c SELECT g, 0 FROM generate_series(1, 100) g` });
  await startSync('fence', 'fence', 'parallel');
  await equalSoon('fence');
  const second = await env.dcsync('destination-fence-2', ['run', 'task', 'destination', '--cluster.endpoint', env.pgB.url('postgres'), '--mq.kafka-addr', env.kafkaB.bootstrap, '--sync.id', 'fence']);
  const log = path.join(env.dir, 'destination-fence-2.log');
  await waitFor(async () => (await readFile(log, 'utf8')).includes('took the target database over'), { timeoutMs: 30_000, intervalMs: 500, what: 'the second task taking over' });
  await psql(env.pgA, 'fence', { command: `UPDATE c SET n = n + 1` });
  await equalSoon('fence');
  // The first task learns of the takeover at its next write and fails for good (its process stays up, reporting it).
  await psql(env.pgA, 'fence', { command: `UPDATE c SET n = n + 10 WHERE id <= 50` });
  const firstLog = path.join(env.dir, 'destination-fence.log');
  await waitFor(async () => /fenced/.test(await readFile(firstLog, 'utf8')), { timeoutMs: 30_000, intervalMs: 500, what: 'the first task fenced' });
  await equalSoon('fence');
  await second.stop(10_000);
});

test('sequences follow the source (serial, identity, standalone, descending) and never go back', async () => {
  await psql(env.pgA, 'postgres', { command: 'CREATE DATABASE seqs' });
  await psql(env.pgA, 'seqs', {
    command: `CREATE TABLE s (id serial PRIMARY KEY, v text); CREATE TABLE i (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text);
              CREATE SEQUENCE free START 1000; CREATE SEQUENCE down INCREMENT -1 START -1 MINVALUE -1000000 MAXVALUE -1;
              INSERT INTO s (v) SELECT 'x' FROM generate_series(1, 10); SELECT nextval('free');`,
  });
  await startSync('seqs', 'seqs', 'parallel');
  await equalSoon('seqs');
  await psql(env.pgA, 'seqs', {
    command: `INSERT INTO s (v) SELECT 'y' FROM generate_series(1, 500); INSERT INTO i (v) SELECT 'z' FROM generate_series(1, 77); UPDATE i SET v = 'u' WHERE id <= 10;
              SELECT nextval('free') FROM generate_series(1, 42); SELECT nextval('down') FROM generate_series(1, 9);`,
  });
  const values = (url: string): Promise<string> =>
    withClient(url, async (c) => JSON.stringify((await c.query(`SELECT sequencename, last_value::text FROM pg_sequences ORDER BY 1`)).rows));
  const expected = await values(env.pgA.url('seqs'));
  assert.match(expected, /"s_id_seq","last_value":"510"/);
  await waitFor(async () => (await values(env.pgB.url('seqs'))) === expected, { timeoutMs: 60_000, intervalMs: 500, what: `target sequences at ${expected}` });
  await equalSoon('seqs');
  // A sequence set back at the source stays where it was at the target (safe for a failover).
  await psql(env.pgA, 'seqs', { command: `SELECT setval('free', 1000); INSERT INTO s (v) VALUES ('after')` });
  await waitFor(async () => (await values(env.pgB.url('seqs'))).includes('"s_id_seq","last_value":"511"'), { timeoutMs: 60_000, intervalMs: 500, what: 's_id_seq at 511' });
  assert.match(await values(env.pgB.url('seqs')), /"free","last_value":"1042"/);
  // After a failover, B hands out the next ids without a collision.
  await withClient(env.pgB.url('seqs'), async (c) => {
    await c.query(`SET session_replication_role = replica; SET default_transaction_read_only = off`);
    assert.equal((await c.query(`SELECT nextval('s_id_seq')::int AS n`)).rows[0].n, 512);
  });
});

test('a stopped source task confirms to its slot what Kafka acknowledged, also when it ran shorter than its status interval', async () => {
  await psql(env.pgA, 'postgres', { command: 'CREATE DATABASE gs' });
  await psql(env.pgA, 'gs', { command: `CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT i, 'x' FROM generate_series(1, 10) i` });
  const [source] = await startSync('gs', 'gs', 'parallel');
  await equalSoon('gs');
  await source!.stop();
  const lsn = (sql: string): Promise<string> => withClient(env.pgA.url('gs'), async (c) => (await c.query<{ lsn: string }>(sql)).rows[0]!.lsn);
  const before = await lsn(`SELECT pg_current_wal_insert_lsn()::text AS lsn`);
  await psql(env.pgA, 'gs', { command: `INSERT INTO t SELECT i, 'y' FROM generate_series(11, 2000) i` });
  const started = Date.now();
  const again = await env.dcsync('source-gs', ['run', 'task', 'source', '--cluster.endpoint', env.pgA.url('postgres'), '--mq.kafka-addr', env.kafkaA.bootstrap, '--sync.id', 'gs', '--databases', 'gs', '--mq.partitions', '4', '--heartbeat', '1s']);
  await equalSoon('gs'); // applied at B, so acknowledged by Kafka A
  await again.stop();
  const lived = Date.now() - started;
  assert.ok(lived < 10_000, `the task ran ${lived} ms, shorter than its 10 s status interval`);
  const confirmed = await lsn(`SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name LIKE 'dcsync_gs_%'`);
  const moved = await withClient(env.pgA.url('gs'), async (c) => (await c.query<{ moved: boolean }>(`SELECT $1::pg_lsn > $2::pg_lsn AS moved`, [confirmed, before])).rows[0]!.moved);
  assert.ok(moved, `the slot confirmed ${confirmed}, not past the insert that began at ${before}`);
});
