import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { databasesEqualSoon, queryRows, waitFor } from '../../helpers/compare.ts';
import { psql } from '../../helpers/psql.ts';
import { REPO, startTwoDc, type TwoDc } from '../../helpers/two-dc.ts';

const FIXTURES = path.join(REPO, 'test/fixtures');
let env: TwoDc;

before(async () => {
  // MirrorMaker 2's identity policy here (topic names kept); the other tests use its default prefix policy.
  env = await startTwoDc({ policy: 'identity' });
});

after(async () => {
  await env?.stop();
});

function equalSoon(db: string, timeoutMs = 60_000): Promise<void> {
  return databasesEqualSoon(env.pgA, env.pgB, db, timeoutMs);
}

test('every type, TOAST, no-PK and partitioned tables: snapshot, then streamed changes, arrive exactly', async (t) => {
  await psql(env.pgA, 'postgres', { command: 'CREATE DATABASE app' });
  await psql(env.pgA, 'app', { file: path.join(FIXTURES, 'all-types.sql') });
  await psql(env.pgA, 'app', { file: path.join(FIXTURES, 'all-types-data.sql') });
  const common = ['--cluster.endpoint', env.pgA.url('postgres'), '--mq.kafka-addr', env.kafkaA.bootstrap, '--sync.id', 'fid', '--databases', 'app', '--heartbeat', '1s'];
  await env.dcsync('source', ['run', 'task', 'source', ...common, '--mq.partitions', '4']);
  await env.dcsync('destination', ['run', 'task', 'destination', '--cluster.endpoint', env.pgB.url('postgres'), '--mq.kafka-addr', env.kafkaB.bootstrap, '--sync.id', 'fid', '--mq.replication-policy', 'identity']);
  const started = Date.now();
  await equalSoon('app', 120_000);
  t.diagnostic(`initial copy equal after ${Date.now() - started} ms`);

  await psql(env.pgA, 'app', { file: path.join(FIXTURES, 'all-types-changes.sql') });
  const changed = Date.now();
  await equalSoon('app', 60_000);
  t.diagnostic(`streamed changes equal after ${Date.now() - changed} ms`);

  // The big TOASTed values survived updates of their neighbours (never replaced by NULL or a placeholder).
  const bigValues = async (url: string): Promise<string[]> => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      const r = await c.query<{ id: number; m: string }>(`SELECT id, md5(body) || md5(blob) AS m FROM toasty WHERE length(body) > 100000 ORDER BY id`);
      return r.rows.map((x) => `${x.id}:${x.m}`);
    } finally {
      await c.end();
    }
  };
  const atB = await bigValues(env.pgB.url('app'));
  assert.ok(atB.length >= 2, 'the fixture keeps large values in toasty');
  assert.deepEqual(atB, await bigValues(env.pgA.url('app')));
});

const query = queryRows;

test('an idle database keeps its slot advancing (heartbeats)', async () => {
  const flushed = async (): Promise<string> =>
    (await query<{ lsn: string }>(env.pgA.url('app'), `SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name LIKE 'dcsync_fid_%'`))[0]!.lsn;
  const first = await flushed();
  await waitFor(async () => (await flushed()) !== first, { timeoutMs: 20_000, intervalMs: 500, what: 'the slot to advance without writes' });
});

test('an UPDATE on a table without replica identity stops that table only, with an error naming it', async () => {
  await psql(env.pgA, 'app', { command: `UPDATE no_pk_plain SET b = 'changed'; INSERT INTO categories (id, name) VALUES (900, 'after the failure')` });
  await waitFor(
    async () => (await query<{ status: string }>(env.pgB.url('app'), `SELECT status FROM dcsync.target_tables WHERE table_name = 'no_pk_plain'`))[0]?.status === 'failed',
    { timeoutMs: 30_000, intervalMs: 500, what: 'no_pk_plain marked failed at the target' },
  );
  const [row] = await query<{ error: string }>(env.pgB.url('app'), `SELECT error FROM dcsync.target_tables WHERE table_name = 'no_pk_plain'`);
  assert.match(row!.error, /public\.no_pk_plain/);
  assert.match(row!.error, /REPLICA IDENTITY FULL/);
  // the other tables go on
  await waitFor(async () => (await query(env.pgB.url('app'), `SELECT 1 FROM categories WHERE id = 900`)).length === 1, {
    timeoutMs: 30_000,
    intervalMs: 500,
    what: 'later changes of other tables to arrive',
  });
});

test('a structure change while streaming stops that table with an error naming it', async () => {
  await psql(env.pgA, 'app', { command: `ALTER TABLE categories ADD COLUMN extra int; INSERT INTO categories (id, name, extra) VALUES (901, 'x', 1)` });
  await waitFor(
    async () => /table public\.categories .*changed structure/.test(readFileSync(path.join(env.dir, 'source.log'), 'utf8')),
    { timeoutMs: 30_000, intervalMs: 500, what: 'the source to report the structure change' },
  );
  // nothing of the new structure was applied silently
  assert.equal((await query(env.pgB.url('app'), `SELECT 1 FROM categories WHERE id = 901`)).length, 0);
});
