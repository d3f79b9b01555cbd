import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { InvalidOptionError } from '../core/errors.ts';
import { createCa, DEFAULT_CA_NAMES, loadCa, parseCa, randomSerialNumber, writeCa } from './ca.ts';
import { FileExistsError, TlsMaterialError } from './errors.ts';
import { issueServerKeyfile } from './issue.ts';
import { CLOCK_SKEW_ALLOWANCE_MS, DEFAULT_CA_VALIDITY_MS } from './validity.ts';
import { x509 } from './x509.ts';

const dirs: string[] = [];
const tmp = async (): Promise<string> => {
  const d = await mkdtemp(join(tmpdir(), 'dcsync-ca-test-'));
  dirs.push(d);
  return d;
};
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
const mode = async (p: string): Promise<number> => (await stat(p)).mode & 0o777;

describe('createCa', () => {
  test('is a CA with keyCertSign/cRLSign, SKI = AKI, a 16-byte serial and 15 years by default', async () => {
    const now = new Date('2030-01-01T00:00:00Z');
    const ca = await createCa({ purpose: 'tls', now });
    const cert = new x509.X509Certificate(ca.certPem);
    const basic = cert.getExtension(x509.BasicConstraintsExtension);
    assert.equal(basic?.ca, true);
    assert.equal(basic?.critical, true);
    const usage = cert.getExtension(x509.KeyUsagesExtension);
    assert.equal(usage?.usages, x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
    const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension);
    const aki = cert.getExtension(x509.AuthorityKeyIdentifierExtension);
    assert.ok(ski?.keyId);
    assert.equal(aki?.keyId, ski.keyId);
    assert.equal(cert.serialNumber.length, 32);
    assert.equal(ca.certificate.subject, `CN=${DEFAULT_CA_NAMES.tls}, O=dcsync`);
    assert.equal(ca.certificate.notBefore.getTime(), now.getTime() - CLOCK_SKEW_ALLOWANCE_MS);
    assert.equal(ca.certificate.notAfter.getTime(), now.getTime() + DEFAULT_CA_VALIDITY_MS);
    assert.ok(new X509Certificate(ca.certPem).verify(new X509Certificate(ca.certPem).publicKey), 'self-signed');
    assert.match(ca.keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
    assert.equal(new X509Certificate(ca.certPem).publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  });

  test('the client-auth CA has its own name; every CA has its own key and serial', async () => {
    const a = await createCa({ purpose: 'client-auth' });
    const b = await createCa({ purpose: 'client-auth' });
    assert.equal(a.certificate.subject, `CN=${DEFAULT_CA_NAMES['client-auth']}, O=dcsync`);
    assert.notEqual(a.certificate.serialNumber, b.certificate.serialNumber);
    assert.notEqual(a.keyPem, b.keyPem);
  });

  test('key types: P-384 signs with SHA-384, RSA with SHA-256', async () => {
    const p384 = await createCa({ purpose: 'tls', keyType: 'ecdsa-p384' });
    assert.equal(new X509Certificate(p384.certPem).publicKey.asymmetricKeyDetails?.namedCurve, 'secp384r1');
    assert.equal(new x509.X509Certificate(p384.certPem).signatureAlgorithm.hash.name, 'SHA-384');
    const rsa = await createCa({ purpose: 'tls', keyType: 'rsa-2048' });
    assert.equal(new X509Certificate(rsa.certPem).publicKey.asymmetricKeyDetails?.modulusLength, 2048);
    const signer = await parseCa(rsa.certPem, rsa.keyPem);
    const leaf = await issueServerKeyfile(signer, { hosts: ['a.example'], keyType: 'rsa-2048' });
    assert.ok(new X509Certificate(leaf.certPem).verify(new X509Certificate(rsa.certPem).publicKey));
  });

  test('names with , and = stay one attribute; empty or overlong names are usage errors', async () => {
    const ca = await createCa({ purpose: 'tls', commonName: 'DC A, O=evil' });
    assert.equal(new x509.X509Certificate(ca.certPem).subjectName.getField('CN')[0], 'DC A, O=evil');
    assert.deepEqual(new x509.X509Certificate(ca.certPem).subjectName.getField('O'), ['dcsync']);
    await assert.rejects(createCa({ purpose: 'tls', commonName: ' ' }), InvalidOptionError);
    await assert.rejects(createCa({ purpose: 'tls', commonName: 'x'.repeat(65) }), InvalidOptionError);
    await assert.rejects(createCa({ purpose: 'tls', validForMs: 0 }), InvalidOptionError);
  });

  test('randomSerialNumber is 16 bytes, positive, never starts with 00', () => {
    for (let i = 0; i < 200; i++) {
      const s = randomSerialNumber();
      assert.equal(s.length, 32);
      const first = parseInt(s.slice(0, 2), 16);
      assert.ok(first >= 1 && first <= 0x7f, s);
    }
  });
});

describe('parseCa / loadCa', () => {
  test('refuses a key that is not the CA key, and a certificate that is not a CA', async () => {
    const a = await createCa({ purpose: 'tls' });
    const b = await createCa({ purpose: 'tls' });
    await assert.rejects(parseCa(a.certPem, b.keyPem), TlsMaterialError);
    const leaf = await issueServerKeyfile(await parseCa(a.certPem, a.keyPem), { hosts: ['x.example'] });
    await assert.rejects(parseCa(leaf.certPem, leaf.keyPem), /not a CA certificate/);
    await assert.rejects(parseCa('garbage', a.keyPem), TlsMaterialError);
    await assert.rejects(parseCa(a.certPem, 'garbage'), TlsMaterialError);
  });

  test('a missing file names the path', async () => {
    const dir = await tmp();
    await assert.rejects(loadCa(join(dir, 'nope.crt'), join(dir, 'nope.key')), (err: unknown) => err instanceof TlsMaterialError && err.message.includes('nope.crt'));
  });
});

describe('writeCa', () => {
  test('writes the certificate 0644 and the key 0600, and loads back', async () => {
    const dir = await tmp();
    const ca = await createCa({ purpose: 'tls' });
    const certPath = join(dir, 'ca.crt');
    const keyPath = join(dir, 'ca.key');
    await writeCa(ca, { certPath, keyPath });
    assert.equal(await mode(certPath), 0o644);
    assert.equal(await mode(keyPath), 0o600);
    const loaded = await loadCa(certPath, keyPath);
    assert.equal(loaded.certificate.fingerprint256, ca.certificate.fingerprint256);
  });

  test('refuses to overwrite either file and then writes neither; --force replaces both with mode 0600 for the key', async () => {
    const dir = await tmp();
    const certPath = join(dir, 'ca.crt');
    const keyPath = join(dir, 'ca.key');
    await writeFile(keyPath, 'old key', { mode: 0o644 });
    const ca = await createCa({ purpose: 'tls' });
    await assert.rejects(writeCa(ca, { certPath, keyPath }), FileExistsError);
    assert.equal(await readFile(keyPath, 'utf8'), 'old key');
    await assert.rejects(stat(certPath), { code: 'ENOENT' });
    await writeCa(ca, { certPath, keyPath, force: true });
    assert.equal(await readFile(keyPath, 'utf8'), ca.keyPem);
    assert.equal(await mode(keyPath), 0o600);
  });
});
