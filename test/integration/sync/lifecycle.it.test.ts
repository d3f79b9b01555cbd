/**
 * The sync lifecycle on a whole local deployment (`dcsync local up`: two PostgreSQL clusters, a Kafka each,
 * MirrorMaker 2, 3 masters and 2 workers per datacenter), driven through the CLI as an operator would:
 * bad input refused with nothing changed; configure; kill -9 of the destination worker during the initial copy
 * and of the source worker while streaming; kill -9 of both leaders with `get status` answering; a restart of
 * every master; stop sync (slots and publications gone at the source) and configure again. Every phase ends
 * with both ends compared table by table.
 */
import assert from 'node:assert/strict';
import { statusExitCode } from '../../../src/cli/commands/get/status-verdict.ts';
import { mkdtemp, readFile, rm, chmod, writeFile } from 'node:fs/promises';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { ControlClient } from '../../../src/control/index.ts';
import { upLocal, type LocalDeployment } from '../../../tools/local/deployment.ts';
import { pgBin } from '../../../tools/local/postgres.ts';
import type { StatusResponse } from '../../../src/control/v1/sync.ts';
import type { TasksResponse } from '../../../src/control/v1/cluster.ts';
import { createTestCa } from '../../helpers/tls-fixtures.ts';
import { formatKeyfile, issueClientKeyfile, issueServerKeyfile, parseCa } from '../../../src/tls/index.ts';
import { dcsyncCli, type CliRun } from '../../helpers/cli.ts';
import { assertDatabasesEqual, waitFor } from '../../helpers/compare.ts';
import { queryRows, run } from '../../helpers/psql.ts';
import { listTopics } from '../../../src/transport/kafka/admin.ts';
import { kafkaClient } from '../../../src/transport/kafka/client.ts';
import { loadKafkaTls } from '../../../src/transport/kafka/tls-files.ts';
import { macProblem, parseRecordKey } from '../../../src/transport/record-auth.ts';
import type { RawHeaders } from '../../../src/transport/record-format/index.ts';


