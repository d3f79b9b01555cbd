import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { TlsMaterialError } from './errors.ts';
import { SECRET_FILE_MODE, writeNewFile } from './files.ts';

/**
 * A keyfile is one PEM file: the certificate, then its chain (issuer first, up to the CA), then the
 * unencrypted PKCS#8 private key. It is written with mode 0600. Node's TLS, OpenSSL, libpq and Kafka's
 * PEM key stores read these parts (see keyfileTlsOptions for Node).
 */
export interface Keyfile {
  readonly certPem: string;
  /** Issuer certificates, nearest first; for dcsync keyfiles just the CA certificate. */
  readonly chainPem: readonly string[];
  readonly keyPem: string;
}

/** What a certificate says about itself, for `--help`-level output, expiry checks and status pages. */
export interface CertificateInfo {
  /** e.g. "CN=master-1.dc-a, O=dcsync" */
  readonly subject: string;
  readonly issuer: string;
  /** Upper-case hex, as openssl prints it without colons. */
  readonly serialNumber: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Subject alternative names: DNS names and IP addresses, without their "DNS:" / "IP Address:" prefix. */
  readonly hosts: readonly string[];
  /** Extended key usage OIDs ('1.3.6.1.5.5.7.3.1' serverAuth, '…3.2' clientAuth); empty when absent. */
  readonly extendedKeyUsage: readonly string[];
  readonly isCa: boolean;
  /** "AB:CD:…" SHA-256 fingerprint of the DER certificate. */
  readonly fingerprint256: string;
}

export interface LoadedKeyfile extends Keyfile {
  readonly certificate: CertificateInfo;
  readonly chain: readonly CertificateInfo[];
}

export type Validity = 'valid' | 'expired' | 'not-yet-valid';

interface PemBlock {
  readonly label: string;
  readonly pem: string;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n[\s\S]*?\r?\n-----END \1-----/g;
const KEY_LABELS = new Set(['PRIVATE KEY', 'EC PRIVATE KEY', 'RSA PRIVATE KEY']);
const IGNORED_LABELS = new Set(['EC PARAMETERS']);

function splitPem(text: string): PemBlock[] {
  return [...text.matchAll(PEM_BLOCK)].map((m) => ({ label: m[1]!, pem: m[0].replace(/\r\n/g, '\n') + '\n' }));
}

function parseCertificate(pem: string, path?: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw new TlsMaterialError('holds a certificate that cannot be parsed', path, err);
  }
}

function formatName(name: string): string {
  return name.split('\n').filter((s) => s !== '').join(', ');
}

function parseSubjectAltName(san: string | undefined): string[] {
  if (!san) return [];
  return san
    .split(/,\s*/)
    .map((entry) => /^(?:DNS|IP Address):"?([^"]*)"?$/.exec(entry.trim())?.[1])
    .filter((h): h is string => h !== undefined);
}

/** Describes a certificate (PEM text or a parsed Node X509Certificate). */
export function describeCertificate(cert: string | X509Certificate): CertificateInfo {
  const x = typeof cert === 'string' ? parseCertificate(cert) : cert;
  return {
    subject: formatName(x.subject),
    issuer: formatName(x.issuer),
    serialNumber: x.serialNumber.toUpperCase(),
    notBefore: new Date(x.validFrom),
    notAfter: new Date(x.validTo),
    hosts: parseSubjectAltName(x.subjectAltName),
    extendedKeyUsage: x.keyUsage ?? [],
    isCa: x.ca,
    fingerprint256: x.fingerprint256,
  };
}

/** Whether a certificate is inside its validity window at `now`. */
export function validityAt(info: Pick<CertificateInfo, 'notBefore' | 'notAfter'>, now: Date = new Date()): Validity {
  if (now.getTime() < info.notBefore.getTime()) return 'not-yet-valid';
  if (now.getTime() > info.notAfter.getTime()) return 'expired';
  return 'valid';
}

/** Milliseconds until the certificate expires (negative once it has). */
export function expiresInMs(info: Pick<CertificateInfo, 'notAfter'>, now: Date = new Date()): number {
  return info.notAfter.getTime() - now.getTime();
}

/** The keyfile's text: certificate, chain, key, each PEM block ending in a newline. */
export function formatKeyfile(kf: Keyfile): string {
  const block = (pem: string): string => (pem.endsWith('\n') ? pem : pem + '\n');
  return [kf.certPem, ...kf.chainPem, kf.keyPem].map(block).join('');
}

