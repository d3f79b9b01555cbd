/**
 * The quick-start demo (`npm run demo`), built on `dcsync local`: two datacenters on this machine (the library behind
 * `dcsync local up --no-configure`), sample data in A (database "shop" from pgbench and database "inventory"),
 * `dcsync configure sync` A→B, a pgbench load while the sync runs, `dcsync get status` polled until B has caught
 * up, the row counts of both sides, then `dcsync local down`. Ctrl-C also ends with `local down`.
 *
 *   npm run demo               everything above, in a new temporary directory
 *   npm run demo -- --keep     leave the deployment running at the end (and say how to use and stop it)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { errorMessage } from '../src/core/errors.ts';
import { delay } from '../src/core/time.ts';
import { downLocal, upLocal, type LocalDeployment } from '../tools/local/deployment.ts';
import { pgBin } from '../tools/local/postgres.ts';
import { isCaughtUp, type SyncStatus } from '../tools/local/sync.ts';
import { queryRows as query, run } from '../test/helpers/psql.ts';

const say = (text: string): void => void process.stdout.write(text + '\n');
const keep = process.argv.includes('--keep');
const LOAD_SECONDS = 20;

const controller = new AbortController();
const { signal } = controller;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (signal.aborted) return; // a second Ctrl-C: local down is under way already
    say(`\n${sig}: stopping…`);
    controller.abort();
  });
}


async function counts(url: string): Promise<Map<string, number>> {
  const tables = await query<{ t: string }>(url, `SELECT format('%I.%I', schemaname, relname) AS t FROM pg_stat_user_tables WHERE schemaname <> 'dcsync' ORDER BY 1`);
  const m = new Map<string, number>();
  for (const { t } of tables) m.set(t, Number((await query<{ n: string }>(url, `SELECT count(*) AS n FROM ${t}`))[0]!.n));
  return m;
}

const fmt = (n: number): string => n.toLocaleString('en-US');

/** One line about the sync: its status, rows copied, and the largest lag of its tables. */
function describe(s: SyncStatus): string {
  const copied = s.tables.reduce((a, t) => a + (t.rowsCopied ?? 0), 0);
  const total = s.tables.reduce((a, t) => a + (t.rowsTotal ?? 0), 0);
  const lagBytes = Math.max(0, ...s.tables.map((t) => t.lagBytes ?? 0));
  const lagSeconds = Math.max(0, ...s.tables.map((t) => t.lagSeconds ?? 0));
  const rows = total > 0 ? `${fmt(copied)} / ${fmt(total)} rows copied` : `${s.tables.length} tables`;
  return `${s.status.padEnd(12)} ${rows}, lag ${fmt(lagBytes)} bytes / ${lagSeconds.toFixed(1)} s`;
}

