/**
 * `dcsync local up|ps|env|down` through the CLI, as an operator runs them: `local up --no-configure` starts two
 * datacenters (PostgreSQL, Kafka, MirrorMaker 2, 3 masters + 2 workers each) that outlive the command; `local ps
 * --json` lists them alive; the `local env` lines, sourced in sh, are enough for `dcsync get masters|workers` against
 * both datacenters; `local down` leaves none of the recorded pids alive and is fine to repeat. Whatever happens, the
 * deployment is taken down in `after`. A second deployment, started in-process with upLocal (as tests do), checks the
 * handle's helpers: kill -9 of the leading master (another one leads), restart of it, kill -9 and restart of a worker.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ControlClient } from '../../../src/control/index.ts';
import { delay } from '../../../src/core/time.ts';
import { downLocal, upLocal, type LocalDeployment } from '../../../tools/local/deployment.ts';
import { DCSYNC_BIN, REPO } from '../../../tools/local/dcsync-process.ts';
import { isAlive } from '../../../tools/local/process.ts';
import { MASTER_PATHS, type MastersResponse, type WorkersResponse } from '../../../src/control/v1/cluster.ts';
import { loadKafkaTls } from '../../../src/transport/kafka/tls-files.ts';
import { kafkaClient } from '../../../src/transport/kafka/client.ts';
import { readLocalState } from '../../../tools/local/state.ts';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

interface PsJson {
  dir: string;
  status: string;
  processes: { name: string; role: string; datacenter: string; pid: number; alive: boolean; port: number | null }[];
}

/** The environment of the tests without any DCSYNC_* variable of the caller. */
const BASE_ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DCSYNC_')));

