import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { freePort } from '../../../tools/local/ports.ts';
import { startPgCluster, type PgClusterHandle } from '../../../tools/local/postgres.ts';
import { spawnDaemon, type DaemonHandle } from '../../../tools/local/process.ts';
import { waitFor } from '../../helpers/compare.ts';
import { psql } from '../../helpers/psql.ts';
import { REPO } from '../../helpers/two-dc.ts';

/** Misconfigurations stop with a message that says what to fix; unreachable servers are retried, and the logs say so. */
let dir: string;
let logical: PgClusterHandle;
let replica: PgClusterHandle;
const daemons: DaemonHandle[] = [];

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'dcsync-err-'));
  chmodSync(dir, 0o755);
  [logical, replica] = await Promise.all([
    startPgCluster({ dir: path.join(dir, 'logical'), name: 'logical', settings: { fsync: 'off' } }),
    startPgCluster({ dir: path.join(dir, 'replica'), name: 'replica', settings: { fsync: 'off', wal_level: 'replica' } }),
  ]);
  await psql(logical, 'postgres', { command: `CREATE ROLE plain LOGIN PASSWORD 'plain-pw'; CREATE TABLE t (id int PRIMARY KEY)` });
});

after(async () => {
  for (const d of daemons) await d.stop(5_000).catch(() => {});
  await logical?.stop();
  await replica?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs a source task; the password goes through the environment, as the docs say, never the command line. */
async function sourceLog(name: string, url: string, kafka: string, expect: RegExp): Promise<string> {
  const logFile = path.join(dir, `${name}.log`);
  const u = new URL(url);
  const password = decodeURIComponent(u.password);
  u.password = '';
  const d = await spawnDaemon({
    name,
    command: process.execPath,
    args: [path.join(REPO, 'bin/dcsync.js'), 'run', 'task', 'source', '--cluster.endpoint', u.toString(), '--mq.kafka-addr', kafka, '--databases', 'postgres'],
    env: { DCSYNC_CLUSTER_PASSWORD: password },
    logFile,
  });
  daemons.push(d);
  try {
    await waitFor(async () => expect.test(readFileSync(logFile, 'utf8')), { timeoutMs: 30_000, intervalMs: 200, what: `${name}: ${expect}` });
  } catch (err) {
    throw new Error(`${(err as Error).message}\n--- ${logFile}:\n${readFileSync(logFile, 'utf8').slice(-3000)}`);
  }
  await d.stop(5_000);
  return readFileSync(logFile, 'utf8');
}

test('wal_level not logical: says what to set', async () => {
  await sourceLog('wal-level', replica.url('postgres'), '127.0.0.1:1', /set wal_level = logical in postgresql\.conf and restart/);
});

test('wrong password: names the role, is not retried, and the password is not logged', async () => {
  const log = await sourceLog('bad-password', logical.url('postgres', 'postgres', 'not-the-password'), '127.0.0.1:1', /authentication failed.*role 'postgres'/);
  assert.doesNotMatch(log, /retrying/);
  assert.doesNotMatch(log, /not-the-password/);
});

test('a role without REPLICATION: names the role and the missing privilege', async () => {
  await sourceLog('no-replication', logical.url('postgres', 'plain', 'plain-pw'), '127.0.0.1:1', /role 'plain' lacks the REPLICATION attribute: ALTER ROLE \\"plain\\" WITH REPLICATION/);
});

test('PostgreSQL unreachable: retried with backoff, and the log says so', async () => {
  const port = await freePort();
  const log = await sourceLog('pg-down', `postgres://postgres:secret-pw@127.0.0.1:${port}/postgres`, '127.0.0.1:1', /task interrupted, retrying[\s\S]*task interrupted, retrying/);
  assert.match(log, /PostgreSQL unreachable/);
  assert.doesNotMatch(log, /secret-pw/);
});

test('Kafka unreachable: retried with backoff, and the log says so', async () => {
  const port = await freePort();
  const log = await sourceLog('kafka-down', logical.url('postgres'), `127.0.0.1:${port}`, /task interrupted, retrying/);
  assert.match(log, /Kafka/);
});
