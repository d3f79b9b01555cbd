import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { spawnDcsync } from '../../../tools/local/dcsync-process.ts';
import type { KafkaBrokerHandle } from '../../../tools/local/kafka.ts';
import type { PgClusterHandle } from '../../../tools/local/postgres.ts';
import type { DaemonHandle } from '../../../tools/local/process.ts';
import { databaseFingerprint, waitFor } from '../../helpers/compare.ts';
import { startOneBrokerPair, type OneBrokerPair } from '../../helpers/one-broker.ts';
import { psql, queryRows } from '../../helpers/psql.ts';

/**
 * Issue 15 (defects 1, 2, 7): replica identities, structure changes and the keyless-table update detector, against
 * real servers. The destination reads A's Kafka directly (MirrorMaker's identity policy keeps the names): what is
 * tested here is the source and the apply engine, not MirrorMaker.
 */
let env: OneBrokerPair | undefined;
let dir: string;
let pgA: PgClusterHandle;
let pgB: PgClusterHandle;
let kafka: KafkaBrokerHandle;
const daemons: DaemonHandle[] = [];
let source: DaemonHandle | undefined;
const DB = 'idn';
const SYNC = 'idn';

before(async () => {
  env = await startOneBrokerPair('dcsync-idn-');
  ({ dir, pgA, pgB, kafka } = env);
  await psql(pgA, 'postgres', { command: `CREATE DATABASE ${DB}` });
  await psql(pgA, DB, {
    command: `
      CREATE TABLE uix (id int PRIMARY KEY, code text NOT NULL, v int);
      CREATE UNIQUE INDEX uix_code ON uix (code);
      ALTER TABLE uix REPLICA IDENTITY USING INDEX uix_code;
      INSERT INTO uix SELECT g, 'c' || g, 0 FROM generate_series(1, 50) g;
      CREATE TABLE nth (id int PRIMARY KEY, v int);
      ALTER TABLE nth REPLICA IDENTITY NOTHING;
      INSERT INTO nth SELECT g, 0 FROM generate_series(1, 10) g;
      CREATE TABLE fpk (id int PRIMARY KEY, v int, body text);
      ALTER TABLE fpk REPLICA IDENTITY FULL;
      INSERT INTO fpk SELECT g, 0, CASE WHEN g < 3 THEN (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 8000) i) ELSE 'b' || g END FROM generate_series(1, 20) g;
      CREATE TABLE to_full (id int PRIMARY KEY, v int);
      INSERT INTO to_full SELECT g, 0 FROM generate_series(1, 10) g;
      CREATE TABLE to_nothing (id int PRIMARY KEY, v int);
      INSERT INTO to_nothing SELECT g, 0 FROM generate_series(1, 10) g;
      CREATE TABLE recreated (id int PRIMARY KEY, v int);
      INSERT INTO recreated SELECT g, 0 FROM generate_series(1, 10) g;
      CREATE TABLE retyped (id int PRIMARY KEY, v int);
      INSERT INTO retyped SELECT g, 0 FROM generate_series(1, 10) g;
      CREATE TABLE while_down (id int PRIMARY KEY, v varchar(10));
      INSERT INTO while_down SELECT g, 'x' FROM generate_series(1, 10) g;
      CREATE TABLE keyless (a text, b int);
      INSERT INTO keyless SELECT 'k' || g, g FROM generate_series(1, 10) g;
      CREATE TABLE uniq (id int PRIMARY KEY, code text NOT NULL UNIQUE, v int);
      INSERT INTO uniq SELECT g, 'c' || g, 0 FROM generate_series(1, 300) g;
      CREATE TABLE keep (id int PRIMARY KEY, v int);
      INSERT INTO keep SELECT g, 0 FROM generate_series(1, 10) g;`,
  });
  source = await startSource('source');
  daemons.push(
    await spawnDcsync({
      name: 'destination',
      args: ['run', 'task', 'destination', '--cluster.endpoint', pgB.url('postgres'), '--mq.kafka-addr', kafka.bootstrap, '--sync.id', SYNC, '--mq.replication-policy', 'identity'],
      env: { DCSYNC_DEBUG: '1' },
      logFile: path.join(dir, 'destination.log'),
    }),
  );
  await waitFor(async () => tablesEqual(['uix', 'nth', 'fpk', 'to_full', 'to_nothing', 'recreated', 'retyped', 'while_down', 'keyless', 'uniq', 'keep']), { timeoutMs: 120_000, intervalMs: 500, what: 'the initial copy' });
});