/**
 * Parses and checks a keyfile: at least one certificate, exactly one unencrypted private key that
 * belongs to the first certificate, and each chain certificate the issuer of the one before it.
 * Accepts keys as PKCS#8 or the traditional EC/RSA PEM forms; `keyPem` is always returned as PKCS#8.
 */
export function parseKeyfile(text: string, path?: string): LoadedKeyfile {
  const blocks = splitPem(text);
  const certs: string[] = [];
  const keys: string[] = [];
  for (const b of blocks) {
    if (b.label === 'CERTIFICATE') certs.push(b.pem);
    else if (KEY_LABELS.has(b.label)) keys.push(b.pem);
    else if (b.label === 'ENCRYPTED PRIVATE KEY') throw new TlsMaterialError('holds an encrypted private key; dcsync keyfiles hold unencrypted keys (protect the file with mode 0600)', path);
    else if (!IGNORED_LABELS.has(b.label)) throw new TlsMaterialError(`holds an unexpected PEM block '${b.label}'`, path);
  }
  if (certs.length === 0) throw new TlsMaterialError('holds no certificate (a keyfile is certificate, chain and private key in PEM)', path);
  if (keys.length !== 1) throw new TlsMaterialError(`must hold exactly one private key, found ${keys.length}`, path);
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: keys[0]!, format: 'pem' });
  } catch (err) {
    throw new TlsMaterialError('holds a private key that cannot be read', path, err);
  }
  const parsed = certs.map((c) => parseCertificate(c, path));
  const leaf = parsed[0]!;
  if (!leaf.checkPrivateKey(key)) throw new TlsMaterialError('private key does not belong to its first certificate', path);
  for (let i = 0; i + 1 < parsed.length; i++) {
    const child = parsed[i]!;
    const issuer = parsed[i + 1]!;
    if (!child.checkIssued(issuer) || !child.verify(issuer.publicKey)) {
      throw new TlsMaterialError(`certificate ${i + 2} is not the issuer of certificate ${i + 1} (the chain must follow the certificate, nearest issuer first)`, path);
    }
  }
  return {
    certPem: certs[0]!,
    chainPem: certs.slice(1),
    keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(),
    certificate: describeCertificate(leaf),
    chain: parsed.slice(1).map((c) => describeCertificate(c)),
  };
}

/** Reads and checks a keyfile (see parseKeyfile). */
export async function readKeyfile(path: string): Promise<LoadedKeyfile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new TlsMaterialError(`cannot be read: ${(err as Error).message}`, path, err);
  }
  return parseKeyfile(text, path);
}

/** The permission bits of a file, e.g. to warn when a keyfile is readable by others (mode & 0o077). */
export async function fileMode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

/** Writes a keyfile with mode 0600; an existing file is replaced only with `force`. */
export async function writeKeyfile(path: string, kf: Keyfile, opts: { force?: boolean } = {}): Promise<void> {
  await writeNewFile(path, formatKeyfile(kf), { mode: SECRET_FILE_MODE, force: opts.force ?? false });
}

/**
 * Options for tls.createServer / tls.connect / https.Agent / setSecureContext: `cert` is the certificate
 * followed by its chain, `key` the private key. Add `ca` (from readCaCertificates) to verify peers.
 */
export function keyfileTlsOptions(kf: Keyfile): { cert: string; key: string } {
  return { cert: [kf.certPem, ...kf.chainPem].join(''), key: kf.keyPem };
}

/** A PEM file of one or more CA certificates, e.g. for the `ca` option of Node's TLS. */
export interface CaCertificates {
  readonly pem: string;
  readonly certificates: readonly CertificateInfo[];
}

/** Reads CA certificates (PEM); fails when the file has none or holds a private key. */
export async function readCaCertificates(path: string): Promise<CaCertificates> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new TlsMaterialError(`cannot be read: ${(err as Error).message}`, path, err);
  }
  return parseCaCertificates(text, path);
}

export function parseCaCertificates(text: string, path?: string): CaCertificates {
  const blocks = splitPem(text);
  if (blocks.some((b) => b.label !== 'CERTIFICATE')) throw new TlsMaterialError('must hold only certificates (is this a key or a keyfile?)', path);
  if (blocks.length === 0) throw new TlsMaterialError('holds no PEM certificate', path);
  const certificates = blocks.map((b) => describeCertificate(parseCertificate(b.pem, path)));
  return { pem: blocks.map((b) => b.pem).join(''), certificates };
}
