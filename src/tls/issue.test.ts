import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { InvalidOptionError } from '../core/errors.ts';
import { createCa, parseCa, type CaMaterial, type CaSigner } from './ca.ts';
import { issueClientKeyfile, issueServerKeyfile, parseHosts } from './issue.ts';
import { formatKeyfile } from './keyfile.ts';
import { CLOCK_SKEW_ALLOWANCE_MS, DEFAULT_CLIENT_KEYFILE_VALIDITY_MS, DEFAULT_TLS_KEYFILE_VALIDITY_MS } from './validity.ts';
import { x509 } from './x509.ts';

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

let tlsCa: CaMaterial;
let clientCa: CaMaterial;
let tlsSigner: CaSigner;
let clientSigner: CaSigner;

before(async () => {
  tlsCa = await createCa({ purpose: 'tls' });
  clientCa = await createCa({ purpose: 'client-auth' });
  tlsSigner = await parseCa(tlsCa.certPem, tlsCa.keyPem);
  clientSigner = await parseCa(clientCa.certPem, clientCa.keyPem);
});

describe('parseHosts', () => {
  test('classifies DNS names and IP addresses, lower-cases and de-duplicates', () => {
    assert.deepEqual(parseHosts(['Master-1.DC-A.example', '10.0.0.1', '[::1]', 'master-1.dc-a.example.', '*.dc-a.example']), [
      { type: 'dns', value: 'master-1.dc-a.example' },
      { type: 'ip', value: '10.0.0.1' },
      { type: 'ip', value: '::1' },
      { type: 'dns', value: '*.dc-a.example' },
    ]);
  });
  test('an empty list and malformed names are usage errors', () => {
    assert.throws(() => parseHosts([]), InvalidOptionError);
    for (const bad of ['', 'a b', '-x.example', 'x..example', 'a_b.example', '*.example', 'x.*.example', 'http://x']) {
      assert.throws(() => parseHosts([bad]), InvalidOptionError, bad);
    }
  });
});

describe('issueServerKeyfile', () => {
  test('SAN from the hosts, CN = the first host, serverAuth + clientAuth, AKI = CA SKI, chain = the CA', async () => {
    const now = new Date();
    const kf = await issueServerKeyfile(tlsSigner, { hosts: ['master-1.dc-a.example', '10.1.2.3', '::1'], now });
    const cert = new x509.X509Certificate(kf.certPem);
    assert.equal(kf.certificate.subject, 'CN=master-1.dc-a.example, O=dcsync, OU=server');
    assert.deepEqual(kf.certificate.hosts, ['master-1.dc-a.example', '10.1.2.3', '0:0:0:0:0:0:0:1']);
    assert.deepEqual(kf.certificate.extendedKeyUsage.toSorted(), [SERVER_AUTH, CLIENT_AUTH]);
    assert.equal(cert.getExtension(x509.BasicConstraintsExtension)?.ca, false);
    assert.equal(cert.getExtension(x509.KeyUsagesExtension)?.usages, x509.KeyUsageFlags.digitalSignature);
    assert.equal(cert.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId, tlsSigner.keyId);
    assert.ok(cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId);
    assert.equal(cert.serialNumber.length, 32);
    assert.deepEqual(kf.chainPem, [tlsSigner.certPem]);
    const node = new X509Certificate(kf.certPem);
    assert.ok(node.checkIssued(new X509Certificate(tlsCa.certPem)));
    assert.ok(node.verify(new X509Certificate(tlsCa.certPem).publicKey));
    assert.equal(node.checkHost('master-1.dc-a.example'), 'master-1.dc-a.example');
    assert.equal(node.checkIP('10.1.2.3'), '10.1.2.3');
    const secondFloor = (ms: number): number => Math.floor(ms / 1000) * 1000;
    assert.equal(kf.certificate.notBefore.getTime(), secondFloor(now.getTime() - CLOCK_SKEW_ALLOWANCE_MS));
    assert.equal(kf.certificate.notAfter.getTime(), secondFloor(now.getTime() + DEFAULT_TLS_KEYFILE_VALIDITY_MS));
  });

  test('RSA keys get keyEncipherment too', async () => {
    const kf = await issueServerKeyfile(tlsSigner, { hosts: ['a.example'], keyType: 'rsa-2048' });
    assert.equal(new x509.X509Certificate(kf.certPem).getExtension(x509.KeyUsagesExtension)?.usages, x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment);
  });

  test('refuses no hosts, and a lifetime beyond the CA', async () => {
    await assert.rejects(issueServerKeyfile(tlsSigner, { hosts: [] }), InvalidOptionError);
    await assert.rejects(issueServerKeyfile(tlsSigner, { hosts: ['a.example'], validForMs: 20 * 365 * 86_400_000 }), /outlive its CA/);
  });
});

