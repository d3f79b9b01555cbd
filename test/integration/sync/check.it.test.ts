/**
 * Issue 17, `dcsync check sync`, on a whole local deployment (two PostgreSQL clusters, a Kafka each, MirrorMaker 2,
 * masters and workers per datacenter), driven through the CLI: refused without a sync; an equal copy reported equal
 * while pgbench writes at A (several runs: lag never shows as a difference); rows changed, deleted and inserted at B
 * behind dcsync's back found and named with counts and key ranges, in tables with an integer, a text, a composite
 * and no key; unknown databases and tables refused with exit code 1.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CheckView, TableCheckView } from '../../../src/control/v1/check.ts';
import { upLocal, type LocalDeployment } from '../../../tools/local/deployment.ts';
import { pgBin } from '../../../tools/local/postgres.ts';
import { dcsyncCli, type CliRun } from '../../helpers/cli.ts';
import { assertDatabasesEqual, waitFor } from '../../helpers/compare.ts';
import { queryRows, run } from '../../helpers/psql.ts';

describe('check sync on a local two-datacenter deployment', { timeout: 900_000 }, () => {
  let parent: string;
  let dep: LocalDeployment;
  let load: ChildProcess | undefined;

  const cli = (args: readonly string[], timeoutMs = 300_000): Promise<CliRun> => dcsyncCli(args, { DCSYNC_AUTH_PASSWORD: dep.password }, timeoutMs);
  const atB = (): string[] => ['--master.endpoint', dep.datacenter('dc-b').masters.join(','), '--master.cacert', dep.state().files.tlsCaCert, '--auth.user', dep.state().superuser];
  const check = (...args: string[]): Promise<CliRun> => cli(['check', 'sync', ...atB(), ...args]);

  async function checkJson(...args: string[]): Promise<{ run: CliRun; view: CheckView }> {
    const r = await check('--json', ...args);
    assert.ok(r.code === 0 || r.code === 3, `exit ${r.code}: ${r.stderr}`);
    return { run: r, view: JSON.parse(r.stdout) as CheckView };
  }

  const table = (v: CheckView, name: string): TableCheckView => {
    const t = v.databases.flatMap((d) => d.tables).find((x) => `${x.schema}.${x.name}` === name);
    assert.ok(t, `${name} was checked`);
    return t;
  };

  /** At B as superuser, behind dcsync's back (B refuses writes of other sessions while the sync runs). */
  const atBDirectly = (sql: string): Promise<unknown> => queryRows(dep.pgUrl('dc-b', 'shop'), `BEGIN; SET LOCAL transaction_read_only = off; SET LOCAL session_replication_role = replica; ${sql}; COMMIT`);

  before(async () => {
    parent = await mkdtemp(path.join(tmpdir(), 'dcsync-check-'));
    await chmod(parent, 0o755);
    dep = await upLocal({ dir: path.join(parent, 'local'), configure: false });
    await queryRows(dep.pgUrl('dc-a', 'postgres'), 'CREATE DATABASE shop');
    await run(pgBin('pgbench'), ['-i', '-s', '10', '-q', 'shop'], dep.pgEnv('dc-a'));
    await queryRows(
      dep.pgUrl('dc-a', 'shop'),
      `ALTER TABLE pgbench_history REPLICA IDENTITY FULL;
       CREATE TABLE item (id bigint PRIMARY KEY, name text NOT NULL, qty int NOT NULL);
       INSERT INTO item SELECT g, 'item ' || g, g % 100 FROM generate_series(1, 50000) g;
       CREATE TABLE tk (code text PRIMARY KEY, v int);
       INSERT INTO tk SELECT 'code-' || g, g FROM generate_series(1, 2000) g;
       CREATE TABLE ck (region text, id int, v text, PRIMARY KEY (region, id));
       INSERT INTO ck SELECT r, g, 'v' || g FROM unnest(ARRAY['eu', 'us, west', 'ap']) r, generate_series(1, 3000) g;
       CREATE TABLE nokey (a text, b int);
       ALTER TABLE nokey REPLICA IDENTITY FULL;
       INSERT INTO nokey SELECT 'n' || (g % 500), g % 7 FROM generate_series(1, 5000) g;`,
    );
  });

  after(async () => {
    if (load?.pid !== undefined && load.exitCode === null) load.kill('SIGTERM');
    if (dep) await dep.down().catch(() => {});
    if (parent && !process.env['DCSYNC_KEEP_TEST_DIR']) await rm(parent, { recursive: true, force: true });
  });

  it('refuses a check without a configured sync (exit 1)', async () => {
    const r = await check();
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /404 not-found: no incoming sync 'main' in this datacenter/);
  });

  it('reports an equal copy equal while pgbench writes at A, run after run', async () => {
    const configured = await cli([
      'configure', 'sync', ...atB(),
      '--source.endpoint', dep.datacenter('dc-a').masters.join(','), '--source.cacert', dep.state().files.tlsCaCert, '--master.keyfile', dep.state().files.clientKeyfile,
    ]);
    assert.equal(configured.code, 0, configured.stderr);
    await waitFor(
      async () => {
        const r = await cli(['get', 'status', ...atB(), '--json', '--timeout', '5s'], 30_000);
        if (r.code !== 0 || (JSON.parse(r.stdout) as { status: string }).status !== 'running') return false;
        await assertDatabasesEqual(dep.pgUrl('dc-a', 'shop'), dep.pgUrl('dc-b', 'shop'));
        return true;
      },
      { timeoutMs: 300_000, intervalMs: 2_000, what: 'the initial copy' },
    );
    load = spawn(pgBin('pgbench'), ['-c', '2', '-T', '600', '-n', 'shop'], { env: { ...process.env, ...dep.pgEnv('dc-a') }, stdio: 'ignore' });
    for (let i = 1; i <= 3; i++) {
      const started = Date.now();
      const { run: r, view } = await checkJson();
      assert.equal(r.code, 0, `run ${i}: ${r.stdout}`);
      assert.equal(view.state, 'equal');
      const accounts = table(view, 'public.pgbench_accounts');
      assert.equal(accounts.rowsAtSource, 1_000_000);
      assert.equal(table(view, 'public.pgbench_history').keyColumns.length, 0, 'pgbench_history has no key: a multiset');
      assert.ok(table(view, 'public.pgbench_history').rowsAtSource > 0, 'the load wrote history rows');
      console.log(`check run ${i} under load: equal, ${view.progress.rowsHashed} rows hashed in ${Date.now() - started} ms; stderr: ${r.stderr.trim().split('\n').length} progress lines`);
    }
  });

  it('finds rows changed, deleted and inserted at B behind dcsync\'s back, with counts and key ranges', async () => {
    load?.kill('SIGTERM');
    await atBDirectly(`DELETE FROM item WHERE id BETWEEN 100 AND 149;
      UPDATE item SET qty = -1 WHERE id IN (7, 9);
      INSERT INTO item VALUES (100001, 'x', 0), (100002, 'x', 0), (100003, 'x', 0);
      INSERT INTO tk VALUES ('zzz', 0);
      UPDATE tk SET v = -1 WHERE code = 'code-5';
      UPDATE ck SET v = 'changed' WHERE region = 'us, west' AND id = 42;
      DELETE FROM ck WHERE region = 'ap' AND id = 7;
      DELETE FROM nokey WHERE ctid = (SELECT ctid FROM nokey WHERE a = 'n1' LIMIT 1);
      INSERT INTO nokey VALUES ('extra', 1)`);
    const { run: r, view } = await checkJson();
    assert.equal(r.code, 3, r.stderr);
    assert.equal(view.state, 'different');
    const item = table(view, 'public.item');
    assert.deepEqual([item.missingAtDestination, item.extraAtDestination, item.different], [50, 3, 2]);
    assert.deepEqual(item.ranges, {
      missing: [{ from: ['100'], to: ['149'], rows: 50 }],
      extra: [{ from: ['100001'], to: ['100003'], rows: 3 }],
      different: [{ from: ['7'], to: ['7'], rows: 1 }, { from: ['9'], to: ['9'], rows: 1 }],
    });
    const tk = table(view, 'public.tk');
    assert.deepEqual([tk.missingAtDestination, tk.extraAtDestination, tk.different], [0, 1, 1]);
    assert.deepEqual(tk.ranges.extra, [{ from: ['zzz'], to: ['zzz'], rows: 1 }]);
    assert.deepEqual(tk.ranges.different, [{ from: ['code-5'], to: ['code-5'], rows: 1 }]);
    const ck = table(view, 'public.ck');
    assert.deepEqual(ck.keyColumns, ['region', 'id']);
    assert.deepEqual(ck.ranges.missing, [{ from: ['ap', '7'], to: ['ap', '7'], rows: 1 }]);
    assert.deepEqual(ck.ranges.different, [{ from: ['us, west', '42'], to: ['us, west', '42'], rows: 1 }]);
    const nokey = table(view, 'public.nokey');
    assert.deepEqual([nokey.keyColumns.length, nokey.missingAtDestination, nokey.extraAtDestination], [0, 1, 1]);
    assert.deepEqual(nokey.ranges.extra, [{ from: ['(extra,1)'], to: ['(extra,1)'], rows: 1 }]);
    for (const name of ['public.pgbench_accounts', 'public.pgbench_branches', 'public.pgbench_tellers', 'public.pgbench_history']) assert.ok(table(view, name).equal, `${name} is equal`);

    const human = await check('--table', 'public.item', '--table', 'public.ck');
    assert.equal(human.code, 3, human.stderr);
    assert.match(human.stdout, /2 of 2 tables differ/);
    assert.match(human.stdout, /public\.item: DIFFERENT: 50 missing at B, 3 extra at B, 2 different \(rows at A 50,000, at B 49,953\)/);
    assert.match(human.stdout, /missing at B: id 100\.\.149 \(50 rows\)/);
    assert.match(human.stdout, /different: \(region, id\) = \(us, west, 42\)/);
    assert.match(human.stderr, /check c-[a-z0-9]+: /, 'progress on stderr');
  });

  it('measures the hash rate on pgbench_accounts', async () => {
    const started = Date.now();
    const { view } = await checkJson('--table', 'public.pgbench_accounts');
    const ms = Date.now() - started;
    const t = table(view, 'public.pgbench_accounts');
    assert.ok(t.equal);
    console.log(`hash rate: ${t.rowsAtSource} rows per side in ${ms} ms end to end (cut, marker, both sides hashing in parallel): ${Math.round(t.rowsAtSource / (ms / 1000))} rows/s per side`);
    // The comparison alone (both sides hashing at once), as B's leading master logged it.
    const logs = await Promise.all(['master-b1', 'master-b2', 'master-b3'].map((m) => readFile(path.join(dep.dir, 'logs', `${m}.log`), 'utf8').catch(() => '')));
    const line = logs.join('\n').split('\n').find((l) => l.includes(view.id) && l.includes('check: table compared'));
    if (line) {
      const compared = JSON.parse(line) as { ms: number };
      console.log(`hash rate: pgbench_accounts compared in ${compared.ms} ms: ${Math.round(t.rowsAtSource / (compared.ms / 1000))} rows/s per side`);
    }
  });

  it('refuses unknown databases and tables with exit code 1', async () => {
    const db = await check('--database', 'nosuchdb');
    assert.equal(db.code, 1);
    assert.match(db.stderr, /sync 'main' has no database 'nosuchdb' \(its databases: .*shop/);
    const t = await check('--table', 'public.nosuch');
    assert.equal(t.code, 1);
    assert.match(t.stderr + t.stdout, /no replicated table 'public\.nosuch' in the sync's databases at the source/);
    const malformed = await check('--table', 'nosuch');
    assert.equal(malformed.code, 1);
    assert.match(malformed.stderr, /is not a table as schema\.table/);
  });
});
