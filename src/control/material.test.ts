import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createTestPki, type TestPki } from '../../test/helpers/tls-fixtures.ts';
import { formatKeyfile, issueClientKeyfile, issueServerKeyfile, parseKeyfile, TlsMaterialError } from '../tls/index.ts';
import { certificateWarnings, checkServerKeyfile, loadServerMaterial } from './material.ts';

const DAY = 86_400_000;
let pki: TestPki;
before(async () => {
  pki = await createTestPki();
});

test('checkServerKeyfile refuses expired and client-only keyfiles', async () => {
  const kf = parseKeyfile(formatKeyfile(pki.server));
  assert.doesNotThrow(() => checkServerKeyfile(kf, '/k', new Date()));
  assert.throws(() => checkServerKeyfile(kf, '/k', new Date(Date.now() + 3 * 365 * DAY)), (e: unknown) => e instanceof TlsMaterialError && /^\/k: the certificate .* expired on /.test(e.message));
  const client = parseKeyfile(formatKeyfile(await issueClientKeyfile(pki.tlsCa.signer)));
  assert.throws(() => checkServerKeyfile(client, '/c', new Date()), /not a TLS server certificate/);
});

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

test('certificateWarnings: expiring soon, expired, not yet valid, for the keyfile and the client-auth CA', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dcsync-material-'));
  dirs.push(dir);
  const soon = await issueServerKeyfile(pki.tlsCa.signer, { hosts: ['localhost'], validForMs: 10 * DAY });
  await writeFile(join(dir, 'k'), formatKeyfile(soon));
  await writeFile(join(dir, 'ca'), pki.clientCa.certPem);
  await writeFile(join(dir, 'jwt'), 'x'.repeat(40));
  const now = new Date();
  const m = await loadServerMaterial({ keyfile: join(dir, 'k'), clientAuthCa: join(dir, 'ca'), jwtSecret: join(dir, 'jwt') }, now);
  assert.equal(m.jwtSecret?.length, 40);
  const w = certificateWarnings(m, now, 30 * DAY);
  assert.deepEqual(w.map((x) => [x.kind, x.file]), [['expires-soon', 'keyfile']]);
  assert.deepEqual(certificateWarnings(m, now, 5 * DAY), []);
  assert.deepEqual(
    certificateWarnings(m, new Date(now.getTime() + 20 * DAY), 30 * DAY).map((x) => x.kind),
    ['expired'],
  );
  assert.deepEqual(
    certificateWarnings(m, new Date(now.getTime() + 16 * 365 * DAY), 30 * DAY).map((x) => [x.kind, x.file]),
    [['expired', 'keyfile'], ['expired', 'clientAuthCa']],
  );
  assert.deepEqual(
    certificateWarnings(m, new Date(now.getTime() - DAY), 30 * DAY).map((x) => [x.kind, x.file]),
    [['not-yet-valid', 'keyfile'], ['not-yet-valid', 'clientAuthCa']],
  );
});

test('loadServerMaterial refuses a client-auth CA file that holds a leaf certificate', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dcsync-material-'));
  dirs.push(dir);
  await writeFile(join(dir, 'k'), formatKeyfile(pki.server));
  await writeFile(join(dir, 'ca'), pki.client.certPem);
  await assert.rejects(loadServerMaterial({ keyfile: join(dir, 'k'), clientAuthCa: join(dir, 'ca'), jwtSecret: undefined }, new Date()), /only CA certificates/);
});
