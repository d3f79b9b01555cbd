/**
 * Issue 15, defect 8: the destination is fenced by a token in the target, not by a session. A destination process
 * paused with SIGSTOP (as a GC pause, a stopped VM or a host that hangs without FIN) keeps its sessions; a
 * successor with a higher epoch must still apply within 30 s, and the old process, resumed, must be refused and
 * stop without writing. Then, against the target alone: a transaction of the old epoch that was open (paused)
 * at the takeover, and one begun after it, both roll back with FencedError; nothing of theirs lands.
 *
 *   node --import tsx --test test/integration/destination/fencing.it.test.ts
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { createLogger } from '../../../src/core/logger.ts';
import { lsn } from '../../../src/core/lsn.ts';
import { FencedError } from '../../../src/destination/fence.ts';
import { TargetState } from '../../../src/destination/target-state.ts';
import { spawnDcsync } from '../../../tools/local/dcsync-process.ts';
import { startKafkaBroker, type KafkaBrokerHandle } from '../../../tools/local/kafka.ts';
import { startPgCluster, type PgClusterHandle } from '../../../tools/local/postgres.ts';
import type { DaemonHandle } from '../../../tools/local/process.ts';
import { FAST_PG } from '../../../tools/local/two-datacenters.ts';
import { assertDatabasesEqual, waitFor, waitForValue } from '../../helpers/compare.ts';

let dir: string;
let pgA: PgClusterHandle;
let pgB: PgClusterHandle;
let kafka: KafkaBrokerHandle;
const daemons: DaemonHandle[] = [];

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'dcsync-fence-'));
  chmodSync(dir, 0o755);
  // One Kafka: the destination reads the source's topics directly (identity policy), no MirrorMaker needed here.
  [pgA, pgB, kafka] = await Promise.all([
    startPgCluster({ dir: path.join(dir, 'pg-a'), name: 'pg-a', settings: FAST_PG }),
    startPgCluster({ dir: path.join(dir, 'pg-b'), name: 'pg-b', settings: FAST_PG }),
    startKafkaBroker({ dir: path.join(dir, 'kafka'), name: 'K', autoCreateTopics: true }),
  ]);
});

after(async () => {
  for (const d of daemons) {
    d.kill('SIGCONT');
    await d.stop(10_000).catch(() => {});
  }
  await kafka?.stop().catch(() => {});
  await pgA?.stop().catch(() => {});
  await pgB?.stop().catch(() => {});
  if (!process.env['DCSYNC_KEEP_TEST_DIR']) rmSync(dir, { recursive: true, force: true });
});

async function sql<T extends pg.QueryResultRow = pg.QueryResultRow>(url: string, text: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(text, params)).rows;
  } finally {
    await c.end();
  }
}

async function count(url: string): Promise<number> {
  return Number((await sql<{ n: string }>(url, 'SELECT count(*) AS n FROM t'))[0]?.n ?? -1);
}

async function start(name: string, args: string[]): Promise<DaemonHandle> {
  const d = await spawnDcsync({ name, args, env: { DCSYNC_DEBUG: '1' }, logFile: path.join(dir, `${name}.log`) });
  daemons.push(d);
  return d;
}

const destination = (name: string): Promise<DaemonHandle> =>
  start(name, ['run', 'task', 'destination', '--cluster.endpoint', pgB.url('postgres'), '--mq.kafka-addr', kafka.bootstrap, '--sync.id', 'fen', '--mq.replication-policy', 'identity']);

const log = (name: string): string => readFileSync(path.join(dir, `${name}.log`), 'utf8');

test('a paused destination is replaced within 30 s, and its writes are refused once it resumes', { timeout: 300_000 }, async () => {
  await sql(pgA.url('postgres'), 'CREATE DATABASE app');
  await sql(pgA.url('app'), `CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 100) g`);
  await start('source', ['run', 'task', 'source', '--cluster.endpoint', pgA.url('postgres'), '--mq.kafka-addr', kafka.bootstrap, '--sync.id', 'fen', '--databases', 'app', '--heartbeat', '1s', '--mq.partitions', '2']);
  const first = await destination('destination-1');
  await waitFor(async () => (await count(pgB.url('app')).catch(() => 0)) === 100, { timeoutMs: 120_000, intervalMs: 500, what: 'the initial copy at B' });
  await sql(pgA.url('app'), `INSERT INTO t SELECT g, 'v' || g FROM generate_series(101, 110) g`);
  await waitFor(async () => (await count(pgB.url('app'))) === 110, { timeoutMs: 60_000, intervalMs: 200, what: 'streamed rows at B' });

  first.kill('SIGSTOP');
  await sql(pgA.url('app'), `INSERT INTO t SELECT g, 'v' || g FROM generate_series(111, 160) g; UPDATE t SET v = 'moved' WHERE id <= 20`);
  const startedAt = Date.now();
  await destination('destination-2');
  await waitForValue(async () => ((await count(pgB.url('app'))) === 160 ? true : undefined), {
    timeoutMs: 30_000,
    intervalMs: 200,
    what: 'the successor applying while its predecessor is paused',
    context: async () => log('destination-2').split('\n').slice(-15).join('\n'),
  });
  const tookMs = Date.now() - startedAt;

  first.kill('SIGCONT');
  // New changes reach both: the old process tries to apply them and is refused.
  await sql(pgA.url('app'), `INSERT INTO t SELECT g, 'v' || g FROM generate_series(161, 200) g; DELETE FROM t WHERE id BETWEEN 21 AND 30`);
  await waitFor(async () => /is fenced/.test(log('destination-1')), { timeoutMs: 60_000, intervalMs: 300, what: 'the resumed predecessor refused' });
  assert.match(log('destination-1'), /task failed/);
  await waitFor(
    async () => {
      await assertDatabasesEqual(pgA.url('app'), pgB.url('app'));
      return true;
    },
    { timeoutMs: 60_000, intervalMs: 500, what: 'A and B equal after the handover' },
  );
  const fence = await sql<{ holder: string }>(pgB.url('app'), `SELECT holder FROM dcsync.target_fence`);
  assert.deepEqual(fence.map((f) => f.holder), [`standalone pid ${daemons[2]!.pid}`]);
  assert.equal(first.hasExited, false, 'the old process stays up with its task failed (no retry would help)');
  process.stderr.write(`successor applied ${tookMs} ms after it started\n`);
});

test('transactions of an older epoch roll back: one open across the takeover, one begun after it', { timeout: 60_000 }, async () => {
  const url = pgB.url('postgres');
  await sql(url, 'CREATE DATABASE fence_db');
  const db = pgB.url('fence_db');
  await sql(db, 'CREATE TABLE data (id int PRIMARY KEY)');
  const quiet = createLogger({ level: 'error', sink: () => {} });
  const signal = new AbortController().signal;
  const connectAs = async (name: string): Promise<pg.Client> => {
    const c = new pg.Client({ connectionString: db, application_name: name });
    c.on('error', () => {});
    await c.connect();
    return c;
  };
  const old = new TargetState('s1', 5);
  const next = new TargetState('s1', 6);
  const oldMain = await connectAs('dcsync-destination-s1');
  await old.init(oldMain);
  await old.takeOver(oldMain, { holder: 'old', log: quiet, signal });

  // The old task is in the middle of an apply transaction, past its fence check, when it is paused.
  const paused = await connectAs('dcsync-apply-0');
  await paused.query('BEGIN');
  await paused.query('INSERT INTO data VALUES (1)');
  await old.savePosition(paused, 0, { lsn: lsn(100n), index: 0 }, 1n, { offset: '1', mark: 0n });

  const newMain = await connectAs('dcsync-destination-s1');
  const t0 = Date.now();
  await next.takeOver(newMain, { holder: 'new', log: quiet, signal });
  assert.ok(Date.now() - t0 < 10_000, 'the takeover does not wait for the paused session');
  await assert.rejects(paused.query('COMMIT'), 'the paused transaction cannot commit after the takeover');

  // The old task reconnects and writes again: refused at the fence, in the same transaction as its data.
  const late = await connectAs('dcsync-apply-0');
  await late.query('BEGIN');
  await late.query('INSERT INTO data VALUES (2)');
  await assert.rejects(old.savePosition(late, 0, { lsn: lsn(200n), index: 0 }, 1n, { offset: '2', mark: 1n }), (err: unknown) => err instanceof FencedError && err.currentEpoch === 6 && !err.retriable);
  await late.query('ROLLBACK');
  await assert.rejects(old.checkFence(late), FencedError);
  await assert.rejects(old.takeOver(late, { holder: 'old again', log: quiet, signal }), FencedError);

  // The successor writes.
  const apply = await connectAs('dcsync-apply-0');
  await apply.query('BEGIN');
  await apply.query('INSERT INTO data VALUES (3)');
  await next.savePosition(apply, 0, { lsn: lsn(300n), index: 0 }, 1n, { offset: '3', mark: 2n });
  await apply.query('COMMIT');
  assert.deepEqual((await sql<{ id: number }>(db, 'SELECT id FROM data ORDER BY id')).map((r) => r.id), [3]);
  assert.deepEqual(await sql(db, `SELECT partition, lsn::text FROM dcsync.applied_position`), [{ partition: 0, lsn: '0/12C' }]);
  for (const c of [oldMain, paused, newMain, late, apply]) await c.end().catch(() => {});
});