/** `dcsync get status` every `everyMs` until `done` says so; a few failed polls in a row (a failover) are tolerated. */
async function pollStatus(d: LocalDeployment, t0: number, everyMs: number, done: (s: SyncStatus) => boolean, timeoutMs: number): Promise<SyncStatus> {
  const until = Date.now() + timeoutMs;
  let failures = 0;
  for (;;) {
    signal.throwIfAborted();
    try {
      const s = await d.status(signal);
      failures = 0;
      say(`  ${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s  ${describe(s)}`);
      if (s.status === 'failed') throw new Error(`the sync failed: ${JSON.stringify(s)}`);
      if (done(s)) return s;
    } catch (err) {
      if (signal.aborted || ++failures >= 5 || /the sync failed/.test(errorMessage(err))) throw err;
      say(`  (get status: ${errorMessage(err).split('\n')[0]})`);
    }
    if (Date.now() > until) throw new Error(`not there within ${timeoutMs / 1000} s`);
    await delay(everyMs, signal);
  }
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dcsync-demo-'));
fs.chmodSync(dir, 0o755); // the postgres OS user runs the clusters inside it
let failed = false;
try {
  say(`dcsync demo: two datacenters on this machine (dcsync local up --dir ${dir} --no-configure)…`);
  const d = await upLocal({ dir, configure: false, signal, onProgress: (line) => say(`  ${line}`) });
  const a = d.datacenter('dc-a');
  const b = d.datacenter('dc-b');
  say(`  A: PostgreSQL ${new URL(a.pgUrl).host}, Kafka ${a.kafka}, masters ${a.masters.join(' ')}`);
  say(`  B: PostgreSQL ${new URL(b.pgUrl).host}, Kafka ${b.kafka}, masters ${b.masters.join(' ')}`);

  say('Sample data in A: database "shop" (pgbench, 500,000 accounts) and database "inventory" (20,000 items)…');
  await query(d.pgUrl('dc-a'), 'CREATE DATABASE shop');
  await query(d.pgUrl('dc-a'), 'CREATE DATABASE inventory');
  await run(pgBin('pgbench'), ['-i', '-s', '5', '-q', 'shop'], d.pgEnv('dc-a'));
  await query(
    d.pgUrl('dc-a', 'inventory'),
    `CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, stock int NOT NULL, tags text[], meta jsonb);
     INSERT INTO items SELECT g, 'item ' || g, g % 100, ARRAY['t' || (g % 7)], jsonb_build_object('w', g * 0.5) FROM generate_series(1, 20000) g`,
  );
  signal.throwIfAborted();

  say('Configuring the sync A→B (dcsync configure sync --master.endpoint <B> --source.endpoint <A> …)…');
  await d.configure(signal);
  const t0 = Date.now();
  say('Initial sync (dcsync get status at B):');
  await pollStatus(d, t0, 1_000, (s) => s.status === 'running', 600_000);

  say(`Writing at A: pgbench on "shop" for ${LOAD_SECONDS} s while dcsync streams; status at B:`);
  let loading = true;
  const load = run(pgBin('pgbench'), ['-T', String(LOAD_SECONDS), '-c', '2', '-n', 'shop'], d.pgEnv('dc-a')).finally(() => (loading = false));
  await pollStatus(d, t0, 2_000, () => !loading, (LOAD_SECONDS + 60) * 1000);
  say(`  pgbench: ${/tps = ([\d.]+)/.exec(await load)?.[1] ?? '?'} transactions/s`);

  say('Waiting until B has caught up:');
  await pollStatus(d, t0, 1_000, isCaughtUp, 300_000);

  say('Row counts (A → B):');
  let differs = false;
  for (const db of ['shop', 'inventory']) {
    const [ca, cb] = await Promise.all([counts(d.pgUrl('dc-a', db)), counts(d.pgUrl('dc-b', db))]);
    for (const [t, n] of ca) {
      differs ||= cb.get(t) !== n;
      say(`  ${db}.${t.padEnd(28)} ${fmt(n).padStart(9)} → ${(cb.has(t) ? fmt(cb.get(t)!) : '-').padStart(9)}${cb.get(t) === n ? '' : '   (differs)'}`);
    }
  }
  const sum = 'SELECT sum(abalance)::text AS s FROM pgbench_accounts';
  const [[sa], [sb]] = await Promise.all([query<{ s: string }>(d.pgUrl('dc-a', 'shop'), sum), query<{ s: string }>(d.pgUrl('dc-b', 'shop'), sum)]);
  say(`  shop: sum(abalance) ${sa?.s} → ${sb?.s}`);
  if (differs || sa?.s !== sb?.s) throw new Error('B differs from A after it reported caught up');
  if (keep) {
    say(`The deployment keeps running (--keep):`);
    say(`  eval "$(npx dcsync local env --dir ${dir})"; npx dcsync get status --master.endpoint "$DCSYNC_B_MASTERS" --master.cacert "$DCSYNC_TLS_CACERT"`);
    say(`  npx dcsync local down --dir ${dir}`);
  }
} catch (err) {
  failed = true;
  say(signal.aborted ? 'interrupted' : `demo failed: ${errorMessage(err)}\n  logs: ${dir}/logs`);
} finally {
  if (!keep || failed) {
    say(`Stopping everything (dcsync local down --dir ${dir})…`);
    await downLocal(dir).catch((err: unknown) => say(`  local down: ${errorMessage(err)}`));
    if (!failed && !process.env['DCSYNC_KEEP_TEST_DIR']) fs.rmSync(dir, { recursive: true, force: true });
  }
}
say(failed ? 'Done (with errors).' : 'Done.');
process.exitCode = failed ? 1 : 0;