after(async () => {
  for (const d of [...daemons, ...(source ? [source] : [])].reverse()) await d.stop(10_000).catch(() => {});
  await env?.stop();
});

async function startSource(name: string): Promise<DaemonHandle> {
  return spawnDcsync({
    name,
    args: ['run', 'task', 'source', '--cluster.endpoint', pgA.url('postgres'), '--mq.kafka-addr', kafka.bootstrap, '--sync.id', SYNC, '--databases', DB, '--mq.partitions', '4', '--heartbeat', '1s'],
    env: { DCSYNC_DEBUG: '1' },
    logFile: path.join(dir, `${name}.log`),
  });
}

async function tablesEqual(tables: readonly string[]): Promise<boolean> {
  const [a, b] = await Promise.all([databaseFingerprint(pgA.url(DB)), databaseFingerprint(pgB.url(DB))]);
  return tables.every((t) => a.get(`public.${t}`)?.md5 === b.get(`public.${t}`)?.md5 && a.get(`public.${t}`)?.rows === b.get(`public.${t}`)?.rows);
}

async function equalSoon(tables: readonly string[], timeoutMs = 30_000): Promise<void> {
  await waitFor(async () => tablesEqual(tables), { timeoutMs, intervalMs: 300, what: `tables ${tables.join(', ')} equal at both ends` });
}

async function targetTable(name: string): Promise<{ status: string; error: string | null } | undefined> {
  return (await queryRows<{ status: string; error: string | null }>(pgB.url(DB), `SELECT status, error FROM dcsync.target_tables WHERE schema_name = 'public' AND table_name = '${name}'`))[0];
}

async function failedSoon(name: string, timeoutMs = 30_000): Promise<string> {
  await waitFor(async () => (await targetTable(name))?.status === 'failed', {
    timeoutMs,
    intervalMs: 300,
    what: `table ${name} marked failed at B`,
  });
  return (await targetTable(name))!.error ?? '';
}

test('REPLICA IDENTITY USING INDEX beside a primary key: updates, identity moves, key moves and deletes arrive', async () => {
  await psql(pgA, DB, {
    command: `UPDATE uix SET v = 1 WHERE id = 1; UPDATE uix SET code = 'moved' WHERE id = 2; UPDATE uix SET id = 1000 WHERE id = 3;
              DELETE FROM uix WHERE id = 4; DELETE FROM uix WHERE code = 'moved'; UPDATE uix SET v = 2 WHERE id BETWEEN 10 AND 20;`,
  });
  await equalSoon(['uix']);
  assert.equal((await targetTable('uix'))?.status, 'running');
});

test('a unique column beside the primary key: a value moving between rows of different keys arrives in order', async () => {
  // Each code moves from one row to another whose key hashes to another partition; applied out of order, B would
  // hold the same code twice for a moment, which its unique index refuses.
  const moves = Array.from({ length: 300 }, (_, i) => `DELETE FROM uniq WHERE id = ${i + 1}; INSERT INTO uniq VALUES (${i + 1001}, 'c${i + 1}', 1);`);
  await psql(pgA, DB, { command: moves.join('\n') });
  await psql(pgA, DB, { command: `UPDATE uniq SET code = 'x' || code WHERE id > 1200; UPDATE uniq SET id = id + 5000 WHERE id BETWEEN 1001 AND 1100` });
  await equalSoon(['uniq'], 60_000);
  assert.equal((await targetTable('uniq'))?.status, 'running');
});