describe('issueClientKeyfile', () => {
  test('clientAuth only, no SAN, CN = name, OU client, 1 year by default', async () => {
    const now = new Date();
    const kf = await issueClientKeyfile(clientSigner, { name: 'dc-b-master', now });
    assert.equal(kf.certificate.subject, 'CN=dc-b-master, O=dcsync, OU=client');
    assert.deepEqual(kf.certificate.extendedKeyUsage, [CLIENT_AUTH]);
    assert.deepEqual(kf.certificate.hosts, []);
    assert.equal(kf.certificate.notAfter.getTime(), Math.floor((now.getTime() + DEFAULT_CLIENT_KEYFILE_VALIDITY_MS) / 1000) * 1000);
    const def = await issueClientKeyfile(clientSigner);
    assert.equal(def.certificate.subject, 'CN=dcsync-client, O=dcsync, OU=client');
  });
});

describe('openssl verify', { skip: !hasOpenssl && 'openssl not installed' }, () => {
  const verify = (caPem: string, file: string, purpose: string): { ok: boolean; out: string } => {
    const dir = join(file, '..');
    const caFile = join(dir, `ca-${Math.random().toString(36).slice(2)}.pem`);
    writeFileSync(caFile, caPem);
    const r = spawnSync('openssl', ['verify', '-x509_strict', '-purpose', purpose, '-CAfile', caFile, file], { encoding: 'utf8' });
    return { ok: r.status === 0, out: r.stdout + r.stderr };
  };

  test('server and client keyfiles verify against their CA with the right purpose, not against the other CA', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'dcsync-issue-test-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const server = join(dir, 'server.pem');
    const client = join(dir, 'client.pem');
    await writeFile(server, formatKeyfile(await issueServerKeyfile(tlsSigner, { hosts: ['localhost', '127.0.0.1'] })));
    await writeFile(client, formatKeyfile(await issueClientKeyfile(clientSigner)));
    assert.ok(verify(tlsCa.certPem, server, 'sslserver').ok);
    assert.ok(verify(tlsCa.certPem, server, 'sslclient').ok);
    assert.ok(verify(clientCa.certPem, client, 'sslclient').ok);
    assert.equal(verify(clientCa.certPem, client, 'sslserver').ok, false, 'client certificate is not a server certificate');
    assert.equal(verify(clientCa.certPem, server, 'sslserver').ok, false, 'server keyfile against the client-auth CA');
    assert.equal(verify(tlsCa.certPem, client, 'sslclient').ok, false, 'client keyfile against the TLS CA');
    for (const kt of ['ecdsa-p384', 'rsa-2048'] as const) {
      const ca = await createCa({ purpose: 'tls', keyType: kt });
      const f = join(dir, `${kt}.pem`);
      await writeFile(f, formatKeyfile(await issueServerKeyfile(await parseCa(ca.certPem, ca.keyPem), { hosts: ['h.example'], keyType: kt })));
      const r = verify(ca.certPem, f, 'sslserver');
      assert.ok(r.ok, `${kt}: ${r.out}`);
    }
  });
});
