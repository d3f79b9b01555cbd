/**
 * PostgreSQL over TLS with a server certificate made by dcsync's own tooling (src/tls) for 127.0.0.1:
 * sslmode=verify-full with the CA works for normal and replication connections and for pg_dump (through
 * PGSSLMODE/PGSSLROOTCERT); a wrong CA is refused; a certificate for another host name is refused by verify-full
 * (and accepted by verify-ca, so the name is what failed).
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { resolvePgUrl } from '../../../src/postgres/url.ts';
import { startPgCluster, type PgClusterHandle } from '../../../tools/local/postgres.ts';
import { createSlotWithSnapshot } from '../../../src/source/catalog.ts';
import { connect } from '../../../src/postgres/connection.ts';
import { dumpSchema } from '../../../src/source/schema-dump.ts';
import { formatKeyfile, issueServerKeyfile, type IssuedKeyfile } from '../../../src/tls/index.ts';
import { createTestCa, type TestCa } from '../../helpers/tls-fixtures.ts';

let dir: string;
let ca: TestCa;
let caFile: string;
let wrongCaFile: string;
/** Certificate for 127.0.0.1 and localhost (the keyfile itself as the server's certificate and key file). */
let good: PgClusterHandle;
/** Certificate for db.elsewhere.test only. */
let misnamed: PgClusterHandle;

async function writeServerFiles(name: string, kf: IssuedKeyfile): Promise<{ certFile: string; keyFile: string }> {
  const certFile = path.join(dir, 'pki', `${name}.crt`);
  const keyFile = path.join(dir, 'pki', `${name}.key`);
  writeFileSync(certFile, [kf.certPem, ...kf.chainPem].join(''));
  writeFileSync(keyFile, kf.keyPem, { mode: 0o600 });
  return { certFile, keyFile };
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'dcsync-pg-tls-'));
  chmodSync(dir, 0o755);
  mkdirSync(path.join(dir, 'pki'));
  ca = await createTestCa('tls');
  const wrongCa = await createTestCa('tls', 'an unrelated CA');
  caFile = path.join(dir, 'pki', 'ca.crt');
  wrongCaFile = path.join(dir, 'pki', 'wrong-ca.crt');
  writeFileSync(caFile, ca.certPem);
  writeFileSync(wrongCaFile, wrongCa.certPem);
  // A dcsync keyfile serves as both ssl_cert_file (certificate and chain) and ssl_key_file (OpenSSL skips the other blocks).
  const goodKeyfile = path.join(dir, 'pki', 'good.keyfile');
  writeFileSync(goodKeyfile, formatKeyfile(await issueServerKeyfile(ca.signer, { hosts: ['127.0.0.1', 'localhost'] })), { mode: 0o600 });
  const goodSsl = { certFile: goodKeyfile, keyFile: goodKeyfile };
  const misnamedSsl = await writeServerFiles('misnamed', await issueServerKeyfile(ca.signer, { hosts: ['db.elsewhere.test'] }));
  [good, misnamed] = await Promise.all([
    startPgCluster({ dir: path.join(dir, 'good'), name: 'good', settings: { fsync: 'off' }, ssl: goodSsl }),
    startPgCluster({ dir: path.join(dir, 'misnamed'), name: 'misnamed', settings: { fsync: 'off' }, ssl: misnamedSsl }),
  ]);
  const c = new pg.Client({ connectionString: good.url('postgres') });
  await c.connect();
  try {
    await c.query(`CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL); CREATE INDEX items_name ON items (name)`);
  } finally {
    await c.end();
  }
});

after(async () => {
  await good?.stop().catch(() => {});
  await misnamed?.stop().catch(() => {});
  if (!process.env['DCSYNC_KEEP_TEST_DIR']) rmSync(dir, { recursive: true, force: true });
});

function withParams(url: string, params: Record<string, string>): string {
  const u = new URL(url);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.toString();
}

/** Connects the way every dcsync task does and returns what the server says about the connection's TLS. */
async function tlsOf(url: string, opts: { replication?: boolean; ssl?: pg.ClientConfig['ssl'] } = {}): Promise<{ ssl: boolean; version: string }> {
  const c = await connect({ url, ...opts });
  try {
    if (opts.replication) {
      await c.query('IDENTIFY_SYSTEM');
      // a replication connection cannot query pg_stat_ssl itself: ask from a second, normal connection
      const pid = (c as unknown as { processID: number }).processID;
      const probe = await connect({ url });
      try {
        const r = await probe.query<{ ssl: boolean; version: string }>(`SELECT ssl, version FROM pg_stat_ssl WHERE pid = $1`, [pid]);
        return r.rows[0]!;
      } finally {
        await probe.end();
      }
    }
    const r = await c.query<{ ssl: boolean; version: string }>(`SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()`);
    return r.rows[0]!;
  } finally {
    await c.end();
  }
}

