import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { assertDatabasesEqual, waitFor } from '../../helpers/compare.ts';
import { psql } from '../../helpers/psql.ts';
import { REPO, startTwoDc, type TwoDc } from '../../helpers/two-dc.ts';

const FIXTURES = path.join(REPO, 'test/fixtures');
let env: TwoDc;

before(async () => {
  env = await startTwoDc();
});

after(async () => {
  await env?.stop();
});

async function equalSoon(db: string, timeoutMs = 60_000): Promise<void> {
  await waitFor(
    async () => {
      await assertDatabasesEqual(env.pgA.url(db), env.pgB.url(db));
      return true;
    },
    { timeoutMs, intervalMs: 500, what: `database '${db}' equal at both ends` },
  );
}

test('every type, TOAST, no-PK and partitioned tables: snapshot, then streamed changes, arrive exactly', async (t) => {
  await psql(env.pgA, 'postgres', { command: 'CREATE DATABASE app' });
  await psql(env.pgA, 'app', { file: path.join(FIXTURES, 'all-types.sql') });
  await psql(env.pgA, 'app', { file: path.join(FIXTURES, 'all-types-data.sql') });
  const common = ['--cluster.endpoint', env.pgA.url('postgres'), '--mq.kafka-addr', env.kafkaA.bootstrap, '--sync.id', 'fid', '--databases', 'app', '--heartbeat', '1s'];
  await env.dcsync('source', ['run', 'task', 'source', ...common, '--mq.partitions', '4']);
  await env.dcsync('destination', ['run', 'task', 'destination', '--cluster.endpoint', env.pgB.url('postgres'), '--mq.kafka-addr', env.kafkaB.bootstrap, '--sync.id', 'fid']);
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
