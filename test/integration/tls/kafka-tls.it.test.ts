/**
 * Kafka over TLS with certificates made by dcsync's own tooling (src/tls), against a real broker with an SSL
 * listener (PEM key and trust stores): kafkaClient verifies the broker with the given CA and its host name, a
 * wrong CA or name is refused; with ssl.client.auth=required a client without a certificate (or with one from
 * another CA) is refused and one with a dcsync client keyfile is accepted. Last, the source task itself runs with
 * --mq.kafka-cacert and --mq.kafka-client-keyfile against that broker, and with --cluster.cacert against a
 * PostgreSQL that requires TLS (verify-full, pg_dump included).
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { after, before, test } from 'node:test';
import type { Kafka } from 'kafkajs';
import pg from 'pg';
import { startKafkaBroker, type KafkaBrokerHandle } from '../../../tools/local/kafka.ts';
import { startPgCluster, type PgClusterHandle } from '../../../tools/local/postgres.ts';
import { spawnDaemon, type DaemonHandle } from '../../../tools/local/process.ts';
import { issueClientKeyfile, keyfileTlsOptions } from '../../../src/tls/index.ts';
import { kafkaClient, type KafkaTlsOptions } from '../../../src/transport/kafka/client.ts';
import { topicName } from '../../../src/transport/topics.ts';
import { waitFor } from '../../helpers/compare.ts';
import { createTestCa, createTestPki, writeTestPki, type TestPki, type TestPkiFiles } from '../../helpers/tls-fixtures.ts';
import { REPO } from '../../helpers/two-dc.ts';

let dir: string;
let pki: TestPki;
let files: TestPkiFiles;
let broker: KafkaBrokerHandle | undefined;
let pgc: PgClusterHandle | undefined;
const daemons: DaemonHandle[] = [];

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'dcsync-kafka-tls-'));
  chmodSync(dir, 0o755);
  pki = await createTestPki({ hosts: ['127.0.0.1', 'localhost'] });
  mkdirSync(path.join(dir, 'pki'));
  files = await writeTestPki(pki, path.join(dir, 'pki'));
  broker = await startKafkaBroker({ dir: path.join(dir, 'kafka'), name: 'tls', ssl: { keyfile: files.serverKeyfile } });
});

after(async () => {
  for (const d of daemons) await d.stop(10_000).catch(() => {});
  await broker?.stop().catch(() => {});
  await pgc?.stop().catch(() => {});
  if (!process.env['DCSYNC_KEEP_TEST_DIR']) rmSync(dir, { recursive: true, force: true });
});

/** A client over the TLS listener; `failFast` (no retries) for the ones that must be refused, so refusals show quickly. */
function client(ssl: KafkaTlsOptions | undefined, failFast = true): Kafka {
  return kafkaClient(broker!.sslBootstrap!, 'tls-test', undefined, { ...(failFast ? { retry: { retries: 0 } } : {}), connectionTimeout: 5_000, ...(ssl ? { ssl } : {}) });
}

