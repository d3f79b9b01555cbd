import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { pgBin } from '../../../tools/local/postgres.ts';
import type { DaemonHandle } from '../../../tools/local/process.ts';
import { assertDatabasesEqual, waitFor } from '../../helpers/compare.ts';
import { psql, run } from '../../helpers/psql.ts';
import { startTwoDc, type TwoDc } from '../../helpers/two-dc.ts';

/**
 * The pgbench test with crashes: pgbench -i -s 10 at the source, sync with kill -9 of both worker processes
 * during the initial copy, then pgbench -T 30 -c 4 while streaming with kill -9 of each again; finally every
 * table is equal at both ends (checksums over the ordered text of all rows).
 */
let env: TwoDc;
before(async () => {
  env = await startTwoDc();
});
after(async () => {
  await env?.stop();
});

const SYNC = ['--sync.id', 'bench', '--databases', 'bench'];
/** A small heap: a process that held a whole 1M-row transaction (or a whole fetch) in memory would die of it. */
const HEAP = ['--max-old-space-size=256'];

async function scalar(url: string, sql: string): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const r = await c.query(sql);
    return Number(Object.values(r.rows[0] ?? { v: 0 })[0] ?? 0);
  } catch {
    return 0;
  } finally {
    await c.end();
  }
}

test('pgbench: initial copy and streaming survive kill -9 of the workers; both ends equal', async (t) => {
  await psql(env.pgA, 'postgres', { command: 'CREATE DATABASE bench' });
  await run(pgBin('pgbench'), ['-i', '-s', '10', '-q', 'bench'], env.pgA.pgEnv());
  const source = (): Promise<DaemonHandle> =>
    env.dcsync('source', ['run', 'task', 'source', '--cluster.endpoint', env.pgA.url('postgres'), '--mq.kafka-addr', env.kafkaA.bootstrap, ...SYNC, '--mq.partitions', '4', '--copy.chunk-pages', '1024', '--heartbeat', '1s'], {}, HEAP);
  const destination = (): Promise<DaemonHandle> =>
    env.dcsync('destination', ['run', 'task', 'destination', '--cluster.endpoint', env.pgB.url('postgres'), '--mq.kafka-addr', env.kafkaB.bootstrap, '--sync.id', 'bench'], {}, HEAP);
  const copied = (): Promise<number> => scalar(env.pgB.url('bench'), `SELECT coalesce(sum(rows_copied), 0) FROM dcsync.target_tables`);

  let src = await source();
  let dst = await destination();
  // kill -9 both during the initial copy, once the target has part of it
  await waitFor(async () => (await copied()) > 100_000, { timeoutMs: 120_000, intervalMs: 200, what: 'part of the initial copy at the target' });
  const partial = await copied();
  src.kill('SIGKILL');
  dst.kill('SIGKILL');
  await Promise.all([src.exited, dst.exited]);
  t.diagnostic(`killed both during the initial copy at ${partial} rows copied`);
  src = await source();
  dst = await destination();
  await waitFor(async () => (await scalar(env.pgB.url('bench'), `SELECT count(*) FROM dcsync.target_sync WHERE snapshot_complete`)) === 1, {
    timeoutMs: 180_000,
    intervalMs: 500,
    what: 'initial copy complete',
  });
  await assertDatabasesEqual(env.pgA.url('bench'), env.pgB.url('bench'));

  // streaming under load, with a crash of each side in the middle
  const load = run(pgBin('pgbench'), ['-T', '30', '-c', '4', '-j', '2', '-n', 'bench'], env.pgA.pgEnv());
  await new Promise((r) => setTimeout(r, 8_000));
  src.kill('SIGKILL');
  await src.exited;
  await new Promise((r) => setTimeout(r, 2_000));
  src = await source();
  await new Promise((r) => setTimeout(r, 8_000));
  dst.kill('SIGKILL');
  await dst.exited;
  await new Promise((r) => setTimeout(r, 2_000));
  dst = await destination();
  const out = await load;
  t.diagnostic(`pgbench: ${/tps = ([\d.]+)/.exec(out)?.[1] ?? '?'} tps`);
  const caughtUp = Date.now();
  await waitFor(
    async () => {
      await assertDatabasesEqual(env.pgA.url('bench'), env.pgB.url('bench'));
      return true;
    },
    { timeoutMs: 180_000, intervalMs: 1_000, what: 'bench equal at both ends after pgbench' },
  );
  t.diagnostic(`equal ${Date.now() - caughtUp} ms after pgbench ended`);

  // one transaction of 1M row changes, larger than any Kafka message: flows through with bounded memory
  const big = Date.now();
  await psql(env.pgA, 'bench', { command: 'UPDATE pgbench_accounts SET abalance = abalance + 1' });
  await waitFor(
    async () => {
      await assertDatabasesEqual(env.pgA.url('bench'), env.pgB.url('bench'));
      return true;
    },
    { timeoutMs: 300_000, intervalMs: 2_000, what: 'the 1M-row transaction applied' },
  );
  const peak = (pid: number): number => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  const [srcMb, dstMb] = [peak(src.pid), peak(dst.pid)];
  t.diagnostic(`1M-row UPDATE equal after ${Date.now() - big} ms; peak RSS source ${srcMb.toFixed(0)} MiB, destination ${dstMb.toFixed(0)} MiB (heap limit 256 MiB)`);
  assert.ok(!src.hasExited && !dst.hasExited, 'both processes lived through the 1M-row transaction on a 256 MiB heap');
});

