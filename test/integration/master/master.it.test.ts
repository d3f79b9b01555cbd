/**
 * Sync masters against a real PostgreSQL: three `dcsync run master` processes (bin/dcsync.js, spawned by PID),
 * certificates and a JWT secret made at set-up, one of the masters configured through a config file and the
 * environment. Covers: exactly one leader; `dcsync get masters|workers|tasks|version`; a worker registering
 * through a follower (forwarded to the leader) with a real JWT and getting its tasks in the heartbeat answer;
 * stale task epochs refused with 409; the tasks of a silent worker reassigned within 30 s with the old worker
 * fenced; kill -9 of the leader (another leads within 10 s while `get masters` keeps answering); SIGTERM (exit 0,
 * the lease handed over at once); a restart of every master losing nothing; operator refusals; usage errors.
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { ControlClient, ControlHttpError } from '../../../src/control/index.ts';
import { silentLogger } from '../../../src/core/logger.ts';
import { delay } from '../../../src/core/time.ts';
import { freePort } from '../../../tools/local/ports.ts';
import { startPgCluster, type PgClusterHandle } from '../../../tools/local/postgres.ts';
import { spawnDaemon, type DaemonHandle } from '../../../tools/local/process.ts';
import {
  MASTER_PATHS,
  MasterStore,
  PgPool,
  type HeartbeatResponse,
  type LeaderResponse,
  type MastersResponse,
  type RegisterWorkerResponse,
  type TaskStatusResponse,
  type TasksResponse,
  type WorkersResponse,
} from '../../../src/master/index.ts';
import { createJwtSecret, parseJwtSecret, signJwt, type JwtSecret } from '../../../src/tls/index.ts';
import { CLEAN_ENV, dcsyncCli, type CliRun } from '../../helpers/cli.ts';
import { DCSYNC_BIN as BIN, REPO } from '../../../tools/local/dcsync-process.ts';
import { SyncStore } from '../../../src/master/sync-store.ts';
import { waitForValue } from '../../helpers/compare.ts';
import { createTestPki, writeTestPki, type TestPki, type TestPkiFiles } from '../../helpers/tls-fixtures.ts';
import { formatKeyfile, issueServerKeyfile } from '../../../src/tls/index.ts';
import tls from 'node:tls';

const DATACENTER = 'dc-a';
const OPS = { user: 'ops', password: 'ops-Secret-7f3a' };
const NOBODY = { user: 'nobody', password: 'nobody-Secret-19c2' };
const PG_SETTINGS = { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' };

describe('sync masters', { timeout: 600_000 }, () => {
  let root = '';
  let cluster: PgClusterHandle | undefined;
  let files: TestPkiFiles;
  let pki: TestPki;
  let jwtSecretPath = '';
  let jwtSecret: JwtSecret;
  let ca = '';
  let ports: number[] = [];
  let endpoints: string[] = [];
  /** The current process of each master (index = master number). */
  const masters: (DaemonHandle | undefined)[] = [];
  /** Every process ever started, so that `after` stops them all. */
  const started: DaemonHandle[] = [];
  const stopHeartbeats: (() => Promise<void>)[] = [];
  let ops: ControlClient;
  let storePool: PgPool | undefined;
  let store: MasterStore;

  async function startMaster(i: number): Promise<DaemonHandle> {
    const port = ports[i]!;
    const common = ['--server.endpoint', endpoints[i]!, '--server.client-cafile', files.clientCaCert, '--master.endpoint', endpoints.join(','), '--datacenter', DATACENTER, '--log.level', 'debug'];
    let args: string[];
    const env: Record<string, string | undefined> = { ...CLEAN_ENV, DCSYNC_DEBUG: '1' };
    if (i === 2) {
      // Flags, environment and a config file together: flag > DCSYNC_* > file > default.
      const cfg = path.join(root, 'master-2.json');
      await writeFile(
        cfg,
        JSON.stringify({
          'server.port': 1, // overridden by the flag
          'server.keyfile': files.serverKeyfile,
          'cluster.endpoint': `postgresql://${cluster!.superuser}@127.0.0.1:${cluster!.port}/postgres`,
          'master.jwtSecret': '/nonexistent/jwt.secret', // overridden by DCSYNC_MASTER_JWT_SECRET
          'mq.kafka-addr': ['127.0.0.1:9092', '127.0.0.1:9093'],
        }),
      );
      const pwFile = path.join(root, 'cluster.password');
      await writeFile(pwFile, cluster!.password + '\n', { mode: 0o600 });
      args = ['run', 'master', '--config', cfg, '--server.port', String(port), '--cluster.password-file', pwFile, ...common];
      env['DCSYNC_MASTER_JWT_SECRET'] = jwtSecretPath;
    } else {
      args = [
        'run',
        'master',
        '--server.port',
        String(port),
        '--server.keyfile',
        files.serverKeyfile,
        '--cluster.endpoint',
        `postgresql://${cluster!.superuser}@127.0.0.1:${cluster!.port}/postgres`,
        '--master.jwtSecret',
        jwtSecretPath,
        '--mq.type',
        'kafka',
        '--mq.kafka-addr',
        '127.0.0.1:9092',
        ...common,
      ];
      env['DCSYNC_CLUSTER_PASSWORD'] = cluster!.password;
    }
    const d = await spawnDaemon({ name: `master-${i}`, command: process.execPath, args: [BIN, ...args], cwd: REPO, env, logFile: path.join(root, `master-${i}.log`) });
    started.push(d);
    masters[i] = d;
    return d;
  }

  /** Waits until master i answers on its port (its signal handlers are installed by then). */
  async function waitUp(i: number): Promise<void> {
    const c = new ControlClient({ endpoints: endpoints[i]!, ca, timeout: 2_000 });
    try {
      await waitFor(`master-${i} answers`, async () => ((await c.get<LeaderResponse>(MASTER_PATHS.leader)).self.role ? true : undefined), 60_000);
    } finally {
      c.close();
    }
  }

  const cli = (args: readonly string[], env: Record<string, string> = {}): Promise<CliRun> => dcsyncCli(args, env);

  const clientFlags = (): string[] => ['--master.endpoint', endpoints.join(','), '--master.cacert', files.tlsCaCert];
  const get = (what: string, ...extra: string[]): Promise<CliRun> => cli(['get', what, ...clientFlags(), '--auth.user', OPS.user, ...extra], { DCSYNC_AUTH_PASSWORD: OPS.password });

  async function logsTail(): Promise<string> {
    const parts: string[] = [];
    for (let i = 0; i < 3; i++) {
      const text = await readFile(path.join(root, `master-${i}.log`), 'utf8').catch(() => '');
      parts.push(`--- master-${i}.log\n${text.split('\n').slice(-15).join('\n')}`);
    }
    return parts.join('\n');
  }

  async function mastersNow(): Promise<MastersResponse> {
    return ops.get<MastersResponse>(MASTER_PATHS.masters, { timeout: 3_000 });
  }

  /** Waits until the masters (through any that answers) report a leader that satisfies `ok`. */
  async function waitForLeader(ok: (leaderId: string) => boolean = () => true, timeoutMs = 30_000): Promise<{ id: string; epoch: number; at: number }> {
    const until = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < until) {
      try {
        const r = await mastersNow();
        if (r.leader && ok(r.leader.id)) return { id: r.leader.id, epoch: r.leader.epoch, at: Date.now() };
        last = r;
      } catch (err) {
        last = err;
      }
      await delay(100);
    }
    assert.fail(`no suitable leader within ${timeoutMs} ms; last answer: ${last instanceof Error ? last.message : JSON.stringify(last)}\n${await logsTail()}`);
  }

  const indexOf = (masterId: string): number => endpoints.findIndex((e) => new URL(e).host === masterId);

  function workerClient(id: string): ControlClient {
    const token = signJwt(jwtSecret, { audience: DATACENTER, subject: id, expiresInMs: 3_600_000 });
    return new ControlClient({ endpoints, ca, auth: { kind: 'bearer', token }, timeout: 3_000 });
  }

  /** A stand-in for a worker's heartbeat loop (the real worker is another issue): every second, errors ignored. */
  function heartbeats(id: string): { stop: () => Promise<void>; last: () => HeartbeatResponse | undefined } {
    const c = workerClient(id);
    const stop = new AbortController();
    let last: HeartbeatResponse | undefined;
    const loop = (async () => {
      while (!stop.signal.aborted) {
        try {
          last = await c.post<HeartbeatResponse>(`/workers/${id}/heartbeat`, {}, { idempotent: true, signal: stop.signal });
        } catch {
          // failover or restart in progress
        }
        await delay(1_000, stop.signal).catch(() => {});
      }
    })();
    const halt = async (): Promise<void> => {
      stop.abort();
      await loop;
      c.close();
    };
    stopHeartbeats.push(halt);
    return { stop: halt, last: () => last };
  }

  async function tasksNow(): Promise<TasksResponse['tasks']> {
    return (await ops.get<TasksResponse>(MASTER_PATHS.tasks, { timeout: 3_000 })).tasks;
  }

  const waitFor = <T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T> =>
    waitForValue(fn, { what, timeoutMs, intervalMs: 200, context: logsTail });

  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'dcsync-master-it-'));
    await chmod(root, 0o755); // the postgres OS user runs the cluster below it
    cluster = await startPgCluster({ dir: path.join(root, 'pg'), name: 'master-it', settings: PG_SETTINGS });
    const admin = new pg.Client({ connectionString: cluster.url() });
    await admin.connect();
    try {
      await admin.query(`CREATE ROLE dcsync_admin NOLOGIN`);
      await admin.query(`CREATE ROLE ${OPS.user} LOGIN PASSWORD '${OPS.password}' IN ROLE dcsync_admin`);
      await admin.query(`CREATE ROLE ${NOBODY.user} LOGIN PASSWORD '${NOBODY.password}'`);
      await admin.query('CREATE DATABASE app1');
      await admin.query('CREATE DATABASE app2');
      await admin.query('CREATE DATABASE app3');
    } finally {
      await admin.end();
    }
    await mkdir(path.join(root, 'pki'), { mode: 0o700 });
    pki = await createTestPki();
    files = await writeTestPki(pki, path.join(root, 'pki'));
    ca = await readFile(files.tlsCaCert, 'utf8');
    jwtSecretPath = path.join(root, 'jwt.secret');
    await writeFile(jwtSecretPath, createJwtSecret() + '\n', { mode: 0o600 });
    jwtSecret = parseJwtSecret(await readFile(jwtSecretPath, 'utf8'));
    ports = [await freePort(), await freePort(), await freePort()];
    endpoints = ports.map((p) => `https://127.0.0.1:${p}`);
    ops = new ControlClient({ endpoints, ca, auth: { kind: 'basic', username: OPS.user, password: OPS.password }, timeout: 3_000 });
    storePool = new PgPool({ url: cluster.url(), applicationName: 'master-it', max: 1, connectTimeoutMs: 5_000, queryTimeoutMs: 5_000, log: silentLogger });
    store = new MasterStore(storePool);
    for (let i = 0; i < 3; i++) await startMaster(i);
    for (let i = 0; i < 3; i++) await waitUp(i);
  });

  after(async () => {
    for (const stop of stopHeartbeats) await stop().catch(() => {});
    ops?.close();
    for (const d of started) await d.stop(10_000).catch(() => {});
    await storePool?.close();
    if (cluster) await cluster.stop().catch(() => cluster!.kill9());
    if (root && !process.env['DCSYNC_KEEP_TEST_DIR']) await rm(root, { recursive: true, force: true });
  });

  it('elects exactly one leader; `dcsync get masters` lists the three with one leader', async () => {
    const leader = await waitForLeader(undefined, 60_000);
    const all = await waitFor('three masters alive', async () => {
      const r = await mastersNow();
      return r.masters.length === 3 && r.masters.every((m) => m.alive) ? r : undefined;
    }, 30_000);
    assert.equal(all.masters.filter((m) => m.role === 'leader').length, 1);
    assert.deepEqual(all.masters.map((m) => m.endpoint).sort(), [...endpoints].sort());

    const table = await get('masters');
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout.trim().split('\n');
    assert.match(lines[0]!, /^ID\s+ENDPOINT\s+ROLE\s+ALIVE/);
    assert.equal(lines.filter((l) => /\bleader\b/.test(l) && /https:\/\//.test(l)).length, 1, table.stdout);
    assert.equal(lines.filter((l) => /\bfollower\b/.test(l)).length, 2, table.stdout);
    assert.match(table.stdout, new RegExp(`leader: ${leader.id.replace(/\./g, '\\.')}`));

    const json = await get('masters', '--json');
    assert.equal(json.code, 0, json.stderr);
    const parsed = JSON.parse(json.stdout) as MastersResponse;
    assert.equal(parsed.masters.length, 3);
    assert.equal(parsed.leader?.id, leader.id);

    const version = await cli(['get', 'version', ...clientFlags()]);
    assert.equal(version.code, 0, version.stderr);
    assert.match(version.stdout, /^dcsync \d+\.\d+\.\d+/);
    for (const e of endpoints) assert.match(version.stdout, new RegExp(`${e.replace(/[.]/g, '\\.')}: dcsync \\d`));
  });

  it('a worker registers through a follower with a real JWT and gets its tasks and epochs in the heartbeat answer', async () => {
    const leader = await waitForLeader();
    const follower = endpoints.find((_, i) => i !== indexOf(leader.id))!;
    const w1 = workerClient('w1');
    try {
      const reg = await w1.requestAt<RegisterWorkerResponse>(follower, 'POST', MASTER_PATHS.registerWorker, {
        body: { id: 'w1', endpoint: 'https://127.0.0.1:8729', datacenter: DATACENTER, version: '0.1.0' },
      });
      assert.equal(reg.worker.id, 'w1');
      assert.equal(reg.worker.alive, true);
      assert.equal(reg.workerTimeoutMs, 15_000);
      // The leader answers with its own --mq.kafka-addr (master 2 has two brokers from its config file).
      const leaderKafka = indexOf(leader.id) === 2 ? ['127.0.0.1:9092', '127.0.0.1:9093'] : ['127.0.0.1:9092'];
      assert.deepEqual(reg.mq, { type: 'kafka', kafkaAddr: leaderKafka });
      // The follower forwarded it to the leader.
      const followerLog = await readFile(path.join(root, `master-${endpoints.indexOf(follower)}.log`), 'utf8');
      assert.match(followerLog, /"msg":"request forwarded".*"path":"\/workers\/register"/);

      // A token for another worker may not act for w1; a wrong datacenter is refused.
      const w9 = workerClient('w9');
      await assert.rejects(w9.post(`/workers/w1/heartbeat`, {}), (e: unknown) => e instanceof ControlHttpError && e.status === 403);
      await assert.rejects(
        w9.post(MASTER_PATHS.registerWorker, { id: 'w9', endpoint: 'https://127.0.0.1:8730', datacenter: 'dc-b' }),
        (e: unknown) => e instanceof ControlHttpError && e.status === 400,
      );
      w9.close();

      const empty = await w1.post<HeartbeatResponse>('/workers/w1/heartbeat', {});
      assert.deepEqual(empty.assignments, []);

      // An outgoing sync (as the peer route writes it): one source task per database of the cluster.
      const lease = await store.readLease();
      await new SyncStore(storePool!, store).putOutgoing(lease.epoch, { id: 'main', run: 'abc123', config: {} }, { subject: 'test', fingerprint256: 'test' });
      const hb = await waitFor('four assignments', async () => {
        const r = await w1.requestAt<HeartbeatResponse>(follower, 'POST', '/workers/w1/heartbeat');
        return r.assignments.length === 4 ? r : undefined;
      }, 15_000);
      assert.deepEqual(hb.assignments.map((a) => a.database).sort(), ['app1', 'app2', 'app3', 'postgres']);
      for (const a of hb.assignments) {
        assert.equal(a.kind, 'source');
        assert.equal(a.syncId, 'main');
        assert.ok(a.epoch >= 1);
      }

      // Reports need the current epoch: the current one is applied, an older one is a 409.
      const a = hb.assignments[0]!;
      const ok = await w1.post<TaskStatusResponse>(`/tasks/${a.taskId}/status`, { workerId: 'w1', epoch: a.epoch, state: 'running', progress: { rowsCopied: 42 } });
      assert.equal(ok.task.state, 'running');
      assert.deepEqual(ok.task.progress, { rowsCopied: 42 });
      await assert.rejects(
        w1.post(`/tasks/${a.taskId}/status`, { workerId: 'w1', epoch: a.epoch + 1, state: 'running' }),
        (e: unknown) => e instanceof ControlHttpError && e.status === 409,
      );
      await assert.rejects(w1.post(`/tasks/no-such-task/status`, { workerId: 'w1', epoch: 1, state: 'running' }), (e: unknown) => e instanceof ControlHttpError && e.status === 404);
      await assert.rejects(w1.post(`/workers/w1/heartbeat`, { bogus: 1 }), (e: unknown) => e instanceof ControlHttpError && e.status === 400);
    } finally {
      w1.close();
    }
    heartbeats('w1');

    const workers = await get('workers', '--json');
    assert.equal(workers.code, 0, workers.stderr);
    const wr = JSON.parse(workers.stdout) as WorkersResponse;
    assert.deepEqual(wr.workers.map((w) => [w.id, w.alive, w.tasks]), [['w1', true, 4]]);
    const tasks = await get('tasks');
    assert.equal(tasks.code, 0, tasks.stderr);
    assert.equal(tasks.stdout.trim().split('\n').length, 5, tasks.stdout);
    assert.match(tasks.stdout, /^ID\s+SYNC\s+KIND\s+DATABASE\s+WORKER\s+EPOCH\s+STATE/);
  });

  it('reassigns the tasks of a worker that stops heartbeating within 30 s and fences its reports', async (t) => {
    const w2 = workerClient('w2');
    try {
      await w2.post(MASTER_PATHS.registerWorker, { id: 'w2', endpoint: 'https://127.0.0.1:8730', datacenter: DATACENTER });
    } finally {
      w2.close();
    }
    heartbeats('w2');
    const before = (await tasksNow()).filter((t) => t.workerId === 'w1');
    assert.equal(before.length, 4, 'no rebalancing: w1 keeps its tasks while alive');

    const silent = stopHeartbeats.shift()!; // w1's loop
    await silent();
    const stoppedAt = Date.now();
    const moved = await waitFor('w1 tasks reassigned', async () => {
      const t = await tasksNow();
      return t.every((x) => x.workerId === 'w2' && x.state === 'assigned') ? t : undefined;
    }, 35_000);
    const tookMs = Date.now() - stoppedAt;
    assert.ok(tookMs < 30_000, `reassigned after ${tookMs} ms`);
    t.diagnostic(`tasks of the silent worker reassigned ${tookMs} ms after its last heartbeat loop stopped`);
    for (const t of moved) {
      const old = before.find((b) => b.id === t.id)!;
      assert.equal(t.epoch, old.epoch + 1, 'the new assignment has a new epoch');
    }

    // The old worker comes back with its old epoch: fenced.
    const w1 = workerClient('w1');
    try {
      const t = before[0]!;
      await assert.rejects(
        w1.post(`/tasks/${t.id}/status`, { workerId: 'w1', epoch: t.epoch, state: 'running', progress: { stale: true } }),
        (e: unknown) => e instanceof ControlHttpError && e.status === 409 && /stale/.test(e.serverMessage),
      );
      const hb = await w1.post<HeartbeatResponse>('/workers/w1/heartbeat', {});
      assert.deepEqual(hb.assignments, [], 'w1 holds nothing any more');
    } finally {
      w1.close();
    }
    const after = (await tasksNow()).find((t) => t.id === before[0]!.id)!;
    assert.notDeepEqual(after.progress, { stale: true });
  });

  it('kill -9 of the leader: another master leads within 10 s and `get masters` keeps answering', async (t) => {
    const leader = await waitForLeader();
    const victim = indexOf(leader.id);
    masters[victim]!.kill('SIGKILL');
    const killedAt = Date.now();
    await masters[victim]!.exited;

    const during = await get('masters');
    assert.equal(during.code, 0, `get masters during the failover:\n${during.stderr}`);

    const next = await waitForLeader((id) => id !== leader.id, 20_000);
    const tookMs = next.at - killedAt;
    assert.ok(tookMs < 10_000, `a new leader after ${tookMs} ms`);
    t.diagnostic(`new leader ${next.id} (epoch ${next.epoch}) seen ${tookMs} ms after kill -9 of ${leader.id}`);
    assert.ok(next.epoch > leader.epoch, 'the new leadership has a higher epoch');

    const afterwards = await get('masters', '--json');
    assert.equal(afterwards.code, 0, afterwards.stderr);
    const r = JSON.parse(afterwards.stdout) as MastersResponse;
    assert.equal(r.masters.filter((m) => m.role === 'leader').length, 1);
    assert.equal(r.leader?.id, next.id);

    // The worker keeps being answered by the new leader.
    const w2 = workerClient('w2');
    try {
      const hb = await w2.post<HeartbeatResponse>('/workers/w2/heartbeat', {}, { idempotent: true });
      assert.equal(hb.assignments.length, 4);
    } finally {
      w2.close();
    }
    await startMaster(victim);
    await waitUp(victim);
    await waitFor('the restarted master is back', async () => ((await mastersNow()).masters.every((m) => m.alive) ? true : undefined), 30_000);
  });

  it('SIGTERM: the leader exits 0 and hands the lease over at once', async (t) => {
    const leader = await waitForLeader();
    const i = indexOf(leader.id);
    const d = masters[i]!;
    const t0 = Date.now();
    await d.stop(15_000);
    assert.equal(await d.exited, 0, await logsTail());
    const next = await waitForLeader((id) => id !== leader.id, 10_000);
    assert.ok(next.at - t0 < 5_000, `handed over after ${next.at - t0} ms (the lease was released, no expiry wait)`);
    t.diagnostic(`SIGTERM to new leader seen: ${next.at - t0} ms`);
    const log = await readFile(path.join(root, `master-${i}.log`), 'utf8');
    assert.match(log, /"lease released"/);
    assert.match(log, /"from":"running","to":"draining"/);
    assert.match(log, /"from":"draining","to":"stopped"/);
    await startMaster(i);
    await waitUp(i);
  });

  it('a restart of every master loses nothing: workers, syncs, tasks and epochs persist', async () => {
    await waitForLeader();
    const tasksBefore = await tasksNow();
    const workersBefore = (await ops.get<WorkersResponse>(MASTER_PATHS.workers)).workers.map((w) => w.id);
    const syncsBefore = await new SyncStore(storePool!, store).list();
    for (const d of masters) await d!.stop(15_000);
    for (const d of masters) assert.equal(await d!.exited, 0);
    for (let i = 0; i < 3; i++) await startMaster(i);
    for (let i = 0; i < 3; i++) await waitUp(i);
    await waitForLeader(undefined, 60_000);

    const tasks = await get('tasks', '--json');
    assert.equal(tasks.code, 0, tasks.stderr);
    const after = (JSON.parse(tasks.stdout) as TasksResponse).tasks;
    assert.deepEqual(after.map((t) => t.id).sort(), tasksBefore.map((t) => t.id).sort());
    for (const t of after) {
      const b = tasksBefore.find((x) => x.id === t.id)!;
      assert.ok(t.epoch >= b.epoch, 'epochs never go back');
      assert.equal(t.workerId, 'w2', 'w2 kept heartbeating through the restart and keeps its tasks');
    }
    const workers = await get('workers', '--json');
    assert.equal(workers.code, 0, workers.stderr);
    assert.deepEqual((JSON.parse(workers.stdout) as WorkersResponse).workers.map((w) => w.id), workersBefore);
    assert.deepEqual((await new SyncStore(storePool!, store).list()).map((s) => [s.id, s.role, s.status]), syncsBefore.map((s) => [s.id, s.role, s.status]));
  });

  it('usage errors exit 2', async () => {
    const unknown = await cli(['run', 'master', '--no-such-flag', 'x']);
    assert.equal(unknown.code, 2, unknown.stderr);
    assert.match(unknown.stderr, /--no-such-flag/);
    const missing = await cli(['run', 'master', '--server.endpoint', endpoints[0]!]);
    assert.equal(missing.code, 2, missing.stderr);
    const notListed = await cli([
      'run', 'master', '--server.endpoint', 'https://127.0.0.1:1', '--server.keyfile', files.serverKeyfile, '--cluster.endpoint', cluster!.url(),
      '--master.jwtSecret', jwtSecretPath, '--master.endpoint', endpoints.join(','), '--mq.kafka-addr', '127.0.0.1:9092',
    ]);
    assert.equal(notListed.code, 2, notListed.stderr);
    assert.match(notListed.stderr, /master\.endpoint/);
    const noKafka = await cli(['run', 'master', '--server.endpoint', endpoints[0]!, '--server.keyfile', files.serverKeyfile, '--cluster.endpoint', cluster!.url(), '--master.jwtSecret', jwtSecretPath]);
    assert.equal(noKafka.code, 2, noKafka.stderr);
    assert.match(noKafka.stderr, /mq\.kafka-addr/);
    const getUnknown = await cli(['get', 'masters', '--bogus']);
    assert.equal(getUnknown.code, 2, getUnknown.stderr);
    const noPassword = await cli(['get', 'masters', ...clientFlags(), '--auth.user', OPS.user]);
    assert.equal(noPassword.code, 2, noPassword.stderr);
    assert.match(noPassword.stderr, /auth\.password/);
  });

  // Last: failed logins make the masters throttle this address for a while.
  it('refuses a wrong operator password and a user who is not an admin, with a clear message', async () => {
    const wrong = await cli(['get', 'masters', ...clientFlags(), '--auth.user', OPS.user], { DCSYNC_AUTH_PASSWORD: 'not-the-password' });
    assert.notEqual(wrong.code, 0);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /authentication failed at https:\/\/127\.0\.0\.1:\d+: check --auth\.user and --auth\.password/);
    assert.equal(wrong.stdout, '');
    await delay(2_500); // past the throttle of the first failure
    const notAdmin = await cli(['get', 'workers', ...clientFlags(), '--auth.user', NOBODY.user, '--auth.password', NOBODY.password]);
    assert.equal(notAdmin.code, 1, notAdmin.stderr);
    assert.match(notAdmin.stderr, /authentication failed/);
    for (let i = 0; i < 3; i++) {
      const log = await readFile(path.join(root, `master-${i}.log`), 'utf8');
      assert.ok(!log.includes('not-the-password') && !log.includes(NOBODY.password) && !log.includes(OPS.password), `master-${i}.log must not hold passwords`);
    }
  });

  it('SIGHUP reloads the keyfile: new connections get the new certificate, the master keeps running', async () => {
    const i = masters.findIndex((m) => m && !m.hasExited);
    assert.ok(i >= 0, 'a running master');
    const served = (): Promise<string> =>
      new Promise((resolve, reject) => {
        const sock = tls.connect({ host: '127.0.0.1', port: ports[i]!, ca, servername: 'localhost' }, () => {
          const serial = sock.getPeerCertificate().serialNumber;
          sock.destroy();
          resolve(serial);
        });
        sock.on('error', reject);
      });
    const before = await served();
    const fresh = await issueServerKeyfile(pki.tlsCa.signer, { hosts: ['localhost', '127.0.0.1', '::1'] });
    await writeFile(files.serverKeyfile, formatKeyfile(fresh), { mode: 0o600 });
    masters[i]!.kill('SIGHUP');
    await waitFor('the new certificate to be served', async () => ((await served()) !== before ? true : undefined), 15_000);
    assert.equal(masters[i]!.hasExited, false);
  });
});
