import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { InvalidOptionError } from '../core/errors.ts';
import { createCa, parseCa, type CaMaterial } from '../tls/ca.ts';
import { issueClientKeyfile, issueServerKeyfile } from '../tls/issue.ts';
import { formatKeyfile } from '../tls/keyfile.ts';
import { kafkaTlsConnectionOptions } from '../transport/kafka/client.ts';
import { loadKafkaTls } from '../transport/kafka/tls-files.ts';
import { libpqTlsEnv, pgSslOptions, splitPgTls, withPgCa } from '../postgres/tls.ts';
import { resolvePgUrl } from '../postgres/url.ts';

let dir: string;
let ca: CaMaterial;
let caFile: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dcsync-tls-options-'));
  ca = await createCa({ purpose: 'tls' });
  caFile = join(dir, 'ca.crt');
  await writeFile(caFile, ca.certPem);
});
after(() => rm(dir, { recursive: true, force: true }));

const BASE = 'postgres://dcsync:pw@127.0.0.1:5432/postgres';

describe('PostgreSQL TLS from the URL (libpq meaning)', () => {
  test('the TLS parameters are taken out of the URL; the rest stays', () => {
    const { url, tls } = splitPgTls(`${BASE}?sslmode=verify-full&sslrootcert=/etc/ca.crt&application_name=x`);
    assert.equal(url, `${BASE}?application_name=x`);
    assert.deepEqual(tls, { sslmode: 'verify-full', sslrootcert: '/etc/ca.crt' });
    assert.deepEqual(splitPgTls(BASE), { url: BASE, tls: {} });
  });

  test('sslrootcert alone means verify-full; allow/prefer and unknown modes are refused', () => {
    assert.equal(splitPgTls(`${BASE}?sslrootcert=/etc/ca.crt`).tls.sslmode, 'verify-full');
    assert.throws(() => splitPgTls(`${BASE}?sslmode=prefer`), (e: unknown) => e instanceof InvalidOptionError && /sslmode=prefer.*fall back/.test(e.message));
    assert.throws(() => splitPgTls(`${BASE}?sslmode=allow`), InvalidOptionError);
    assert.throws(() => splitPgTls(`${BASE}?sslmode=no-verify`), /must be one of disable, require, verify-ca, verify-full/);
    assert.throws(() => splitPgTls(`${BASE}?sslmode=verify-full`), /no CA to verify the server/);
    assert.throws(() => splitPgTls(`${BASE}?sslmode=require&sslcert=/c.crt`), /both sslcert and sslkey/);
  });

  test('Node TLS options: verify-full checks chain and name, verify-ca only the chain, require without CA nothing', () => {
    const full = pgSslOptions({ sslmode: 'verify-full', sslrootcert: caFile });
    assert.ok(full);
    assert.equal(full.ca, ca.certPem);
    assert.equal(full.rejectUnauthorized, true);
    assert.equal(full.checkServerIdentity, undefined);
    assert.equal(full.minVersion, 'TLSv1.2');
    const verifyCa = pgSslOptions({ sslmode: 'verify-ca', sslrootcert: caFile });
    assert.ok(verifyCa);
    assert.equal(verifyCa.rejectUnauthorized, true);
    assert.equal(typeof verifyCa.checkServerIdentity, 'function');
    const req = pgSslOptions({ sslmode: 'require' });
    assert.ok(req);
    assert.equal(req.rejectUnauthorized, false);
    assert.equal(pgSslOptions({ sslmode: 'disable' }), false);
    assert.equal(pgSslOptions({}), undefined);
    assert.throws(() => pgSslOptions({ sslmode: 'verify-full', sslrootcert: join(dir, 'missing.crt') }), /sslrootcert .* cannot be read/);
  });

  test('pg_dump gets the same settings as libpq environment variables', () => {
    assert.deepEqual(libpqTlsEnv({ sslmode: 'verify-full', sslrootcert: '/ca.crt', sslcert: '/c.crt', sslkey: '/c.key' }), {
      PGSSLMODE: 'verify-full',
      PGSSLROOTCERT: '/ca.crt',
      PGSSLCERT: '/c.crt',
      PGSSLKEY: '/c.key',
    });
    assert.deepEqual(libpqTlsEnv({}), {});
  });

  test('--cluster.cacert: verify-full with the CA (verify-ca when the URL asks for it); refuses a conflict or a bad file', () => {
    const url = new URL(withPgCa(BASE, caFile));
    assert.equal(url.searchParams.get('sslmode'), 'verify-full');
    assert.equal(url.searchParams.get('sslrootcert'), caFile);
    assert.equal(new URL(withPgCa(`${BASE}?sslmode=verify-ca`, caFile)).searchParams.get('sslmode'), 'verify-ca');
    assert.equal(new URL(withPgCa(`${BASE}?sslmode=require`, caFile)).searchParams.get('sslmode'), 'verify-full');
    assert.throws(() => withPgCa(`${BASE}?sslmode=disable`, caFile), /'cluster.cacert' conflicts with sslmode=disable/);
    assert.throws(() => withPgCa(BASE, join(dir, 'missing.crt')), /'cluster.cacert' cannot be read/);
  });

  test('resolvePgUrl applies --cluster.cacert and checks the URL at start', async () => {
    const url = resolvePgUrl('cluster.endpoint', 'postgres://dcsync@127.0.0.1:5432/postgres', undefined, { PGPASSWORD: 'pw' }, { caFile });
    assert.equal(new URL(url).searchParams.get('sslmode'), 'verify-full');
    assert.equal(new URL(url).password, 'pw');
    assert.throws(() => resolvePgUrl('cluster.endpoint', `${BASE}?sslmode=prefer`, undefined, {}), /'cluster.endpoint' has sslmode=prefer/);
    const keyfile = join(dir, 'not-a-ca.pem');
    await writeFile(keyfile, formatKeyfile(await issueClientKeyfile(await parseCa(ca.certPem, ca.keyPem))));
    assert.throws(() => resolvePgUrl('cluster.endpoint', BASE, undefined, {}, { caFile: keyfile }), /'cluster.cacert' .*must hold only certificates/);
  });
});

