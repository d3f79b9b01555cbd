/**
 * TLS fixtures for tests, made at set-up by the same code as `dcsync create …` (no private keys are
 * committed): a TLS CA with a server keyfile, a client-auth CA with a client keyfile.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createCa,
  formatKeyfile,
  issueClientKeyfile,
  issueServerKeyfile,
  parseCa,
  type CaMaterial,
  type CaSigner,
  type IssuedKeyfile,
} from '../../src/tls/index.ts';

export interface TestCa extends CaMaterial {
  readonly signer: CaSigner;
}

export interface TestPki {
  readonly tlsCa: TestCa;
  readonly clientCa: TestCa;
  /** Server keyfile from tlsCa for `hosts` (default localhost, 127.0.0.1, ::1). */
  readonly server: IssuedKeyfile;
  /** Client keyfile from clientCa, CN 'dcsync-client'. */
  readonly client: IssuedKeyfile;
}

export async function createTestCa(purpose: 'tls' | 'client-auth', commonName?: string): Promise<TestCa> {
  const ca = await createCa({ purpose, ...(commonName ? { commonName } : {}) });
  return { ...ca, signer: await parseCa(ca.certPem, ca.keyPem) };
}

export async function createTestPki(opts: { hosts?: readonly string[] } = {}): Promise<TestPki> {
  const tlsCa = await createTestCa('tls');
  const clientCa = await createTestCa('client-auth');
  const server = await issueServerKeyfile(tlsCa.signer, { hosts: opts.hosts ?? ['localhost', '127.0.0.1', '::1'] });
  const client = await issueClientKeyfile(clientCa.signer);
  return { tlsCa, clientCa, server, client };
}

export interface TestPkiFiles {
  readonly dir: string;
  readonly tlsCaCert: string;
  readonly clientCaCert: string;
  readonly serverKeyfile: string;
  readonly clientKeyfile: string;
}

/** Writes the PKI's public CA certificates and keyfiles (mode 0600) into a new temporary directory. */
export async function writeTestPki(pki: TestPki, dir?: string): Promise<TestPkiFiles> {
  const d = dir ?? (await mkdtemp(join(tmpdir(), 'dcsync-pki-')));
  const files: TestPkiFiles = {
    dir: d,
    tlsCaCert: join(d, 'tls-ca.crt'),
    clientCaCert: join(d, 'client-auth-ca.crt'),
    serverKeyfile: join(d, 'server.keyfile'),
    clientKeyfile: join(d, 'client.keyfile'),
  };
  await writeFile(files.tlsCaCert, pki.tlsCa.certPem);
  await writeFile(files.clientCaCert, pki.clientCa.certPem);
  await writeFile(files.serverKeyfile, formatKeyfile(pki.server), { mode: 0o600 });
  await writeFile(files.clientKeyfile, formatKeyfile(pki.client), { mode: 0o600 });
  return files;
}