test('REPLICA IDENTITY FULL with a primary key: updates (TOAST untouched), key moves and deletes arrive', async () => {
  await psql(pgA, DB, { command: `UPDATE fpk SET v = 1 WHERE id IN (1, 5); UPDATE fpk SET id = 100 WHERE id = 6; DELETE FROM fpk WHERE id IN (2, 7);` });
  await equalSoon(['fpk']);
  assert.equal((await targetTable('fpk'))?.status, 'running');
});

test('REPLICA IDENTITY NOTHING with a primary key: A accepts updates, inserts replicate, an update stops the table loudly', async () => {
  await psql(pgA, DB, { command: `INSERT INTO nth VALUES (11, 0)` });
  await equalSoon(['nth']);
  // The application's own writes never fail because of dcsync.
  await psql(pgA, DB, { command: `UPDATE nth SET v = 1 WHERE id = 1; DELETE FROM nth WHERE id = 2; UPDATE keep SET v = 1 WHERE id = 1` });
  const error = await failedSoon('nth');
  assert.match(error, /public\.nth/);
  assert.match(error, /REPLICA IDENTITY/);
  await equalSoon(['keep']);
  assert.equal((await targetTable('keep'))?.status, 'running');
});

test('replica identity changed while streaming: the table is right at B or stopped loudly, and A keeps accepting writes', async () => {
  await psql(pgA, DB, { command: `ALTER TABLE to_full REPLICA IDENTITY FULL; UPDATE to_full SET v = 1 WHERE id = 1; DELETE FROM to_full WHERE id = 2` });
  await psql(pgA, DB, { command: `ALTER TABLE to_nothing REPLICA IDENTITY NOTHING` });
  // dcsync takes the table out of the update/delete publication within a few seconds; until then A's updates fail.
  await waitFor(
    async () =>
      psql(pgA, DB, { command: `UPDATE to_nothing SET v = 1 WHERE id = 1` }).then(
        () => true,
        () => false,
      ),
    { timeoutMs: 20_000, intervalMs: 500, what: 'A to accept an UPDATE of to_nothing' },
  );
  assert.match(await failedSoon('to_nothing'), /public\.to_nothing/);
  const full = await targetTable('to_full');
  if (full?.status === 'failed') assert.match(full.error ?? '', /public\.to_full/);
  else await equalSoon(['to_full']);
  await psql(pgA, DB, { command: `UPDATE keep SET v = 2 WHERE id = 2` });
  await equalSoon(['keep']);
});

test('a table dropped and created again under the same name while streaming stops loudly', async () => {
  await psql(pgA, DB, { command: `DROP TABLE recreated; CREATE TABLE recreated (id int PRIMARY KEY, v int); INSERT INTO recreated VALUES (1, 5), (2, 5)` });
  await psql(pgA, DB, { command: `UPDATE recreated SET v = 6 WHERE id = 1; DELETE FROM recreated WHERE id = 2` });
  assert.match(await failedSoon('recreated'), /public\.recreated.*dropped and created again/);
});

test('a column type changed while streaming stops the table loudly', async () => {
  await psql(pgA, DB, { command: `ALTER TABLE retyped ALTER COLUMN v TYPE bigint; UPDATE retyped SET v = 5000000000 WHERE id = 1` });
  assert.match(await failedSoon('retyped'), /public\.retyped.*type of column v changed/);
});

test('while the source task is stopped: a type modifier change and an update of a keyless table stop those tables at the restart', async () => {
  await source!.stop(10_000);
  source = undefined;
  await psql(pgA, DB, { command: `ALTER TABLE while_down ALTER COLUMN v TYPE varchar(20); UPDATE keyless SET b = -1 WHERE a = 'k1'; UPDATE keep SET v = 3 WHERE id = 3` });
  source = await startSource('source-2');
  assert.match(await failedSoon('while_down'), /public\.while_down.*type of column v changed/);
  assert.match(await failedSoon('keyless'), /public\.keyless.*REPLICA IDENTITY FULL/);
  await equalSoon(['keep']);
  assert.equal((await targetTable('keep'))?.status, 'running');
});
