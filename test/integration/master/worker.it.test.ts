/**
 * `dcsync run worker` against a real master and PostgreSQL: one PostgreSQL, one master and worker processes
 * (bin/dcsync.js, spawned and stopped by PID). Covers: the worker serves /health and registers (visible in
 * `dcsync get workers`); when the master assigns the source tasks of an outgoing sync, the worker starts them
 * and reports them (their Kafka is a closed port, so they stay running-and-retrying or fail, either way
 * reported with the worker's epoch); kill -9 of the worker → its tasks move to a second worker within 30 s;
 * SIGTERM → the worker stops its tasks and exits 0.
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { ControlClient } from '../../../src/control/index.ts';
import { silentLogger } from '../../../src/core/logger.ts';
import { delay } from '../../../src/core/time.ts';
import { freePort } from '../../../tools/local/ports.ts';
import { startPgCluster, type PgClusterHandle } from '../../../tools/local/postgres.ts';
import { spawnDaemon, type DaemonHandle } from '../../../tools/local/process.ts';
import { MASTER_PATHS, MasterStore, PgPool, type LeaderResponse, type TasksResponse, type WorkersResponse } from '../../../src/master/index.ts';
import { createJwtSecret } from '../../../src/tls/index.ts';
import { CLEAN_ENV, dcsyncCli, type CliRun } from '../../helpers/cli.ts';
import { DCSYNC_BIN as BIN, REPO } from '../../../tools/local/dcsync-process.ts';
import { SyncStore } from '../../../src/master/sync-store.ts';
import { waitForValue } from '../../helpers/compare.ts';
import { createTestPki, writeTestPki, type TestPkiFiles } from '../../helpers/tls-fixtures.ts';

const DATACENTER = 'dc-a';
const OPS = { user: 'ops', password: 'ops-Secret-7f3a' };
const PG_SETTINGS = { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' };

describe('sync worker', { timeout: 240_000 }, () => {
  let root = '';
  let cluster: PgClusterHandle | undefined;
  let files: TestPkiFiles;
  let jwtSecretPath = '';
  let ca = '';
  let masterEndpoint = '';
  let kafkaAddr = '';
  let master: DaemonHandle | undefined;
  const started: DaemonHandle[] = [];
  let ops: ControlClient;
  let storePool: PgPool | undefined;
  let store: MasterStore;

  function pgUrl(): string {
    return `postgresql://${cluster!.superuser}@127.0.0.1:${cluster!.port}/postgres`;
  }

  async function startWorker(name: string, port: number, extra: string[] = []): Promise<{ d: DaemonHandle; id: string; endpoint: string }> {
    const endpoint = `https://127.0.0.1:${port}`;
    const args = [
      BIN, 'run', 'worker',
      '--server.endpoint', endpoint, '--server.port', String(port), '--server.keyfile', files.serverKeyfile,
      '--master.endpoint', masterEndpoint, '--master.jwtSecret', jwtSecretPath, '--datacenter', DATACENTER,
      '--cluster.endpoint', pgUrl(), '--mq.kafka-addr', kafkaAddr, '--log.level', 'debug', ...extra,
    ];
    const d = await spawnDaemon({ name, command: process.execPath, args, cwd: REPO, env: { ...CLEAN_ENV, DCSYNC_CLUSTER_PASSWORD: cluster!.password }, logFile: path.join(root, `${name}.log`) });
    started.push(d);
    return { d, id: `127.0.0.1:${port}`, endpoint };
  }

  const cli = (args: readonly string[], env: Record<string, string> = {}): Promise<CliRun> => dcsyncCli(args, env);

  async function logsTail(): Promise<string> {
    const parts: string[] = [];
    for (const name of ['master', 'worker-1', 'worker-2']) {
      const text = await readFile(path.join(root, `${name}.log`), 'utf8').catch(() => '');
      parts.push(`--- ${name}.log\n${text.split('\n').slice(-20).join('\n')}`);
    }
    return parts.join('\n');
  }

  const waitFor = <T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T> =>
    waitForValue(fn, { what, timeoutMs, intervalMs: 250, context: logsTail });

  const tasksNow = async (): Promise<TasksResponse['tasks']> => (await ops.get<TasksResponse>(MASTER_PATHS.tasks, { timeout: 3_000 })).tasks;
  const workersNow = async (): Promise<WorkersResponse['workers']> => (await ops.get<WorkersResponse>(MASTER_PATHS.workers, { timeout: 3_000 })).workers;

  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'dcsync-worker-it-'));
    await chmod(root, 0o755);
    cluster = await startPgCluster({ dir: path.join(root, 'pg'), name: 'worker-it', settings: PG_SETTINGS });
    const admin = new pg.Client({ connectionString: cluster.url() });
    await admin.connect();
    try {
      await admin.query(`CREATE ROLE dcsync_admin NOLOGIN`);
      await admin.query(`CREATE ROLE ${OPS.user} LOGIN PASSWORD '${OPS.password}' IN ROLE dcsync_admin`);
      await admin.query('CREATE DATABASE app1');
    } finally {
      await admin.end();
    }
    await mkdir(path.join(root, 'pki'), { mode: 0o700 });
    files = await writeTestPki(await createTestPki(), path.join(root, 'pki'));
    ca = await readFile(files.tlsCaCert, 'utf8');
    jwtSecretPath = path.join(root, 'jwt.secret');
    await writeFile(jwtSecretPath, createJwtSecret() + '\n', { mode: 0o600 });
    const masterPort = await freePort();
    masterEndpoint = `https://127.0.0.1:${masterPort}`;
    kafkaAddr = `127.0.0.1:${await freePort()}`; // nothing listens there
    master = await spawnDaemon({
      name: 'master',
      command: process.execPath,
      args: [
        BIN, 'run', 'master', '--server.endpoint', masterEndpoint, '--server.port', String(masterPort), '--server.keyfile', files.serverKeyfile,
        '--cluster.endpoint', pgUrl(), '--master.jwtSecret', jwtSecretPath, '--datacenter', DATACENTER, '--mq.kafka-addr', kafkaAddr, '--log.level', 'debug',
      ],
      cwd: REPO,
      env: { ...CLEAN_ENV, DCSYNC_CLUSTER_PASSWORD: cluster.password },
      logFile: path.join(root, 'master.log'),
    });
    started.push(master);
    ops = new ControlClient({ endpoints: masterEndpoint, ca, auth: { kind: 'basic', username: OPS.user, password: OPS.password }, timeout: 3_000 });
    const pub = new ControlClient({ endpoints: masterEndpoint, ca, timeout: 2_000 });
    try {
      await waitFor('the master leads', async () => ((await pub.get<LeaderResponse>(MASTER_PATHS.leader)).self.role === 'leader' ? true : undefined), 60_000);
    } finally {
      pub.close();
    }
    storePool = new PgPool({ url: cluster.url(), applicationName: 'worker-it', max: 1, connectTimeoutMs: 5_000, queryTimeoutMs: 5_000, log: silentLogger });
    store = new MasterStore(storePool);
  });

  after(async () => {
    ops?.close();
    for (const d of started) await d.stop(10_000).catch(() => {});
    await storePool?.close();
    if (cluster) await cluster.stop().catch(() => cluster!.kill9());
    if (root && !process.env['DCSYNC_KEEP_TEST_DIR']) await rm(root, { recursive: true, force: true });
  });

  let w1: { d: DaemonHandle; id: string; endpoint: string };
  let w2: { d: DaemonHandle; id: string; endpoint: string };

  it('serves /health, registers with the master and shows up in `dcsync get workers`', async () => {
    w1 = await startWorker('worker-1', await freePort());
    const c = new ControlClient({ endpoints: w1.endpoint, ca, timeout: 2_000 });
    try {
      const health = await waitFor('worker /health', async () => c.get<{ status: string; component: string }>('/health'), 30_000);
      assert.equal(health.status, 'ok');
      assert.equal(health.component, 'worker');
    } finally {
      c.close();
    }
    await waitFor('worker registered and alive', async () => ((await workersNow()).some((w) => w.id === w1.id && w.alive) ? true : undefined), 30_000);
    const r = await cli(['get', 'workers', '--master.endpoint', masterEndpoint, '--master.cacert', files.tlsCaCert, '--auth.user', OPS.user, '--json'], { DCSYNC_AUTH_PASSWORD: OPS.password });
    assert.equal(r.code, 0, r.stderr);
    const ws = (JSON.parse(r.stdout) as WorkersResponse).workers;
    assert.deepEqual(ws.map((w) => [w.id, w.endpoint, w.datacenter]), [[w1.id, w1.endpoint, DATACENTER]]);
  });

  it('starts the tasks the master assigns and reports them with its epoch', async (t) => {
    const lease = await store.readLease();
    await new SyncStore(storePool!, store).putOutgoing(lease.epoch, { id: 'main', run: 'abc123', config: {} }, { subject: 'test', fingerprint256: 'test' });
    const tasks = await waitFor('tasks reported by the worker', async () => {
      const ts = await tasksNow();
      return ts.length === 2 && ts.every((x) => x.workerId === w1.id && (x.state === 'running' || x.state === 'failed')) ? ts : undefined;
    }, 45_000);
    assert.deepEqual(tasks.map((x) => x.database).sort(), ['app1', 'postgres']);
    t.diagnostic(`task states: ${tasks.map((x) => `${x.database}=${x.state}${x.error ? ` (${x.error})` : ''}`).join(', ')}`);
    const mine = (await ops.get<TasksResponse>(MASTER_PATHS.tasks, { query: { worker: w1.id } })).tasks;
    assert.equal(mine.length, 2);
    const log = await readFile(path.join(root, 'worker-1.log'), 'utf8');
    assert.match(log, /"msg":"registered"/);
    assert.match(log, /"msg":"task starting"/);
    assert.match(log, /"msg":"task status reported"/);
  });

  it('kill -9 of the worker: the master marks it gone and a second worker takes its tasks within 30 s', async (t) => {
    w2 = await startWorker('worker-2', await freePort(), ['--master.cacert', files.tlsCaCert]);
    await waitFor('worker-2 registered', async () => ((await workersNow()).some((w) => w.id === w2.id && w.alive) ? true : undefined), 30_000);
    const before = await tasksNow();
    assert.ok(before.every((x) => x.workerId === w1.id), 'tasks on a live worker are not moved');
    w1.d.kill('SIGKILL');
    await w1.d.exited;
    const killedAt = Date.now();
    const moved = await waitFor('tasks moved to worker-2 and reported', async () => {
      const ts = await tasksNow();
      return ts.length === 2 && ts.every((x) => x.workerId === w2.id && (x.state === 'running' || x.state === 'failed')) ? ts : undefined;
    }, 40_000);
    const tookMs = Date.now() - killedAt;
    t.diagnostic(`tasks moved and reported ${tookMs} ms after kill -9`);
    assert.ok(tookMs < 32_000, `moved after ${tookMs} ms`);
    for (const x of moved) assert.ok(x.epoch > before.find((b) => b.id === x.id)!.epoch, 'a new epoch');
    const ws = await workersNow();
    assert.equal(ws.find((w) => w.id === w1.id)?.alive, false);
  });

  it('SIGTERM: the worker stops its tasks and exits 0', async () => {
    await w2.d.stop(40_000);
    assert.equal(await w2.d.exited, 0, await logsTail());
    const log = await readFile(path.join(root, 'worker-2.log'), 'utf8');
    assert.match(log, /"from":"running","to":"draining"/);
    assert.match(log, /"from":"draining","to":"stopped"/);
    assert.match(log, /"msg":"task stopping"/);
  });

  it('usage errors exit 2', async () => {
    const missing = await cli(['run', 'worker', '--server.endpoint', 'https://127.0.0.1:1', '--server.keyfile', files.serverKeyfile]);
    assert.equal(missing.code, 2, missing.stderr);
    const unknown = await cli(['run', 'worker', '--no-such-flag', 'x']);
    assert.equal(unknown.code, 2, unknown.stderr);
    assert.match(unknown.stderr, /--no-such-flag/);
  });
});
