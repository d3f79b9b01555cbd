import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createCa, parseCa, type CaMaterial, type CaSigner } from './ca.ts';
import { FileExistsError, TlsMaterialError } from './errors.ts';
import { issueServerKeyfile, type IssuedKeyfile } from './issue.ts';
import {
  expiresInMs,
  fileMode,
  formatKeyfile,
  keyfileTlsOptions,
  parseCaCertificates,
  parseKeyfile,
  readCaCertificates,
  readKeyfile,
  validityAt,
  writeKeyfile,
} from './keyfile.ts';

const dirs: string[] = [];
const tmp = async (): Promise<string> => {
  const d = await mkdtemp(join(tmpdir(), 'dcsync-keyfile-test-'));
  dirs.push(d);
  return d;
};
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

let ca: CaMaterial;
let signer: CaSigner;
let kf: IssuedKeyfile;

before(async () => {
  ca = await createCa({ purpose: 'tls' });
  signer = await parseCa(ca.certPem, ca.keyPem);
  kf = await issueServerKeyfile(signer, { hosts: ['localhost'] });
});

describe('keyfile format', () => {
  test('is certificate, CA certificate, private key, in that order', () => {
    const text = formatKeyfile(kf);
    const labels = [...text.matchAll(/-----BEGIN ([A-Z ]+)-----/g)].map((m) => m[1]);
    assert.deepEqual(labels, ['CERTIFICATE', 'CERTIFICATE', 'PRIVATE KEY']);
    assert.ok(text.startsWith(kf.certPem));
    assert.ok(text.endsWith('-----END PRIVATE KEY-----\n'));
  });

  test('parses back to the same parts, with certificate info', () => {
    const parsed = parseKeyfile(formatKeyfile(kf));
    assert.equal(parsed.certPem, kf.certPem);
    assert.deepEqual(parsed.chainPem, kf.chainPem);
    assert.equal(parsed.keyPem, kf.keyPem);
    assert.equal(parsed.certificate.fingerprint256, kf.certificate.fingerprint256);
    assert.equal(parsed.chain[0]?.subject, 'CN=dcsync TLS CA, O=dcsync');
    assert.equal(parsed.chain[0]?.isCa, true);
  });

  test('accepts CRLF line ends and traditional EC keys (converted to PKCS#8)', () => {
    const sec1 = createPrivateKey(kf.keyPem).export({ type: 'sec1', format: 'pem' }).toString();
    const text = formatKeyfile({ ...kf, keyPem: sec1 }).replace(/\n/g, '\r\n');
    const parsed = parseKeyfile(text);
    assert.equal(parsed.keyPem, kf.keyPem);
  });

  test('refuses: no certificate, no key, two keys, a foreign key, a wrong chain, an encrypted key, unknown blocks', async () => {
    const other = await issueServerKeyfile(signer, { hosts: ['other'] });
    const otherCa = await createCa({ purpose: 'tls' });
    const encrypted = createPrivateKey(kf.keyPem).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'x' }).toString();
    const cases: [string, string, RegExp][] = [
      ['no certificate', kf.keyPem, /no certificate/],
      ['no key', kf.certPem + ca.certPem, /exactly one private key, found 0/],
      ['two keys', formatKeyfile(kf) + other.keyPem, /found 2/],
      ['foreign key', formatKeyfile({ ...kf, keyPem: other.keyPem }), /does not belong/],
      ['wrong chain', formatKeyfile({ ...kf, chainPem: [otherCa.certPem] }), /not the issuer/],
      ['encrypted key', kf.certPem + encrypted, /encrypted/],
      ['unknown block', formatKeyfile(kf) + '-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n', /unexpected PEM block 'FOO'/],
      ['garbage certificate', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' + kf.keyPem, /cannot be parsed/],
    ];
    for (const [name, text, re] of cases) {
      assert.throws(() => parseKeyfile(text, '/etc/dcsync/x.keyfile'), (err: unknown) => err instanceof TlsMaterialError && re.test(err.message) && err.message.startsWith('/etc/dcsync/x.keyfile: '), name);
    }
  });

  test('keyfileTlsOptions: cert = certificate + chain, key = the key', () => {
    const o = keyfileTlsOptions(kf);
    assert.equal(o.cert, kf.certPem + ca.certPem);
    assert.equal(o.key, kf.keyPem);
    assert.ok(new X509Certificate(o.cert).checkPrivateKey(createPrivateKey(o.key)));
  });
});

describe('keyfile files', () => {
  test('written with mode 0600, never overwritten without force, read back', async () => {
    const dir = await tmp();
    const path = join(dir, 'server.keyfile');
    await writeKeyfile(path, kf);
    assert.equal(await fileMode(path), 0o600);
    await assert.rejects(writeKeyfile(path, kf), FileExistsError);
    const loaded = await readKeyfile(path);
    assert.equal(loaded.certificate.subject, 'CN=localhost, O=dcsync, OU=server');
    await writeFile(path, 'old', { mode: 0o644 });
    await writeKeyfile(path, kf, { force: true });
    assert.equal(await fileMode(path), 0o600, 'force replaces the file, so a wider old mode does not survive');
    assert.equal(await readFile(path, 'utf8'), formatKeyfile(kf));
    await assert.rejects(writeKeyfile(join(dir, 'missing-dir', 'x'), kf), /cannot write/);
    await assert.rejects(readKeyfile(join(dir, 'none')), TlsMaterialError);
    assert.deepEqual((await stat(dir)).isDirectory(), true);
  });

  test('CA certificate files hold certificates only', async () => {
    const dir = await tmp();
    await writeFile(join(dir, 'ca.crt'), ca.certPem);
    const c = await readCaCertificates(join(dir, 'ca.crt'));
    assert.equal(c.pem, ca.certPem);
    assert.equal(c.certificates.length, 1);
    assert.throws(() => parseCaCertificates(formatKeyfile(kf)), /only certificates/);
    assert.throws(() => parseCaCertificates(''), /no PEM certificate/);
  });
});

describe('validity', () => {
  test('validityAt and expiresInMs', () => {
    const info = { notBefore: new Date('2030-01-01T00:00:00Z'), notAfter: new Date('2031-01-01T00:00:00Z') };
    assert.equal(validityAt(info, new Date('2029-12-31T23:59:59Z')), 'not-yet-valid');
    assert.equal(validityAt(info, new Date('2030-06-01T00:00:00Z')), 'valid');
    assert.equal(validityAt(info, new Date('2031-01-01T00:00:01Z')), 'expired');
    assert.equal(expiresInMs(info, new Date('2030-12-31T00:00:00Z')), 86_400_000);
  });
});
