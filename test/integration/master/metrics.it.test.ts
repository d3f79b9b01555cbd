/**
 * /metrics against a real two-datacenter deployment (`dcsync local up`: PostgreSQL, Kafka and MirrorMaker 2, 3
 * masters and 2 workers per datacenter, all started with the deployment's monitoring token file): after a sync of
 * two databases and rows written at A, B's masters show lag gauges of the real database names, copy progress, one
 * leader and task states; B's workers count the applied changes; A's masters show the slots' retained WAL. Without
 * the token, or with a wrong one, the daemons answer 401; a control server without a token answers 404. The token
 * appears in no daemon's command line or log.
 */
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ControlServer } from '../../../src/control/server.ts';
import { METRICS_PATHS, metricsRoutes, WorkerMetrics } from '../../../src/metrics/index.ts';
import { upLocal, type LocalDeployment } from '../../../tools/local/deployment.ts';
import { waitFor, waitForValue } from '../../helpers/compare.ts';
import { parseExposition, samplesOf, type Exposition } from '../../helpers/prometheus.ts';
import { queryRows } from '../../helpers/psql.ts';
import { createTestPki, writeTestPki } from '../../helpers/tls-fixtures.ts';

/** The sync covers every database of A, its `postgres` too. */
const DATABASES = ['postgres', 'shop'];
const WRITTEN = 300;

interface Answer {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

function get(url: string, ca: string, token?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks).toString('utf8') }));
      })
      .on('error', reject);
  });
}

