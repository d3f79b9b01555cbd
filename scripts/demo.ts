/**
 * The quick-start demo: two datacenters on this machine (PostgreSQL + Kafka each, MirrorMaker 2 from A to B),
 * dcsync replicating every database of A to B, a pgbench load while it runs, lag printed as it goes, then the
 * row counts of both sides. Everything it starts is stopped at the end (also on Ctrl-C).
 */
import pg from 'pg';
import { pgBin } from '../src/local/postgres.ts';
import { startTwoDc, type TwoDc } from '../src/local/two-datacenters.ts';
import { psql, run } from '../test/helpers/psql.ts';

const say = (text: string): void => void process.stdout.write(text + '\n');

async function rows<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => {});
  await c.connect();
  try {
    return (await c.query<T>(sql)).rows;
  } finally {
    await c.end();
  }
}

async function status(env: TwoDc, dbs: string[]): Promise<{ db: string; complete: boolean; copied: number; lagMs: number | null }[]> {
  const out = [];
  for (const db of dbs) {
    try {
      const [s] = await rows<{ complete: boolean; copied: string; lag: number | null }>(
        env.pgB.url(db),
        `SELECT (SELECT bool_and(snapshot_complete) FROM dcsync.target_sync) AS complete,
                (SELECT coalesce(sum(rows_copied), 0) FROM dcsync.target_tables) AS copied,
                (SELECT extract(epoch FROM now() - max(commit_time)) * 1000 FROM dcsync.applied_position) AS lag`,
      );
      out.push({ db, complete: s?.complete ?? false, copied: Number(s?.copied ?? 0), lagMs: s?.lag ?? null });
    } catch {
      out.push({ db, complete: false, copied: 0, lagMs: null });
    }
  }
  return out;
}

async function counts(url: string): Promise<Map<string, number>> {
  const tables = await rows<{ t: string }>(url, `SELECT format('%I.%I', schemaname, relname) AS t FROM pg_stat_user_tables WHERE schemaname <> 'dcsync' ORDER BY 1`);
  const m = new Map<string, number>();
  for (const { t } of tables) m.set(t, Number((await rows<{ n: string }>(url, `SELECT count(*) AS n FROM ${t}`))[0]!.n));
  return m;
}

const controller = new AbortController();
process.on('SIGINT', () => controller.abort());
process.on('SIGTERM', () => controller.abort());

say('dcsync demo: starting datacenter A and B (PostgreSQL, Kafka, MirrorMaker 2 A→B) on loopback…');
const env = await startTwoDc({ prefix: 'dcsync-demo-' });
try {
  say(`  A: PostgreSQL 127.0.0.1:${env.pgA.port}, Kafka ${env.kafkaA.bootstrap}`);
  say(`  B: PostgreSQL 127.0.0.1:${env.pgB.port}, Kafka ${env.kafkaB.bootstrap}   (logs in ${env.dir})`);
  say('Sample data in A: database "shop" (pgbench, 500,000 accounts) and database "inventory"…');
  await psql(env.pgA, 'postgres', { command: 'CREATE DATABASE shop' });
  await psql(env.pgA, 'postgres', { command: 'CREATE DATABASE inventory' });
  await run(pgBin('pgbench'), ['-i', '-s', '5', '-q', 'shop'], env.pgA.pgEnv());
  await psql(env.pgA, 'inventory', {
    command: `CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, stock int NOT NULL, tags text[], meta jsonb);
              INSERT INTO items SELECT g, 'item ' || g, g % 100, ARRAY['t' || (g % 7)], jsonb_build_object('w', g * 0.5) FROM generate_series(1, 20000) g;`,
  });
  const dbs = ['shop', 'inventory', 'postgres'];
  say('Starting dcsync: source tasks in A (every database), destination tasks in B…');
  const passwordEnv = (pgc: typeof env.pgA): Record<string, string> => ({ DCSYNC_CLUSTER_PASSWORD: pgc.password });
  const noPassword = (url: string): string => {
    const u = new URL(url);
    u.password = '';
    return u.toString();
  };
  await env.dcsync('source', ['run', 'task', 'source', '--cluster.endpoint', noPassword(env.pgA.url('postgres')), '--mq.kafka-addr', env.kafkaA.bootstrap, '--sync.id', 'demo'], passwordEnv(env.pgA));
  await env.dcsync('destination', ['run', 'task', 'destination', '--cluster.endpoint', noPassword(env.pgB.url('postgres')), '--mq.kafka-addr', env.kafkaB.bootstrap, '--sync.id', 'demo'], passwordEnv(env.pgB));
  const t0 = Date.now();
  for (;;) {
    if (controller.signal.aborted) throw new Error('interrupted');
    const st = await status(env, dbs);
    say(`  ${((Date.now() - t0) / 1000).toFixed(1)} s  ` + st.map((s) => `${s.db}: ${s.complete ? 'running' : `initial copy ${s.copied} rows`}`).join('   '));
    if (st.every((s) => s.complete)) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  say('Writing at A: pgbench on "shop" for 20 s while dcsync streams; lag at B:');
  const load = run(pgBin('pgbench'), ['-T', '20', '-c', '2', '-n', 'shop'], env.pgA.pgEnv());
  let loading = true;
  void load.finally(() => (loading = false));
  while (loading && !controller.signal.aborted) {
    await new Promise((r) => setTimeout(r, 2000));
    const st = await status(env, ['shop']);
    say(`  lag ${st[0]?.lagMs === null ? '-' : `${Math.round(st[0]!.lagMs)} ms`}`);
  }
  const out = await load;
  say(`  pgbench: ${/tps = ([\d.]+)/.exec(out)?.[1] ?? '?'} transactions/s`);
  say('Waiting until B has caught up…');
  for (let i = 0; i < 120; i++) {
    const [a, b] = await Promise.all([counts(env.pgA.url('shop')), counts(env.pgB.url('shop'))]);
    const [sa] = await rows<{ s: string }>(env.pgA.url('shop'), 'SELECT sum(abalance)::text AS s FROM pgbench_accounts');
    const [sb] = await rows<{ s: string }>(env.pgB.url('shop'), 'SELECT sum(abalance)::text AS s FROM pgbench_accounts');
    if ([...a].every(([t, n]) => b.get(t) === n) && sa?.s === sb?.s) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  say('Row counts (A → B):');
  for (const db of ['shop', 'inventory']) {
    const [a, b] = await Promise.all([counts(env.pgA.url(db)), counts(env.pgB.url(db))]);
    for (const [t, n] of a) say(`  ${db}.${t.padEnd(28)} ${String(n).padStart(9)} → ${String(b.get(t) ?? '-').padStart(9)}${b.get(t) === n ? '' : '   (differs)'}`);
  }
  say('Stopping everything…');
} finally {
  await env.stop();
}
say('Done.');