describe('sync lifecycle on a local two-datacenter deployment', { timeout: 900_000 }, () => {
  let parent: string;
  let dep: LocalDeployment;

  const cli = (args: readonly string[], env: Record<string, string> = {}, timeoutMs = 120_000): Promise<CliRun> => dcsyncCli(args, env, timeoutMs);

  const auth = (): Record<string, string> => ({ DCSYNC_AUTH_PASSWORD: dep.password });
  const at = (dc: 'dc-a' | 'dc-b'): string[] => ['--master.endpoint', dep.datacenter(dc).masters.join(','), '--master.cacert', dep.state().files.tlsCaCert, '--auth.user', dep.state().superuser];
  /** Without --master.cacert the CLI verifies B with --source.cacert (one TLS CA for both here). */
  const configureArgs = (masterCa = true): string[] => [
    'configure', 'sync', ...at('dc-b').filter((_, i, all) => masterCa || (all[i] !== '--master.cacert' && all[i - 1] !== '--master.cacert')),
    '--source.endpoint', dep.datacenter('dc-a').masters.join(','), '--source.cacert', dep.state().files.tlsCaCert, '--master.keyfile', dep.state().files.clientKeyfile,
  ];

  async function status(dc: 'dc-a' | 'dc-b' = 'dc-b'): Promise<StatusResponse> {
    const r = await cli(['get', 'status', ...at(dc), '--json', '--timeout', '5s'], auth(), 30_000);
    assert.ok(r.code === 0 || r.code === 3, r.stderr);
    const body = JSON.parse(r.stdout) as StatusResponse;
    assert.equal(r.code, statusExitCode(body), 'get status exits 3 exactly when something failed');
    return body;
  }

  async function tasks(dc: 'dc-a' | 'dc-b'): Promise<TasksResponse['tasks']> {
    const r = await cli(['get', 'tasks', ...at(dc), '--json'], auth(), 30_000);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as TasksResponse).tasks;
  }

  const query = <T extends pg.QueryResultRow>(dc: 'dc-a' | 'dc-b', database: string, sql: string): Promise<T[]> => queryRows<T>(dep.pgUrl(dc, database), sql);


  async function sourceSlots(): Promise<string[]> {
    return (await query<{ slot_name: string }>('dc-a', 'postgres', `SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE 'dcsync%' ORDER BY 1`)).map((r) => r.slot_name);
  }

  async function sourcePublications(): Promise<string[]> {
    const out: string[] = [];
    for (const db of ['postgres', 'shop', 'inventory']) out.push(...(await query<{ pubname: string }>('dc-a', db, `SELECT pubname FROM pg_publication ORDER BY 1`)).map((r) => `${db}.${r.pubname}`));
    return out;
  }

  async function equalEverywhere(what: string, timeoutMs = 180_000): Promise<void> {
    await waitFor(
      async () => {
        for (const db of ['shop', 'inventory']) await assertDatabasesEqual(dep.pgUrl('dc-a', db), dep.pgUrl('dc-b', db));
        return true;
      },
      { timeoutMs, intervalMs: 1_000, what },
    );
  }

  /** The process name of the worker (or master) whose id is 127.0.0.1:PORT. */
  function nameOf(id: string): string {
    const port = Number(id.split(':').at(-1));
    const p = dep.state().processes.find((x) => (x.role === 'worker' || x.role === 'master') && x.port === port);
    assert.ok(p, `no process with id ${id}`);
    return p.name;
  }

  function pgbench(args: string[]): Promise<string> {
    return run(pgBin('pgbench'), args, dep.pgEnv('dc-a'));
  }

  before(async () => {
    parent = await mkdtemp(path.join(tmpdir(), 'dcsync-life-'));
    await chmod(parent, 0o755);
    dep = await upLocal({ dir: path.join(parent, 'local'), configure: false });
    await query('dc-a', 'postgres', 'CREATE DATABASE shop');
    await query('dc-a', 'postgres', 'CREATE DATABASE inventory');
    await pgbench(['-i', '-s', '20', '-q', 'shop']);
    await query('dc-a', 'inventory', `CREATE TABLE item (id bigint PRIMARY KEY, name text NOT NULL, qty int NOT NULL);
      INSERT INTO item SELECT g, 'item ' || g, g % 100 FROM generate_series(1, 20000) g`);
  });

  after(async () => {
    if (dep) await dep.down().catch(() => {});
    if (parent && !process.env['DCSYNC_KEEP_TEST_DIR']) await rm(parent, { recursive: true, force: true });
  });

  it('refuses bad input clearly and changes nothing', async () => {
    const wrongPassword = await cli(['get', 'status', ...at('dc-b')], { DCSYNC_AUTH_PASSWORD: 'not-the-password' });
    assert.equal(wrongPassword.code, 1);
    assert.match(wrongPassword.stderr, /authentication failed at https:\/\/127\.0\.0\.1:\d+: check --auth\.user and --auth\.password/);
    assert.doesNotMatch(wrongPassword.stderr, /not-the-password/);

    const unknownFlag = await cli(['configure', 'sync', '--no-such-flag', 'x']);
    assert.equal(unknownFlag.code, 2);
    assert.match(unknownFlag.stderr, /'--no-such-flag' is not a known flag/);

    const nowhere = configureArgs();
    nowhere[nowhere.indexOf('--source.endpoint') + 1] = 'https://127.0.0.1:1,https://127.0.0.1:2';
    const unreachable = await cli(nowhere, auth());
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.stderr, /https:\/\/127\.0\.0\.1:1 \(connection refused\).*https:\/\/127\.0\.0\.1:2 \(connection refused\)/s);

    // A client keyfile from another client-auth CA: the source's masters refuse it at the handshake.
    const otherCa = await createTestCa('client-auth', 'other client-auth CA');
    const foreign = path.join(parent, 'foreign-client.keyfile');
    await writeFile(foreign, formatKeyfile(await issueClientKeyfile(otherCa.signer)), { mode: 0o600 });
    const wrongCa = configureArgs();
    wrongCa[wrongCa.indexOf('--master.keyfile') + 1] = foreign;
    const refused = await cli(wrongCa, auth());
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /source datacenter's masters cannot be reached or refused the connection/);

    // Malformed requests straight to the API.
    const b = new URL(dep.datacenter('dc-b').masters[0]!);
    const ca = await readFile(dep.state().files.tlsCaCert, 'utf8');
    const authHeader = `Basic ${Buffer.from(`${dep.state().superuser}:${dep.password}`).toString('base64')}`;
    const post = (body: string, contentType = 'application/json'): Promise<{ status: number; body: string }> =>
      new Promise((resolve, reject) => {
        const req = https.request(
          { host: b.hostname, port: b.port, path: '/_api/v1/syncs', method: 'POST', ca, headers: { 'content-type': contentType, authorization: authHeader, 'content-length': Buffer.byteLength(body) } },
          (res) => {
            let text = '';
            res.on('data', (d: Buffer) => (text += d.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    const cases: [string, string | undefined, number, RegExp][] = [
      ['{"source":', undefined, 400, /JSON/i],
      ['{"source":{"endpoints":["https://127.0.0.1:1"],"cacert":"x"},"clientKeyfile":"y"}', undefined, 400, /cacert/],
      ['{"__proto__":{"admin":true}}', undefined, 400, /__proto__|not allowed|unknown field/],
      ['{"id":"main"}', 'text/plain', 415, /content type|application\/json/i],
      [`{"a":${'['.repeat(200)}${']'.repeat(200)}}`, undefined, 400, /deep|nesting/i],
    ];
    for (const [body, type, code, message] of cases) {
      const r = await post(body, type);
      assert.equal(r.status, code, `${body.slice(0, 40)} → ${r.status} ${r.body}`);
      assert.match(r.body, message);
    }

    const s = await status();
    assert.equal(s.status, 'inactive');
    assert.equal(s.sync, null);
    assert.deepEqual(await sourceSlots(), []);
  });

  it('configures; kill -9 of the destination worker during the initial copy moves its task; both ends equal', async () => {
    const r = await cli(configureArgs(), auth());
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /configured \(run [a-z0-9]{6}\): 3 database\(s\)/);
    const again = await cli(configureArgs(), auth());
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /configured already/);

    let victim: string | undefined;
    await waitFor(
      async () => {
        const t = (await tasks('dc-b')).find((x) => x.database === 'shop' && x.state === 'running' && x.workerId !== null);
        victim = t?.workerId ?? undefined;
        return victim !== undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500, what: 'the destination task of shop running' },
    );
    // Rows arrive within seconds; the kill follows at once, so it falls into the copy (the log line says if not).
    let copying = false;
    await waitFor(
      async () => {
        const shop = (await status()).tables.filter((t) => t.database === 'shop');
        copying = shop.some((t) => t.status === 'copying');
        return shop.some((t) => t.rowsCopied > 0);
      },
      { timeoutMs: 60_000, intervalMs: 200, what: 'rows of shop arriving at the destination' },
    );
    // Health and version answer quickly on every daemon while the copy runs.
    const ca = await readFile(dep.state().files.tlsCaCert, 'utf8');
    for (const dc of ['dc-a', 'dc-b'] as const) {
      for (const endpoint of [...dep.datacenter(dc).masters, ...dep.datacenter(dc).workers]) {
        const c = new ControlClient({ endpoints: endpoint, ca, timeout: 2_000 });
        try {
          assert.equal((await c.get<{ status: string }>('/health')).status, 'ok');
          assert.match((await c.get<{ version: string }>('/version')).version, /\d+\.\d+/);
        } finally {
          c.close();
        }
      }
    }
    const killed = nameOf(victim!);
    await dep.kill(killed);
    const movedAt = Date.now();
    await waitFor(async () => (await tasks('dc-b')).filter((t) => t.database === 'shop').every((t) => t.workerId !== victim && t.state === 'running'), {
      timeoutMs: 40_000,
      intervalMs: 500,
      what: 'the destination task of shop moved to the other worker',
    });
    const moveMs = Date.now() - movedAt;
    await dep.restart(killed);
    await equalEverywhere('both ends equal after the initial copy');
    const s = await status();
    assert.equal(s.status, 'running');
    assert.ok(s.tables.some((t) => t.database === 'shop' && t.table === 'public.pgbench_accounts'), JSON.stringify(s.tables));
    assert.deepEqual(new Set(s.databases.map((d) => d.database)), new Set(['inventory', 'postgres', 'shop']));
    const out = await status('dc-a');
    assert.equal(out.outgoing.length, 1);
    assert.equal(out.outgoing[0]!.status, 'running');
    process.stdout.write(`# destination task moved ${moveMs} ms after kill -9 of ${killed} (${copying ? 'during' : 'after'} the initial copy)\n`);
  });

  it('kill -9 of the source worker while streaming: the task moves, nothing lost', async () => {
    const src = (await tasks('dc-a')).find((t) => t.database === 'shop' && t.kind === 'source');
    assert.ok(src?.workerId);
    const load = pgbench(['-T', '20', '-c', '2', '-j', '2', '-n', 'shop']);
    await new Promise((r) => setTimeout(r, 5_000));
    const killed = nameOf(src.workerId);
    await dep.kill(killed);
    await load;
    await waitFor(async () => (await tasks('dc-a')).filter((t) => t.database === 'shop').every((t) => t.workerId !== src.workerId && t.state === 'running'), {
      timeoutMs: 40_000,
      intervalMs: 500,
      what: 'the source task of shop moved',
    });
    await dep.restart(killed);
    await equalEverywhere('equal after the source worker was killed while streaming');
  });

  it("records reach B numbered and signed with the run's key, which both masters hold and no status shows", async () => {
    const keyAt = async (dc: 'dc-a' | 'dc-b'): Promise<string | null> =>
      (await query<{ k: string | null }>(dc, 'postgres', `SELECT config ->> 'recordKey' AS k FROM dcsync.master_syncs WHERE status <> 'inactive'`))[0]?.k ?? null;
    const [keyA, keyB] = [await keyAt('dc-a'), await keyAt('dc-b')];
    assert.ok(keyB && keyA === keyB, 'the destination made a key and the source holds the same');
    for (const dc of ['dc-a', 'dc-b'] as const) assert.ok(!JSON.stringify(await status(dc)).includes(keyB), `get status of ${dc} does not show the key`);
    const files = dep.state().files;
    const ssl = await loadKafkaTls({ caFile: files.tlsCaCert, clientKeyfile: files.clientKeyfile });
    const kafka = kafkaClient(dep.datacenter('dc-b').kafka, 'lifecycle-it-read', undefined, ssl ? { ssl } : {});
    const topic = (await listTopics(kafka, (t) => /^A\.dcsync\..*\.shop\.snapshot$/.test(t)))[0];
    assert.ok(topic, "shop's snapshot topic at B");
    const consumer = kafka.consumer({ groupId: `lifecycle-it-${Date.now()}` });
    const seen: { problem: string | undefined; seq: string | undefined }[] = [];
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        eachMessage: async ({ partition, message }) => {
          if (seen.length < 3) seen.push({ problem: macProblem(parseRecordKey(keyB), { partition, key: message.key, headers: message.headers as RawHeaders, value: message.value }), seq: message.headers?.['dcsync-seq']?.toString() });
        },
      });
      await waitFor(async () => seen.length >= 3, { timeoutMs: 30_000, what: 'records of the snapshot topic at B' });
    } finally {
      await consumer.disconnect();
    }
    assert.deepEqual(seen.map((x) => x.problem), [undefined, undefined, undefined], 'every record verifies under the key');
    assert.deepEqual(seen.map((x) => x.seq), ['0', '1', '2'], 'numbered from 0, in order');
  });

  it('kill -9 of both leaders: new leaders within 10 s, get status keeps answering, replication goes on', async () => {
    const leaders = [await dep.leader('dc-a'), await dep.leader('dc-b')];
    const load = pgbench(['-T', '15', '-c', '2', '-j', '2', '-n', 'shop']);
    for (const name of leaders) await dep.kill(name);
    const killedAt = Date.now();
    const answers: number[] = [];
    const newLeader = async (dc: 'dc-a' | 'dc-b'): Promise<string> => {
      for (;;) {
        const name = await dep.leader(dc, 10_000);
        if (!leaders.includes(name)) return name;
        assert.ok(Date.now() - killedAt < 10_000, `${dc} still names ${name} as leader 10 s after its kill -9`);
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    const [newA, newB] = await Promise.all([newLeader('dc-a'), newLeader('dc-b')]);
    const failoverMs = Date.now() - killedAt;
    assert.ok(failoverMs < 10_000, `failover took ${failoverMs} ms`);
    for (let i = 0; i < 3; i++) answers.push((await status()).databases.length);
    assert.deepEqual(answers, [3, 3, 3]);
    await load;
    await query('dc-a', 'inventory', `UPDATE item SET qty = qty + 1 WHERE id <= 1000`);
    for (const name of leaders) await dep.restart(name);
    await equalEverywhere('equal after the leaders were killed');
    process.stdout.write(`# new leaders ${newA}, ${newB} within ${failoverMs} ms\n`);
  });

  it('a restart of every master keeps the sync as configured', async () => {
    const before = await status();
    for (const dc of ['dc-a', 'dc-b'] as const) for (const name of dep.names('master', dc)) await dep.kill(name, 'SIGTERM');
    for (const dc of ['dc-a', 'dc-b'] as const) for (const name of dep.names('master', dc)) await dep.restart(name);
    await query('dc-a', 'inventory', `INSERT INTO item SELECT g, 'late ' || g, 1 FROM generate_series(20001, 21000) g`);
    await equalEverywhere('equal after every master restarted');
    const after = await status();
    assert.equal(after.sync?.run, before.sync?.run);
    assert.equal(after.status, 'running');
  });

  it('a keyfile near expiry shows in get status; SIGHUP swaps keyfiles without dropping the sync', async () => {
    const state = dep.state();
    const signer = await parseCa(await readFile(state.files.tlsCaCert, 'utf8'), await readFile(state.files.tlsCaKey, 'utf8'));
    const swap = async (name: string, validForMs: number): Promise<void> => {
      const p = state.processes.find((x) => x.name === name)!;
      const file = p.args![p.args!.indexOf('--server.keyfile') + 1]!;
      const kf = await issueServerKeyfile(signer, { hosts: ['127.0.0.1', 'localhost'], validForMs });
      await writeFile(file, formatKeyfile(kf), { mode: 0o600 });
      process.kill(dep.state().processes.find((x) => x.name === name)!.pid, 'SIGHUP');
    };
    const worker = dep.names('worker', 'dc-b')[0]!;
    const master = dep.names('master', 'dc-a')[0]!;
    await swap(worker, 10 * 86_400_000);
    await swap(master, 12 * 86_400_000);
    await query('dc-a', 'inventory', `UPDATE item SET qty = qty + 5 WHERE id <= 500`);
    await waitFor(
      async () => {
        const w = (await status()).warnings;
        return w.some((x) => x.startsWith(`worker `) && /expires on .* \(in 9 day/.test(x)) && w.some((x) => x.startsWith('source: master ') && /in 11 day/.test(x));
      },
      { timeoutMs: 30_000, intervalMs: 1_000, what: 'the near-expiry warnings of B\'s worker and A\'s master in get status' },
    );
    await swap(worker, 365 * 86_400_000);
    await swap(master, 365 * 86_400_000);
    await waitFor(async () => (await status()).warnings.length === 0, { timeoutMs: 30_000, intervalMs: 1_000, what: 'no warnings after the renewal' });
    const s = await status();
    assert.equal(s.status, 'running');
    await equalEverywhere('equal across the keyfile reloads');
  });

  it('stop sync drops the slots and publications at the source; configure again copies anew', async () => {
    assert.equal((await sourceSlots()).length, 3);
    const appWrite = (): Promise<unknown> => query('dc-b', 'inventory', `UPDATE item SET id = id WHERE id = 1`);
    await assert.rejects(appWrite(), /cannot execute UPDATE in a read-only transaction/, "an application's write at B is refused while it syncs");
    assert.deepEqual(
      (await status()).databases.map((d) => [d.database, d.readOnly]),
      [
        ['inventory', true],
        ['postgres', false], // the maintenance database stays writable for administration
        ['shop', true],
      ],
    );
    const stop = await cli(['stop', 'sync', ...at('dc-b'), '--timeout', '90s'], auth(), 150_000);
    assert.equal(stop.code, 0, stop.stderr + stop.stdout);
    assert.match(stop.stdout, /inactive: stopped/);
    await appWrite(); // B takes writes once the sync is stopped
    assert.deepEqual(await sourceSlots(), []);
    assert.deepEqual(await sourcePublications(), []);
    assert.equal((await status()).status, 'inactive');
    assert.equal((await status('dc-a')).outgoing[0]?.status, 'inactive');

    await query('dc-a', 'inventory', `DELETE FROM item WHERE id % 7 = 0`);
    const again = await cli(configureArgs(false), auth());
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /configured \(run/);
    await equalEverywhere('equal after configuring again');
    await waitFor(async () => (await status()).status === 'running', { timeoutMs: 60_000, intervalMs: 1_000, what: 'running again' });
    assert.equal((await sourceSlots()).length, 3);
  });
  it('a failed destination task is named by get status; reset failed task starts it again once the cause is gone', async () => {
    // B holds a database of that name with a table dcsync did not create: the destination refuses to touch it.
    await run(pgBin('psql'), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', 'postgres', '-c', 'CREATE DATABASE extra'], dep.pgEnv('dc-b'));
    await query('dc-b', 'extra', `CREATE TABLE operators_own (id int)`);
    await run(pgBin('psql'), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', 'postgres', '-c', 'CREATE DATABASE extra'], dep.pgEnv('dc-a'));
    await query('dc-a', 'extra', `CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 500) g`);
    const failedTask = async (): Promise<string | undefined> => (await tasks('dc-b')).find((t) => t.database === 'extra' && t.kind === 'destination' && t.state === 'failed')?.id;
    await waitFor(async () => (await failedTask()) !== undefined, { timeoutMs: 90_000, intervalMs: 1_000, what: "extra's destination task failed" });
    const st = await cli(['get', 'status', ...at('dc-b')], auth(), 30_000);
    assert.notEqual(st.code, 0, 'get status exits non-zero while a database has failed');
    assert.match(st.stdout, /FAILED: .*extra.*operators_own/);
    await run(pgBin('psql'), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', 'postgres', '-c', 'DROP DATABASE extra WITH (FORCE)'], dep.pgEnv('dc-b'));
    const reset = await cli(['reset', 'failed', 'task', ...at('dc-b'), '--task.id', (await failedTask())!], auth());
    assert.equal(reset.code, 0, reset.stderr);
    assert.match(reset.stdout, /reset: /);
    await waitFor(
      async () => {
        await assertDatabasesEqual(dep.pgUrl('dc-a', 'extra'), dep.pgUrl('dc-b', 'extra'));
        return true;
      },
      { timeoutMs: 120_000, intervalMs: 1_000, what: 'extra copied after the reset' },
    );
  });

  it('abort sync stops B alone and leaves it writable; abort outgoing sync then ends it at A and drops its slots', async () => {
    const slots = (await sourceSlots()).length;
    assert.ok(slots >= 3);
    const abort = await cli(['abort', 'sync', ...at('dc-b')], auth());
    assert.equal(abort.code, 0, abort.stderr + abort.stdout);
    assert.equal((await status()).status, 'inactive');
    await query('dc-b', 'inventory', `UPDATE item SET id = id WHERE id = 1`); // B takes writes again
    assert.equal((await sourceSlots()).length, slots, "A's slots stay until the source is told");
    assert.ok(['running', 'initial-sync'].includes((await status('dc-a')).outgoing[0]?.status ?? ''), "A's outgoing sync goes on");
    const end = await cli(['abort', 'outgoing', 'sync', ...at('dc-a'), '--timeout', '60s'], auth(), 120_000);
    assert.equal(end.code, 0, end.stderr + end.stdout);
    await waitFor(async () => (await sourceSlots()).length === 0, { timeoutMs: 60_000, intervalMs: 1_000, what: "A's slots dropped" });
    assert.equal((await status('dc-a')).outgoing[0]?.status, 'inactive');
  });
});