describe('Kafka TLS from the flags', () => {
  test('no files: plain text', async () => {
    assert.equal(await loadKafkaTls({}), undefined);
  });

  test('CA and client keyfile become verified TLS with a client certificate', async () => {
    const clientCa = await createCa({ purpose: 'client-auth' });
    const kf = await issueClientKeyfile(await parseCa(clientCa.certPem, clientCa.keyPem));
    const kfFile = join(dir, 'client.keyfile');
    await writeFile(kfFile, formatKeyfile(kf), { mode: 0o600 });
    const tls = await loadKafkaTls({ caFile, clientKeyfile: kfFile });
    assert.ok(tls);
    assert.equal(tls.ca, ca.certPem);
    assert.equal(tls.cert, kf.certPem + kf.chainPem.join(''));
    assert.equal(tls.key, kf.keyPem);
    const opts = kafkaTlsConnectionOptions(tls);
    assert.equal(opts.rejectUnauthorized, true);
    assert.equal(opts.minVersion, 'TLSv1.2');
    assert.equal('servername' in opts, false, 'kafkajs sets the servername per broker unless one is given');
    assert.equal(kafkaTlsConnectionOptions({ ...tls, servername: 'kafka.example' }).servername, 'kafka.example');
  });

  test('an expired client keyfile or a wrong file is refused at start, naming the flag', async () => {
    const signer = await parseCa(ca.certPem, ca.keyPem);
    const expired = await issueClientKeyfile(signer, { notBefore: new Date('2020-01-01T00:00:00Z'), notAfter: new Date('2021-01-01T00:00:00Z') });
    const expiredFile = join(dir, 'expired.keyfile');
    await writeFile(expiredFile, formatKeyfile(expired), { mode: 0o600 });
    await assert.rejects(loadKafkaTls({ clientKeyfile: expiredFile }), /'mq.kafka-client-keyfile' holds a certificate that is expired/);
    await assert.rejects(loadKafkaTls({ caFile: expiredFile }), /'mq.kafka-cacert' .*must hold only certificates/);
    await assert.rejects(loadKafkaTls({ clientKeyfile: caFile }), /'mq.kafka-client-keyfile'/);
    const server = await issueServerKeyfile(signer, { hosts: ['127.0.0.1'] });
    const serverFile = join(dir, 'server.keyfile');
    await writeFile(serverFile, formatKeyfile(server), { mode: 0o600 });
    assert.ok(await loadKafkaTls({ clientKeyfile: serverFile }), "a worker's TLS keyfile also has clientAuth and may be used");
  });
});