function run(file: string, args: readonly string[], timeoutMs = 60_000): Promise<Run> {
  return new Promise((done) => {
    execFile(file, args, { cwd: REPO, env: BASE_ENV, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

const dcsync = (args: readonly string[], timeoutMs?: number): Promise<Run> => run(process.execPath, [DCSYNC_BIN, ...args], timeoutMs);

/** Live (non-zombie) processes whose command line names a path under `dir`. */
function processesUnder(dir: string): number[] {
  const found: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      if (fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir + '/') && isAlive(pid)) found.push(pid);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

describe('dcsync local up|ps|env|down', { timeout: 600_000 }, () => {
  let root = '';
  let dir = '';
  let ps: PsJson;

  before(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'dcsync-local-it-'));
    fs.chmodSync(root, 0o755); // the postgres OS user must reach DIR/pg-a
    dir = path.join(root, 'dep');
  });

  after(async () => {
    await downLocal(dir).catch(() => undefined);
    if (root && !process.env['DCSYNC_KEEP_TEST_DIR']) fs.rmSync(root, { recursive: true, force: true });
  });

  it('local up --no-configure starts both datacenters and returns, leaving them running', async (t) => {
    const started = Date.now();
    const r = await dcsync(['local', 'up', '--dir', dir, '--no-configure'], 420_000);
    t.diagnostic(`local up took ${((Date.now() - started) / 1000).toFixed(1)} s`);
    assert.equal(r.code, 0, `local up failed:\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /dc-a: 3 masters \(leader master-a\d\), 2 workers alive/);
    assert.match(r.stdout, /dc-b: 3 masters \(leader master-b\d\), 2 workers alive/);
    assert.doesNotMatch(r.stdout, /configuring the sync/);
  });

  it('local ps --json lists 2 PostgreSQL, 2 Kafka, 1 MirrorMaker, 6 masters and 4 workers, all alive', async () => {
    const r = await dcsync(['local', 'ps', '--dir', dir, '--json']);
    assert.equal(r.code, 0, r.stderr);
    ps = JSON.parse(r.stdout) as PsJson;
    assert.equal(ps.status, 'up');
    const count = (role: string): number => ps.processes.filter((p) => p.role === role && p.alive).length;
    assert.deepEqual(
      { postgres: count('postgres'), kafka: count('kafka'), mirrormaker: count('mirrormaker'), master: count('master'), worker: count('worker') },
      { postgres: 2, kafka: 2, mirrormaker: 1, master: 6, worker: 4 },
    );
    assert.equal(ps.processes.length, 15);
    for (const dc of ['dc-a', 'dc-b']) {
      assert.equal(ps.processes.filter((p) => p.datacenter === dc && p.role === 'master').length, 3);
      assert.equal(ps.processes.filter((p) => p.datacenter === dc && p.role === 'worker').length, 2);
    }
    for (const p of ps.processes) assert.ok(isAlive(p.pid), `${p.name} (pid ${p.pid}) runs`);
  });

  it('keeps secrets out of argv and in 0600 files; daemons lead their own process groups', () => {
    const password = fs.readFileSync(path.join(dir, 'secrets', 'superuser.password'), 'utf8').trim();
    assert.ok(password.length >= 16);
    for (const f of ['local.json', 'secrets/superuser.password', 'secrets/tls-ca.key', 'secrets/client-auth-ca.key', 'secrets/client.keyfile', 'secrets/jwt-dc-a.secret', 'secrets/master-a1.keyfile', 'secrets/monitoring.token']) {
      assert.equal(fs.statSync(path.join(dir, f)).mode & 0o777, 0o600, f);
    }
    assert.equal(fs.statSync(path.join(dir, 'secrets')).mode & 0o777, 0o700);
    assert.ok(!fs.readFileSync(path.join(dir, 'local.json'), 'utf8').includes(password), 'local.json holds no password');
    const token = fs.readFileSync(path.join(dir, 'secrets', 'monitoring.token'), 'utf8').trim();
    assert.match(token, /^[0-9a-f]{64}$/);
    for (const p of ps.processes) {
      const cmdline = fs.readFileSync(`/proc/${p.pid}/cmdline`, 'utf8');
      assert.ok(!cmdline.includes(password), `${p.name}'s command line holds no password`);
      assert.ok(!cmdline.includes(token), `${p.name}'s command line holds no monitoring token`);
      if (p.role === 'master' || p.role === 'worker') {
        const stat = fs.readFileSync(`/proc/${p.pid}/stat`, 'utf8');
        const pgrp = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
        assert.equal(pgrp, p.pid, `${p.name} leads its own process group`);
      }
    }
    for (const name of ['pg-a', 'kafka-b', 'mm2', 'master-b2', 'worker-a1']) assert.ok(fs.statSync(path.join(dir, 'logs', `${name}.log`)).size > 0, `logs/${name}.log`);
  });

  it("Kafka's client address takes only TLS clients with a client certificate; workers and MirrorMaker 2 use one", async () => {
    const state = readLocalState(dir);
    const kafka = state.datacenters['dc-a']!.kafka;
    const describe = async (ssl: Parameters<typeof kafkaClient>[3]): Promise<string> => {
      const admin = kafkaClient(kafka, 'local-it-tls', undefined, { retry: { retries: 0 }, connectionTimeout: 5_000, requestTimeout: 5_000, ...ssl }).admin();
      try {
        await admin.connect();
        return `${(await admin.describeCluster()).brokers.length} broker`;
      } catch (err) {
        return `refused: ${(err as Error).message}`;
      } finally {
        await admin.disconnect().catch(() => undefined);
      }
    };
    const withCert = await loadKafkaTls({ caFile: state.files.tlsCaCert, clientKeyfile: state.files.clientKeyfile });
    const noCert = await loadKafkaTls({ caFile: state.files.tlsCaCert });
    assert.ok(withCert && noCert);
    assert.equal(await describe({ ssl: withCert }), '1 broker');
    assert.match(await describe({ ssl: noCert }), /^refused/);
    assert.match(await describe({}), /^refused/);
    for (const p of state.processes.filter((x) => x.role === 'worker')) {
      const args = p.args ?? [];
      assert.equal(args[args.indexOf('--mq.kafka-client-keyfile') + 1], state.files.clientKeyfile, p.name);
      assert.equal(args[args.indexOf('--mq.kafka-cacert') + 1], state.files.tlsCaCert, p.name);
    }
    const mm2 = fs.readFileSync(path.join(dir, 'mm2', 'mm2.properties'), 'utf8');
    for (const alias of ['A', 'B']) {
      assert.match(mm2, new RegExp(`^${alias}\\.security\\.protocol=SSL$`, 'm'));
      assert.match(mm2, new RegExp(`^${alias}\\.ssl\\.keystore\\.location=${state.files.clientKeyfile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
    }
  });

  it('refuses to start a second deployment in the same dir', async () => {
    const r = await dcsync(['local', 'up', '--dir', dir, '--no-configure']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /holds a running deployment \(15 processes\)/);
  });

  it('the local env lines export the monitoring token the daemons were started with', async () => {
    const bin = `"${process.execPath}" "${DCSYNC_BIN}"`;
    const r = await run('sh', ['-c', `set -e; eval "$(${bin} local env --dir '${dir}')"; printf '%s' "$DCSYNC_MONITORING_TOKEN"`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, fs.readFileSync(path.join(dir, 'secrets', 'monitoring.token'), 'utf8').trim());
  });

  for (const [dc, letter] of [['dc-a', 'A'], ['dc-b', 'B']] as const) {
    it(`the local env lines, sourced in sh, give working 'get masters' and 'get workers' against ${dc}`, async () => {
      const flags = `--master.endpoint "$DCSYNC_${letter}_MASTERS" --master.cacert "$DCSYNC_TLS_CACERT" --auth.user "$DCSYNC_AUTH_USER" --json`;
      const bin = `"${process.execPath}" "${DCSYNC_BIN}"`;
      const script = `set -e; eval "$(${bin} local env --dir '${dir}')"; ${bin} get masters ${flags}; echo '--8<--'; ${bin} get workers ${flags}`;
      const r = await run('sh', ['-c', script]);
      assert.equal(r.code, 0, r.stderr);
      const [mastersText, workersText] = r.stdout.split('--8<--\n');
      const masters = JSON.parse(mastersText!) as MastersResponse;
      const workers = JSON.parse(workersText!) as WorkersResponse;
      const mine = (role: string): number[] => ps.processes.filter((p) => p.datacenter === dc && p.role === role).map((p) => p.port!).sort();
      assert.ok(masters.leader, 'a leader');
      assert.deepEqual(masters.masters.filter((m) => m.alive).map((m) => Number(new URL(m.endpoint).port)).sort(), mine('master'));
      assert.deepEqual(workers.workers.filter((w) => w.alive && w.datacenter === dc).map((w) => Number(new URL(w.endpoint).port)).sort(), mine('worker'));
    });
  }

  it('local down stops every recorded process; a second local down is fine', async (t) => {
    const started = Date.now();
    const r = await dcsync(['local', 'down', '--dir', dir], 180_000);
    t.diagnostic(`local down took ${((Date.now() - started) / 1000).toFixed(1)} s`);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /15 stopped, 0 were not running/);
    for (const p of ps.processes) assert.equal(isAlive(p.pid), false, `${p.name} (pid ${p.pid}) is gone`);
    assert.deepEqual(processesUnder(dir), [], 'no process of the deployment is left');

    const again = await dcsync(['local', 'down', '--dir', dir]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /0 stopped, 15 were not running/);

    const after = JSON.parse((await dcsync(['local', 'ps', '--dir', dir, '--json'])).stdout) as PsJson;
    assert.equal(after.status, 'down');
    assert.ok(after.processes.every((p) => !p.alive));
  });
});

describe('upLocal in-process: kill and restart a master and a worker', { timeout: 600_000 }, () => {
  let root = '';
  let d: LocalDeployment | undefined;

  before(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'dcsync-local-it-'));
    fs.chmodSync(root, 0o755);
    d = await upLocal({ dir: path.join(root, 'dep'), configure: false });
  });

  after(async () => {
    if (root) await downLocal(path.join(root, 'dep')).catch(() => undefined);
    if (root && !process.env['DCSYNC_KEEP_TEST_DIR']) fs.rmSync(root, { recursive: true, force: true });
  });

  /** The operator's view of a datacenter's workers (GET /workers with the superuser's credentials). */
  async function workers(dc: 'dc-a' | 'dc-b'): Promise<WorkersResponse['workers']> {
    const c = new ControlClient({
      endpoints: d!.datacenter(dc).masters,
      ca: fs.readFileSync(d!.env.DCSYNC_TLS_CACERT, 'utf8'),
      auth: { kind: 'basic', username: d!.env.DCSYNC_AUTH_USER, password: d!.password },
      timeout: 3_000,
    });
    try {
      return (await c.get<WorkersResponse>(MASTER_PATHS.workers)).workers;
    } finally {
      c.close();
    }
  }

  it('gives the endpoints, names and credentials of both datacenters', () => {
    assert.deepEqual(d!.names('master', 'dc-a'), ['master-a1', 'master-a2', 'master-a3']);
    assert.deepEqual(d!.names('worker', 'dc-b'), ['worker-b1', 'worker-b2']);
    assert.equal(d!.env.DCSYNC_B_MASTERS, d!.datacenter('dc-b').masters.join(','));
    assert.match(d!.pgUrl('dc-a', 'shop'), /^postgresql:\/\/postgres:[^@]+@127\.0\.0\.1:\d+\/shop$/);
    assert.ok(d!.ps().every((p) => p.alive));
  });

  it('kill -9 of the leading master: another master leads; restart brings it back under the same name', async (t) => {
    const leader = await d!.leader('dc-a');
    const old = d!.ps().find((p) => p.name === leader)!;
    const killedAt = Date.now();
    await d!.kill(leader);
    assert.equal(isAlive(old.pid), false);
    let next = leader;
    while (next === leader && Date.now() - killedAt < 30_000) {
      await delay(250);
      next = await d!.leader('dc-a').catch(() => leader);
    }
    t.diagnostic(`${leader} killed; ${next} leads after ${((Date.now() - killedAt) / 1000).toFixed(1)} s`);
    assert.notEqual(next, leader, 'another master leads within 30 s');

    const restarted = await d!.restart(leader);
    assert.notEqual(restarted.pid, old.pid);
    assert.equal(d!.ps().find((p) => p.name === leader)!.pid, restarted.pid, 'local.json has the new pid');
    assert.ok(d!.ps().every((p) => p.alive));
  });

  it('kill -9 and restart of a worker: it registers again and is alive', async () => {
    const [name] = d!.names('worker', 'dc-b');
    const endpoint = `https://127.0.0.1:${d!.ps().find((p) => p.name === name)!.port}`;
    await d!.kill(name!);
    const restarted = await d!.restart(name!);
    assert.ok(isAlive(restarted.pid));
    const until = Date.now() + 30_000;
    while (!(await workers('dc-b')).some((w) => w.endpoint === endpoint && w.alive && Date.parse(w.lastHeartbeat) > Date.parse(restarted.startedAt))) {
      assert.ok(Date.now() < until, 'the restarted worker heartbeats within 30 s');
      await delay(500);
    }
  });

  it('down stops all of it', async () => {
    const pids = d!.ps().map((p) => p.pid);
    const results = await d!.down();
    assert.equal(results.filter((r) => r.outcome === 'stopped').length, 15);
    assert.ok(pids.every((pid) => !isAlive(pid)));
  });
});