describe('/metrics of masters and workers', { timeout: 900_000 }, () => {
  let parent: string;
  let dep: LocalDeployment;
  let ca: string;
  let token: string;

  const scrape = async (endpoint: string): Promise<Exposition> => {
    const r = await get(`${endpoint}${METRICS_PATHS.text}`, ca, token);
    assert.equal(r.status, 200, `${endpoint}/metrics: ${r.body.slice(0, 300)}`);
    assert.match(r.contentType, /^text\/plain; version=0\.0\.4/);
    return parseExposition(r.body);
  };
  const sum = (es: readonly Exposition[], name: string, labels: Record<string, string> = {}): number => es.flatMap((e) => samplesOf(e, name, labels)).reduce((a, s) => a + s.value, 0);

  before(async () => {
    parent = await mkdtemp(path.join(tmpdir(), 'dcsync-metrics-'));
    await chmod(parent, 0o755);
    dep = await upLocal({ dir: path.join(parent, 'local'), configure: false });
    ca = await readFile(dep.state().files.tlsCaCert, 'utf8');
    assert.ok(dep.env.DCSYNC_MONITORING_TOKEN, 'local env exports DCSYNC_MONITORING_TOKEN');
    token = dep.env.DCSYNC_MONITORING_TOKEN;
    await queryRows(dep.pgUrl('dc-a', 'postgres'), 'CREATE DATABASE shop');
    await queryRows(dep.pgUrl('dc-a', 'shop'), `CREATE TABLE orders (id bigserial PRIMARY KEY, note text NOT NULL); INSERT INTO orders (note) SELECT 'order ' || g FROM generate_series(1, 2000) g`);
    await dep.configure();
    await waitFor(async () => (await dep.status()).status === 'running', { timeoutMs: 240_000, intervalMs: 2_000, what: 'the sync to be running' });
    for (let i = 0; i < WRITTEN / 50; i++) await queryRows(dep.pgUrl('dc-a', 'shop'), `INSERT INTO orders (note) SELECT 'more ' || g FROM generate_series(1, 50) g`);
    await waitFor(async () => Number((await queryRows<{ n: string }>(dep.pgUrl('dc-b', 'shop'), 'SELECT count(*) AS n FROM orders'))[0]!.n) === 2000 + WRITTEN, {
      timeoutMs: 120_000,
      intervalMs: 1_000,
      what: 'the written rows at B',
    });
  });

  after(async () => {
    if (dep) await dep.down().catch(() => {});
    if (parent && !process.env['DCSYNC_KEEP_TEST_DIR']) await rm(parent, { recursive: true, force: true });
  });

  it("B's masters: lag of each real database, copy progress, task states, one leader", async () => {
    const masters = dep.datacenter('dc-b').masters;
    // The status is sampled from what the workers reported: wait until every database has a known lag.
    const b = await waitForValue(
      async () => {
        const e = await scrape(masters[0]!);
        return DATABASES.every((d) => samplesOf(e, 'dcsync_lag_seconds', { database: d }).length === 1 && samplesOf(e, 'dcsync_lag_bytes', { database: d }).length === 1) ? e : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 2_000, what: 'lag gauges of every database' },
    );
    for (const f of ['dcsync_build_info', 'dcsync_master_leader', 'dcsync_status_up', 'dcsync_sync_status', 'dcsync_lag_seconds', 'dcsync_lag_bytes', 'dcsync_table_rows_copied', 'dcsync_table_rows_total', 'dcsync_tables', 'dcsync_table_failed', 'dcsync_database_failed', 'dcsync_tasks', 'process_cpu_user_seconds_total']) {
      assert.ok(b.families.has(f), `family ${f} is exposed`);
    }
    assert.deepEqual([...new Set(samplesOf(b, 'dcsync_lag_seconds').map((s) => s.labels['database']))].sort(), DATABASES);
    for (const s of [...samplesOf(b, 'dcsync_lag_seconds'), ...samplesOf(b, 'dcsync_lag_bytes')]) {
      assert.ok(Number.isFinite(s.value) && s.value >= 0, `${s.name}{database="${s.labels['database']}"} is ${s.value}`);
      assert.equal(s.labels['sync'], 'main');
    }
    assert.equal(samplesOf(b, 'dcsync_status_up')[0]?.value, 1);
    assert.equal(samplesOf(b, 'dcsync_sync_status', { role: 'incoming', status: 'running' })[0]?.value, 1);
    const copied = samplesOf(b, 'dcsync_table_rows_copied', { database: 'shop', table: 'public.orders' });
    assert.equal(copied[0]?.value, 2000, 'the initial copy of shop.public.orders');
    assert.ok((samplesOf(b, 'dcsync_table_rows_total', { database: 'shop', table: 'public.orders' })[0]?.value ?? 0) >= 2000);
    assert.equal(sum([b], 'dcsync_table_failed'), 0);
    assert.equal(sum([b], 'dcsync_database_failed'), 0);
    assert.equal(samplesOf(b, 'dcsync_tasks', { kind: 'destination', state: 'running' })[0]?.value, DATABASES.length);
    // Every master answers; exactly one of them leads.
    const all = await Promise.all(masters.map(scrape));
    assert.equal(sum(all, 'dcsync_master_leader'), 1);
  });

  it("A's masters: the outgoing sync's slots and the WAL they retain", async () => {
    const a = await waitForValue(
      async () => {
        const e = await scrape(dep.datacenter('dc-a').masters[0]!);
        return DATABASES.every((d) => samplesOf(e, 'dcsync_slot_retained_wal_bytes', { database: d }).length === 1) ? e : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 2_000, what: 'the retained WAL of every slot' },
    );
    for (const s of samplesOf(a, 'dcsync_slot_retained_wal_bytes')) {
      assert.match(s.labels['slot'] ?? '', /^dcsync_main_[a-z0-9]+_\d+$/);
      assert.ok(Number.isFinite(s.value) && s.value >= 0);
    }
    assert.equal(samplesOf(a, 'dcsync_sync_status', { role: 'outgoing', status: 'running' })[0]?.value, 1);
    assert.equal(samplesOf(a, 'dcsync_tasks', { kind: 'source', state: 'running' })[0]?.value, DATABASES.length);
  });

  it("the workers: B's count the changes they applied, A's the WAL their slots confirmed", async () => {
    const bWorkers = await Promise.all(dep.datacenter('dc-b').workers.map(scrape));
    for (const e of bWorkers) for (const f of ['dcsync_build_info', 'dcsync_worker_tasks', 'dcsync_worker_changes_applied_total', 'dcsync_worker_applied_wal_bytes_total', 'dcsync_worker_task_restarts_total']) assert.ok(e.families.has(f), `family ${f}`);
    assert.ok(sum(bWorkers, 'dcsync_worker_changes_applied_total', { database: 'shop' }) >= WRITTEN, `applied ${sum(bWorkers, 'dcsync_worker_changes_applied_total', { database: 'shop' })} changes of shop`);
    assert.ok(sum(bWorkers, 'dcsync_worker_applied_wal_bytes_total', { database: 'shop' }) > 0);
    assert.equal(sum(bWorkers, 'dcsync_worker_tasks', { kind: 'destination', state: 'running' }), DATABASES.length);
    const aWorkers = await Promise.all(dep.datacenter('dc-a').workers.map(scrape));
    assert.ok(sum(aWorkers, 'dcsync_worker_source_confirmed_wal_bytes_total', { database: 'shop' }) > 0);
  });

  it('/metrics.json has the same families', async () => {
    const r = await get(`${dep.datacenter('dc-b').masters[0]}${METRICS_PATHS.json}`, ca, token);
    assert.equal(r.status, 200);
    const names = (JSON.parse(r.body) as { name: string }[]).map((m) => m.name);
    for (const f of ['dcsync_lag_seconds', 'dcsync_master_leader', 'dcsync_tasks']) assert.ok(names.includes(f), f);
  });

  it('refuses a missing or wrong token (401), on masters and workers', async () => {
    for (const endpoint of [dep.datacenter('dc-b').masters[0]!, dep.datacenter('dc-b').workers[0]!]) {
      for (const path of [METRICS_PATHS.text, METRICS_PATHS.json]) {
        const none = await get(`${endpoint}${path}`, ca);
        assert.equal(none.status, 401, `${endpoint}${path} without a token`);
        assert.match(none.body, /monitoring token/);
        const wrong = await get(`${endpoint}${path}`, ca, token.slice(0, -1) + (token.endsWith('0') ? '1' : '0'));
        assert.equal(wrong.status, 401, `${endpoint}${path} with a wrong token`);
        assert.doesNotMatch(wrong.body, /dcsync_/);
      }
    }
  });

  it('never puts the token on a command line or in a log', async () => {
    for (const p of dep.state().processes.filter((x) => x.role === 'master' || x.role === 'worker')) {
      const cmdline = await readFile(`/proc/${p.pid}/cmdline`, 'utf8');
      assert.ok(cmdline.includes('--monitoring.token-file'), `${p.name} reads the token from its file`);
      assert.ok(!cmdline.includes(token), `${p.name}'s command line holds no token`);
    }
    const logs = path.join(dep.dir, 'logs');
    for (const f of await readdir(logs)) assert.ok(!(await readFile(path.join(logs, f), 'utf8')).includes(token), `${f} holds no token`);
  });

  it('answers 404, saying how to turn them on, where no token is configured', async () => {
    const files = await writeTestPki(await createTestPki());
    const server = new ControlServer({ component: 'worker', datacenter: 'dc-test', port: 0, host: '127.0.0.1', keyfile: files.serverKeyfile, routes: metricsRoutes(new WorkerMetrics({ version: 'test', tasks: () => [] })) });
    await server.start();
    try {
      const r = await get(`https://127.0.0.1:${server.address().port}${METRICS_PATHS.text}`, await readFile(files.tlsCaCert, 'utf8'), token);
      assert.equal(r.status, 404);
      assert.match(r.body, /--monitoring\.token-file/);
    } finally {
      await server.stop();
      await rm(files.dir, { recursive: true, force: true });
    }
  });
});
