import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { spawnDcsync } from '../../../tools/local/dcsync-process.ts';
import type { KafkaBrokerHandle } from '../../../tools/local/kafka.ts';
import type { PgClusterHandle } from '../../../tools/local/postgres.ts';
import type { DaemonHandle } from '../../../tools/local/process.ts';
import { databasesEqualSoon, waitFor } from '../../helpers/compare.ts';
import { startOneBrokerPair, type OneBrokerPair } from '../../helpers/one-broker.ts';
import { psql, queryRows } from '../../helpers/psql.ts';

/**
 * Issue 15, defect 4: graceful stops (SIGTERM) of the source during the initial copy never let the destination call
 * a partial copy complete. While the source is stopped and started again several times in the middle of copying,
 * the destination is watched: whenever it says the copy is complete, every table must hold all of A's rows.
 */
let env: OneBrokerPair | undefined;
let dir: string;
let pgA: PgClusterHandle;
let pgB: PgClusterHandle;
let kafka: KafkaBrokerHandle;
const daemons: DaemonHandle[] = [];
const DB = 'gstop';
const TABLES = ['a', 'b', 'c'];
const ROWS = 150_000;

before(async () => {
  env = await startOneBrokerPair('dcsync-gstop-');
  ({ dir, pgA, pgB, kafka } = env);
  await psql(pgA, 'postgres', { command: `CREATE DATABASE ${DB}` });
  for (const t of TABLES) await psql(pgA, DB, { command: `CREATE TABLE ${t} (id int PRIMARY KEY, pad text); INSERT INTO ${t} SELECT g, repeat('x', 100) FROM generate_series(1, ${ROWS}) g;` });
});

after(async () => {
  for (const d of daemons.reverse()) await d.stop(10_000).catch(() => {});
  await env?.stop();
});

let generation = 0;
async function startSource(): Promise<DaemonHandle> {
  const d = await spawnDcsync({
    name: 'source',
    args: ['run', 'task', 'source', '--cluster.endpoint', pgA.url('postgres'), '--mq.kafka-addr', kafka.bootstrap, '--sync.id', DB, '--databases', DB, '--copy.chunk-pages', '64', '--heartbeat', '1s'],
    logFile: path.join(dir, `source-${++generation}.log`),
  });
  daemons.push(d);
  return d;
}

async function targetState(): Promise<{ complete: boolean; rows: Map<string, number> }> {
  const sync = await queryRows<{ c: boolean }>(pgB.url(DB), `SELECT bool_or(snapshot_complete) AS c FROM dcsync.target_sync`).catch(() => []);
  const complete = sync[0]?.c === true;
  const rows = new Map<string, number>();
  if (complete) for (const t of TABLES) rows.set(t, Number((await queryRows<{ n: string }>(pgB.url(DB), `SELECT count(*) AS n FROM public.${t}`))[0]!.n));
  return { complete, rows };
}

test('SIGTERM of the source during the initial copy, repeatedly: the copy is called complete only when it is', async (t) => {
  let source = await startSource();
  daemons.push(
    await spawnDcsync({
      name: 'destination',
      args: ['run', 'task', 'destination', '--cluster.endpoint', pgB.url('postgres'), '--mq.kafka-addr', kafka.bootstrap, '--sync.id', DB, '--mq.replication-policy', 'identity'],
      logFile: path.join(dir, 'destination.log'),
    }),
  );
  let watching = true;
  const violations: string[] = [];
  const watcher = (async () => {
    while (watching) {
      const s = await targetState().catch(() => ({ complete: false, rows: new Map<string, number>() }));
      if (s.complete) {
        for (const [table, n] of s.rows) if (n !== ROWS) violations.push(`copy complete with ${n} of ${ROWS} rows in ${table}`);
        return;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  for (let i = 0; i < 4; i++) {
    const copied = await queryRows<{ n: string }>(pgB.url(DB), `SELECT coalesce(sum(rows_copied), 0) AS n FROM dcsync.target_tables`).catch(() => [{ n: '0' }]);
    await new Promise((r) => setTimeout(r, 1_500 + i * 700));
    await source.stop(30_000);
    t.diagnostic(`source stopped gracefully with ${copied[0]?.n ?? 0} rows copied at B`);
    source = await startSource();
  }
  await waitFor(async () => (await targetState()).complete, { timeoutMs: 240_000, intervalMs: 500, what: 'the initial copy complete at B' });
  watching = false;
  await watcher;
  assert.deepEqual(violations, []);
  await databasesEqualSoon(pgA, pgB, DB, 60_000);
});
