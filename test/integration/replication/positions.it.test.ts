import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { databasesEqualSoon, queryRows, waitFor } from '../../helpers/compare.ts';
import { psql } from '../../helpers/psql.ts';
import { startTwoDc, type TwoDc } from '../../helpers/two-dc.ts';

// Issue 15, defect 3: positions of markers (heartbeats, table failures) never cover a change they do not precede.
let env: TwoDc;
before(async () => {
  env = await startTwoDc();
  await psql(env.pgA, 'postgres', { command: 'CREATE DATABASE pos' });
  await psql(env.pgA, 'pos', {
    command: `CREATE TABLE t (id int PRIMARY KEY, v text);
              CREATE TABLE k1 (a int, b text); CREATE TABLE k2 (a int, b text);
              INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 10) g;
              INSERT INTO k1 VALUES (1, 'a'); INSERT INTO k2 VALUES (1, 'a');`,
  });
  // Heartbeats of the source task itself would put WAL records between the test's message and its commit.
  await psql(env.pgA, 'postgres', { command: 'CREATE DATABASE post' });
  await psql(env.pgA, 'post', { command: `CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 10) g;` });
  await startSync('pos', 'pos', 'parallel', '4');
  await startSync('post', 'post', 'transactional', '1');
  await equalSoon('pos');
  await equalSoon('post');
});
after(async () => {
  await env?.stop();
});

async function startSync(syncId: string, db: string, mode: 'parallel' | 'transactional', partitions: string): Promise<void> {
  // Heartbeats of the source task itself would put WAL records between the test's message and its commit.
  const common = ['--sync.id', syncId, '--apply.mode', mode];
  await env.dcsync(`source-${syncId}`, ['run', 'task', 'source', '--cluster.endpoint', env.pgA.url('postgres'), '--mq.kafka-addr', env.kafkaA.bootstrap, '--databases', db, '--mq.partitions', partitions, '--heartbeat', '1h', ...common]);
  await env.dcsync(`destination-${syncId}`, ['run', 'task', 'destination', '--cluster.endpoint', env.pgB.url('postgres'), '--mq.kafka-addr', env.kafkaB.bootstrap, ...common]);
}

function equalSoon(db: string, timeoutMs = 90_000): Promise<void> {
  return databasesEqualSoon(env.pgA, env.pgB, db, timeoutMs);
}

const query = queryRows;

test('issue 15: a transaction committing exactly at a heartbeat\'s LSN arrives whole', async () => {
  // The heartbeat is a non-transactional message written inside the transaction, so the commit record follows it
  // directly: the transaction's commit LSN is the message's end LSN, the position the heartbeat is given. In
  // transactional mode the heartbeat, read first, sets the position the transaction's changes are compared with.
  const c = new pg.Client({ connectionString: env.pgA.url('post') });
  await c.connect();
  let exact = 0;
  try {
    // Another process's WAL record between the message and the commit defeats an attempt: try until two are exact.
    for (let i = 0; i < 10 && exact < 2; i++) {
      await c.query('BEGIN');
      await c.query(`INSERT INTO t VALUES (${100 + i}, 'first of its transaction')`);
      const m = await c.query<{ lsn: string; at: string }>(`SELECT pg_logical_emit_message(false, 'dcsync.heartbeat', '')::text AS lsn, pg_current_wal_insert_lsn()::text AS at`);
      await c.query('COMMIT');
      if (m.rows[0]!.lsn === m.rows[0]!.at) exact++;
    }
  } finally {
    await c.end();
  }
  assert.ok(exact > 0, 'the WAL had no record between a message and the next insert position');
  await equalSoon('post');
});

test('issue 15: two tables without replica identity failing in the same check are both reported failed', async () => {
  await psql(env.pgA, 'pos', { command: `UPDATE k1 SET b = 'changed'; UPDATE k2 SET b = 'changed'; INSERT INTO t VALUES (1000, 'after the failures')` });
  await waitFor(
    async () => {
      const rows = await query<{ table_name: string }>(env.pgB.url('pos'), `SELECT table_name FROM dcsync.target_tables WHERE status = 'failed' ORDER BY 1`);
      return rows.map((r) => r.table_name).join(',') === 'k1,k2';
    },
    { timeoutMs: 30_000, intervalMs: 500, what: 'k1 and k2 both marked failed at the target' },
  );
  await waitFor(async () => (await query(env.pgB.url('pos'), `SELECT 1 FROM t WHERE id = 1000`)).length === 1, { timeoutMs: 30_000, intervalMs: 500, what: 'later changes of t to arrive' });
});

test('issue 15: in transactional mode a source transaction larger than a fetch window is applied whole', async () => {
  // About 7 MB compressed in one transaction, more than the consumer fetches per partition at once (4 MB).
  await psql(env.pgA, 'post', { command: `INSERT INTO t SELECT g, md5(g::text) || md5((-g)::text) || md5((g * 3 + 1)::text) FROM generate_series(10000, 160000) g` });
  await equalSoon('post', 180_000);
  const idle = await query(env.pgB.url('post'), `SELECT 1 FROM pg_stat_activity WHERE application_name LIKE 'dcsync-apply%' AND state = 'idle in transaction'`);
  assert.equal(idle.length, 0, 'no apply session left idle in a transaction');
});
