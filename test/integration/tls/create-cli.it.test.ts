/**
 * `dcsync create tls|client-auth|jwt-secret` through the real CLI (bin/dcsync.js) in a temporary directory:
 * file modes, no overwriting, usage errors, `openssl verify`, and Node's TLS with the files it wrote.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { keyfileTlsOptions, readKeyfile, type Keyfile } from '../../../src/tls/index.ts';

const BIN = resolve(fileURLToPath(import.meta.url), '../../../../bin/dcsync.js');
const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DCSYNC_')));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function dcsync(cwd: string, ...args: string[]): Promise<Run> {
  return new Promise((done) => {
    execFile(process.execPath, [BIN, ...args], { cwd, env: cleanEnv }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      done({ code, stdout, stderr });
    });
  });
}

async function ok(cwd: string, ...args: string[]): Promise<Run> {
  const r = await dcsync(cwd, ...args);
  assert.equal(r.code, 0, `dcsync ${args.join(' ')}\n${r.stderr}`);
  return r;
}

const mode = async (p: string): Promise<number> => (await stat(p)).mode & 0o777;
const sha = async (p: string): Promise<string> => createHash('sha256').update(await readFile(p)).digest('hex');

function opensslVerify(caFile: string, file: string, purpose: 'sslserver' | 'sslclient'): boolean {
  return spawnSync('openssl', ['verify', '-x509_strict', '-purpose', purpose, '-CAfile', caFile, file]).status === 0;
}

let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dcsync-create-cli-'));
  await ok(dir, 'create', 'tls', 'ca', '--cert=tls-ca.crt', '--key=tls-ca.key');
  await ok(dir, 'create', 'client-auth', 'ca', '--cert', 'client-ca.crt', '--key', 'client-ca.key');
  await ok(dir, 'create', 'tls', 'keyfile', '--cacert=tls-ca.crt', '--cakey=tls-ca.key', '--keyfile=master.keyfile', '--host=localhost', '--host=127.0.0.1,::1');
  await ok(dir, 'create', 'client-auth', 'keyfile', '--cacert=client-ca.crt', '--cakey=client-ca.key', '--keyfile=client.keyfile', '--name=dc-b-master');
  await ok(dir, 'create', 'jwt-secret', '--secret=jwt.secret');
});

after(() => rm(dir, { recursive: true, force: true }));

describe('dcsync create (CLI)', () => {
  test('file modes: private keys, keyfiles and the JWT secret 0600, CA certificates 0644', async () => {
    for (const f of ['tls-ca.key', 'client-ca.key', 'master.keyfile', 'client.keyfile', 'jwt.secret']) assert.equal(await mode(join(dir, f)), 0o600, f);
    for (const f of ['tls-ca.crt', 'client-ca.crt']) assert.equal(await mode(join(dir, f)), 0o644, f);
    assert.match(await readFile(join(dir, 'jwt.secret'), 'utf8'), /^[0-9a-f]{64}\n$/);
  });

  test('the keyfiles are what they should be', async () => {
    const master = await readKeyfile(join(dir, 'master.keyfile'));
    assert.equal(master.certificate.subject, 'CN=localhost, O=dcsync, OU=server');
    assert.deepEqual(master.certificate.hosts, ['localhost', '127.0.0.1', '0:0:0:0:0:0:0:1']);
    assert.equal(master.chainPem[0], await readFile(join(dir, 'tls-ca.crt'), 'utf8'));
    const years = (master.certificate.notAfter.getTime() - Date.now()) / (365 * 86_400_000);
    assert.ok(years > 1.99 && years <= 2, `TLS keyfile valid ${years} years`);
    const client = await readKeyfile(join(dir, 'client.keyfile'));
    assert.equal(client.certificate.subject, 'CN=dc-b-master, O=dcsync, OU=client');
    assert.deepEqual(client.certificate.extendedKeyUsage, ['1.3.6.1.5.5.7.3.2']);
    const ca = new X509Certificate(await readFile(join(dir, 'tls-ca.crt')));
    assert.ok(ca.ca);
    const caYears = (new Date(ca.validTo).getTime() - Date.now()) / (365 * 86_400_000);
    assert.ok(caYears > 14.99 && caYears <= 15, `CA valid ${caYears} years`);
    assert.notEqual(client.chain[0]?.subject, master.chain[0]?.subject, 'the two CAs are distinct');
  });

  test('--validfor and --key-type', async () => {
    await ok(dir, 'create', 'tls', 'keyfile', '--cacert=tls-ca.crt', '--cakey=tls-ca.key', '--keyfile=short.keyfile', '--host=w1.example', '--validfor=30d', '--key-type=rsa-2048');
    const kf = await readKeyfile(join(dir, 'short.keyfile'));
    const days = (kf.certificate.notAfter.getTime() - Date.now()) / 86_400_000;
    assert.ok(days > 29.99 && days <= 30, `${days} days`);
    assert.equal(new X509Certificate(kf.certPem).publicKey.asymmetricKeyType, 'rsa');
    const tooLong = await dcsync(dir, 'create', 'tls', 'keyfile', '--cacert=tls-ca.crt', '--cakey=tls-ca.key', '--keyfile=long.keyfile', '--host=x', '--validfor=20y');
    assert.equal(tooLong.code, 2);
    assert.match(tooLong.stderr, /outlive its CA/);
  });

  test('openssl verify: each keyfile against its own CA passes, against the other CA fails', { skip: !hasOpenssl && 'openssl not installed' }, () => {
    const f = (n: string): string => join(dir, n);
    assert.ok(opensslVerify(f('tls-ca.crt'), f('master.keyfile'), 'sslserver'));
    assert.ok(opensslVerify(f('client-ca.crt'), f('client.keyfile'), 'sslclient'));
    assert.equal(opensslVerify(f('client-ca.crt'), f('master.keyfile'), 'sslserver'), false);
    assert.equal(opensslVerify(f('client-ca.crt'), f('master.keyfile'), 'sslclient'), false);
    assert.equal(opensslVerify(f('tls-ca.crt'), f('client.keyfile'), 'sslclient'), false);
    assert.equal(opensslVerify(f('client-ca.crt'), f('client.keyfile'), 'sslserver'), false, 'a client certificate is no server certificate');
  });

  test('never overwrites without --force; --force replaces with mode 0600', async () => {
    const before = { crt: await sha(join(dir, 'tls-ca.crt')), key: await sha(join(dir, 'tls-ca.key')) };
    const again = await dcsync(dir, 'create', 'tls', 'ca', '--cert=tls-ca.crt', '--key=tls-ca.key');
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already exists \(use --force/);
    assert.deepEqual({ crt: await sha(join(dir, 'tls-ca.crt')), key: await sha(join(dir, 'tls-ca.key')) }, before);
    // Only one of the two exists: still nothing is written.
    const half = await dcsync(dir, 'create', 'client-auth', 'ca', '--cert=new-ca.crt', '--key=client-ca.key');
    assert.equal(half.code, 1);
    await assert.rejects(stat(join(dir, 'new-ca.crt')), { code: 'ENOENT' });
    for (const args of [
      ['create', 'tls', 'keyfile', '--cacert=tls-ca.crt', '--cakey=tls-ca.key', '--keyfile=master.keyfile', '--host=localhost'],
      ['create', 'client-auth', 'keyfile', '--cacert=client-ca.crt', '--cakey=client-ca.key', '--keyfile=client.keyfile', '--name=dc-b-master'],
      ['create', 'jwt-secret', '--secret=jwt.secret'],
    ]) {
      const file = join(dir, args.find((a) => a.startsWith('--keyfile=') || a.startsWith('--secret='))!.split('=')[1]!);
      const h = await sha(file);
      const r = await dcsync(dir, ...args);
      assert.equal(r.code, 1, args.join(' '));
      assert.equal(await sha(file), h);
      await ok(dir, ...args, '--force');
      assert.notEqual(await sha(file), h);
      assert.equal(await mode(file), 0o600);
    }
  });

  test('usage errors exit 2: unknown flag, no --host, missing required flag, bad values', async () => {
    const cases: [string[], RegExp][] = [
      [['create', 'tls', 'ca', '--cert=a.crt', '--key=a.key', '--bogus'], /'--bogus' is not a known flag/],
      [['create', 'tls', 'keyfile', '--cacert=tls-ca.crt', '--cakey=tls-ca.key', '--keyfile=nohost.keyfile'], /'--host' must name at least one/],
      [['create', 'tls', 'keyfile', '--cacert=tls-ca.crt', '--cakey=tls-ca.key', '--keyfile=bad.keyfile', '--host=bad host'], /neither a DNS name nor an IP address/],
      [['create', 'client-auth', 'keyfile', '--cacert=client-ca.crt', '--cakey=client-ca.key'], /'--keyfile' is required/],
      [['create', 'tls', 'ca', '--cert=b.crt', '--key=b.key', '--key-type=dsa'], /must be one of/],
      [['create', 'tls', 'ca', '--cert=b.crt', '--key=b.key', '--validfor=forever'], /must be a duration/],
      [['create', 'tls', 'ca', '--cert=b.crt', '--key=b.crt'], /different file/],
      [['create', 'jwt-secret'], /'--secret' is required/],
    ];
    for (const [args, re] of cases) {
      const r = await dcsync(dir, ...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re);
    }
    for (const f of ['a.crt', 'a.key', 'nohost.keyfile', 'bad.keyfile', 'b.crt', 'b.key']) await assert.rejects(stat(join(dir, f)), { code: 'ENOENT' }, f);
  });

  test('runtime errors exit 1: a missing CA file, a key that is not the CA key', async () => {
    const missing = await dcsync(dir, 'create', 'tls', 'keyfile', '--cacert=none.crt', '--cakey=tls-ca.key', '--keyfile=x.keyfile', '--host=x');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /none\.crt: cannot be read/);
    const mismatch = await dcsync(dir, 'create', 'tls', 'keyfile', '--cacert=tls-ca.crt', '--cakey=client-ca.key', '--keyfile=x.keyfile', '--host=x');
    assert.equal(mismatch.code, 1);
    assert.match(mismatch.stderr, /not the private key of the CA certificate/);
  });

  test('--help exits 0 and lists the flags', async () => {
    const r = await ok(dir, 'create', 'tls', 'keyfile', '--help');
    for (const flag of ['--cacert', '--cakey', '--keyfile', '--host', '--validfor', '--key-type', '--force']) assert.ok(r.stdout.includes(flag), flag);
  });
});

describe('Node TLS with the files the CLI wrote', () => {
  async function request(opts: { server: Keyfile; clientCa: string; trust: string; client?: Keyfile; servername?: string }): Promise<{ status?: number; body?: string; error?: NodeJS.ErrnoException; handled: boolean }> {
    let handled = false;
    const server = https.createServer({ ...keyfileTlsOptions(opts.server), ca: opts.clientCa, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' }, (req, res) => {
      handled = true;
      res.end((req.socket as import('node:tls').TLSSocket).getPeerCertificate().subject.CN);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const r = await new Promise<{ status?: number; body?: string; error?: NodeJS.ErrnoException }>((done) => {
        const req = https.request(
          { host: '127.0.0.1', port: (server.address() as AddressInfo).port, ca: opts.trust, servername: opts.servername ?? 'localhost', agent: false, ...(opts.client ? keyfileTlsOptions(opts.client) : {}) },
          (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (c: string) => (body += c));
            res.on('end', () => done({ status: res.statusCode, body }));
          },
        );
        req.on('error', (error) => done({ error }));
        req.end();
      });
      return { ...r, handled };
    } finally {
      server.closeAllConnections();
      server.close();
    }
  }

  test('client keyfile + TLS CA connect; a client from another CA and a wrong host name are refused', async () => {
    const server = await readKeyfile(join(dir, 'master.keyfile'));
    const client = await readKeyfile(join(dir, 'client.keyfile'));
    const clientCa = await readFile(join(dir, 'client-ca.crt'), 'utf8');
    const trust = await readFile(join(dir, 'tls-ca.crt'), 'utf8');

    const good = await request({ server, clientCa, trust, client });
    assert.equal(good.status, 200, String(good.error));
    assert.equal(good.body, 'dc-b-master');

    await ok(dir, 'create', 'client-auth', 'ca', '--cert=other-ca.crt', '--key=other-ca.key', '--name=other client CA');
    await ok(dir, 'create', 'client-auth', 'keyfile', '--cacert=other-ca.crt', '--cakey=other-ca.key', '--keyfile=other.keyfile');
    const wrongCa = await request({ server, clientCa, trust, client: await readKeyfile(join(dir, 'other.keyfile')) });
    assert.ok(wrongCa.error, 'refused');
    assert.equal(wrongCa.handled, false);

    const wrongHost = await request({ server, clientCa, trust, client, servername: 'master-2.example' });
    assert.equal(wrongHost.error?.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
    assert.equal(wrongHost.handled, false);
  });
});