/** Creates a topic, produces one record and consumes it back, all through `kafka`. */
async function roundTrip(kafka: Kafka, topic: string): Promise<string> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  await producer.send({ topic, acks: -1, messages: [{ key: 'k', value: `hello over TLS ${topic}` }] });
  await producer.disconnect();
  const consumer = kafka.consumer({ groupId: `g-${topic}` });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    return await new Promise<string>((resolve, reject) => {
      // The first consumer group of a new broker waits for __consumer_offsets to be created.
      const timer = setTimeout(() => reject(new Error(`no record on ${topic} within 60 s`)), 60_000);
      void consumer
        .run({
          eachMessage: async ({ message }) => {
            clearTimeout(timer);
            resolve(message.value?.toString() ?? '');
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
}

/** Whether an admin connection (metadata and API versions over the TLS listener) succeeds. */
async function refused(kafka: Kafka): Promise<Error | undefined> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.listTopics();
    return undefined;
  } catch (err) {
    return err as Error;
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

test('produce and consume through the TLS listener, the broker verified with the CA', async () => {
  assert.ok(broker!.sslBootstrap && broker!.sslBootstrap !== broker!.bootstrap);
  assert.equal(await roundTrip(client({ ca: pki.tlsCa.certPem }, false), 'tls-plain-auth'), 'hello over TLS tls-plain-auth');
});

test('the listener speaks TLS 1.2 or later only', async () => {
  const attempt = (maxVersion: 'TLSv1.1' | 'TLSv1.3'): Promise<string> =>
    new Promise((resolve) => {
      const s = tlsConnect({ host: '127.0.0.1', port: broker!.sslPort!, ca: pki.tlsCa.certPem, minVersion: 'TLSv1', maxVersion }, () => {
        resolve(s.getProtocol() ?? 'none');
        s.end();
      });
      s.on('error', (e) => resolve(`error: ${e.message}`));
    });
  assert.equal(await attempt('TLSv1.3'), 'TLSv1.3');
  assert.match(await attempt('TLSv1.1'), /^error/);
});

test('a wrong CA is refused', async (t) => {
  const other = await createTestCa('tls', 'some other CA');
  const err = await refused(client({ ca: other.certPem }));
  assert.ok(err, 'the connection must fail');
  t.diagnostic(err.message);
  assert.match(err.message, /certificate/i);
});

test("a certificate that does not name the broker's host is refused", async (t) => {
  const err = await refused(client({ ca: pki.tlsCa.certPem, servername: 'kafka.elsewhere.test' }));
  assert.ok(err, 'the connection must fail');
  t.diagnostic(err.message);
  assert.match(err.message, /altnames|does not match/i);
});

test('without a CA the broker (private CA) is not trusted: no silent fallback to unverified TLS', async (t) => {
  const err = await refused(client({}));
  assert.ok(err, 'the connection must fail');
  t.diagnostic(err.message);
  assert.match(err.message, /certificate/i);
});

test('client authentication required: refused without a client keyfile or with a foreign one, accepted with it', async (t) => {
  await broker!.stop();
  broker = await startKafkaBroker({
    dir: path.join(dir, 'kafka'),
    name: 'tls',
    ssl: { keyfile: files.serverKeyfile, caFile: files.clientCaCert, requireClientAuth: true },
  });
  const none = await refused(client({ ca: pki.tlsCa.certPem }));
  assert.ok(none, 'no client certificate: refused');
  t.diagnostic(`without a client certificate: ${none.message}`);
  assert.match(none.message, /alert|certificate/i);

  const foreignCa = await createTestCa('client-auth', 'a foreign client CA');
  const foreign = await issueClientKeyfile(foreignCa.signer);
  const wrong = await refused(client({ ca: pki.tlsCa.certPem, ...keyfileTlsOptions(foreign) }));
  assert.ok(wrong, 'client certificate of another CA: refused');
  t.diagnostic(`with a foreign client certificate: ${wrong.message}`);
  assert.match(wrong.message, /alert|certificate/i);

  const clientKf = keyfileTlsOptions(pki.client);
  assert.equal(await roundTrip(client({ ca: pki.tlsCa.certPem, ...clientKf }, false), 'tls-client-auth'), 'hello over TLS tls-client-auth');
});

test('run task source with --mq.kafka-cacert/--mq.kafka-client-keyfile and --cluster.cacert (verify-full): the initial copy completes', async () => {
  // PostgreSQL with TLS on, the server certificate from the same dcsync TLS CA; pg_hba allows TLS and plain TCP alike,
  // so the test proves TLS from pg_stat_ssl.
  const certFile = path.join(dir, 'pki', 'pg-server.crt');
  const keyFile = path.join(dir, 'pki', 'pg-server.key');
  writeFileSync(certFile, [pki.server.certPem, ...pki.server.chainPem].join(''));
  writeFileSync(keyFile, pki.server.keyPem, { mode: 0o600 });
  pgc = await startPgCluster({ dir: path.join(dir, 'pg'), name: 'pg-tls', settings: { fsync: 'off' }, ssl: { certFile, keyFile } });
  const admin = new pg.Client({ connectionString: pgc.url('postgres') });
  await admin.connect();
  try {
    await admin.query('CREATE DATABASE app');
  } finally {
    await admin.end();
  }
  const app = new pg.Client({ connectionString: pgc.url('app') });
  await app.connect();
  try {
    await app.query(`CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 100) g`);
  } finally {
    await app.end();
  }

  const u = new URL(pgc.url('postgres'));
  const password = decodeURIComponent(u.password);
  u.password = '';
  const logFile = path.join(dir, 'source.log');
  const d = await spawnDaemon({
    name: 'source-tls',
    command: process.execPath,
    args: [
      path.join(REPO, 'bin/dcsync.js'),
      'run',
      'task',
      'source',
      '--cluster.endpoint',
      u.toString(),
      '--cluster.cacert',
      files.tlsCaCert,
      '--mq.kafka-addr',
      broker!.sslBootstrap!,
      '--mq.kafka-cacert',
      files.tlsCaCert,
      '--mq.kafka-client-keyfile',
      files.clientKeyfile,
      '--sync.id',
      'tls',
      '--databases',
      'app',
    ],
    cwd: REPO,
    env: { DCSYNC_CLUSTER_PASSWORD: password },
    logFile,
  });
  daemons.push(d);
  const check = new pg.Client({ connectionString: pgc.url('app') });
  await check.connect();
  try {
    await waitFor(
      async () => {
        const r = await check.query<{ done: boolean }>(`SELECT snapshot_complete AS done FROM dcsync.source_progress WHERE sync_id = 'tls'`).catch(() => ({ rows: [] }));
        return r.rows[0]?.done === true;
      },
      { timeoutMs: 120_000, intervalMs: 500, what: 'the initial copy over TLS to complete' },
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}\n--- ${logFile}:\n${readFileSync(logFile, 'utf8').slice(-4000)}`);
    });
    // Every connection of the source task to PostgreSQL used TLS.
    const conns = await check.query<{ application_name: string; ssl: boolean }>(
      `SELECT a.application_name, s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.application_name LIKE 'dcsync-source%'`,
    );
    assert.ok(conns.rows.length > 0, 'the source task is connected');
    assert.ok(conns.rows.every((r) => r.ssl), `every dcsync connection uses TLS: ${JSON.stringify(conns.rows)}`);
  } finally {
    await check.end();
  }
  // The snapshot crossed the TLS listener: read it back through a verified, client-authenticated connection.
  const kafka = client({ ca: pki.tlsCa.certPem, ...keyfileTlsOptions(pki.client) });
  const kadmin = kafka.admin();
  await kadmin.connect();
  try {
    const snapshot = topicName('tls', 'app', 'snapshot');
    assert.ok((await kadmin.listTopics()).includes(snapshot), `topic ${snapshot} exists`);
    const offsets = await kadmin.fetchTopicOffsets(snapshot);
    assert.ok(offsets.some((o) => Number(o.high) > 0), 'the snapshot topic holds records');
  } finally {
    await kadmin.disconnect();
  }
  assert.doesNotMatch(readFileSync(logFile, 'utf8'), new RegExp(password.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
});
