/**
 * Issue 15 defect 10: an outgoing sync belongs to the destination whose client certificate configured it.
 * A real master (bin/dcsync.js, spawned by PID) on a real PostgreSQL; two client certificates of the same
 * client-auth CA (same subject, different keys). The second one can neither read, replace nor stop the sync
 * the first one started; after `abort outgoing sync` at the source, it may configure the id anew.
 * Issue 19: on the same master, `dcsync get status` exits 3 once a task of a sync has failed.
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { ControlClient, ControlHttpError } from '../../../src/control/index.ts';
import { delay } from '../../../src/core/time.ts';
import { freePort } from '../../../tools/local/ports.ts';
import { startPgCluster, type PgClusterHandle } from '../../../tools/local/postgres.ts';
import { spawnDaemon, type DaemonHandle } from '../../../tools/local/process.ts';
import { DCSYNC_BIN as BIN, REPO } from '../../../tools/local/dcsync-process.ts';
import { MASTER_PATHS, type HeartbeatResponse, type LeaderResponse } from '../../../src/master/index.ts';
import { SYNC_PATHS, DEFAULT_SYNC_SETTINGS, type OutgoingSyncView, type PeerStartRequest } from '../../../src/control/v1/sync.ts';
import { createJwtSecret, issueClientKeyfile, parseJwtSecret, signJwt, type Keyfile } from '../../../src/tls/index.ts';
import { CLEAN_ENV, dcsyncCli } from '../../helpers/cli.ts';
import { createTestPki, writeTestPki, type TestPki, type TestPkiFiles } from '../../helpers/tls-fixtures.ts';

const OPS = { user: 'ops', password: 'ops-Secret-5d1e' };

describe('issue 15 defect 10: outgoing syncs are bound to the certificate that configured them', { timeout: 300_000 }, () => {
  let root = '';
  let cluster: PgClusterHandle | undefined;
  let pki: TestPki;
  let files: TestPkiFiles;
  let master: DaemonHandle | undefined;
  let endpoint = '';
  let ca = '';
  let jwtPath = '';
  const clients: ControlClient[] = [];

  const peer = (keyfile: Keyfile): ControlClient => {
    const c = new ControlClient({ endpoints: endpoint, ca, keyfile, timeout: 5_000 });
    clients.push(c);
    return c;
  };
  const start = (run: string): PeerStartRequest => ({ run, destination: { datacenter: 'dc-b', endpoints: ['https://127.0.0.1:1'] }, settings: DEFAULT_SYNC_SETTINGS });
  const forbidden = (e: unknown): boolean => e instanceof ControlHttpError && e.status === 403 && /belongs to the destination that configured it/.test(e.serverMessage);

  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'dcsync-peer-binding-it-'));
    await chmod(root, 0o755);
    cluster = await startPgCluster({ dir: path.join(root, 'pg'), name: 'peer-binding-it', settings: { fsync: 'off', synchronous_commit: 'off' } });
    const admin = new pg.Client({ connectionString: cluster.url() });
    await admin.connect();
    try {
      await admin.query(`CREATE ROLE dcsync_admin NOLOGIN`);
      await admin.query(`CREATE ROLE ${OPS.user} LOGIN PASSWORD '${OPS.password}' IN ROLE dcsync_admin`);
    } finally {
      await admin.end();
    }
    await mkdir(path.join(root, 'pki'), { mode: 0o700 });
    pki = await createTestPki();
    files = await writeTestPki(pki, path.join(root, 'pki'));
    ca = await readFile(files.tlsCaCert, 'utf8');
    const jwt = path.join(root, 'jwt.secret');
    jwtPath = jwt;
    await writeFile(jwt, createJwtSecret() + '\n', { mode: 0o600 });
    const port = await freePort();
    endpoint = `https://127.0.0.1:${port}`;
    const args = [
      'run', 'master',
      '--server.endpoint', endpoint, '--server.port', String(port), '--server.keyfile', files.serverKeyfile, '--server.client-cafile', files.clientCaCert,
      '--master.endpoint', endpoint, '--datacenter', 'dc-a', '--master.jwtSecret', jwt, '--mq.kafka-addr', '127.0.0.1:9092',
      '--cluster.endpoint', `postgresql://${cluster.superuser}@127.0.0.1:${cluster.port}/postgres`,
    ];
    master = await spawnDaemon({ name: 'master', command: process.execPath, args: [BIN, ...args], cwd: REPO, env: { ...CLEAN_ENV, DCSYNC_CLUSTER_PASSWORD: cluster.password }, logFile: path.join(root, 'master.log') });
    const probe = new ControlClient({ endpoints: endpoint, ca, timeout: 2_000 });
    try {
      for (let i = 0; ; i++) {
        const r = await probe.get<LeaderResponse>(MASTER_PATHS.leader).catch(() => undefined);
        if (r?.self.role === 'leader') break;
        if (i > 300) assert.fail(`the master did not lead within 60 s:\n${await readFile(path.join(root, 'master.log'), 'utf8').catch(() => '')}`);
        await delay(200);
      }
    } finally {
      probe.close();
    }
  });

  after(async () => {
    for (const c of clients) c.close();
    await master?.stop(10_000).catch(() => {});
    if (cluster) await cluster.stop().catch(() => cluster!.kill9());
    if (root && !process.env['DCSYNC_KEEP_TEST_DIR']) await rm(root, { recursive: true, force: true });
  });

  it('another client certificate of the same CA gets 403 on PUT, GET and DELETE; the owner keeps control', async () => {
    const owner = peer(pki.client);
    const other = peer(await issueClientKeyfile(pki.clientCa.signer));
    const path1 = SYNC_PATHS.peerOutgoing.replace(':id', 'main');

    const started = await owner.put<OutgoingSyncView>(path1, start('aaaaaa'));
    assert.equal(started.run, 'aaaaaa');
    await assert.rejects(other.put(path1, start('bbbbbb')), forbidden, 'another certificate replaces the run');
    await assert.rejects(other.delete(`${path1}?run=aaaaaa`), forbidden, 'another certificate stops the sync');
    await assert.rejects(other.get(path1), forbidden, 'another certificate reads the sync');

    const still = await owner.get<OutgoingSyncView>(path1);
    assert.equal(still.run, 'aaaaaa');
    assert.notEqual(still.status, 'cancelling');
    // The owner confirms its run, then stops it.
    assert.equal((await owner.put<OutgoingSyncView>(path1, start('aaaaaa'))).run, 'aaaaaa');
    const stopped = await owner.delete<OutgoingSyncView>(`${path1}?run=aaaaaa`);
    assert.ok(stopped.status === 'cancelling' || stopped.status === 'inactive', stopped.status);
  });

  it("after 'abort outgoing sync' at the source, another destination may configure the id", async () => {
    const owner = peer(pki.client);
    const other = peer(await issueClientKeyfile(pki.clientCa.signer));
    const path2 = SYNC_PATHS.peerOutgoing.replace(':id', 'second');
    await owner.put(path2, start('cccccc'));
    await assert.rejects(other.put(path2, start('dddddd')), forbidden);
    const ops = new ControlClient({ endpoints: endpoint, ca, auth: { kind: 'basic', username: OPS.user, password: OPS.password }, timeout: 30_000 });
    clients.push(ops);
    await ops.post(SYNC_PATHS.abortOutgoing.replace(':id', 'second'), { timeoutMs: 20_000 });
    const taken = await other.put<OutgoingSyncView>(path2, start('dddddd'));
    assert.equal(taken.run, 'dddddd');
    await assert.rejects(owner.delete(`${path2}?run=dddddd`), forbidden, 'the first destination no longer controls it');
  });

  it('issue 19: `dcsync get status` exits 3 and names the failure once a task has failed', async () => {
    const getStatus = () => dcsyncCli(['get', 'status', '--master.endpoint', endpoint, '--master.cacert', files.tlsCaCert, '--auth.user', OPS.user], { DCSYNC_AUTH_PASSWORD: OPS.password });
    await peer(pki.client).put(SYNC_PATHS.peerOutgoing.replace(':id', 'third'), start('eeeeee'));
    const healthy = await getStatus();
    assert.equal(healthy.code, 0, healthy.stdout + healthy.stderr);

    const token = signJwt(parseJwtSecret(await readFile(jwtPath, 'utf8')), { audience: 'dc-a', subject: 'w1', expiresInMs: 3_600_000 });
    const worker = new ControlClient({ endpoints: endpoint, ca, auth: { kind: 'bearer', token }, timeout: 5_000 });
    clients.push(worker);
    await worker.post(MASTER_PATHS.registerWorker, { id: 'w1', endpoint: 'https://127.0.0.1:1', datacenter: 'dc-a' });
    let assignment: HeartbeatResponse['assignments'][number] | undefined;
    for (let i = 0; i < 100 && !assignment; i++) {
      assignment = (await worker.post<HeartbeatResponse>('/workers/w1/heartbeat', {})).assignments.find((a) => a.syncId === 'third');
      if (!assignment) await delay(200);
    }
    assert.ok(assignment, 'the worker got a task of sync third');
    await worker.post(`/tasks/${assignment.taskId}/status`, { workerId: 'w1', epoch: assignment.epoch, state: 'failed', error: 'replication slot lost' });

    const failed = await getStatus();
    assert.equal(failed.code, 3, failed.stdout + failed.stderr);
    assert.match(failed.stdout, new RegExp(`FAILED: outgoing sync 'third', database '${assignment.database}': source task failed: replication slot lost`));
  });
});
