/**
 * Certificates and secrets of a `dcsync local` deployment, made by the same library calls as `dcsync create …`:
 * one TLS CA for every master and worker of both datacenters (hosts 127.0.0.1 and localhost), one client-auth CA
 * with one client keyfile, one JWT secret per datacenter, and the clusters' superuser password. Public certificates
 * go in DIR, everything secret in DIR/secrets (0700, files 0600).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { createCa, createJwtSecret, issueClientKeyfile, issueServerKeyfile, parseCa, writeCa, writeJwtSecret, writeKeyfile, type CaSigner } from '../../src/tls/index.ts';
import { DATACENTERS, type DatacenterName, type LocalFiles } from './state.ts';

export const LOCAL_HOSTS = ['127.0.0.1', 'localhost'] as const;

export interface LocalPki {
  readonly files: LocalFiles;
  readonly jwtSecrets: Readonly<Record<DatacenterName, string>>;
  /** The clusters' superuser password (also in files.passwordFile). */
  readonly password: string;
  /** Issues a server keyfile for a master or worker from the TLS CA; returns its path (DIR/secrets/NAME.keyfile). */
  issueServerKeyfile(name: string): Promise<string>;
}

/** Creates the CAs, the client keyfile, the JWT secrets and the password in `dir` (files that exist are an error). */
export async function createLocalPki(dir: string): Promise<LocalPki> {
  const secrets = path.join(dir, 'secrets');
  await fs.mkdir(secrets, { recursive: true, mode: 0o700 });
  await fs.chmod(secrets, 0o700);
  const files: LocalFiles = {
    tlsCaCert: path.join(dir, 'tls-ca.crt'),
    tlsCaKey: path.join(secrets, 'tls-ca.key'),
    clientCaCert: path.join(dir, 'client-auth-ca.crt'),
    clientCaKey: path.join(secrets, 'client-auth-ca.key'),
    clientKeyfile: path.join(secrets, 'client.keyfile'),
    passwordFile: path.join(secrets, 'superuser.password'),
    monitoringTokenFile: path.join(secrets, 'monitoring.token'),
  };
  const [tlsCa, clientCa] = await Promise.all([createCa({ purpose: 'tls', commonName: 'dcsync local TLS CA' }), createCa({ purpose: 'client-auth', commonName: 'dcsync local client-auth CA' })]);
  await writeCa(tlsCa, { certPath: files.tlsCaCert, keyPath: files.tlsCaKey });
  await writeCa(clientCa, { certPath: files.clientCaCert, keyPath: files.clientCaKey });
  const clientSigner = await parseCa(clientCa.certPem, clientCa.keyPem);
  await writeKeyfile(files.clientKeyfile, await issueClientKeyfile(clientSigner, { name: 'dcsync-local-operator' }));

  const jwtSecrets = {} as Record<DatacenterName, string>;
  for (const dc of DATACENTERS) {
    jwtSecrets[dc] = path.join(secrets, `jwt-${dc}.secret`);
    await writeJwtSecret(jwtSecrets[dc], createJwtSecret());
  }
  // Letters and digits only: it goes into URLs (percent-encoding aside) and shell lines without surprises.
  const password = randomBytes(18).toString('base64url').replace(/[-_]/g, 'x');
  await fs.writeFile(files.passwordFile, password + '\n', { mode: 0o600, flag: 'wx' });
  // The daemons read it from this file (--monitoring.token-file): a token on a command line is visible in `ps`.
  await fs.writeFile(files.monitoringTokenFile!, randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });

  const tlsSigner: CaSigner = await parseCa(tlsCa.certPem, tlsCa.keyPem);
  return {
    files,
    jwtSecrets,
    password,
    async issueServerKeyfile(name) {
      const file = path.join(secrets, `${name}.keyfile`);
      await writeKeyfile(file, await issueServerKeyfile(tlsSigner, { hosts: [...LOCAL_HOSTS] }));
      return file;
    },
  };
}

/** The monitoring token of a deployment (files.monitoringTokenFile); undefined for a deployment made without one. */
export async function readLocalMonitoringToken(files: Pick<LocalFiles, 'monitoringTokenFile'>): Promise<string | undefined> {
  return files.monitoringTokenFile === undefined ? undefined : (await fs.readFile(files.monitoringTokenFile, 'utf8')).trim();
}

/** The superuser password of a deployment (files.passwordFile). */
export async function readLocalPassword(files: Pick<LocalFiles, 'passwordFile'>): Promise<string> {
  return (await fs.readFile(files.passwordFile, 'utf8')).trim();
}