async function refusal(fn: () => Promise<unknown>): Promise<Error> {
  try {
    await fn();
  } catch (err) {
    return err as Error;
  }
  assert.fail('expected the connection to be refused');
}

test('sslmode=verify-full with the CA (in the URL): TLS 1.2+ for normal and replication connections', async () => {
  const url = withParams(good.url('postgres'), { sslmode: 'verify-full', sslrootcert: caFile });
  const normal = await tlsOf(url);
  assert.equal(normal.ssl, true);
  assert.match(normal.version, /^TLSv1\.[23]$/);
  assert.equal((await tlsOf(url, { replication: true })).ssl, true);
});

test('--cluster.cacert: resolvePgUrl makes the URL verify-full with that CA', async () => {
  const url = resolvePgUrl('cluster.endpoint', good.url('postgres'), undefined, {}, { caFile });
  const u = new URL(url);
  assert.equal(u.searchParams.get('sslmode'), 'verify-full');
  assert.equal(u.searchParams.get('sslrootcert'), caFile);
  assert.equal((await tlsOf(url)).ssl, true);
});

test('ConnectOptions.ssl given explicitly wins over the URL', async () => {
  const r = await tlsOf(good.url('postgres'), { ssl: { ca: ca.certPem, rejectUnauthorized: true } });
  assert.equal(r.ssl, true);
});

test('a wrong CA is refused, for dcsync connections and for pg_dump', async (t) => {
  const url = withParams(good.url('postgres'), { sslmode: 'verify-full', sslrootcert: wrongCaFile });
  const err = await refusal(() => tlsOf(url));
  t.diagnostic(err.message);
  assert.match(err.message, /certificate/i);
  assert.equal((err as { retriable?: boolean }).retriable, false, 'a certificate that cannot be verified is not retried');
  const viaFlag = resolvePgUrl('cluster.endpoint', good.url('postgres'), undefined, {}, { caFile: wrongCaFile });
  await refusal(() => tlsOf(viaFlag));
  const dumpErr = await refusal(() => dumpSchema(url, '00000003-00000002-1'));
  t.diagnostic(dumpErr.message);
  assert.match(dumpErr.message, /certificate verify failed|SSL/i);
});

test('a certificate for another host name is refused by verify-full (verify-ca accepts it: only the name is wrong)', async (t) => {
  const full = withParams(misnamed.url('postgres'), { sslmode: 'verify-full', sslrootcert: caFile });
  const err = await refusal(() => tlsOf(full));
  t.diagnostic(err.message);
  assert.match(err.message, /altnames|does not match/i);
  const dumpErr = await refusal(() => dumpSchema(full, '00000003-00000002-1'));
  t.diagnostic(dumpErr.message);
  assert.match(dumpErr.message, /does not match host name|server certificate/i);
  assert.equal((await tlsOf(withParams(misnamed.url('postgres'), { sslmode: 'verify-ca', sslrootcert: caFile }))).ssl, true);
});

test('pg_dump gets the same TLS settings: the schema of an exported snapshot, dumped over verify-full', async () => {
  const url = resolvePgUrl('cluster.endpoint', good.url('postgres'), undefined, {}, { caFile });
  const repl = await connect({ url, replication: true });
  try {
    const slot = await createSlotWithSnapshot(repl, 'tls_probe', true);
    const dump = await dumpSchema(url, slot.snapshotName);
    assert.match(dump.preData, /CREATE TABLE public\.items/);
    assert.match(dump.postData, /CREATE INDEX items_name/);
  } finally {
    await repl.end();
  }
});

test('sslmode=require without a CA encrypts without verifying (as libpq); allow/prefer are refused', async () => {
  assert.equal((await tlsOf(withParams(misnamed.url('postgres'), { sslmode: 'require' }))).ssl, true);
  assert.throws(() => resolvePgUrl('cluster.endpoint', withParams(good.url('postgres'), { sslmode: 'prefer' }), undefined, {}), /sslmode=prefer/);
});
