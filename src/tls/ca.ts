import { createPublicKey, randomBytes, type webcrypto } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { InvalidOptionError } from '../core/errors.ts';
import { TlsMaterialError } from './errors.ts';
import { assertCanCreate, PUBLIC_FILE_MODE, removeQuietly, SECRET_FILE_MODE, writeNewFile } from './files.ts';
import { DEFAULT_KEY_TYPE, generateKeyPair, importSigningKey, privateKeyToPem, signingAlgorithmFor, type KeyType, type SigningAlgorithm } from './keys.ts';
import { describeCertificate, type CertificateInfo } from './keyfile.ts';
import { DEFAULT_CA_VALIDITY_MS, resolveValidity, type ValidityOptions } from './validity.ts';
import { nodeCrypto, x509 } from './x509.ts';

/**
 * The two CAs of a dcsync installation. `tls` signs the server certificates of masters and workers
 * (clients trust it with --…cacert); `client-auth` signs the client certificates with which one
 * datacenter's master authenticates to the other's. They must be different CAs: a server certificate
 * must never be accepted as a client credential.
 */
export type CaPurpose = 'tls' | 'client-auth';

export const DEFAULT_CA_NAMES: Readonly<Record<CaPurpose, string>> = {
  tls: 'dcsync TLS CA',
  'client-auth': 'dcsync client authentication CA',
};

/** Organization (O) of every certificate dcsync issues. */
export const DCSYNC_ORGANIZATION = 'dcsync';

export interface CreateCaOptions extends ValidityOptions {
  readonly purpose: CaPurpose;
  /** Common name; defaults to DEFAULT_CA_NAMES[purpose]. */
  readonly commonName?: string;
  readonly keyType?: KeyType;
}

/** A CA certificate and its private key, both PEM. */
export interface CaMaterial {
  readonly certPem: string;
  readonly keyPem: string;
  readonly certificate: CertificateInfo;
}

/** A CA loaded for signing: its certificate and key, checked to belong together. */
export interface CaSigner {
  readonly certPem: string;
  readonly cert: x509.X509Certificate;
  readonly certificate: CertificateInfo;
  readonly signingKey: webcrypto.CryptoKey;
  readonly algorithm: SigningAlgorithm;
  /** Key identifier (hex) to put into the authority key identifier of certificates it issues. */
  readonly keyId: string;
}

/** 16 random bytes, positive, with a non-zero first byte so the serial is always 16 bytes long. */
export function randomSerialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return bytes.toString('hex');
}

/** Subject names are built from attributes, never by string concatenation, so a name with ',' or '=' stays one value. */
export function subjectName(commonName: string, organizationalUnit?: string): x509.JsonName {
  if (commonName.trim() === '') throw new InvalidOptionError('name', 'must not be empty');
  if (commonName.length > 64) throw new InvalidOptionError('name', 'must be at most 64 characters (an X.509 common name)');
  const name: x509.JsonName = [{ CN: [commonName] }, { O: [DCSYNC_ORGANIZATION] }];
  if (organizationalUnit !== undefined) name.push({ OU: [organizationalUnit] });
  return name;
}

export function toPem(cert: x509.X509Certificate): string {
  const pem = cert.toString('pem').replace(/\r\n/g, '\n');
  return pem.endsWith('\n') ? pem : pem + '\n';
}

/** Creates a self-signed CA: basicConstraints CA (path length 0), keyCertSign + cRLSign, SKI = AKI. */
export async function createCa(opts: CreateCaOptions): Promise<CaMaterial> {
  const keyType = opts.keyType ?? DEFAULT_KEY_TYPE;
  const { notBefore, notAfter } = resolveValidity(opts, DEFAULT_CA_VALIDITY_MS);
  const keys = await generateKeyPair(keyType);
  const ski = await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, nodeCrypto);
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: randomSerialNumber(),
      name: subjectName(opts.commonName ?? DEFAULT_CA_NAMES[opts.purpose]),
      notBefore,
      notAfter,
      keys: keys,
      signingAlgorithm: signingAlgorithmFor(keyType),
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        ski,
        new x509.AuthorityKeyIdentifierExtension(ski.keyId),
      ],
    },
    nodeCrypto,
  );
  const certPem = toPem(cert);
  return { certPem, keyPem: privateKeyToPem(keys.privateKey), certificate: describeCertificate(certPem) };
}

/** Writes the CA certificate (mode 0644) and key (mode 0600); neither is written if either exists, unless `force`. */
export async function writeCa(ca: Pick<CaMaterial, 'certPem' | 'keyPem'>, paths: { certPath: string; keyPath: string; force?: boolean }): Promise<void> {
  const force = paths.force ?? false;
  if (paths.certPath === paths.keyPath) throw new InvalidOptionError('key', 'must be a different file than --cert');
  await assertCanCreate([paths.certPath, paths.keyPath], force);
  await writeNewFile(paths.keyPath, ca.keyPem, { mode: SECRET_FILE_MODE, force });
  try {
    await writeNewFile(paths.certPath, ca.certPem, { mode: PUBLIC_FILE_MODE, force });
  } catch (err) {
    if (!force) await removeQuietly([paths.keyPath]);
    throw err;
  }
}

/**
 * Loads a CA for signing from PEM text: the certificate must be a CA that may sign certificates, the key
 * must be its private key. Works for CAs made by other tools too (its SKI, if any, becomes our AKI).
 */
export async function parseCa(certPem: string, keyPem: string, paths: { certPath?: string; keyPath?: string } = {}): Promise<CaSigner> {
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(certPem);
  } catch (err) {
    throw new TlsMaterialError('is not a PEM certificate', paths.certPath, err);
  }
  const basic = cert.getExtension(x509.BasicConstraintsExtension);
  if (!basic?.ca) throw new TlsMaterialError('is not a CA certificate (basicConstraints CA:TRUE missing)', paths.certPath);
  const usage = cert.getExtension(x509.KeyUsagesExtension);
  if (usage && (usage.usages & x509.KeyUsageFlags.keyCertSign) === 0) throw new TlsMaterialError('may not sign certificates (keyUsage lacks keyCertSign)', paths.certPath);
  const { privateKey, algorithm } = await importSigningKey(keyPem, paths.keyPath);
  const spkiOfKey = createPublicKey(keyPem).export({ type: 'spki', format: 'der' });
  if (Buffer.compare(Buffer.from(cert.publicKey.rawData), spkiOfKey) !== 0) {
    throw new TlsMaterialError(`is not the private key of the CA certificate${paths.certPath ? ` ${paths.certPath}` : ''}`, paths.keyPath);
  }
  const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension);
  const keyId = ski?.keyId ?? (await x509.SubjectKeyIdentifierExtension.create(cert.publicKey, false, nodeCrypto)).keyId;
  const pem = toPem(cert);
  return { certPem: pem, cert, certificate: describeCertificate(pem), signingKey: privateKey, algorithm, keyId };
}

/** Reads a CA certificate and key from files (see parseCa). */
export async function loadCa(certPath: string, keyPath: string): Promise<CaSigner> {
  const read = async (p: string): Promise<string> => {
    try {
      return await readFile(p, 'utf8');
    } catch (err) {
      throw new TlsMaterialError(`cannot be read: ${(err as Error).message}`, p, err);
    }
  };
  return parseCa(await read(certPath), await read(keyPath), { certPath, keyPath });
}
